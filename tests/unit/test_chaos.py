"""dasklab.chaos without a cluster: the verdict's rules, the seeded schedule,
a job's path checked before anything connects; the pytest plugin's clear
failures when it has no cluster to use."""

from __future__ import annotations

import pytest

from dasklab import chaos
from dasklab.chaos import ABSENT, COMPLETE, judge


def test_the_verdict_allows_correct_output_or_a_clear_failure_only():
    assert judge("completed", COMPLETE) == []
    assert judge("failed: KilledWorker: ...", ABSENT) == []
    assert judge("completed", ABSENT) == ["completed, but its output is: absent"]
    assert judge("completed", "duplicated: partitions [3]") != []
    assert judge("failed: OSError", "partial: partitions [4, 5] missing") == [
        "failed, and left output behind: partial: partitions [4, 5] missing"]
    assert judge("hung past the deadline", ABSENT) == ["the job hung past the deadline"]


def test_a_seed_draws_the_same_schedule_and_only_the_faults_asked_for():
    one = chaos.schedule(7, 5, (2, 6), (1, 4), ("kill", "pause"), ("worker-1", "worker-2"))
    assert one == chaos.schedule(7, 5, (2, 6), (1, 4), ("kill", "pause"),
                                 ("worker-1", "worker-2"))
    assert {p["kind"] for p in one} <= {"kill", "pause"}
    assert {p["target"] for p in one} <= {"worker-1", "worker-2"}
    with pytest.raises(ValueError, match="choose from kill, pause"):
        chaos.schedule(1, 1, (1, 2), (1, 2), ("kill", "meteor"))


def test_a_job_path_is_checked_before_anything_runs():
    with pytest.raises(ValueError, match="expected package.module:function"):
        chaos.check_job_path("no_colon")
    with pytest.raises(ValueError, match="PYTHONPATH"):
        chaos.check_job_path("no_such_package_xyz.jobs:demo")
    chaos.check_job_path("dasklab.chaos:schedule")  # importable and callable: fine
    with pytest.raises(ValueError, match="not a dasklab.chaos.Job"):
        chaos.load_job("dasklab.chaos:KINDS".replace("KINDS", "judge"), outcome="x",
                       published="y")


def test_running_mode_without_a_cluster_fails_naming_make_up(pytester, monkeypatch):
    from dasklab.backends.compose.project import free_port
    from dasklab.settings import ROOT

    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # as an install of dasklab would
    monkeypatch.setenv("SCHEDULER_PORT", str(free_port()))
    monkeypatch.setenv("DASKLAB_PROJECT", "dasklab-nothing-here")
    pytester.makepyfile("def test_uses_it(dasklab):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "dasklab.pytest_plugin", "--dasklab=running")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no lab cluster answers at tcp://127.0.0.1:*",
                                 "*Fix: `make up` in *, or --dasklab=fresh*"])


def test_fresh_mode_without_images_names_make_images(monkeypatch):
    from dasklab import pytest_plugin
    from dasklab.backends.compose import preflight

    monkeypatch.setattr(preflight, "engine_problems", lambda: [])
    monkeypatch.setattr(preflight, "images_present", lambda values: False)
    found = pytest_plugin._fresh_problems({"DASKLAB_IMAGE": "dasklab/dask:local"})
    assert len(found) == 1 and "make images" in found[0] and "dasklab/dask:local" in found[0]
