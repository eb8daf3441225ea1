"""Unit tests: the hardening, least-privilege keys and TLS overlay as Compose
renders them (`docker compose config`: the CLI only, no engine needed). The
security scenario checks the same on running containers."""

import json
import shutil

import pytest

from dasklab import settings
from dasklab.backends.compose.project import Compose

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")

VALUES = {n: v.default_value() for n, v in settings.VARIABLES.items()}
DASK_SERVICES = ("scheduler", "worker-1", "worker-2", "worker-3")


def rendered(*overlays: str) -> dict:
    compose = Compose(project="unit", files=("docker-compose.yml", *overlays), env=VALUES)
    return json.loads(compose.run("config", "--format", "json", timeout=60).stdout)["services"]


def test_every_service_is_hardened():
    for name, service in rendered().items():
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service["pids_limit"] >= 256, name
        assert not service.get("privileged"), name
    services = rendered()
    assert all(services[s].get("read_only") for s in ("store", "wheels"))
    # Scheduler and workers stay writable: PipInstall (environment scenario)
    # installs into the venv on both.
    assert not services["worker-1"].get("read_only") and not services["scheduler"].get("read_only")


def test_only_workers_and_store_hold_s3_keys_and_workers_hold_their_own():
    services = rendered()
    for name in ("scheduler", "wheels"):
        assert not any(k.startswith("AWS_ACCESS") or k.startswith("AWS_SECRET")
                       for k in services[name].get("environment", {})), name
    for name in ("worker-1", "worker-2", "worker-3"):
        env = services[name]["environment"]
        assert env["AWS_ACCESS_KEY_ID"] == VALUES["S3_WORKER_KEY_ID"] != VALUES["AWS_ACCESS_KEY_ID"]
    assert services["store"]["environment"]["AWS_ACCESS_KEY_ID"] == VALUES["AWS_ACCESS_KEY_ID"]


def test_ports_are_published_on_loopback_only():
    for name, service in rendered().items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)


def test_tls_overlay_switches_every_dask_process_and_never_mounts_private_ca_or_client_keys():
    files = ("compose/tls.yml",)
    services = rendered(*files)
    for name in DASK_SERVICES:
        env = services[name]["environment"]
        assert env["DASKLAB_TLS"] == "on" and env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == "true"
        assert env["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"] == "/run/secrets/dask-ca.pem"
        assert {s["source"] for s in services[name]["secrets"]} >= {"dask-ca.pem"}
    # The commands stay the base file's: the entrypoint switches their scheme.
    assert services["worker-1"]["command"] == rendered()["worker-1"]["command"]
    assert "--protocol=tcp" in services["scheduler"]["command"]
    text = (settings.ROOT / files[0]).read_text()
    assert "ca-key.pem" not in text.split("secrets:\n")[-1] and "client-key" not in text


def test_the_rogue_workers_tls_settings_are_the_workers():
    services = rendered("compose/tls.yml", "compose/rogue-worker.yml", "compose/rogue-worker-tls.yml")
    rogue, worker = services["worker-rogue"], services["worker-1"]
    tls = {k: v for k, v in worker["environment"].items() if k.startswith(("DASK_DISTRIBUTED__", "DASKLAB_TLS"))}
    assert {k: v for k, v in rogue["environment"].items() if k in tls} == tls
    assert rogue["secrets"] == worker["secrets"]


def test_fast_failover_reaches_every_dask_process_and_the_client_reads_the_same_values():
    wanted = settings.failover_config({"FAILOVER": "fast"})
    assert set(wanted) == {"DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL",
                           "DASK_DISTRIBUTED__COMM__TIMEOUTS__TCP",
                           "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT"}
    services = rendered(settings.FAST_FAILOVER)
    for name in DASK_SERVICES:
        env = services[name]["environment"]
        assert {k: env.get(k) for k in wanted} == wanted, name
    # Merged into the workers' environment, not replacing it: they keep their S3 key.
    assert "AWS_ACCESS_KEY_ID" in services["worker-1"]["environment"]
    assert settings.failover_config({"FAILOVER": "default"}) == {}
    assert settings.compose_files({"FAILOVER": "fast", "TLS": "on"})[-1] == settings.FAST_FAILOVER
