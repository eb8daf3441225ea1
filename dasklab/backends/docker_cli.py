"""The plain `docker` command line, for what is taught as commands a person
types (the `manual` scenario: a cluster from three `docker run` lines). The
lab's own management goes through the Docker SDK (docker_api.py) or
`docker compose` (compose/project.py)."""

from __future__ import annotations

import shlex
import subprocess

DOCKER = "docker"


def command(*args: str) -> list[str]:
    """A full command line, as a person would type it."""
    return [DOCKER, *args]


def run(*args: str, check: bool = True, timeout: float = 120) -> str:
    """Run `docker <args>`; its stdout. With check, a non-zero exit raises
    RuntimeError naming the command line and docker's own message."""
    proc = subprocess.run(command(*args), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`{shlex.join(command(*args))}` exited {proc.returncode}: "
                           f"{proc.stderr.strip()}")
    return proc.stdout.strip()
