"""`make up`'s first step: before anything is built or started, check what
would otherwise make it fail half way, with Docker's raw words, after a long
build. Each problem is named with its fix; nothing has been started when it
stops. Standard library only: it runs before `.venv` exists.

    python3 -m dasklab.backends.compose.preflight [--project dasklab]

Checks: the settings given in the environment (never half-applied, see
settings.environment_conflicts), every port the cluster publishes on
127.0.0.1, NETWORK_PREFIX's subnet against Docker's networks, the engine's
version, and free disk for what is still to be built.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from ...settings import ENV_FILE, ROOT, SettingsError, environment_conflicts, load, problems

PORTS = ("SCHEDULER_PORT", "DASHBOARD_PORT", "S3_PORT")
MIN_ENGINE = (20, 10)
COLD_BYTES = 3 * 10**9  # images, wheelhouse, .venv and Garage's build, from nothing
WARM_BYTES = 5 * 10**8


def docker(*args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def listener(port: int) -> str:
    """Who listens on `port`, as far as /proc shows it: 'pid 123 (python3 -m
    ...)', plus the container when it is Docker's proxy; '' if unknown."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if not any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in fds):
                continue
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        text = f"pid {pid} ({cmd[:120]})"
        if "docker-proxy" in cmd:
            names = docker("ps", "--filter", f"publish={port}", "--format", "{{.Names}}")
            if names.stdout.strip():
                text += f", the published port of container {names.stdout.strip()}"
        return text
    return ""


def own_ports(project: str) -> set[int]:
    """Ports this project's running containers already publish: `make up` on
    a running cluster is fine."""
    proc = docker("ps", "--filter", f"label=com.docker.compose.project={project}",
                  "--format", "{{.Ports}}")
    ports = set()
    for part in proc.stdout.replace("\n", ",").split(","):
        host = part.strip().split("->")[0]
        if ":" in host:
            tail = host.rsplit(":", 1)[1]
            if tail.isdigit():
                ports.add(int(tail))
    return ports


def next_free(port: int, taken: set[int]) -> int:
    for candidate in range(port + 1, min(port + 200, 65536)):
        if candidate not in taken and port_free(candidate):
            return candidate
    return port + 1


def port_problem(name: str, port: int, taken: set[int], then: str = "make up") -> str | None:
    """None when `port` is free on 127.0.0.1; else who holds it and the fix."""
    if port_free(port):
        return None
    who = listener(port)
    return (f"port {port} on 127.0.0.1 ({name}) is already in use"
            f"{' by ' + who if who else ''}.\n"
            f"    Fix: put {name}={next_free(port, taken)} in .env (or stop that program), "
            f"then `{then}`.")


def port_problems(values: dict[str, str], project: str) -> list[str]:
    own = own_ports(project)
    chosen = {int(values[name]) for name in PORTS}
    found = (port_problem(name, int(values[name]), chosen) for name in PORTS
             if int(values[name]) not in own)
    return [problem for problem in found if problem]


def subnet_problems(values: dict[str, str], project: str) -> list[str]:
    wanted = ipaddress.ip_network(f"{values['NETWORK_PREFIX']}.0/24")
    ids = docker("network", "ls", "-q").stdout.split()
    if not ids:
        return []
    proc = docker("network", "inspect", "--format",
                  "{{.Name}} {{range .IPAM.Config}}{{.Subnet}} {{end}}", *ids)
    out, used = [], subnets_in_use(proc.stdout)
    for line in proc.stdout.splitlines():
        name, *subnets = line.split()
        if name == f"{project}_dask":
            continue
        for subnet in subnets:
            try:
                net = ipaddress.ip_network(subnet, strict=False)
            except ValueError:
                continue
            if net.version == 4 and net.overlaps(wanted):
                out.append(f"NETWORK_PREFIX={values['NETWORK_PREFIX']}: {wanted} overlaps "
                           f"Docker network {name!r} ({subnet}).\n"
                           f"    Fix: put another free /24 in .env, e.g. "
                           f"NETWORK_PREFIX={_free_prefix(used)}.")
    return out


