"""Unit tests: the Kubernetes manifests for the dask-kubernetes operator,
rendered from the compose config and validated offline (no Kubernetes runs
here): core kinds against the Kubernetes JSON schemas, the DaskCluster
against the CRD schema shipped in the dask-kubernetes package."""

import copy
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from dasklab import settings
from dasklab.backends.k8s import manifests as k8s
from dasklab.backends.swarm.stack import STACK_IMAGE

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")

VALUES = {n: v.default_value() for n, v in settings.VARIABLES.items()}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """As `make k8s-manifests` writes them, in a child process: the operator's
    package (kr8s, httpx, trio) stays out of the process that runs the
    integration tests' Dask clients."""
    out = tmp_path_factory.mktemp("k8s")
    proc = subprocess.run([sys.executable, "-m", "dasklab.backends.k8s.manifests", "--out", str(out),
                           "--image", STACK_IMAGE, "--workers", "3"],
                          capture_output=True, text=True, timeout=120, cwd=settings.ROOT,
                          env={**os.environ, **VALUES})
    assert proc.returncode == 0, proc.stderr
    return {p.name: list(yaml.safe_load_all(p.read_text())) for p in sorted(out.glob("*.yaml"))}


def _docs(files):
    return [d for docs in files.values() for d in docs]


def _of(files, kind):
    return next(d for d in _docs(files) if d["kind"] == kind)


def test_every_manifest_validates(files):
    kinds = sorted(d["kind"] for d in _docs(files))
    assert kinds == ["ConfigMap", "ConfigMap", "DaskCluster", "Secret", "Secret", "Service",
                     "StatefulSet"]
    assert k8s.validate_docs(_docs(files)) == []


def test_the_validation_catches_mistakes(files):
    cluster = copy.deepcopy(_of(files, "DaskCluster"))
    cluster["spec"]["worker"]["replicas"] = "three"
    store = copy.deepcopy(_of(files, "StatefulSet"))
    store["spec"]["serviceNme"] = "store"
    worker = copy.deepcopy(_of(files, "DaskCluster"))
    worker["spec"]["worker"]["spec"]["containers"][0]["memoryLimit"] = "2Gi"
    problems = k8s.validate_docs([cluster, store, worker])
    assert len(problems) == 3, problems
    assert "'three' is not of type 'integer'" in problems[0]
    assert "serviceNme" in problems[1] and "memoryLimit" in problems[2]


def test_workers_have_the_labs_image_command_sizing_and_config(files):
    cluster = _of(files, "DaskCluster")
    pod = cluster["spec"]["worker"]["spec"]
    worker = pod["containers"][0]
    assert worker["image"] == STACK_IMAGE
    assert cluster["spec"]["worker"]["replicas"] == 3
    assert worker["args"][:3] == ["dask", "worker", "--name=$(DASK_WORKER_NAME)"]
    assert f"--nthreads={VALUES['WORKER_THREADS']}" in worker["args"]
    assert f"--memory-limit={VALUES['WORKER_MEMORY']}" in worker["args"]
    assert not any(a.startswith(("tcp://", "--contact-address")) for a in worker["args"])
    gib = settings.memory_bytes(VALUES["WORKER_MEMORY"]) // 2**30
    assert worker["resources"]["limits"] == {"memory": f"{gib}Gi",
                                             "cpu": VALUES["WORKER_THREADS"]}
    assert {"name": "dask-config", "mountPath": "/etc/dask", "readOnly": True} in \
        worker["volumeMounts"]
    assert worker["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert worker["securityContext"]["allowPrivilegeEscalation"] is False
    config = _of(files, "ConfigMap")
    assert config["data"]["dask.yaml"] == (settings.ROOT / "compose" / "dask.yaml").read_text()


def test_keys_come_from_secrets_and_the_scheduler_holds_none(files):
    cluster = _of(files, "DaskCluster")
    env = {e["name"]: e for e in cluster["spec"]["worker"]["spec"]["containers"][0]["env"]}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "dasklab-s3-worker"
    assert env["AWS_ENDPOINT_URL"]["value"] == "http://store:9000"
    assert cluster["spec"]["scheduler"]["spec"]["containers"][0]["env"] == []
    worker_secret = next(d for d in _docs(files) if d["kind"] == "Secret"
                         and d["metadata"]["name"] == "dasklab-s3-worker")
    assert worker_secret["stringData"]["AWS_ACCESS_KEY_ID"] == VALUES["S3_WORKER_KEY_ID"]


def test_the_store_is_a_statefulset_with_a_volume_claim(files):
    store = _of(files, "StatefulSet")
    assert store["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "store-data"
    container = store["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith("dasklab/garage:")
    assert {"name": "store-data", "mountPath": "/var/lib/garage"} in container["volumeMounts"]
    assert _of(files, "Service")["spec"]["ports"][0]["port"] == 9000


def test_written_files_are_plain_yaml_and_private(files, tmp_path):
    for path in k8s.write(files, tmp_path):
        assert path.stat().st_mode & 0o077 == 0, path
        text = path.read_text()
        assert "&id" not in text and "*id" not in text
        assert list(yaml.safe_load_all(text)) == files[path.name]
