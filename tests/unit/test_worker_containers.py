"""The pure parts of ComposeCluster's container side: commands, addresses,
healthchecks, the static floor. No Docker needed."""

from types import SimpleNamespace

import pytest

from dasklab.backends.compose.worker_containers import (Project, WorkerStartError, _healthcheck, number,
                                             owner_alive, this_owner)
from dasklab.plugins.static_floor import StaticFloor

WORKER = {
    "image": "dasklab/dask:local",
    "command": ["dask", "worker", "tcp://scheduler:8786", "--name={hostname}", "--nthreads=2",
                "--memory-limit=2GiB", "--contact-address=tcp://{hostname}:9000"],
}


def project(subnet="172.29.86.0/24") -> Project:
    return Project(name="p", network="p_dask", subnet=subnet, scheduler_port=1, dashboard_port=2,
                   worker=WORKER, static_workers=["worker-1", "worker-2", "worker-3"],
                   compose_labels={})


def test_command_is_the_static_workers_with_own_name_threads_and_memory():
    cmd = project().command("worker-7", 1, 536870912, ("--resources", "GPU=1"))
    assert cmd == ["dask", "worker", "tcp://scheduler:8786", "--name=worker-7", "--nthreads=1",
                   "--memory-limit=536870912", "--contact-address=tcp://worker-7:9000",
                   "--resources", "GPU=1"]


def test_each_name_has_its_own_address_outside_the_static_block():
    p = project()
    assert p.address_of("worker-4") == "172.29.86.104"
    assert p.address_of("worker-5") != p.address_of("worker-4")
    with pytest.raises(WorkerStartError, match="no address left"):
        p.address_of("worker-160")
    assert number("worker-12") == 12 and number("worker-rogue") is None


def test_compose_durations_become_nanoseconds():
    hc = _healthcheck({"test": ["CMD", "true"], "interval": "3s", "timeout": "1m0s",
                       "retries": 3, "start_period": "1m30s"})
    assert (hc["interval"], hc["timeout"], hc["start_period"]) == (3e9, 60e9, 90e9)
    assert _healthcheck(None) is None


def test_owner_is_alive_while_this_process_runs():
    assert owner_alive(this_owner())
    host = this_owner().rpartition(":")[0]
    assert not owner_alive(f"{host}:999999999")  # no such pid
    assert owner_alive("another-host:1")  # not ours to judge


def test_static_floor_hides_compose_workers_from_downscaling():
    workers = [SimpleNamespace(name=n) for n in ("worker-1", "worker-4", "worker-3", "worker-9")]
    kept = StaticFloor(["worker-1", "worker-2", "worker-3"]).valid_workers_downscaling(None, workers)
    assert [w.name for w in kept] == ["worker-4", "worker-9"]
