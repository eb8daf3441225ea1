"""Unit tests: the scenario registry, CLI, reporter and command construction."""

import os
import stat
import subprocess
import sys

import pytest

from scenarios import registry
from scenarios.__main__ import main, parse_params
from dasklab.backends.compose.project import Compose, free_port
from dasklab.result import ERROR, FAIL, PASS, Result, render
from dasklab.settings import ROOT


def test_every_registered_scenario_has_a_run_function():
    assert "tour" in registry.SCENARIOS
    for name in registry.SCENARIOS:
        assert callable(registry.module(name).run), name


def test_unknown_scenario_exits_2_and_lists_valid_ones(capsys):
    assert main(["nosuch"]) == 2
    err = capsys.readouterr().err
    assert "unknown scenario 'nosuch'" in err and "tour" in err


def test_make_scenario_nosuch_exits_2():
    proc = subprocess.run(["make", "-s", "scenario-nosuch"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2
    assert "valid scenarios" in proc.stderr and "tour" in proc.stderr


def test_exception_in_scenario_becomes_error_verdict(fake_scenario):
    def boom(lab):
        raise ZeroDivisionError("scenario bug")

    fake_scenario("fake", boom)

    class NoCluster:  # evidence collection must survive a dead cluster too
        compose = Compose(project="dasklab-unit-none")
        client = None

    result = registry.run("fake", NoCluster())
    assert result.verdict == ERROR and "ZeroDivisionError: scenario bug" in result.error
    assert result.evidence and "error" in render(result).lower()


def test_result_check_turns_pass_into_fail_with_reason():
    r = Result("x")
    assert r.check(True, "fine") and r.verdict == PASS
    assert not r.check(False, "3 workers expected") and r.verdict == FAIL
    assert "FAILED: 3 workers expected" in render(r)


def test_params_are_typed():
    assert parse_params(["rows=10", "fraction=0.5", "wipe=true", "path=s3://b/k"]) == {
        "rows": 10, "fraction": 0.5, "wipe": True, "path": "s3://b/k"}


def test_compose_command_names_project_and_file():
    cmd = Compose(project="dasklab-test").cmd("kill", "worker-2")
    assert cmd[:2] == ["docker", "compose"]
    assert cmd[cmd.index("-p") + 1] == "dasklab-test"
    assert cmd[cmd.index("-f") + 1] == str(ROOT / "docker-compose.yml")
    assert cmd[-2:] == ["kill", "worker-2"]


def test_scenario_with_cluster_down_says_make_up_quickly():
    env = {**os.environ, "SCHEDULER_PORT": str(free_port())}
    # timeout=10 is the promise: a clear message within 10 s, not a hang.
    proc = subprocess.run([sys.executable, "-m", "scenarios", "tour"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode == 3
    assert "not running" in proc.stderr and "make up" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture
def fake_docker(tmp_path):
    """A `docker` on PATH whose answers each test chooses."""
    def make(script: str) -> dict:
        path = tmp_path / "docker"
        path.write_text("#!/bin/bash\n" + script)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
        return {"PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": str(tmp_path)}
    return make


def test_prereqs_engine_not_running(fake_docker):
    env = fake_docker('[ "$1" = info ] && { echo "ERROR: Cannot connect to the Docker daemon" >&2; exit 1; }\nexit 0\n')
    proc = subprocess.run(["bash", "images/bootstrap/prereqs.sh"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "engine is not running" in proc.stderr and "systemctl start docker" in proc.stderr


def test_prereqs_compose_v1_is_refused(fake_docker):
    env = fake_docker('[ "$1 $2" = "compose version" ] && { echo 1.29.2; exit 0; }\nexit 0\n')
    proc = subprocess.run(["bash", "images/bootstrap/prereqs.sh"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "needs Compose v2" in proc.stderr


def test_prereqs_no_docker_cli(tmp_path):
    proc = subprocess.run(["/bin/bash", "images/bootstrap/prereqs.sh"], cwd=ROOT,
                          env={"PATH": str(tmp_path)}, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 1 and "docker CLI is not installed" in proc.stderr


def test_garage_version_is_the_same_in_makefile_and_compose():
    import re

    makefile = (ROOT / "Makefile").read_text()
    compose = (ROOT / "docker-compose.yml").read_text()
    version = re.search(r"^GARAGE_VERSION := (\S+)$", makefile, re.M).group(1)
    assert f"image: dasklab/garage:{version}" in compose


def test_s3_env_for_the_host_uses_the_published_port():
    from dasklab.settings import host_s3_env

    env = host_s3_env({"AWS_ACCESS_KEY_ID": "GK" + "0" * 24, "AWS_SECRET_ACCESS_KEY": "1" * 64,
                       "S3_PORT": "9100", "DASKLAB_BUCKET": "b"})
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9100"
    assert env["AWS_DEFAULT_REGION"] == "garage"
    assert env["AWS_REQUEST_CHECKSUM_CALCULATION"] == "when_required"


def test_backend_choice_sets_compose_file(tmp_path):
    from dasklab.settings import init_env_file, parse_env_file

    env = tmp_path / ".env"
    init_env_file(env)
    assert parse_env_file(env)["COMPOSE_FILE"] == "docker-compose.yml"
    env.write_text(env.read_text().replace("STORE_BACKEND=garage", "STORE_BACKEND=minio"))
    init_env_file(env)
    assert parse_env_file(env)["COMPOSE_FILE"] == "docker-compose.yml:compose/minio.yml"
    assert env.read_text().count("COMPOSE_FILE=") == 1


def test_check_env_with_cluster_down_says_make_up():
    env = {**os.environ, "SCHEDULER_PORT": str(free_port())}
    proc = subprocess.run([sys.executable, "-m", "dasklab.check_env"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode == 3 and "make up" in proc.stderr and "Traceback" not in proc.stderr


def test_check_env_reports_differences_by_package_and_process():
    from dasklab.versions import differences

    procs = {"client": {"python": "3.11.2", "toolz": "1.2.0"},
             "scheduler": {"python": "3.11.2", "toolz": "1.2.0"},
             "worker-rogue": {"python": "3.11.2", "toolz": "1.0.0"}}
    rows = differences(procs, ["python", "toolz", "numpy"])
    assert rows == [{"package": "toolz", "client": "1.2.0", "scheduler": "1.2.0",
                     "worker-rogue": "1.0.0"}]
