"""`make up`'s preflight: a busy port, a clashing network or a setting that
would half-apply stops it before anything is built or started, naming the
problem and the fix."""

from __future__ import annotations

import os
import socket
import subprocess

from dasklab.backends.compose import preflight
from dasklab.settings import ROOT, environment_conflicts


def _listening() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_a_busy_port_is_named_with_who_holds_it_and_the_fix(monkeypatch):
    monkeypatch.setattr(preflight, "own_ports", lambda project: set())
    with _listening() as busy:
        port = busy.getsockname()[1]
        values = {"SCHEDULER_PORT": "1", "DASHBOARD_PORT": str(port), "S3_PORT": "2"}
        monkeypatch.setattr(preflight, "port_free", lambda p: p != port)
        [problem] = preflight.port_problems(values, "dasklab-unit-none")
    assert f"port {port} on 127.0.0.1 (DASHBOARD_PORT) is already in use" in problem
    assert f"pid {os.getpid()}" in problem  # who holds it, read from /proc
    assert f"Fix: put DASHBOARD_PORT={port + 1} in .env" in problem


def test_a_port_the_running_cluster_publishes_itself_is_fine(monkeypatch):
    monkeypatch.setattr(preflight, "own_ports", lambda project: {8787})
    monkeypatch.setattr(preflight, "port_free", lambda p: p != 8787)
    values = {"SCHEDULER_PORT": "8786", "DASHBOARD_PORT": "8787", "S3_PORT": "9000"}
    assert preflight.port_problems(values, "dasklab") == []


def test_an_overlapping_docker_network_is_named_with_a_free_prefix(monkeypatch):
    class Proc:
        def __init__(self, stdout):
            self.stdout, self.returncode = stdout, 0

    answers = {"ls": Proc("abc\ndef\n"),
               "inspect": Proc("bridge 172.17.0.0/16 \nother_net 172.29.0.0/16 \n")}
    monkeypatch.setattr(preflight, "docker", lambda *args, **kw: answers[args[1]])
    [problem] = preflight.subnet_problems({"NETWORK_PREFIX": "172.29.86"}, "dasklab")
    assert "172.29.86.0/24 overlaps Docker network 'other_net' (172.29.0.0/16)" in problem
    assert "NETWORK_PREFIX=10.123.45" in problem  # 172.29.x is all taken there


def test_shape_settings_in_the_environment_must_agree_with_env_file(tmp_path):
    env = tmp_path / ".env"
    env.write_text("TLS=off\nDASHBOARD_PORT=8787\n")
    [conflict] = environment_conflicts(env, {"TLS": "on"})
    assert "TLS=on is set in the environment, but .env says TLS=off" in conflict
    assert "sed -i 's/^TLS=.*/TLS=on/' .env" in conflict
    assert environment_conflicts(env, {"TLS": "off"}) == []
    # Ports and the like are read from the environment by Compose and the client alike.
    assert environment_conflicts(env, {"DASHBOARD_PORT": "8788"}) == []


def test_make_up_stops_before_building_when_a_port_is_busy():
    with _listening() as busy:
        port = str(busy.getsockname()[1])
        proc = subprocess.run(["make", "-s", "up"], cwd=ROOT, capture_output=True, text=True,
                              timeout=60, env={**os.environ, "SCHEDULER_PORT": port})
    assert proc.returncode != 0
    assert f"port {port} on 127.0.0.1 (SCHEDULER_PORT) is already in use" in proc.stderr
    assert "nothing was built or started" in proc.stderr
    # It stopped before the first build step (prereqs, then images) began.
    assert "[up] starting" not in proc.stdout and "[prereqs]" not in proc.stderr
    assert "[base]" not in proc.stderr and "[venv]" not in proc.stderr
