"""Unit tests: the Swarm stack is generated from docker-compose.yml as Compose
renders it, so the two cannot drift; every compose key is kept, translated or
dropped for a stated reason, and an unknown one stops the generation."""

import json
import shutil

import pytest

from dasklab import settings
from dasklab.backends.swarm import stack
from dasklab.backends.compose.project import Compose

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")

VALUES = {n: v.default_value() for n, v in settings.VARIABLES.items()}
IMAGE = VALUES["DASKLAB_IMAGE"]


@pytest.fixture(scope="module")
def rendered() -> dict:
    compose = Compose(project="unit", files=tuple(settings.compose_files(VALUES)), env=VALUES)
    return json.loads(compose.run("config", "--format", "json", timeout=60).stdout)


def generate(rendered, workers=3):
    return stack.generate(rendered, IMAGE, "unit", workers)


def test_every_compose_service_is_in_the_stack_or_skipped_with_a_reason(rendered):
    services = generate(rendered)["services"]
    assert set(services) | set(stack.SKIPPED) == set(rendered["services"])


def test_what_compose_and_the_stack_share_is_equal(rendered):
    out = generate(rendered)["services"]
    for name, svc in out.items():
        src = rendered["services"][name]
        for key in ("environment", "hostname", "labels", "cap_drop", "stop_grace_period"):
            assert svc.get(key) == src.get(key), (name, key)
        # The same probe; Swarm probes every 3 s (its DNS waits for health, stack.py).
        if "healthcheck" in src:
            assert svc["healthcheck"] == {**src["healthcheck"],
                                          "interval": stack.SWARM_HEALTH_INTERVAL}, name
        assert svc.get("read_only") == src.get("read_only"), name
        assert svc["image"] == (stack.STACK_IMAGE if src["image"] == IMAGE else src["image"])
        limits = svc["deploy"]["resources"]["limits"]
        assert limits["pids"] == src["pids_limit"], name
        if "mem_limit" in src:
            assert limits["memory"] == str(src["mem_limit"]), name
        named = {v["source"] for v in src["volumes"] if v["type"] == "volume"}
        assert named == {v["source"] for v in svc.get("volumes", []) if v["type"] == "volume"}
    assert out["scheduler"]["command"] == rendered["services"]["scheduler"]["command"]
    worker = rendered["services"]["worker-1"]["command"]
    assert out["worker-1"]["command"] == stack.swarm_command(worker)


def test_swarm_safety_nothing_published_no_fixed_addresses_dnsrr(rendered):
    spec = generate(rendered)
    for name, svc in spec["services"].items():
        assert "ports" not in svc, name
        assert svc["networks"] == ["dask"], name
        assert svc["deploy"]["endpoint_mode"] == "dnsrr", name
        assert svc["deploy"]["restart_policy"]["condition"] == "any", name
    assert spec["networks"]["dask"] == {"driver": "overlay", "attachable": True}
    assert spec["services"]["store"]["deploy"]["placement"]["constraints"] == [
        "node.role == manager"]


def test_bind_mounts_become_configs_and_the_code_is_baked_into_the_image(rendered):
    spec = generate(rendered)
    for svc in spec["services"].values():
        assert all(v["type"] != "bind" for v in svc.get("volumes", []))
    dask_yaml = spec["configs"]["dask-yaml"]
    assert dask_yaml["file"] == str(settings.ROOT / "compose" / "dask.yaml")
    assert dask_yaml["name"].startswith("unit-dask-yaml-")
    assert {"source": "dask-yaml", "target": "/etc/dask/dask.yaml", "mode": 0o444} in \
        spec["services"]["worker-1"]["configs"]


def test_workers_advertise_their_overlay_ip_not_their_name():
    command = ["dask", "worker", "tcp://scheduler:8786", "--name={hostname}",
               "--listen-address=tcp://0.0.0.0:9000", "--contact-address=tcp://{hostname}:9000"]
    assert stack.swarm_command(command) == [
        "dask", "worker", "tcp://scheduler:8786", "--name={hostname}",
        "--interface=eth0", "--worker-port=9000"]


def test_scaling_adds_named_workers_on_their_own_volumes_and_removes_the_highest(rendered):
    five = generate(rendered, 5)["services"]
    assert stack.worker_names(five) == [f"worker-{i}" for i in range(1, 6)]
    assert five["worker-5"]["hostname"] == "worker-5"
    assert {"type": "volume", "source": "worker-5-data", "target": "/data"} in \
        five["worker-5"]["volumes"]
    assert "worker-5-data" in generate(rendered, 5)["volumes"]
    assert stack.worker_names(generate(rendered, 2)["services"]) == ["worker-1", "worker-2"]
    with pytest.raises(stack.StackError, match="at least 1"):
        generate(rendered, 0)


def test_an_unknown_compose_key_stops_the_generation(rendered):
    drifted = json.loads(json.dumps(rendered))
    drifted["services"]["worker-2"]["devices"] = ["/dev/fuse"]
    with pytest.raises(stack.StackError, match=r"worker-2.*devices"):
        generate(drifted)


def test_a_folder_bind_mount_cannot_be_carried(rendered):
    drifted = json.loads(json.dumps(rendered))
    drifted["services"]["scheduler"]["volumes"].append(
        {"type": "bind", "source": str(settings.ROOT / "compose"), "target": "/x"})
    with pytest.raises(stack.StackError, match="folder bind mount"):
        generate(drifted)
