"""Compose.wait_healthy: the lab runs each container's own healthcheck until
it passes (Docker probes only every 30 s), against a stubbed docker CLI."""

from __future__ import annotations

import json
import subprocess

import pytest

from dasklab.backends.compose import project
from dasklab.backends.compose.project import Compose

PROBE = ["CMD", "bash", "-c", "exit 0"]


@pytest.fixture(autouse=True)
def docker_cli(monkeypatch):
    monkeypatch.setattr(project.shutil, "which", lambda _: "/usr/bin/docker")


def _docker(states: dict[str, list[str]], probes: dict[str, list[int]], calls: list):
    """A fake `docker`: inspect answers the next state of each container,
    exec the next exit code of its probe."""
    def run(cmd, **kwargs):
        calls.append(cmd)
        if cmd[:3] == ["docker", "compose", "--project-directory"]:
            return subprocess.CompletedProcess(cmd, 0, "\n".join(states) + "\n", "")
        if cmd[1] == "inspect":
            cid = cmd[2]
            status = states[cid].pop(0) if len(states[cid]) > 1 else states[cid][0]
            info = {"Name": f"/lab-{cid}", "Config": {"Healthcheck": {"Test": PROBE,
                                                                     "Timeout": 5e9}},
                    "State": {"Status": status, "Running": status == "running",
                              "ExitCode": 3 if status == "exited" else 0}}
            return subprocess.CompletedProcess(cmd, 0, json.dumps([info]), "")
        if cmd[1] == "exec":
            code = probes[cmd[2]].pop(0) if len(probes[cmd[2]]) > 1 else probes[cmd[2]][0]
            assert cmd[3:] == PROBE[1:]  # the container's own command, as Docker runs it
            return subprocess.CompletedProcess(cmd, code, "", "")
        raise AssertionError(cmd)
    return run


def test_waits_until_every_probe_passes(monkeypatch):
    calls = []
    fake = _docker({"a": ["running"], "b": ["created", "running"]}, {"a": [1, 1, 0], "b": [0]},
                   calls)
    monkeypatch.setattr(subprocess, "run", fake)
    Compose(project="x").wait_healthy(timeout=10)
    execs = [c[2] for c in calls if c[1] == "exec"]
    assert execs.count("a") == 3 and execs.count("b") == 1


def test_an_exited_container_fails_at_once_naming_it(monkeypatch):
    monkeypatch.setattr(subprocess, "run", _docker({"a": ["exited"]}, {"a": [1]}, []))
    with pytest.raises(RuntimeError, match=r"lab-a exited \(code 3\).*docker logs lab-a"):
        Compose(project="x").wait_healthy(timeout=10)


def test_a_probe_that_never_passes_times_out_naming_the_container(monkeypatch):
    monkeypatch.setattr(subprocess, "run", _docker({"a": ["running"]}, {"a": [1]}, []))
    with pytest.raises(TimeoutError, match="lab-a's healthcheck to pass"):
        Compose(project="x").wait_healthy(timeout=1)
