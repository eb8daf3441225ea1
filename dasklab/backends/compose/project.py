"""Command lines for `docker compose` against this checkout's cluster.

Everything that starts, stops or kills services goes through here, so the
project name and compose files are set in one place (the tests run a second
project, "dasklab-test", beside the user's "dasklab").
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ...settings import ROOT, compose_files, load
from ...waiting import wait_until

DEFAULT_PROJECT = "dasklab"


class DockerUnavailable(RuntimeError):
    pass


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def side_env(network_prefix: str) -> dict[str, str]:
    """Settings for a second cluster beside the user's (tests, benchmarks):
    its own free loopback ports and its own network. Compose and the lab read
    them before .env."""
    return {"SCHEDULER_PORT": str(free_port()), "DASHBOARD_PORT": str(free_port()),
            "S3_PORT": str(free_port()), "NETWORK_PREFIX": network_prefix}


@dataclass(frozen=True)
class Compose:
    project: str = DEFAULT_PROJECT
    files: tuple[str, ...] = ("docker-compose.yml",)
    root: Path = ROOT
    env: dict[str, str] = field(default_factory=dict)  # overrides for ${VAR}

    def cmd(self, *args: str) -> list[str]:
        out = ["docker", "compose", "--project-directory", str(self.root), "-p", self.project]
        for f in self.files:
            out += ["-f", str(self.root / f)]
        return out + list(args)

    def run(self, *args: str, check: bool = True, capture: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess:
        if shutil.which("docker") is None:
            raise DockerUnavailable("the docker CLI is not installed (see README, Prerequisites)")
        proc = subprocess.run(
            self.cmd(*args), capture_output=capture, text=True, timeout=timeout,
            env={**os.environ, **self.env},
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"`{' '.join(self.cmd(*args))}` exited {proc.returncode}:\n{proc.stderr or ''}"
            )
        return proc

    def up(self, *services: str, timeout: float = 300, recreate: bool = False,
           capture: bool = True) -> float:
        """`up -d` (the given services, or all), then wait until each started
        container's own healthcheck passes (wait_healthy). Returns the seconds taken."""
        start = time.monotonic()
        extra = ("--no-deps", "--force-recreate") if recreate else ()
        self.run("up", "-d", *extra, *services, timeout=timeout, capture=capture)
        self.wait_healthy(services, timeout=max(10.0, timeout - (time.monotonic() - start)))
        return time.monotonic() - start

    def wait_healthy(self, services: tuple[str, ...] = (), timeout: float = 300) -> None:
        """Run each container's healthcheck command ourselves (`docker exec`,
        every 0.5 s) until it passes, all containers side by side. Docker's
        own probe runs only every 30 s (docker-compose.yml, x-health: an exec
        every few seconds per service was a third of the idle lab's CPU), and
        Docker 20.10 has no faster start interval, so `up --wait` would take
        30 s; this takes as long as the services do."""
        ids = self.run("ps", "-q", *services).stdout.split()
        if not ids:
            raise RuntimeError(f"no container of {', '.join(services) or 'the project'} "
                               f"in project {self.project!r} is running")
        with ThreadPoolExecutor(len(ids)) as pool:
            for future in [pool.submit(_wait_probe, cid, timeout) for cid in ids]:
                future.result()

    def config(self) -> dict:
        """The compose files as Compose renders them (.env substituted, anchors
        merged): what the Swarm stack and the Kubernetes manifests derive from."""
        import json

        return json.loads(self.run("config", "--format", "json").stdout)

    def kill(self, service: str) -> None:
        self.run("kill", service)

    def start(self, service: str) -> None:
        self.run("start", service)

    def ps(self) -> str:
        return self.run("ps", "-a", check=False).stdout

    def logs(self, service: str | None = None, tail: int = 2000) -> str:
        args = ["logs", "--no-color", "--timestamps", f"--tail={tail}"]
        proc = self.run(*args, *([service] if service else []), check=False)
        return proc.stdout + proc.stderr


def _inspect(cid: str) -> dict:
    import json

    out = subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout)[0] if out.returncode == 0 else {}


def _probe_passes(cid: str, test: list[str], seconds: float) -> bool:
    command = test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]]
    try:
        return subprocess.run(["docker", "exec", cid, *command], capture_output=True,
                              timeout=seconds).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _wait_probe(cid: str, timeout: float) -> None:
    """Until the container's healthcheck command passes (a container with
    none: until it runs). A container that exits meanwhile fails at once."""
    info = _inspect(cid)
    name = info.get("Name", cid).lstrip("/")
    check = (info.get("Config") or {}).get("Healthcheck") or {}
    test = check.get("Test") or ["NONE"]
    probe_s = (check.get("Timeout") or 5e9) / 1e9

    def ready() -> bool:
        state = _inspect(cid).get("State", {})
        if state.get("Status") in ("exited", "dead"):
            raise RuntimeError(f"{name} exited (code {state.get('ExitCode')}) while starting: "
                               f"`docker logs {name}` says why")
        if not state.get("Running"):
            return False
        return test[0] == "NONE" or _probe_passes(cid, test, probe_s)

    wait_until(ready, timeout, f"{name}'s healthcheck to pass", interval=0.5,
               state=lambda: _inspect(cid).get("State", {}).get("Status"))


@contextmanager
def side_project(project: str, network_prefix: str, services: tuple[str, ...] = ("scheduler",),
                 settings: dict[str, str] | None = None):
    """A second project beside the user's, with only `services` started (by
    default a bare scheduler: a cluster with no static workers, for
    ComposeCluster to fill; () starts them all), and `settings` over .env's
    (FAILOVER=fast, say). Removed with its volumes on the way out."""
    settings = settings or {}
    compose = Compose(project=project, files=tuple(compose_files({**load(), **settings})),
                      env={**side_env(network_prefix), **settings})
    compose.run("down", "-v", "--remove-orphans", "--timeout", "5", check=False)
    try:
        compose.up(*services, timeout=180)
        yield compose
    finally:
        compose.run("down", "-v", "--remove-orphans", "--timeout", "10", check=False)


def main(argv: list[str] | None = None) -> int:
    """`make up` and `make restart`: python -m dasklab.backends.compose.project
    up|wait [SERVICE...] — start (up) or only wait for (wait) the services."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dasklab.backends.compose.project")
    parser.add_argument("action", choices=("up", "wait"))
    parser.add_argument("services", nargs="*")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args(argv)
    compose = Compose(project=os.environ.get("DASKLAB_PROJECT", DEFAULT_PROJECT),
                      files=tuple(compose_files(load())))
    start = time.monotonic()
    try:
        if args.action == "up":
            compose.up(*args.services, timeout=args.timeout, capture=False)
        else:
            compose.wait_healthy(tuple(args.services), timeout=args.timeout)
    except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as e:
        print(f"[up] ERROR: {e}", file=sys.stderr)
        return 1
    print(f"[up] every service healthy in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
