"""The nemesis's Swarm backend: the `Resources` verbs for a stack's services.

A service here is one single-replica Swarm service (`<stack>_worker-2`); its
container is the task container running on this engine. Differences from
Compose a scenario can see, all the orchestrator's own doing:

- kill: SIGKILL the task container; Swarm starts a new task by itself
  (restart_policy on-failure), so heal only waits for it.
- stop/start: scale the service to 0 and back to 1 (Swarm has no "stopped
  but kept" task).
- a new task gets a new overlay address (no fixed addresses in Swarm): the
  worker comes back under the same name, not at the same IP.
- a paused task fails its healthcheck; after the retries Swarm replaces it.
- partition: `docker network disconnect` refuses swarm-scoped networks, so
  the task's overlay interface is taken down inside its network namespace
  (nsenter; root on the node), and brought up again on heal.

On a multi-host swarm, point DOCKER_HOST at the node running the task
(`docker service ps <stack>_worker-2` names it); single-node, it is local.
"""

from __future__ import annotations

import subprocess
from typing import Any

from .. import docker_api
from ..base import Attachment, Resources
from .deploy import docker


class SwarmResources(Resources):
    kind = "swarm"
    stable_addresses = False

    def __init__(self, stack: str, cli=docker) -> None:
        self.project = stack
        self._cli = cli  # `docker ...` against the swarm's manager

    def engines(self) -> list:
        """Docker SDK clients of the engines that may run this stack's tasks."""
        return [docker_api.docker_client()]

    def _service(self, service: str) -> str:
        return f"{self.project}_{service}"

    def _tasks(self, service: str, running_only: bool) -> list:
        label = {"label": f"com.docker.swarm.service.name={self._service(service)}"}
        found = [c for engine in self.engines()
                 for c in engine.containers.list(all=not running_only, filters=label)]
        return sorted(found, key=lambda c: c.attrs["Created"], reverse=True)

    def container(self, service: str) -> Any:
        found = self._tasks(service, running_only=True) or self._tasks(service, False)
        if not found:
            raise LookupError(f"no task container of service {self._service(service)!r} "
                              "on this engine")
        return found[0]

    def _wait_running(self, service: str, old_id: str | None = None,
                      timeout: float = 120) -> None:
        from ...waiting import wait_until

        def fresh() -> bool:
            running = self._tasks(service, running_only=True)
            return bool(running) and running[0].id != old_id

        wait_until(fresh, timeout, f"a running task of {self._service(service)}",
                   interval=0.5, state=lambda: self.state(service))

    def _replicas(self, service: str, n: int) -> None:
        self._cli("service", "scale", "--detach", f"{self._service(service)}={n}", timeout=180)

    def kill(self, service: str) -> None:
        self.container(service).kill()

    def start(self, service: str) -> None:
        if self._tasks(service, running_only=True):
            return  # Swarm already started a new task
        self._replicas(service, 1)
        self._wait_running(service)

    def stop(self, service: str) -> None:
        self._replicas(service, 0)  # SIGTERM, then SIGKILL after stop_grace_period

    def restart(self, service: str) -> None:
        old = self.container(service).id
        # A new task replaces the old one (stopped gracefully): same volume.
        self._cli("service", "update", "--force", "--detach", self._service(service),
                  timeout=180)
        self._wait_running(service, old)

    def pause(self, service: str) -> None:
        self.container(service).pause()

    def unpause(self, service: str) -> None:
        container = self.container(service)
        container.reload()
        if container.status == "paused":
            container.unpause()

    def _netns(self, service: str) -> tuple[str, str]:
        """(pid, interface) of the task's interface on the stack's overlay."""
        container = self.container(service)
        net = container.attrs["NetworkSettings"]["Networks"].get(f"{self.project}_dask")
        if not net:
            raise LookupError(f"{container.name} is not on {self.project}_dask")
        pid = str(container.attrs["State"]["Pid"])
        out = subprocess.run(["nsenter", "-t", pid, "-n", "ip", "-o", "-4", "addr", "show"],
                             capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            fields = line.split()
            if f"{net['IPAddress']}/" in line:
                return pid, fields[1].split("@")[0]
        raise LookupError(f"no interface with {net['IPAddress']} in {container.name}")

    def disconnect(self, service: str) -> Attachment:
        pid, iface = self._netns(service)
        subprocess.run(["nsenter", "-t", pid, "-n", "ip", "link", "set", iface, "down"],
                       check=True, capture_output=True)
        return Attachment(network=f"{pid}:{iface}", ip="", aliases=(service,))

    def connect(self, service: str, attachment: Attachment) -> None:
        import os

        pid, iface = attachment.network.split(":")
        if not os.path.exists(f"/proc/{pid}"):
            return  # the task exited (its nanny gave up) and Swarm started a new one
        subprocess.run(["nsenter", "-t", pid, "-n", "ip", "link", "set", iface, "up"],
                       check=True, capture_output=True)

    def exec(self, service: str, argv: list[str]) -> tuple[int, str]:
        out = self.container(service).exec_run(argv)
        return out.exit_code, out.output.decode(errors="replace")

    def recreate(self, service: str, overlays: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, fresh_volume: bool = False) -> None:
        if overlays or env:
            raise NotImplementedError("compose overlays apply to the Compose cluster only")
        if not fresh_volume:
            return self.restart(service)
        from ...waiting import wait_until

        volume = self.volume(service)
        engine = self.container(service).client  # the volume lives on the task's engine
        self._replicas(service, 0)
        wait_until(lambda: not self._tasks(service, running_only=True), 120,
                   f"{self._service(service)}'s task to stop", interval=0.5,
                   state=lambda: self.state(service))
        # Swarm keeps stopped task containers (its task history); they hold the volume.
        for old in self._tasks(service, running_only=False):
            old.remove(force=True)
        if volume:
            engine.volumes.get(volume).remove()
        self._replicas(service, 1)
        self._wait_running(service)

    def state(self, service: str) -> str:
        try:
            container = self.container(service)
        except LookupError:
            return "absent"
        container.reload()
        return container.status

    def restarts(self, service: str) -> int:
        """Tasks Swarm started after the first, as far as its task history
        (5 per slot by default) remembers."""
        return max(0, len(self._tasks(service, running_only=False)) - 1)


def for_lab(lab) -> SwarmResources:
    """The backend registry's entry (backends/__init__.py)."""
    from .deploy import stack_name

    return SwarmResources(stack_name())