def subnets_in_use(inspect_output: str) -> list:
    nets = []
    for line in inspect_output.splitlines():
        for subnet in line.split()[1:]:
            try:
                nets.append(ipaddress.ip_network(subnet, strict=False))
            except ValueError:
                pass
    return nets


def free_prefix() -> str:
    """A 172.29.x /24 that no Docker network uses now: for a throwaway cluster
    (the pytest plugin's fresh one)."""
    ids = docker("network", "ls", "-q").stdout.split()
    inspect = docker("network", "inspect", "--format",
                     "{{.Name}} {{range .IPAM.Config}}{{.Subnet}} {{end}}", *ids).stdout if ids else ""
    return _free_prefix(subnets_in_use(inspect))


def _free_prefix(used: list) -> str:
    for third in range(100, 255):
        candidate = ipaddress.ip_network(f"172.29.{third}.0/24")
        if not any(n.version == 4 and n.overlaps(candidate) for n in used):
            return f"172.29.{third}"
    return "10.123.45"


def engine_problems() -> list[str]:
    if shutil.which("docker") is None:
        return ["the docker CLI is not installed.\n    Fix: install Docker Engine "
                "(README, Prerequisites)."]
    proc = docker("version", "--format", "{{.Server.Version}}")
    version = proc.stdout.strip()
    if proc.returncode != 0 or not version:
        return ["the Docker engine is not running or not reachable "
                f"({(proc.stderr.strip().splitlines() or ['no answer'])[-1]}).\n"
                "    Fix: start it (systemctl start docker), or check DOCKER_HOST and your "
                "docker group membership."]
    parts = [int(p) for p in version.split("+")[0].split("-")[0].split(".")[:2] if p.isdigit()]
    if tuple(parts) < MIN_ENGINE:
        return [f"the Docker engine is {version}; dasklab needs 20.10 or newer.\n"
                "    Fix: upgrade Docker Engine."]
    return []


def images_present(values: dict[str, str]) -> bool:
    tags = [values["DASKLAB_IMAGE"]]
    if values.get("STORE_BACKEND", "garage") == "garage":
        tags.append(f"dasklab/garage:{os.environ.get('GARAGE_VERSION', '2.5.0')}")
    return docker("image", "inspect", *tags).returncode == 0


def disk_problems(values: dict[str, str]) -> list[str]:
    need = WARM_BYTES if images_present(values) else COLD_BYTES
    root = docker("info", "--format", "{{.DockerRootDir}}").stdout.strip() or "/var/lib/docker"
    out = []
    for what, path in (("Docker's data root", root), ("this checkout", str(ROOT))):
        probe = Path(path)
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        if free < need:
            out.append(f"{what} ({path}) has {free / 1e9:.1f} GB free; `make up` needs about "
                       f"{need / 1e9:.1f} GB here.\n    Fix: free some space "
                       "(`docker system df`, `docker builder prune`), then `make up`.")
    return out


def check(project: str = "dasklab") -> list[str]:
    """Every problem found, each with its fix; empty when `make up` may go on."""
    try:
        found = environment_conflicts()
    except SettingsError as e:
        return [str(e)]
    values = load()
    # The values this step relies on; the settings step names every other bad one.
    bad = [p for p in problems(values) if p.startswith(PORTS + ("NETWORK_PREFIX",))]
    if bad:
        return found + bad
    engine = engine_problems()
    if engine:
        return found + engine
    return (found + port_problems(values, project) + subnet_problems(values, project)
            + disk_problems(values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m dasklab.backends.compose.preflight")
    parser.add_argument("--project", default="dasklab")
    args = parser.parse_args(argv)
    start = time.monotonic()
    found = check(args.project)
    if found:
        print(f"[preflight] `make up` cannot go on; nothing was built or started "
              f"({ENV_FILE.name} and the environment were read):", file=sys.stderr)
        for problem in found:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    print(f"[preflight] ports, network, engine and disk fine "
          f"({time.monotonic() - start:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
