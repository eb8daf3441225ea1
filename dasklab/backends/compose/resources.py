"""The Compose backend's resource manager: a service is one container of a
compose project, found by its compose labels."""

from __future__ import annotations

from typing import Any

from .. import docker_api
from ..base import Attachment, Resources
from .project import Compose


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

        from ...waiting import wait_until

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
        compose.up(service, recreate=True)

    def state(self, service: str) -> str:
        container = self.container(service)
        container.reload()
        return container.status

    def restarts(self, service: str) -> int:
        container = self.container(service)
        container.reload()
        return int(container.attrs["RestartCount"])


def for_lab(lab) -> ComposeResources:
    """The backend registry's entry (backends/__init__.py)."""
    return ComposeResources(lab.compose)
