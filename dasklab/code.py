"""Your own module, shipped to the cluster with `client.upload_file`: the one
helper the environment scenario (option b) and the scoring scenario's
dependency lesson share."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager


@contextmanager
def module_file(prefix: str, source: str):
    """A module only this client has, named `<prefix>_<ms>` so no earlier run's
    copy is imported instead: written to a temporary folder that is on this
    process's sys.path while the block runs. Yields (module name, file path).
    Afterwards the folder, the path entry and the imported module are gone;
    the workers keep their uploaded copies (a file, and upload_file's plugin)."""
    folder = tempfile.mkdtemp(prefix="dasklab-")
    name = f"{prefix}_{int(time.time() * 1000)}"
    path = os.path.join(folder, name + ".py")
    with open(path, "w") as f:
        f.write(source)
    sys.path.insert(0, folder)
    importlib.invalidate_caches()
    try:
        yield name, path
    finally:
        sys.path.remove(folder)
        sys.modules.pop(name, None)
        shutil.rmtree(folder, ignore_errors=True)
