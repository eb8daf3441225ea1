"""Jobs for `make chaos JOB=own_pipeline.jobs:demo` (the lab's command line):
each writes its input to the lab's store and returns a dasklab.chaos.Job."""

from __future__ import annotations

import uuid

from dasklab.chaos import Job

from . import etl


def demo(naive: bool = False, parts: int = 36, rows: int = 2_000) -> Job:
    from dasklab.settings import load

    bucket = load()["DASKLAB_BUCKET"]
    out = f"{bucket}/own-pipeline/cli-{uuid.uuid4().hex[:8]}"
    source = etl.write_source(bucket, out.split("/", 1)[1], parts, rows)
    make = etl.naive_job if naive else etl.staged_job
    return make(source, out, parts, work_s=1.0)


def naive() -> Job:
    return demo(naive=True)
