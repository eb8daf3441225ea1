"""Command lines for `docker compose` against this checkout's cluster.

Everything that starts, stops or kills services goes through here, so the
project name and compose files are set in one place (the tests run a second
project, "dasklab-test", beside the user's "dasklab").
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .settings import ROOT

DEFAULT_PROJECT = "dasklab"


class DockerUnavailable(RuntimeError):
    pass


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
