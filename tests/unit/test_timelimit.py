"""The suite never hangs silently: a test past its time limit fails, naming
the stage and the scenario phase, with every thread's stack and the evidence
kept. Run here on a test that hangs on purpose, with a 1 s limit."""

from __future__ import annotations

from dasklab import repeat_table, timelimit

HANGING = """
import threading

import pytest

from dasklab import progress


@pytest.mark.timeout(1)
def test_hangs():
    progress.configure(name="demo")
    progress.phase("waiting for a result that never comes")
    threading.Event().wait(60)  # bounded; the 1 s limit ends it long before


def test_after_it_the_session_goes_on():
    assert True
"""


def test_a_hung_test_fails_with_stacks_phase_and_evidence(pytester, tmp_path, monkeypatch):
    monkeypatch.setattr("dasklab.evidence.EVIDENCE", tmp_path / "evidence")
    monkeypatch.setattr(timelimit, "PROJECT", "dasklab-unit-none")
    monkeypatch.setattr(timelimit, "LAB", None)
    pytester.makepyfile(test_hang=HANGING)
    result = pytester.runpytest_inprocess("-p", "dasklab.timelimit", "-p",
                                          "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=1)
    out = result.stdout.str()
    assert "test_hang.py::test_hangs exceeded its time limit of 1 s during the test body" in out
    assert "last scenario phase: demo: waiting for a result that never comes" in out
    assert "threading.Event().wait(60)" in out  # the main thread's stack, on the terminal
    [folder] = (tmp_path / "evidence").iterdir()
    assert folder.name.endswith("timeout-test_hangs")
    stacks = (folder / "thread-stacks.txt").read_text()
    assert "MainThread" in stacks and "test_hangs" in stacks
    assert "waiting for a result that never comes" in (folder / "why.txt").read_text()
    assert str(folder) in out


def test_repeat_table_counts_passes_failures_and_medians():
    assert repeat_table._split("t.py::test_x[2-3]") == ("t.py::test_x", "2")
    assert repeat_table._split("t.py::test_y[a-1-3]") == ("t.py::test_y[a]", "1")
    runs = {"t.py::test_x": {"1": {"failed": False, "skipped": False, "seconds": 1.0},
                             "2": {"failed": True, "skipped": False, "seconds": 5.0},
                             "3": {"failed": False, "skipped": False, "seconds": 2.0}}}
    lines = repeat_table.table(runs)
    assert lines[2].split() == ["t.py::test_x", "2", "1", "0", "2.0"]
    assert lines[-1] == "1 tests x 3 runs: 1 test(s) failed at least once (t.py::test_x)"
