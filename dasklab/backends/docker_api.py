"""The Docker SDK side of the lab: which container and volume is behind a
compose service. Faults (kill, wipe) build on this."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def docker_client():
    import docker

    return docker.from_env(timeout=30)


def project_containers(project: str, running_only: bool = False) -> list:
    """Every container of a compose project (elastic workers too: they carry
    its label), sorted by service name."""
    found = docker_client().containers.list(
        all=not running_only, filters={"label": f"com.docker.compose.project={project}"})
    return sorted(found, key=lambda c: c.labels.get("com.docker.compose.service", c.name))


def container(project: str, service: str):
    """The container of one compose service (running or not)."""
    found = docker_client().containers.list(all=True, filters={"label": [
        f"com.docker.compose.project={project}", f"com.docker.compose.service={service}"]})
    if not found:
        raise LookupError(f"no container for service {service!r} in compose project {project!r}")
    return found[0]


def volume_of(container, path: str = "/data") -> str | None:
    """Name of the named volume mounted at `path` in a container."""
    for mount in container.attrs["Mounts"]:
        if mount.get("Destination") == path:
            return mount.get("Name") or mount.get("Source")
    return None


def endpoint(container, network: str, keep_ip: bool = True) -> tuple[str, tuple[str, ...]]:
    """(ip, aliases) of the container on `network`: enough to connect it again
    at the same address under the same names. The ip is the fixed one if set,
    else the current one when `keep_ip` (only networks with a user subnet
    accept it back), else ''. Docker adds the short id as an alias itself."""
    ep = container.attrs["NetworkSettings"]["Networks"].get(network) or {}
    ip = (ep.get("IPAMConfig") or {}).get("IPv4Address") or (
        ep.get("IPAddress", "") if keep_ip else "")
    return ip, tuple(a for a in ep.get("Aliases") or [] if a != container.id[:12])


def image_present(tag: str) -> bool:
    import docker.errors

    try:
        docker_client().images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def output_since(container, since: float) -> str:
    """A container's own output since `since` (a time.time()). Some Dask
    messages (distributed.spill's) never reach client.get_worker_logs."""
    return container.logs(since=int(since)).decode(errors="replace")


def container_cpu_s(project: str, service: str) -> float:
    """CPU seconds the service's container has used since it started (the
    engine's cgroup accounting: every process in it, nanny included)."""
    stats = container(project, service).stats(stream=False, one_shot=True)
    return stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9
