"""chaos: a checker under random faults, in the spirit of Jepsen.

A long deterministic job runs: `parts` partitions, each built by one task and
written by another to a staging prefix in the store, published only when all
were written (the `output` scenario's pattern). Meanwhile the nemesis injects
random faults from its catalogue — worker kill, worker pause, partition,
storage wipe, store pause — on random targets, each healed after a random
hold. Seeded: the same seed draws the same schedule of faults. The checker's
verdict: the run either completes with output equal to the independently
computed expectation, or fails with a clear error naming the fault in force —
never a wrong result, never a hang past the deadline, never a partial object
published.

The checker is dasklab.chaos, the same one `make chaos JOB=...` and the pytest
plugin's `chaos` fixture run on your own jobs; `--set job=pkg.mod:function`
runs it here on yours instead of the lab's job.
"""

from __future__ import annotations

import time
import uuid

import pandas as pd

from dasklab import Result, bucket, frame_digest, named_workers, partition, s3
from dasklab.chaos import (ABSENT, COMPLETE, KINDS, Job, check_faults, check_job_path, load_job,
                           run_job, schedule)
from dasklab.code import package_of
from ..data.output import publish

__all__ = ["schedule", "run", "lab_job"]
ROWS = 20_000


def build(i: int, seconds: float):
    time.sleep(seconds)  # stands for work; the data itself is a pure function of i
    return partition(i, ROWS)


def write(df, path: str) -> str:
    s3().pipe_file(path, df.to_parquet(index=False))
    return path


def lab_job(parts: int, seconds: float, run_id: str, seen: dict) -> Job:
    """The lab's own job: build, write to staging, publish all or nothing.
    `seen` receives what check() counted (published, correct)."""
    staging = f"{bucket()}/chaos/{run_id}/_staging"
    final = f"{bucket()}/chaos/{run_id}/final"

    def start(c):
        built = [c.submit(build, i, seconds, key=f"chaos-{run_id}-build-{i}")
                 for i in range(parts)]
        return [c.submit(write, b, f"{staging}/part-{i:04d}.parquet",
                         key=f"chaos-{run_id}-write-{i}") for i, b in enumerate(built)]

    def finish(ok: bool) -> None:
        fs = s3()
        if ok:
            publish(fs, staging, final)  # removes the staging prefix too
        elif fs.exists(staging):
            fs.rm(staging, recursive=True)

    def check() -> str:
        fs = s3()
        published = sorted(fs.find(final))
        good = 0
        for i, path in enumerate(published):
            with fs.open(path, "rb") as f:
                good += path.endswith(f"part-{i:04d}.parquet") and \
                    frame_digest(pd.read_parquet(f)) == frame_digest(partition(i, ROWS))
        seen.update(published=len(published), good=good)
        if not published:
            return ABSENT
        if len(published) == good == parts:
            return COMPLETE
        return f"{len(published)} of {parts} partitions published, {good} equal to the expectation"

    return Job("lab partitions", start, check, finish)


def validate(job: str = "", faults: str = ",".join(KINDS), **_) -> None:
    """Before connecting: a job path that imports, faults from the catalogue."""
    if job:
        check_job_path(job)
    check_faults(_kinds(faults))


def _kinds(faults: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in str(faults).split(",") if k.strip())


def run(lab, seed: int = 1, duration: float = 120, seconds: float = 2.0,
        hold_min: float = 2, hold_max: float = 8, deadline: float = 300,
        job: str = "", faults: str = ",".join(KINDS)) -> Result:
    r = Result("chaos")
    threads = sum(w["nthreads"] for w in lab.workers_by_name().values())
    parts = max(6, int(duration * threads / seconds * 0.8))
    seen: dict = {}
    the_job = load_job(job) if job else lab_job(parts, seconds,
                                                f"{seed}-{uuid.uuid4().hex[:6]}", seen)
    v = run_job(lab, the_job, seed=seed, duration=duration, hold=(hold_min, hold_max),
                rest=(1, 4), faults=_kinds(faults),
                deadline=deadline, ship=package_of(job.partition(":")[0]) if job else None)
    outcome = v.outcome
    if v.errors and v.schedule:
        last = v.schedule[-1]
        outcome += f" (faults in force up to then, last: {last['kind']} {last['target']})"
    r.tables["chaos schedule"] = v.schedule
    r.measurements.update({"job": v.job, "seed": seed, "faults_injected": len(v.schedule),
                           "outcome": outcome, "seconds": v.seconds, "output": v.published})
    if not job:
        r.measurements.update({"partitions": parts, "objects_published": seen["published"],
                               "objects_correct": seen["good"],
                               "wrong_results": seen["published"] - seen["good"]})
    if v.evidence:
        r.evidence = v.evidence
    r.check(v.ok, "; ".join(v.problems) + f" (replay: seed {seed})")
    r.check(lab.has_workers(named_workers()), "the cluster should be back to all its workers")
    r.notes += [
        f"Seed {seed} drew: " + "; ".join(f"{p['kind']} {p['target']} for {p['hold_s']} s"
                                          for p in v.schedule) + ".",
        f"Outcome: {outcome}. Output: {v.published}.",
        "back_to_all_workers_s counts from the heal; a wipe has nothing to heal, so its clock "
        "starts at the wipe (the guard restarts the worker process within about a second).",
        "What each fault does to Dask: a kill or a storage wipe loses the worker process "
        "(the scheduler recomputes what it held); a pause or a short partition freezes a "
        "worker (its tasks wait; shorter than the 30 s TCP timeout it is never removed); "
        "a store pause stalls writes (shorter than s3fs's 15 s read timeout they finish).",
    ]
    return r
