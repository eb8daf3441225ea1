"""dasklab.code.module_file: the module a user uploads, on this side."""

from __future__ import annotations

import importlib
import os
import sys

from dasklab.code import module_file


def test_the_module_imports_inside_the_block_and_leaves_nothing_after():
    with module_file("labtest", "VALUE = 42\n") as (name, path):
        assert name.startswith("labtest_") and os.path.basename(path) == name + ".py"
        assert importlib.import_module(name).VALUE == 42
    assert not os.path.exists(os.path.dirname(path))
    assert name not in sys.modules and os.path.dirname(path) not in sys.path
