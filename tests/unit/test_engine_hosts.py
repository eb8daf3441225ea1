"""The engine hosts' logic without making any (tests/hosts makes real ones):
refusals before anything is made, what the manager's answers are read as,
and the placement the stack is deployed with."""

from __future__ import annotations

import pytest

from dasklab.backends.hosts import deploy, machine
from dasklab.backends.hosts.machine import Host, HostsError
from dasklab.backends.swarm.stack import generate


class FakeManager(Host):
    def __init__(self, answers: dict[str, str]) -> None:
        super().__init__(1)
        self.answers_by_verb = answers
        self.calls: list[tuple[str, ...]] = []

    def docker(self, *args, check=True, timeout=120):
        self.calls.append(args)
        return self.answers_by_verb[args[0]]


def test_hosts_up_refuses_a_bad_count_and_a_missing_root_before_making_anything(monkeypatch):
    made = []
    monkeypatch.setattr(machine, "sh", lambda *a, **k: made.append(a))
    for n in (1, 4):
        with pytest.raises(HostsError, match="2 or 3 hosts"):
            machine.preflight(n)
    monkeypatch.setattr(machine.os, "geteuid", lambda: 1000)
    with pytest.raises(HostsError, match="sudo make hosts-up"):
        machine.preflight(2)
    assert made == []


def test_a_missing_tool_is_named_with_its_package(monkeypatch):
    monkeypatch.setattr(machine.os, "geteuid", lambda: 0)
    monkeypatch.setattr(machine.shutil, "which", lambda t: None if t == "dockerd" else "/x")
    with pytest.raises(HostsError, match=r"dockerd \(package docker.io\)"):
        machine.preflight(2)


def test_the_managers_answers_are_read_as_nodes_and_placement():
    manager = FakeManager({
        "node": "dasklab-h1 Ready Active\ndasklab-h2 Down Drain\n",
        "stack": "dasklab-hosts_scheduler.1 dasklab-h1\ndasklab-hosts_worker-2.1 dasklab-h2\n",
    })
    assert deploy.nodes(manager) == {"dasklab-h1": ("Ready", "Active"),
                                     "dasklab-h2": ("Down", "Drain")}
    assert deploy.placement(manager) == {"scheduler": "dasklab-h1", "worker-2": "dasklab-h2"}


def test_scheduler_store_and_worker_1_are_pinned_to_host_1_and_the_others_are_free():
    svc = {"image": "img", "command": ["dask", "worker", "--listen-address=tcp://0.0.0.0:9000"],
           "volumes": [{"type": "volume", "source": "worker-1-data", "target": "/data"}]}
    rendered = {"services": {"scheduler": {"image": "img"}, "store": {"image": "s"},
                             "worker-1": svc, "worker-2": {**svc}, "worker-3": {**svc}}}
    spec = generate(rendered, "img", "dasklab-hosts", 3, deploy.constraints(Host(1)))
    pinned = {n for n, s in spec["services"].items() if "placement" in s["deploy"]}
    assert pinned == {"scheduler", "store", "worker-1"}
    assert spec["services"]["worker-1"]["deploy"]["placement"]["constraints"] == [
        "node.hostname == dasklab-h1"]


def test_each_host_has_its_own_name_address_socket_and_link():
    hosts = [Host(n) for n in (1, 2, 3)]
    assert len({h.ip for h in hosts} | {h.socket for h in hosts} | {h.veth for h in hosts}) == 9
    assert all(h.ip.startswith(machine.SUBNET + ".") for h in hosts)
    # The node script takes the host's number: one script for every host.
    script = machine.NODE_SCRIPT.format(run=machine.RUN, data=machine.DATA, storage="overlay2")
    assert "hostname dasklab-h$N" in script and "--cgroup-parent dasklab-h$N" in script
