"""own-pipeline's tests: only the fixtures of dasklab's pytest plugin.

    pip install -e path/to/dasklab -e .     (once)
    pytest                                  (the running `make up` cluster, else a fresh one)
    pytest --dasklab=fresh                  (always a throwaway cluster)
"""

from __future__ import annotations

import uuid

import pytest
from distributed import wait

from dasklab.chaos import COMPLETE
from own_pipeline import etl

# 36 partitions of 1 s of work on 6 threads: a job of 6 s or more, so a fault
# drawn 2-4 s in lands mid-job.
PARTS, ROWS, WORK_S = 36, 2_000, 1.0


@pytest.fixture
def data(dasklab):
    """Source data in the lab's store, under a prefix of this test's own;
    removed afterwards."""
    bucket, prefix = dasklab.settings["DASKLAB_BUCKET"], f"own-pipeline/{uuid.uuid4().hex[:8]}"
    source = etl.write_source(bucket, prefix, PARTS, ROWS)
    yield source, f"{bucket}/{prefix}"
    etl.fs().rm(f"{bucket}/{prefix}", recursive=True)


def test_a_normal_run_publishes_every_partition_once(dasklab_client, data):
    source, out = data
    assert etl.run(dasklab_client, etl.staged_job(source, out, PARTS, work_s=0.2)) == COMPLETE


def test_worker_2_killed_mid_write_still_publishes_everything(dasklab_client, nemesis, data):
    source, out = data
    job = etl.staged_job(source, out, PARTS, work_s=WORK_S)
    futures = job.start(dasklab_client)
    staged = f"{out}/_staging"
    # Killed once a quarter of the partitions are written: mid-write.
    fault, _ = nemesis.killed_at("worker-2", lambda: len(etl.fs().find(staged)) >= PARTS // 4,
                                 120, "a quarter of the partitions written",
                                 unless=lambda: all(f.done() for f in futures))
    assert fault is not None, "the job ended before worker-2 could be killed"
    wait(futures, timeout=180)
    assert [f.status for f in futures] == ["finished"] * PARTS
    job.finish(True)
    assert job.check() == COMPLETE


# Seed 2 draws a kill of worker-1, seed 5 a pause of worker-3, each 3-4 s in.
@pytest.mark.parametrize("seed", [2, 5])
def test_the_staged_writer_survives_chaos(chaos, data, seed):
    source, out = data
    verdict = chaos(etl.staged_job(source, out, PARTS, work_s=WORK_S), seed=seed, duration=6,
                    faults=("kill", "pause"), hold=(2, 3))
    assert verdict.ok, verdict.table()
    assert verdict.schedule, "no fault landed: the job ended first"


def test_the_checker_catches_the_naive_writer(chaos, data):
    source, out = data
    # The kill lands 5-6 s into a 9 s job: every worker holds finished writes by
    # then, even one restarted just before (its first tasks import pandas and
    # s3fs: a worker killed 3.5 s in once held none, and the bug went unseen).
    verdict = chaos(etl.naive_job(source, out, PARTS, work_s=1.5), seed=2, duration=6,
                    faults=("kill",), hold=(2, 3), rest=(5, 6))
    # A kill after some writes: Dask recomputes what the dead worker held, and
    # each recompute wrote another copy under a new name.
    assert not verdict.ok, verdict.table()
    assert "duplicated" in verdict.published or "partial" in verdict.published
    assert [f["kind"] for f in verdict.schedule] == ["kill"]  # the schedule that exposed it
    print(verdict.table())
