"""Integration tests of the object store in the test cluster: access from host
and workers, refused credentials, a restart that loses nothing, loopback-only
ports."""

import hashlib
import os
import urllib.error
import urllib.request
import uuid

import pytest
from minio.error import S3Error

from scenarios import registry
from dasklab.backends.docker_api import container
from dasklab.objects import minio_client
from dasklab.settings import load, validate


@pytest.fixture(scope="module")
def store(lab):
    values = validate(load())
    return minio_client(values), values["DASKLAB_BUCKET"]


def _exists(client, bucket, name) -> bool:
    try:
        client.stat_object(bucket, name)
        return True
    except S3Error as e:
        assert e.code == "NoSuchKey", e
        return False


def test_s3_env_works_on_host_and_workers_without_options(lab):
    import pandas as pd

    path = f"s3://{os.environ['DASKLAB_BUCKET']}/tests/env-{uuid.uuid4().hex[:6]}.parquet"
    pd.DataFrame({"v": range(100)}).to_parquet(path)  # host: no storage_options
    sums = lab.client.run(lambda: int(__import__("pandas").read_parquet(path).v.sum()))
    assert sorted(sums.values()) == [4950, 4950, 4950]


def test_wrong_secret_is_refused_and_writes_nothing(store):
    good, bucket = store
    bad = minio_client(secret="0" * 64)
    name = f"tests/wrong-secret-{uuid.uuid4().hex[:6]}"
    with pytest.raises(S3Error) as e:
        bad.put_object(bucket, name, __import__("io").BytesIO(b"x"), 1)
    assert e.value.code in ("SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId")
    assert not _exists(good, bucket, name)


def test_anonymous_request_is_refused_and_writes_nothing(store):
    good, bucket = store
    name = f"tests/anonymous-{uuid.uuid4().hex[:6]}"
    url = f"{os.environ['AWS_ENDPOINT_URL']}/{bucket}/{name}"
    request = urllib.request.Request(url, data=b"anonymous", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=10)
    assert e.value.code in (401, 403)
    assert not _exists(good, bucket, name)


def test_store_restart_keeps_every_object(lab, store):
    import io

    good, bucket = store
    blobs = {f"tests/restart/{i}": os.urandom(100_000 + i) for i in range(5)}
    for name, data in blobs.items():
        good.put_object(bucket, name, io.BytesIO(data), len(data))
    lab.compose.run("restart", "store")
    lab.compose.wait_healthy(("store",), timeout=60)  # its own healthcheck, run until it passes
    for name, data in blobs.items():
        got = good.get_object(bucket, name).read()
        assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
    # A scenario started right after the restart succeeds.
    result = registry.run("output", lab, partitions=3, rows=1000)
    assert result.verdict == "pass", result.notes


def test_store_init_is_idempotent(lab):
    out = container(lab.compose.project, "store").exec_run(["garage-init"])
    assert out.exit_code == 0, out.output
    assert b"ready" in out.output


def test_published_ports_are_loopback_only(lab):
    for service in ("scheduler", "store", "worker-1"):
        bindings = container(lab.compose.project, service).attrs["HostConfig"]["PortBindings"] or {}
        for port, hosts in bindings.items():
            assert all(h["HostIp"] == "127.0.0.1" for h in hosts), (service, port, hosts)


def test_make_objects_lists_what_was_written(lab, store):
    import io
    import subprocess
    import sys

    good, bucket = store
    name = f"tests/listed-{uuid.uuid4().hex[:6]}"
    good.put_object(bucket, name, io.BytesIO(b"12345"), 5)
    proc = subprocess.run([sys.executable, "-m", "dasklab.objects", "list"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert any(line.split()[-1] == f"{bucket}/{name}" and line.split()[0] == "5"
               for line in proc.stdout.splitlines())
