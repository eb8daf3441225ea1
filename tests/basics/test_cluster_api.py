"""ComposeCluster and the basic-operation scenarios (manual, sizing, scaling).

ComposeCluster's own tests run on the session's test project, whose compose
workers worker-1..3 are the fixed floor; sizing and scaling start side
projects with a bare scheduler. Times are reported, never asserted."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest
from distributed import wait

from scenarios import registry
from scenarios.basics.scaling import block, computations
from dasklab import ROOT, wait_until
from dasklab.backends.compose.worker_containers import ELASTIC, leftovers, number
from dasklab.settings import named_workers

PROJECT = "dasklab-test"  # the session test project (conftest.py)

STATIC = set(named_workers())


@pytest.fixture
def cluster(lab):
    from dasklab import ComposeCluster

    cluster = ComposeCluster(project=PROJECT)
    yield cluster
    cluster.close()
    assert leftovers(PROJECT) == ([], []), "close() should remove every elastic container and volume"


def test_manual_scenario_runs_by_hand_and_leaves_nothing(lab, scenario):
    result = scenario("manual", n=50)
    assert result.verdict == "pass", result.notes + [result.error or ""]
    m = result.measurements
    assert m["sum of squares"] == m["expected"]
    assert (m["containers left"], m["networks left"], m["volumes left"]) == (0, 0, 0)
    lines = [row["command line"] for row in result.tables["commands"]]
    assert sum(" dask worker tcp://scheduler:8786" in line for line in lines) == 2
    assert any(" dask scheduler" in line for line in lines)


def test_scale_up_and_down_keeps_results_and_never_reuses_names(lab, cluster):
    from distributed import Client

    client = Client(cluster)
    assert set(cluster.static) == STATIC
    cluster.scale(4)  # four in all: the three compose workers plus one
    cluster.wait_for_workers(4, timeout=180)
    (first,) = set(cluster.workers)
    assert number(first) > 3
    # The container: labelled, listed by compose, on the project network,
    # with the registered name as its hostname.
    container = cluster.workers[first].container
    container.reload()
    assert container.labels[ELASTIC] == PROJECT
    assert container.name in lab.compose.ps()
    hostnames = client.run(socket.gethostname)  # a library function: workers import it
    names = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}
    assert {hostnames[a] for a in names} == set(names.values())
    with urllib.request.urlopen(cluster.dashboard_link.replace("/status", "/health"),
                                timeout=10) as page:
        assert page.read() == b"ok"
    logs = cluster.get_logs()
    assert "Start worker" in logs[f"container {first}"]

    # Results only the elastic worker holds survive its removal, computed once.
    futures = client.map(block, range(20), workers=[first])
    wait(futures, timeout=120)
    cluster.scale(3)
    wait_until(lambda: not cluster.workers, 120, f"{first} retired and removed")
    assert client.gather(futures) == [block(i) for i in range(20)]
    counts = client.run_on_scheduler(computations, [f.key for f in futures])
    assert set(counts.values()) == {1}, "a held result was recomputed after the scale-down"
    assert first not in {w["name"] for w in client.scheduler_info()["workers"].values()}
    assert leftovers(PROJECT) == ([], [])

    cluster.scale(4)
    cluster.wait_for_workers(4, timeout=180)
    (second,) = set(cluster.workers)
    assert number(second) > number(first), "a worker name was reused"
    client.close()


def test_start_failures_surface_the_container_error(lab):
    from dasklab import ComposeCluster, WorkerStartError

    with ComposeCluster(project=PROJECT, image="dasklab/no-such-image:0") as cluster:
        cluster.scale(4)
        with pytest.raises(WorkerStartError, match="not found on this engine"):
            cluster.wait_for_workers(4, timeout=120)
    with ComposeCluster(project=PROJECT, extra_args=["--no-such-option"]) as cluster:
        cluster.scale(4)
        with pytest.raises(WorkerStartError, match=r"(?s)exit code 2\).*Usage: dask worker"):
            cluster.wait_for_workers(4, timeout=120)
    assert leftovers(PROJECT) == ([], [])


def test_reap_removes_what_a_killed_client_left(lab):
    from dasklab import ComposeCluster

    script = textwrap.dedent(f"""
        import os
        from dasklab import ComposeCluster
        cluster = ComposeCluster(project={PROJECT!r})
        cluster.scale(4)
        cluster.wait_for_workers(4, timeout=180)
        os._exit(0)  # no close(): the worker container stays behind
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    containers, volumes = leftovers(PROJECT)
    assert len(containers) == 1 and len(volumes) == 1
    assert ComposeCluster.reap(PROJECT) == containers
    assert leftovers(PROJECT) == ([], [])
    wait_until(lambda: set(lab.workers_by_name()) == STATIC, 60, "the reaped worker to leave")


def test_scaling_scenario_keeps_results_and_adapts_without_flapping(lab):
    result = registry.run("scaling", lab, sizes=(2, 3, 1), minimum=1, maximum=3, tasks=90,
                          task_seconds=1.0, cooldown=5, timeout=180)
    assert result.verdict == "pass", result.notes + [result.error or ""]
    m = result.measurements
    assert m["manual: results computed twice"] == 0 and m["manual: results intact"]
    # Dask's stock scale-down (no retire) on the same data recomputes what it killed.
    assert m["stock SpecCluster: results computed twice"] > 0
    assert m["adaptive: peak workers"] >= 3
    assert m["adaptive: tasks computed twice"] == 0
    decisions = [row["decision"] for row in result.tables["adaptive decisions"]]
    assert "down" in decisions and decisions.index("down") > decisions.index("up")
    assert (ROOT / m["timeline"]).stat().st_size > 10_000  # a real picture
    assert leftovers("dasklab-scaling") == ([], [])


def test_sizing_scenario_pure_python_prefers_processes(lab, scenario):
    started = time.monotonic()
    result = scenario("sizing", layouts=((1, 2), (2, 1)), total_memory="1GiB",
                          tasks=8, scale=0.5)
    assert result.verdict == "pass", result.notes + [result.error or ""]
    m = result.measurements
    # On any machine: the GIL holds one process's threads of pure Python to one core.
    assert m["pure Python on the most threads, cores used per process"] <= 1.15
    # Which layout is faster only when the rest of the machine was quiet (the
    # scenario measures it); otherwise it says why it did not compare.
    if m["speed comparison made (machine quiet)"]:
        assert m["pure Python speedup, most processes"] > m["pure Python speedup, most threads"]
    else:
        assert any("not compared" in note for note in result.notes)
    print(f"sizing took {time.monotonic() - started:.0f} s; rest of the machine "
          f"{m['rest of machine while timing pure Python, cores']} cores; GIL-bound threads "
          f"used {m['pure Python on the most threads, cores used per process']} cores")
