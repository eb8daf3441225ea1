"""The Docker side of ComposeCluster: worker containers made from a compose
project's own worker definition, started, removed and swept.

A new worker is "worker-1's definition with its own name": the same image,
command, environment, config and code mounts and memory limit, read from
`docker compose config` of the running project; its own anonymous volume at
/data; a fixed address from a block the compose file never uses; and compose
labels, so `docker compose ps` lists it and `docker compose down --remove-orphans`
removes it (plain `down` leaves it, and then cannot remove the network).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
from dataclasses import dataclass, field
from ipaddress import ip_network

from .. import docker_api

ELASTIC = "dasklab.elastic"      # label: the project the elastic worker belongs to
OWNER = "dasklab.owner"          # label: host:pid of the client that started it
WORKER_NAME = "dasklab.worker-name"
NUMBERED = re.compile(r"worker-(\d+)")
# worker-N gets address .(FIRST_HOST + N): elastic workers never take a static
# service's fixed address (.5-.13), and a name keeps one address for as long as
# the scheduler lives (it caches name -> IP for its whole life, distributed#1382).
FIRST_HOST = 100


class WorkerStartError(RuntimeError):
    """A worker container could not start; the message holds its own error."""


def this_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # someone else's: not ours to judge
    try:
        os.kill(int(pid), 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def number(name: str) -> int | None:
    m = NUMBERED.fullmatch(str(name))
    return int(m.group(1)) if m else None


@dataclass
class Project:
    """A running lab project, read from its scheduler container and its
    compose definition."""
    name: str
    network: str            # e.g. dasklab_dask
    subnet: str             # e.g. 172.29.86.0/24
    scheduler_port: int     # published on 127.0.0.1
    dashboard_port: int
    worker: dict            # the compose definition of a static worker
    static_workers: list[str]   # worker services in the compose file
    compose_labels: dict[str, str]
    secrets: dict[str, str] = field(default_factory=dict)  # compose secret name -> host file

    @property
    def scheme(self) -> str:
        """tls when the project runs compose/tls.yml (its workers speak tls://)."""
        return "tls" if self.worker.get("environment", {}).get("DASKLAB_TLS") == "on" else "tcp"

    @classmethod
    def read(cls, name: str) -> "Project":
        docker_api.docker_client()  # fail here, clearly, if the engine is down
        try:
            scheduler = docker_api.container(name, "scheduler")
        except LookupError:
            raise LookupError(
                f"compose project {name!r} has no scheduler container: start it with "
                f"`make up` (or `docker compose -p {name} up -d scheduler`)") from None
        scheduler.reload()
        if scheduler.status != "running":
            raise LookupError(f"the scheduler of project {name!r} is {scheduler.status}: "
                              "start it with `make up`")
        labels = scheduler.labels
        ports = scheduler.attrs["NetworkSettings"]["Ports"]
        network = next(iter(scheduler.attrs["NetworkSettings"]["Networks"]))
        net = docker_api.docker_client().networks.get(network)
        config = _compose_config(name, labels)
        workers = sorted((s for s in config["services"] if number(s) is not None), key=number)
        if not workers:
            raise LookupError(f"project {name!r} defines no worker-N service to copy")
        return cls(
            name=name, network=network, subnet=net.attrs["IPAM"]["Config"][0]["Subnet"],
            scheduler_port=int(ports["8786/tcp"][0]["HostPort"]),
            dashboard_port=int(ports["8787/tcp"][0]["HostPort"]),
            worker=config["services"][workers[0]], static_workers=workers,
            compose_labels={k: v for k, v in labels.items()
                            if k in ("com.docker.compose.project",
                                     "com.docker.compose.project.working_dir",
                                     "com.docker.compose.project.config_files",
                                     "com.docker.compose.version")},
            secrets={k: v["file"] for k, v in config.get("secrets", {}).items() if "file" in v},
        )

    def container_services(self) -> list[str]:
        """The service label of every container of the project, in any state."""
        return [c.labels.get("com.docker.compose.service", "")
                for c in docker_api.project_containers(self.name)]

    def static_present(self) -> list[str]:
        """Static worker services that have a container (running or not): the
        floor. A project started with only its scheduler has none."""
        present = set(self.container_services())
        return [s for s in self.static_workers if s in present]

    def address_of(self, name: str) -> str:
        n = number(name)
        hosts = ip_network(self.subnet)
        if n is None or FIRST_HOST + n >= hosts.num_addresses - 1:
            raise WorkerStartError(f"no address left for {name} in {self.subnet} "
                                   f"(elastic workers use .{FIRST_HOST + 1} and up)")
        return str(hosts.network_address + FIRST_HOST + n)

    def command(self, name: str, nthreads: int, memory_limit: int,
                extra_args: tuple[str, ...] = ()) -> list[str]:
        """The static worker's command, with this worker's threads and memory."""
        out = []
        for arg in self.worker["command"]:
            if arg.startswith("--nthreads="):
                arg = f"--nthreads={nthreads}"
            elif arg.startswith("--memory-limit="):
                arg = f"--memory-limit={memory_limit}"
            out.append(arg.replace("{hostname}", name))
        return out + list(extra_args)

    def run(self, name: str, *, nthreads: int, memory_limit: int, image: str | None = None,
            extra_args: tuple[str, ...] = (), cluster: str = "") -> object:
        """Create and start worker `name`'s container; returns it."""
        import docker.errors
        from docker.types import Mount

        client = docker_api.docker_client()
        image = image or self.worker["image"]
        command = self.command(name, nthreads, memory_limit, extra_args)
        labels = {
            **self.compose_labels,
            "com.docker.compose.service": name,
            "com.docker.compose.oneoff": "False",
            "com.docker.compose.container-number": "1",
            # Compose ignores containers without this label (ps, down).
            "com.docker.compose.config-hash": hashlib.sha256(
                json.dumps([image, command]).encode()).hexdigest(),
            ELASTIC: self.name, OWNER: this_owner(), WORKER_NAME: name,
            "dasklab.backends.compose.cluster": cluster,
            **{k: v for k, v in self.worker.get("labels", {}).items() if k.startswith("dasklab.")},
        }
        mounts = [Mount(target=v["target"], source=v["source"], type="bind",
                        read_only=v.get("read_only", False))
                  for v in self.worker["volumes"] if v["type"] == "bind"]
        # Compose file secrets (compose/tls.yml's certificates) are bind mounts too.
        mounts += [Mount(target=_secret_target(v), source=self.secrets[v["source"]], type="bind",
                         read_only=True) for v in self.worker.get("secrets", [])]
        # Its own anonymous volume, labelled so a sweep can find it.
        mounts.append(Mount(target="/data", source=None, type="volume",
                            labels={ELASTIC: self.name, WORKER_NAME: name}))
        endpoint = client.api.create_endpoint_config(aliases=[name],
                                                     ipv4_address=self.address_of(name))
        container_name = f"{self.name}-{name}-1"
        _remove_stale(container_name)
        try:
            container = client.containers.create(
                image, command, name=container_name, hostname=name, detach=True,
                environment=self.worker.get("environment", {}), labels=labels, mounts=mounts,
                mem_limit=memory_limit, restart_policy={"Name": "no"},
                stop_signal="SIGTERM", network=self.network,
                networking_config={self.network: endpoint},
                healthcheck=_healthcheck(self.worker.get("healthcheck")),
                # The same hardening as the static workers (docker-compose.yml, x-hardened).
                cap_drop=self.worker.get("cap_drop"), security_opt=self.worker.get("security_opt"),
                pids_limit=self.worker.get("pids_limit"),
            )
        except docker.errors.ImageNotFound:
            raise WorkerStartError(
                f"worker {name}: image {image!r} not found on this engine "
                "(no registry here: build it with `make images`)") from None
        except docker.errors.APIError as e:
            raise WorkerStartError(f"worker {name}: docker refused the container: "
                                   f"{e.explanation or e}") from None
        try:
            container.start()
        except docker.errors.APIError as e:
            container.remove(v=True, force=True)
            raise WorkerStartError(f"worker {name}: container did not start: "
                                   f"{e.explanation or e}") from None
        return container


def failure(container) -> str | None:
    """The container's own error, if it stopped; None while it runs."""
    container.reload()
    if container.status in ("created", "running", "restarting"):
        return None
    code = container.attrs["State"].get("ExitCode")
    tail = container.logs(tail=15).decode(errors="replace").strip()
    return f"container {container.name} {container.status} (exit code {code}):\n{tail}"


def remove(container, timeout: int = 30) -> None:
    """Stop (a no-op once the retired worker exited) and remove, with its volume."""
    import docker.errors

    try:
        container.stop(timeout=timeout)
        container.remove(v=True, force=True)
    except docker.errors.NotFound:
        pass


def reap(project: str, *, everything: bool = False) -> list[str]:
    """Remove elastic worker containers (and their volumes) of `project` whose
    client died without closing, or all of them with everything=True. Returns
    the container names removed."""
    client = docker_api.docker_client()
    removed = []
    for c in client.containers.list(all=True, filters={"label": f"{ELASTIC}={project}"}):
        if everything or not owner_alive(c.labels.get(OWNER, "")):
            remove(c, timeout=5)
            removed.append(c.name)
    for v in client.volumes.list(filters={"label": f"{ELASTIC}={project}", "dangling": True}):
        v.remove(force=True)
    return removed


def leftovers(project: str) -> tuple[list[str], list[str]]:
    """Elastic containers and volumes of `project` that still exist."""
    client = docker_api.docker_client()
    label = f"{ELASTIC}={project}"
    return ([c.name for c in client.containers.list(all=True, filters={"label": label})],
            [v.name for v in client.volumes.list(filters={"label": label})])


def _remove_stale(container_name: str) -> None:
    import docker.errors

    try:
        stale = docker_api.docker_client().containers.get(container_name)
    except docker.errors.NotFound:
        return
    stale.remove(v=True, force=True)


def _healthcheck(spec: dict | None) -> dict | None:
    """Compose's healthcheck (durations in Go's "1m0s" form) for the SDK (ns)."""
    if not spec:
        return None
    scale = {"h": 3600e9, "m": 60e9, "s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1}

    def ns(key: str) -> int | None:
        if key not in spec:
            return None
        parts = re.findall(r"([0-9.]+)(ms|us|ns|h|m|s)", spec[key])
        return int(sum(float(v) * scale[unit] for v, unit in parts))

    return {"test": spec["test"], "interval": ns("interval"), "timeout": ns("timeout"),
            "retries": spec.get("retries"), "start_period": ns("start_period")}


def _secret_target(secret: dict) -> str:
    """Where Compose mounts a service's secret: its target (rendered as an
    absolute path) or /run/secrets/<source>."""
    target = secret.get("target") or secret["source"]
    return target if target.startswith("/") else f"/run/secrets/{target}"


def _compose_config(project: str, labels: dict[str, str]) -> dict:
    """`docker compose config` of the project, from the files it was started with."""
    workdir = labels.get("com.docker.compose.project.working_dir")
    files = labels.get("com.docker.compose.project.config_files", "")
    if not workdir or not files:
        raise LookupError(f"project {project!r} was not started by docker compose")
    cmd = ["docker", "compose", "--project-directory", workdir, "-p", project]
    for f in files.split(","):
        cmd += ["-f", f]
    proc = subprocess.run(cmd + ["config", "--format", "json"], capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        raise LookupError(f"`docker compose config` of {project!r} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)
