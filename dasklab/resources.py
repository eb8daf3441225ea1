"""The resource manager behind the lab: what starts, stops and wires up the
containers of a service.

Here it is Docker Compose (a service = one container of a compose project,
found by its compose labels). The nemesis (faults.py) speaks only the
`Resources` interface, so a Swarm or Kubernetes backend can offer the same
faults by implementing these few verbs for its own kind of container.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from . import docker_api
from .compose import Compose


@dataclass(frozen=True)
class Attachment:
    """Where a container sat on the cluster network: enough to put it back
    at the same address under the same names."""
    network: str
    ip: str
    aliases: tuple[str, ...]


class Resources(ABC):
    """Containers of services, in one project."""

    project: str
    kind: str  # "compose", "swarm"
    # Does a service come back at the same IP? Compose: fixed addresses in
    # docker-compose.yml. Swarm: a new task gets a new overlay address.
    stable_addresses: bool

    @abstractmethod
    def container(self, service: str) -> Any:
        """The service's current container (a docker SDK Container)."""

    def volume(self, service: str, path: str = "/data") -> str | None:
        """Name of the named volume mounted at `path` in the service's container."""
        return docker_api.volume_of(self.container(service), path)

    def logs_since(self, service: str, since: float) -> str:
        """The container's own output since `since` (a time.time())."""
        return docker_api.output_since(self.container(service), since)

    @abstractmethod
    def kill(self, service: str) -> None:
        """SIGKILL the service's container; it stays down until start()."""

    @abstractmethod
    def start(self, service: str) -> None: ...

    @abstractmethod
    def stop(self, service: str) -> None:
        """Stop the container gracefully (SIGTERM, then SIGKILL after a grace period)."""

    @abstractmethod
    def restart(self, service: str) -> None: ...

    @abstractmethod
    def pause(self, service: str) -> None:
        """Freeze every process of the container (alive, answering nothing)."""

    @abstractmethod
    def unpause(self, service: str) -> None: ...

    @abstractmethod
    def disconnect(self, service: str) -> Attachment:
        """Cut the container off the cluster network; returns where it was."""

    @abstractmethod
    def connect(self, service: str, attachment: Attachment) -> None:
        """Put it back on the network at the same address and names."""

    @abstractmethod
    def exec(self, service: str, argv: list[str]) -> tuple[int, str]:
        """Run a command inside the container: (exit code, output)."""

    @abstractmethod
    def recreate(self, service: str, overlays: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, fresh_volume: bool = False) -> None:
        """Replace the container from its definition (plus overlays), optionally
        with a new, empty volume."""

    @abstractmethod
    def state(self, service: str) -> str:
        """'running', 'paused', 'exited', ... as the resource manager sees it."""

    @abstractmethod
    def restarts(self, service: str) -> int:
        """How often the resource manager restarted the container by itself."""


class ComposeResources(Resources):
    """Compose services through the Docker SDK (kill, pause, network) and the
    compose CLI (recreate from the compose files, with overlays)."""

    kind = "compose"
    stable_addresses = True

    def __init__(self, compose: Compose) -> None:
        self.compose = compose
        self.project = compose.project

    def container(self, service: str) -> Any:
        return docker_api.container(self.project, service)

    def kill(self, service: str) -> None:
        self.container(service).kill()  # SIGKILL, as `docker compose kill`

    def start(self, service: str) -> None:
        self.container(service).start()

    def stop(self, service: str) -> None:
        self.container(service).stop(timeout=20)

    def restart(self, service: str) -> None:
        self.compose.run("restart", service)

    def pause(self, service: str) -> None:
        # The kernel's freezer can give up while a process of the container is
        # in an uninterruptible disk wait (runc: "unable to freeze"; seen once
        # on the store under writes): try again, a bounded number of times.
        import docker.errors

        from .connect import wait_until

        container, errors = self.container(service), []

        def attempt() -> bool:
            try:
                container.pause()
                return True
            except docker.errors.APIError as e:
                if "unable to freeze" not in str(e):
                    raise
                errors.append(str(e))
                return False

        wait_until(attempt, 15, f"{service} to freeze", interval=0.5, state=lambda: errors[-1:])

    def unpause(self, service: str) -> None:
        self.container(service).unpause()

    def _network(self, container: Any) -> str:
        networks = container.attrs["NetworkSettings"]["Networks"]
        name = f"{self.project}_dask"
        if name not in networks:
            raise LookupError(f"{container.name} is not on network {name} (it is on "
                              f"{sorted(networks) or 'none'})")
        return name

    def disconnect(self, service: str) -> Attachment:
        container = self.container(service)
        name = self._network(container)
        ip, aliases = docker_api.endpoint(container, name)
        docker_api.docker_client().networks.get(name).disconnect(container)
        return Attachment(network=name, ip=ip, aliases=aliases or (service,))

    def connect(self, service: str, attachment: Attachment) -> None:
        container = self.container(service)
        container.reload()
        if attachment.network in container.attrs["NetworkSettings"]["Networks"]:
            return  # already back
        docker_api.docker_client().networks.get(attachment.network).connect(
            container, ipv4_address=attachment.ip, aliases=list(attachment.aliases))

    def exec(self, service: str, argv: list[str]) -> tuple[int, str]:
        out = self.container(service).exec_run(argv)
        return out.exit_code, out.output.decode(errors="replace")

    def recreate(self, service: str, overlays: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, fresh_volume: bool = False) -> None:
        compose = Compose(project=self.project, files=self.compose.files + tuple(overlays),
                          root=self.compose.root, env={**self.compose.env, **(env or {})})
        if fresh_volume:
            volume = self.volume(service)
            compose.run("rm", "--stop", "--force", service)
            if volume:
                docker_api.docker_client().volumes.get(volume).remove()
        compose.run("up", "-d", "--wait", "--no-deps", "--force-recreate", service)

    def state(self, service: str) -> str:
        container = self.container(service)
        container.reload()
        return container.status

    def restarts(self, service: str) -> int:
        container = self.container(service)
        container.reload()
        return int(container.attrs["RestartCount"])
