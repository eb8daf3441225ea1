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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ...settings import ROOT, compose_files, load

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
        compose.run("up", "-d", "--wait", "--wait-timeout", "180", *services)
        yield compose
    finally:
        compose.run("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
