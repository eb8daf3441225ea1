"""Integration tests against the real Compose test cluster (pytest-docker)."""

import operator

import pytest
from distributed import wait

from dasklab import wait_until
from dasklab.settings import named_workers

WORKERS = set(named_workers())


def test_three_named_workers_connect(lab):
    workers = lab.workers_by_name()
    assert set(workers) == WORKERS
    for name, w in workers.items():
        assert w["address"].endswith(":9000"), "fixed worker port"
        assert w["nthreads"] == int(lab.settings["WORKER_THREADS"])


def test_computation_round_trips_and_is_correct(lab):
    import dask.array as da
    import numpy as np

    # The workers build the data themselves; numpy rebuilds it on the client
    # as an independent check of the result.
    x = da.fromfunction(lambda i, j: i * 2000 + j, shape=(2000, 2000), chunks=(500, 500),
                        dtype="float64")
    local = np.arange(4_000_000, dtype="float64").reshape(2000, 2000)
    # Bounded: a graph that never reaches the scheduler fails here, not at the time limit.
    trace = lab.client.compute((x @ x.T).trace()).result(timeout=120)
    assert trace == pytest.approx(np.trace(local @ local.T))
    futures = lab.client.map(operator.mul, range(100), range(100))
    wait(futures, timeout=60)
    assert lab.client.gather(futures) == [i * i for i in range(100)]
    # Work really ran on several workers, not on the client.
    ran_on = {addr for keys in lab.client.who_has(futures).values() for addr in keys}
    assert len(ran_on) >= 2


def test_tour_scenario_passes(lab, scenario):
    result = scenario("tour")
    assert result.verdict == "pass", result.notes + [result.error or ""]
    rows = {row["name"]: row for row in result.tables["workers"]}
    assert set(rows) == WORKERS
    for name, row in rows.items():
        assert row["hostname"] == name
        assert row["volume"] == f"dasklab-test_{name}-data"
        assert row["local_directory"].startswith("/data/")
        assert row["nanny_pid"] != row["worker_pid"]
    assert all(v["match"] for v in result.tables["versions"])
    assert result.measurements["workers"] == 3


def test_kill_and_start_worker_2_keeps_name_and_address(lab):
    before = lab.workers_by_name()["worker-2"]["address"]
    with lab.faults.killed("worker-2"):  # docker compose -p dasklab-test kill worker-2
        wait_until(lambda: set(lab.workers_by_name()) == WORKERS - {"worker-2"}, 30,
                   "the scheduler to drop worker-2", state=lambda: sorted(lab.workers_by_name()))
        assert len(lab.workers_by_name()) == 2
    after = lab.wait_for_workers(WORKERS, timeout=90)
    assert after["worker-2"]["address"] == before
    # The restriction by name works again after the restart.
    f = lab.client.submit(operator.add, 1, 2, workers=["worker-2"], pure=False)
    assert f.result(timeout=30) == 3
    assert lab.client.who_has(f)[f.key] == (before,)


def test_cli_shows_phases_on_stderr_and_keeps_json_clean(lab):
    import json
    import subprocess
    import sys

    from dasklab import ROOT

    def tour(*flags):
        return subprocess.run([sys.executable, "-m", "scenarios", "tour", "--json", *flags],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)

    loud, quiet = tour(), tour("--quiet")
    for proc in (loud, quiet):
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["verdict"] == "pass"
    assert "tour: asking the scheduler" in loud.stderr and "tour: done: pass" in loud.stderr
    assert quiet.stderr == ""
