"""The resource manager interface behind the lab: what starts, stops and
wires up the containers of a service. The nemesis (dasklab/faults.py) speaks
only this interface; each backend implements it for its own kind of
container: Compose (backends/compose/resources.py), Swarm
(backends/swarm/resources.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from . import docker_api


@dataclass(frozen=True)
class Attachment:
    """Where a container sat on the cluster network: enough to put it back
    at the same address under the same names."""
    network: str
    ip: str
    aliases: tuple[str, ...]


async def retire_by_name(retire_workers, names: list[str]) -> list[str]:
    """Dask's graceful retire, by worker name, for every backend: the workers'
    unique results move to the survivors, then they close and leave the
    scheduler. `retire_workers` is the scheduler's RPC (a Cluster's
    scheduler_comm, or a Client's scheduler). Returns the names that could not
    be retired (no survivor with room): the caller removes them anyway, and
    what only they held will be recomputed."""
    retired = await retire_workers(names=names, close_workers=True, remove=True)
    return sorted(set(names) - {str(w["name"]) for w in retired.values()})


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
