"""The nemesis's verbs on the hosts' stack (DASKLAB_BACKEND=hosts).

Everything the Swarm backend does (kill, pause, partition, restart a
service's task), looking for a task's container on every host's engine and
speaking to the swarm through host 1, its manager; and what only hosts have:
which host a worker runs on, a host's power and cable, draining a host, and
the bytes each host sent and received over its link.
"""

from __future__ import annotations

import time

from ..swarm.resources import SwarmResources
from . import machine
from .deploy import STACK, nodes, placement
from .machine import Host


class HostsResources(SwarmResources):
    kind = "swarm"

    def __init__(self, hosts: list[Host]) -> None:
        if not hosts:
            raise LookupError("no engine hosts are up: `make hosts-up N=2` first")
        self.hosts = hosts
        self.manager = hosts[0]
        super().__init__(STACK, cli=self.manager.docker)
        self._clients: dict[str, object] = {}

    def engines(self) -> list:
        import docker

        out = []
        for h in self.hosts:
            if not h.answers():
                continue  # powered off: nothing of it can be asked
            if h.name not in self._clients:
                self._clients[h.name] = docker.DockerClient(base_url=h.socket, timeout=30)
            out.append(self._clients[h.name])
        return out

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    # -- where things run -------------------------------------------------------
    def placement(self) -> dict[str, str]:
        """service -> host it runs on now."""
        return placement(self.manager)

    def workers_on(self, host: str) -> list[str]:
        return sorted(s for s, h in self.placement().items()
                      if h == host and s.startswith("worker-"))

    def respread(self, services: list[str]) -> None:
        """Start each service's task anew, one at a time: Swarm places it on the
        host with the fewest tasks, which puts workers back on a host that
        came back (Swarm itself never moves a running task)."""
        for name in services:
            self.restart(name)

    def nodes(self) -> dict[str, tuple[str, str]]:
        """host -> (Swarm's Status, Availability)."""
        return nodes(self.manager)

    def wait_node(self, name: str, status: str, timeout: float = 90) -> float:
        """Seconds until the manager reports the node with `status` (Ready, Down)."""
        from ...waiting import wait_until

        start = time.monotonic()
        wait_until(lambda: self.nodes().get(name, ("?",))[0] == status, timeout,
                   f"swarm to report {name} {status}", interval=0.25, state=self.nodes)
        return time.monotonic() - start

    # -- faults a host can have ------------------------------------------------------
    def power_off(self, name: str) -> None:
        machine.power_off(self.host(name))
        self._clients.pop(name, None)

    def power_on(self, name: str) -> None:
        machine.power_on(self.host(name))

    def drain(self, name: str, active: bool = False) -> None:
        node = self.manager.docker("node", "inspect", name, "--format", "{{.ID}}")
        self.manager.docker("node", "update", "--availability",
                            "active" if active else "drain", node)

    def link_bytes(self) -> dict[str, tuple[int, int]]:
        """host -> (bytes sent, bytes received) over its link so far."""
        return {h.name: h.link_bytes() for h in self.hosts}


def for_lab(lab) -> HostsResources:
    """The backend registry's entry (backends/__init__.py)."""
    return HostsResources(machine.hosts_up())
