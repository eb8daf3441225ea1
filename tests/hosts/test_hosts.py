"""The lab on two engine hosts of this machine (make hosts-up N=2): tour,
node loss and drain, then hosts-down leaving nothing, and the user's engine
exactly as it was.

They run before the session's test cluster starts (conftest.py), on their
own loopback ports. Skipped, with the failing command and its error, where
this machine cannot make network namespaces or start a second dockerd
(not root, no iproute2): never a hang, every wait in them has a deadline.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from scenarios import registry
from dasklab.backends.compose.project import free_port
from dasklab.backends.hosts import deploy, machine
from dasklab.settings import environment

pytestmark = pytest.mark.integration


def _engine() -> dict[str, list[str]]:
    """What the user's engine holds that these tests must not change."""
    def ls(*args: str) -> list[str]:
        return sorted(subprocess.run(["docker", *args], capture_output=True, text=True,
                                     timeout=60).stdout.split())

    return {"containers": ls("ps", "-aq"), "networks": ls("network", "ls", "-q"),
            "volumes": ls("volume", "ls", "-q"),
            "swarm": ls("info", "--format", "{{.Swarm.LocalNodeState}}")}


@pytest.fixture(scope="module")
def engine_before():
    return _engine()


@pytest.fixture(scope="module")
def hosts(engine_before):
    if os.geteuid() != 0:
        pytest.skip("the engine hosts need root (network namespaces, a dockerd each)")
    env = {"SCHEDULER_PORT": str(free_port()), "DASHBOARD_PORT": str(free_port()),
           "S3_PORT": str(free_port()), "DASKLAB_BACKEND": "hosts"}
    with environment(env):
        try:
            state = deploy.up(2)
        except machine.HostsError as e:
            deploy.down()
            pytest.skip(f"the engine hosts could not be made here: {e}")
        try:
            yield state
        finally:
            deploy.down()  # a no-op when the last test already took them down


@pytest.fixture(scope="module")
def lab(hosts):
    from dasklab import open_lab

    lab = open_lab()
    yield lab
    if lab.client.status != "closed":  # the last test closes it before hosts-down
        lab.close()


@pytest.mark.timeout(300)  # includes making the hosts and copying the images into each
def test_tour_shows_each_worker_on_its_host_and_the_workers_spread(hosts, lab):
    assert lab.backend == "hosts"
    result = registry.run("tour", lab)
    assert result.verdict == "pass", result.notes + [result.error or ""]
    rows = {row["name"]: row for row in result.tables["workers"]}
    assert rows["worker-1"]["host"] == "dasklab-h1"
    assert {row["host"] for row in rows.values()} == {"dasklab-h1", "dasklab-h2"}
    assert result.measurements["scheduler_host"] == "dasklab-h1"
    assert set(hosts["image_seconds"]) == {"dasklab-h1", "dasklab-h2"}


@pytest.mark.timeout(300)
def test_node_loss_replaces_the_lost_workers_on_host_1_and_the_result_is_right(lab):
    result = registry.run("node-loss", lab, tasks=60, seconds=0.5)
    assert result.verdict == "pass", result.notes + [result.error or ""]
    m = result.measurements
    assert m["result_correct"] and m["workers_lost"]
    assert set(m["replacements_ran_on"].values()) == {"dasklab-h1"}
    assert m["loss_to_node_down_s"] > 0
    # The cluster ends as it began: the lost workers are back on host 2.
    assert {h for h in m["placement_after"].values()} == {"dasklab-h1", "dasklab-h2"}


@pytest.mark.timeout(240)
def test_drain_retires_first_and_loses_nothing_and_the_shuffle_crosses_the_link(lab):
    result = registry.run("drain", lab, days=4)
    assert result.verdict == "pass", result.notes + [result.error or ""]
    m = result.measurements
    assert m["results_lost"] == 0 and not m["not_retired"]
    assert m["mib_over_links"] > 0.2 * m["data_mib"]
    assert set(m["replacements_ran_on"].values()) == {"dasklab-h1"}


def test_down_leaves_nothing_and_the_users_engine_is_as_it_was(hosts, engine_before, request):
    # The lab is fetched here, not named above: the isolation check after each test
    # (conftest.py) would otherwise ask a scheduler this test takes down on purpose.
    request.getfixturevalue("lab").close()
    assert deploy.down() == []
    assert machine.leftovers() == []
    assert _engine() == engine_before
