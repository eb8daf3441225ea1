"""Unit tests: .env creation and validation (no Docker)."""

import subprocess
import sys

import pytest

from dasklab import settings
from dasklab.settings import SettingsError, init_env_file, load, memory_bytes, validate

DEFAULTS = {n: v.default_value() for n, v in settings.VARIABLES.items()}


def test_defaults_are_valid():
    assert validate(dict(DEFAULTS)) == DEFAULTS


@pytest.mark.parametrize("name,bad", [
    ("WORKER_MEMORY", "2g"),        # Docker and Dask disagree on what "2g" means
    ("WORKER_MEMORY", "100MiB"),    # too small for a worker process
    ("WORKER_THREADS", "0"),
    ("WORKER_THREADS", "two"),
    ("SCHEDULER_PORT", "80"),
    ("DASHBOARD_PORT", "70000"),
    ("NETWORK_PREFIX", "8.8.8"),    # not a private range
    ("DASKLAB_IMAGE", "Bad Image"),
])
def test_bad_value_names_variable_value_and_example(name, bad):
    with pytest.raises(SettingsError) as e:
        validate({**DEFAULTS, name: bad})
    message = str(e.value)
    assert name in message and repr(bad) in message and "Example:" in message


def test_same_port_twice_is_refused():
    with pytest.raises(SettingsError, match="must differ"):
        validate({**DEFAULTS, "SCHEDULER_PORT": "9999", "DASHBOARD_PORT": "9999"})


def test_memory_units_are_binary():
    assert memory_bytes("2GiB") == 2 * 2**30
    assert memory_bytes("1536MiB") == 1536 * 2**20


def test_init_creates_then_completes_without_overwriting(tmp_path):
    env = tmp_path / ".env"
    assert set(init_env_file(env)) == set(settings.VARIABLES)
    assert oct(env.stat().st_mode & 0o777) == "0o600"
    text = env.read_text().replace("WORKER_THREADS=2", "WORKER_THREADS=4")
    env.write_text("\n".join(l for l in text.splitlines() if not l.startswith("DASHBOARD_PORT")))
    assert init_env_file(env) == ["DASHBOARD_PORT"]
    values = load(env, environ={})
    assert values["WORKER_THREADS"] == "4" and values["DASHBOARD_PORT"] == "8787"


def test_environment_wins_over_env_file(tmp_path):
    env = tmp_path / ".env"
    init_env_file(env)
    assert load(env, environ={"SCHEDULER_PORT": "9786"})["SCHEDULER_PORT"] == "9786"


def test_check_command_exits_2_and_says_what_to_fix():
    proc = subprocess.run([sys.executable, "-m", "dasklab.settings", "check"],
                          capture_output=True, text=True, cwd=settings.ROOT,
                          env={"WORKER_MEMORY": "2g", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert proc.returncode == 2
    assert "WORKER_MEMORY='2g'" in proc.stderr and "Example: WORKER_MEMORY=2GiB" in proc.stderr
    assert "nothing was started" in proc.stderr


def test_tls_and_backend_select_overlays_and_compose_file_follows(tmp_path):
    env = tmp_path / ".env"
    init_env_file(env)
    assert "COMPOSE_FILE=docker-compose.yml\n" in env.read_text()
    env.write_text(env.read_text().replace("TLS=off", "TLS=on"))
    init_env_file(env)
    assert "COMPOSE_FILE=docker-compose.yml:compose/tls.yml\n" in env.read_text()
    assert settings.compose_files({"STORE_BACKEND": "minio", "TLS": "on"}) == [
        "docker-compose.yml", "compose/minio.yml", "compose/tls.yml"]
    # The drifted worker follows the same switches: over TLS it gets TLS settings too.
    assert settings.compose_files({"TLS": "on"}, rogue=True)[-2:] == [
        "compose/rogue-worker.yml", "compose/rogue-worker-tls.yml"]
    assert settings.compose_files({"TLS": "off"}, rogue=True)[-1] == "compose/rogue-worker.yml"
    with pytest.raises(SettingsError, match="TLS='yes'"):
        validate({**DEFAULTS, "TLS": "yes"})
    with pytest.raises(SettingsError, match="FAILOVER='quick'"):
        validate({**DEFAULTS, "FAILOVER": "quick"})
