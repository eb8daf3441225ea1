"""The lab as a Swarm stack, on a single-node swarm this module makes.

They run before the session's test cluster starts (conftest.py orders them
first): leaving a swarm drops the DNS names of containers on bridge networks
that existed meanwhile (Docker 20.10), and the test cluster must not be one.
A small Compose project does run beside the swarm on purpose: after
`swarm down` its containers must still resolve each other by name.

Skipped, with the reason, when the engine is already in a swarm this lab did
not make: `swarm down` would leave that swarm alone, and these tests must not
deploy into someone's cluster."""

from __future__ import annotations

import json
import subprocess

import pytest
from distributed import wait

from scenarios import registry
from scenarios.basics.scaling import block, computations
from dasklab.backends.swarm import deploy as swarm
from dasklab.backends.compose.project import side_env, side_project
from dasklab.backends.swarm.stack import STACK_IMAGE
from dasklab.settings import environment, named_workers

STACK = "dasklab-swarmtest"
SIDE = "dasklab-swarmside"
WORKERS = set(named_workers())

pytestmark = pytest.mark.integration


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60).stdout


@pytest.fixture(scope="module")
def stack_env():
    state, _ = swarm.swarm_state()
    if state != "inactive" and not swarm.created_by_lab():
        pytest.skip(f"this engine is already in a swarm (state {state}) that dasklab did not "
                    "make: the Swarm tests neither deploy into it nor leave it")
    env = {**side_env("172.29.95"), "SWARM_STACK": STACK, "DASKLAB_BACKEND": "swarm",
           "WORKER_MEMORY": "1GiB"}
    with environment(env):
        yield env


@pytest.fixture(scope="module")
def beside(stack_env):
    """A Compose project that exists while the engine is a swarm member."""
    with side_project(SIDE, "172.29.94", ("scheduler", "worker-1")) as compose:
        yield compose


@pytest.fixture(scope="module")
def stack(beside):
    try:
        swarm.up(workers=3)
        yield STACK
    finally:
        swarm.down()  # a no-op when the last test already took it down


@pytest.fixture(scope="module")
def lab(stack):
    from dasklab import open_lab

    lab = open_lab(project=STACK)
    yield lab
    lab.close()


def test_named_workers_register_on_their_own_volumes_and_nothing_is_published(lab):
    assert lab.backend == "swarm"
    workers = lab.workers_by_name()
    assert set(workers) == WORKERS
    assert {lab.resources.volume(n) for n in WORKERS} == {f"{STACK}_{n}-data" for n in WORKERS}
    # Swarm publishes on every interface: the stack publishes nothing ...
    for service in swarm.services(STACK):
        ports = json.loads(_docker("service", "inspect", service,
                                   "--format", "{{json .Endpoint.Ports}}") or "null")
        assert not ports, f"{service} publishes {ports}"
    # ... and the gateway binds loopback only.
    bindings = json.loads(_docker("inspect", f"{STACK}-gateway-gateway-1",
                                  "--format", "{{json .NetworkSettings.Ports}}"))
    hosts = {b["HostIp"] for binds in bindings.values() for b in binds or []}
    assert hosts == {"127.0.0.1"}


def test_tour_worker_loss_and_a_data_scenario_pass_unchanged(lab):
    for name, params in (("tour", {}), ("worker-loss", {"tasks": 40, "seconds": 0.5}),
                         ("source-data", {"files": 4, "rows": 20_000})):
        r = registry.run(name, lab, **params)
        assert r.verdict == "pass", (name, r.notes, r.error)


def test_scenario_that_needs_compose_is_skipped_with_the_reason(lab, monkeypatch):
    r = registry.run("spill", lab)
    assert r.verdict == "skip"
    assert any("Compose cluster itself" in note for note in r.notes)
    # The same stack as "any Dask cluster" (DASKLAB_SCHEDULER, no resource
    # manager): what needs no faults runs, what needs them is skipped.
    from dasklab import open_lab
    from dasklab.connect import scheduler_address

    monkeypatch.setenv("DASKLAB_SCHEDULER", scheduler_address(lab.settings))
    monkeypatch.delenv("DASKLAB_BACKEND")
    plain = open_lab(project=STACK)
    try:
        assert plain.backend == "none" and plain.faults is None
        assert registry.run("find-data", plain).verdict == "pass"
        r = registry.run("worker-loss", plain)
        assert r.verdict == "skip" and len(r.notes) == 1 and "resource manager" in r.notes[0]
    finally:
        plain.close()


@pytest.mark.changes_workers
def test_graceful_scale_down_keeps_held_results(lab):
    c = lab.client
    futures = c.map(block, range(30), key=[f"swarm-held-{i}" for i in range(30)])
    wait(futures, timeout=120)
    on_3 = [f.key for f in futures if lab.names_by_address()[c.who_has(f)[f.key][0]]
            == "worker-3"]
    assert on_3, "worker-3 should hold some of the results"
    swarm.scale(2)
    assert set(lab.workers_by_name()) == {"worker-1", "worker-2"}
    assert swarm.worker_services(STACK) == ["worker-1", "worker-2"]
    assert c.gather(futures) == [block(i) for i in range(30)]
    counts = c.run_on_scheduler(computations, [f.key for f in futures])
    assert set(counts.values()) == {1}, "a retired worker's results must move, not be recomputed"
    c.cancel(futures)


def test_down_leaves_nothing_and_the_compose_project_beside_still_resolves(stack, beside):
    made_here = swarm.created_by_lab()
    swarm.down()
    label = f"label=com.docker.stack.namespace={STACK}"
    assert not _docker("ps", "-aq", "--filter", label).split()
    assert not _docker("volume", "ls", "-q", "--filter", label).split()
    assert not _docker("network", "ls", "-q", "--filter", label).split()
    assert not _docker("ps", "-aq", "--filter", f"name={STACK}-gateway").split()
    if made_here:
        assert swarm.swarm_state()[0] == "inactive"
        assert "docker_gwbridge" not in _docker("network", "ls", "--format", "{{.Name}}").split()
    # The names of the project that lived through it resolve, old and new containers alike.
    worker = beside.run("ps", "-q", "worker-1").stdout.strip()
    found = _docker("exec", worker, "getent", "hosts", "scheduler")
    assert found.split()[:1] == ["172.29.94.10"], found
    fresh = subprocess.run(["docker", "run", "--rm", "--network", f"{SIDE}_dask",
                            STACK_IMAGE, "getent", "hosts", "worker-1"],
                           capture_output=True, text=True, timeout=60)
    assert fresh.stdout.split()[:1] == ["172.29.94.11"], fresh.stderr
