"""Unit tests: phases and the result go to different streams; --quiet."""

import pytest

from dasklab import progress


@pytest.fixture(autouse=True)
def loud():
    progress.configure(quiet=False, name="demo")
    yield
    progress.configure(quiet=False, name="")


def test_phase_goes_to_stderr_with_elapsed_time_and_scenario_name(capsys):
    progress.phase("writing 12 files")
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("[") and " s] demo: writing 12 files" in err


def test_quiet_silences_phases(capsys):
    progress.configure(quiet=True)
    progress.phase("nothing to see")
    assert capsys.readouterr() == ("", "")


def test_wait_futures_without_futures_returns_at_once(capsys):
    progress.wait_futures([], "nothing", timeout=1)
    assert capsys.readouterr().out == ""


def test_ended_phases_are_timed_and_the_slowest_come_first(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    progress.configure(quiet=True, name="demo")
    monkeypatch.setattr(progress, "ENDED", [])
    progress.phase("slow part")
    now[0] += 3
    progress.phase("quick part")
    now[0] += 1
    progress.end_phase()
    progress.end_phase()  # nothing open: nothing recorded twice
    assert progress.slowest(5) == [("demo", "slow part", 3.0), ("demo", "quick part", 1.0)]
