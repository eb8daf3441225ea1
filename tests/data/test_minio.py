"""The MinIO backend (compose/minio.yml) serves the same clients, unchanged.
Skipped where the MinIO image is not in the engine: it cannot be pulled or
built on an offline machine."""

import os
import subprocess
import sys

import pytest

from dasklab.backends.compose.project import Compose, side_env
from dasklab.backends.docker_api import image_present
from dasklab.settings import ROOT, load

IMAGE = load()["MINIO_IMAGE"]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not image_present(IMAGE), reason=(
        f"MinIO image {IMAGE!r} is not present locally and cannot be pulled here; "
        "`docker load` one and set MINIO_IMAGE in .env to run the MinIO backend tests")),
]

ENV = {"STORE_BACKEND": "minio", "DASKLAB_PROJECT": "dasklab-minio", **side_env("172.29.89")}


@pytest.fixture
def minio_cluster():
    compose = Compose(project="dasklab-minio", files=("docker-compose.yml", "compose/minio.yml"),
                      env=ENV)
    compose.up(timeout=300)
    try:
        yield {**os.environ, **ENV}
    finally:
        compose.run("down", "-v", "--timeout", "10", check=False)


def test_source_data_scenario_on_minio(minio_cluster):
    run = lambda *args: subprocess.run([sys.executable, "-m", *args], cwd=ROOT,  # noqa: E731
                                       env=minio_cluster, capture_output=True, text=True,
                                       timeout=600)
    assert run("dasklab.objects", "ensure").returncode == 0
    proc = run("scenarios", "source-data", "--json", "--set", "files=4", "--set", "rows=20000")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"verdict": "pass"' in proc.stdout
