"""The example outside the lab's own code (examples/own-pipeline): its tests,
which use only the fixtures of dasklab's pytest plugin, run by pytest in a
child process against this session's test cluster (--dasklab=running: the
child inherits the test cluster's project and ports). The child sees dasklab
as an installed package would give it (the plugin by `-p`, what the entry
point does once installed; tests/unit/test_install.py checks the entry point)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dasklab.settings import ROOT

EXAMPLE = ROOT / "examples" / "own-pipeline"

# Five tests with kills, pauses and restarts: about 1.5-2 minutes here.
pytestmark = pytest.mark.timeout(480)


def test_own_pipeline_passes_and_the_checker_catches_the_naive_writer(lab):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "dasklab.pytest_plugin", "--dasklab=running",
         "-q", "-rP", "--durations=0"],
        cwd=EXAMPLE, capture_output=True, text=True, timeout=450, env=env)
    out = proc.stdout + proc.stderr
    print(out[-6000:])
    assert proc.returncode == 0, out[-6000:]
    assert "5 passed" in out
    # The checker's verdict on the naive writer, as the example printed it:
    # a violation, the duplicated publish, and the schedule (one kill) that exposed it.
    assert "own-pipeline (naive), seed 2: VIOLATION" in out
    assert "duplicated" in out or "partial" in out
    assert "kill" in out.split("own-pipeline (naive), seed 2: VIOLATION", 1)[1]
