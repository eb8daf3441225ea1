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
"""

from __future__ import annotations

import random
import time
import uuid

import pandas as pd
from distributed import wait

from dasklab import Result, bucket, frame_digest, named_workers, partition, phase, s3, wait_until
from ..data.output import publish
from dasklab.plugins.storage_guard import SPILL_GLOB

KINDS = ("kill", "pause", "partition", "wipe", "store-pause")
ROWS = 20_000


def build(i: int, seconds: float):
    time.sleep(seconds)  # stands for work; the data itself is a pure function of i
    return partition(i, ROWS)


def write(df, path: str) -> str:
    s3().pipe_file(path, df.to_parquet(index=False))
    return path


def _inject(lab, kind: str, target: str):
    f = lab.faults
    return {"kill": lambda: f.killed(target), "pause": lambda: f.paused(target),
            "partition": lambda: f.disconnected(target),
            "wipe": lambda: f.wiped(target, SPILL_GLOB),
            "store-pause": lambda: f.paused("store")}[kind]()


def schedule(seed: int, count: int, hold: tuple[float, float],
             rest: tuple[float, float]) -> list[dict]:
    """The faults a seed draws: kind, target, how long held, rest after."""
    rng = random.Random(seed)
    plan = []
    for _ in range(count):
        kind = rng.choice(KINDS)
        plan.append({"kind": kind, "target": "store" if kind == "store-pause"
                     else rng.choice(named_workers()), "hold_s": round(rng.uniform(*hold), 1),
                     "rest_s": round(rng.uniform(*rest), 1)})
    return plan


def run(lab, seed: int = 1, duration: float = 120, seconds: float = 2.0,
        hold_min: float = 2, hold_max: float = 8, deadline: float = 300) -> Result:
    r = Result("chaos")
    c = lab.client
    threads = sum(w["nthreads"] for w in lab.workers_by_name().values())
    parts = max(6, int(duration * threads / seconds * 0.8))
    run_id = f"{seed}-{uuid.uuid4().hex[:6]}"
    staging = f"{bucket()}/chaos/{run_id}/_staging"
    final = f"{bucket()}/chaos/{run_id}/final"
    plan = schedule(seed, count=max(1, int(duration // (hold_max + 4))),
                    hold=(hold_min, hold_max), rest=(1, 4))
    phase(f"seed {seed}: {parts} partitions; {len(plan)} faults drawn: "
          + ", ".join(f"{p['kind']} {p['target']}" for p in plan))

    start = time.monotonic()
    built = [c.submit(build, i, seconds, key=f"chaos-{run_id}-build-{i}") for i in range(parts)]
    writes = [c.submit(write, b, f"{staging}/part-{i:04d}.parquet",
                       key=f"chaos-{run_id}-write-{i}") for i, b in enumerate(built)]
    rows = []
    for step in plan:
        if all(w.done() for w in writes):
            break
        at = round(time.monotonic() - start, 1)
        with _inject(lab, step["kind"], step["target"]) as fault:
            time.sleep(step["hold_s"])  # the fault's duration, drawn by the seed
        healed = fault.record.healed_at
        try:
            wait_until(lambda: lab.has_workers(named_workers()), 120,
                       "the named workers registered again")
            recovered = round(time.time() - healed, 1)
        except TimeoutError:
            recovered = None  # reported; the checker below decides what it means
        rows.append({**step, "at_s": at, "back_to_3_workers_s": recovered})
        time.sleep(step["rest_s"])  # calm between faults, drawn by the seed
    phase("faults over; waiting for the job to finish or fail")
    done, pending = wait(writes, timeout=deadline, return_when="ALL_COMPLETED")
    hung = bool(pending)
    errors = []
    for w in writes:
        if w.status == "error":
            errors.append(f"{type(w.exception()).__name__}: {str(w.exception())[:160]}")
    fs = s3()
    if not hung and not errors:
        publish(fs, staging, final)
    published = sorted(fs.find(final))
    good = 0
    for i, path in enumerate(published):
        with fs.open(path, "rb") as f:
            good += path.endswith(f"part-{i:04d}.parquet") and \
                frame_digest(pd.read_parquet(f)) == \
                frame_digest(partition(i, ROWS))
    if fs.exists(staging):
        fs.rm(staging, recursive=True)
    outcome = ("hung past the deadline" if hung else
               f"failed: {errors[0]}" if errors else "completed")
    last_fault = rows[-1] if rows else None
    if errors and last_fault:
        outcome += f" (faults in force up to then, last: {last_fault['kind']} " \
                   f"{last_fault['target']})"
    r.tables["chaos schedule"] = rows
    r.measurements.update({
        "seed": seed, "partitions": parts, "faults_injected": len(rows),
        "outcome": outcome, "seconds": round(time.monotonic() - start, 1),
        "objects_published": len(published), "objects_correct": good,
        "wrong_results": len(published) - good,
    })
    r.check(not hung, "the job must finish or fail within the deadline, never hang")
    r.check(len(published) in (0, parts), "never a partial set of objects published")
    r.check(good == len(published), "every published object must equal the expectation")
    r.check(not errors or len(published) == 0, "a failed run must publish nothing")
    r.check(lab.has_workers(named_workers()), "the cluster should be back to three workers")
    r.notes += [
        f"Seed {seed} drew: " + "; ".join(f"{p['kind']} {p['target']} for {p['hold_s']} s"
                                          for p in plan) + ".",
        f"Outcome: {outcome}. Published {len(published)} of {parts} partitions, "
        f"{good} equal to the expectation computed on the client.",
        "back_to_3_workers_s counts from the heal; a wipe has nothing to heal, so its clock "
        "starts at the wipe (the guard restarts the worker process within about a second).",
        "What each fault does to Dask: a kill or a storage wipe loses the worker process "
        "(the scheduler recomputes what it held); a pause or a short partition freezes a "
        "worker (its tasks wait; shorter than the 30 s TCP timeout it is never removed); "
        "a store pause stalls writes (shorter than s3fs's 15 s read timeout they finish).",
    ]
    return r
