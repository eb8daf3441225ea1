"""make bench-scoring: parallel efficiency of batch scoring.

Cluster rows/s (way d: per-process cached model, the whole input, one task
per partition) against the machine's cores x the rows/s of a single-threaded
predict of the same model on the same rows, in a task on worker-1 (same
image, same limits). Baselines and cluster runs alternate, B C B C ... B;
medians are compared. Goal: efficiency >= 0.75. A CPU budget of the cluster
runs (predict, other worker work, scheduler, store, idle) explains the rest.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from dasklab.connect import open_lab_or_exit
from dasklab.meters import cores_used, machine_busy_s
from dasklab.datasets import bucket, s3
from dasklab.backends.docker_api import container_cpu_s
from dasklab.progress import phase
from dasklab.result import table_text
from ..scoring.model_cache import ModelCache
from ..scoring import model as m
from ..scoring import scoring, ways

GOAL = 0.75


def usable_cores(_=None) -> float:
    """CPUs this worker may use: its affinity, capped by a cgroup quota."""
    cores = float(len(os.sched_getaffinity(0)))
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()
        if quota != "max":
            cores = min(cores, int(quota) / int(period))
    except (OSError, ValueError):
        pass
    return cores


def single_thread(path: str, groups: int, parts: int) -> dict:
    """Task: rows/s of one thread predicting `parts` partitions of `groups`
    row groups (read first, untimed), then of read + predict + write."""
    import io

    import pyarrow.parquet as pq
    from threadpoolctl import threadpool_limits

    fs, model = s3(), m.cached(path)
    files = sorted(fs.find(f"{bucket()}/{ways.INPUT}/"))[:parts]

    def read(p):
        with fs.open(p, "rb") as f:
            return pq.ParquetFile(f).read_row_groups(list(range(groups))).to_pandas()

    frames = [read(p) for p in files]
    rows = sum(len(f) for f in frames)
    with threadpool_limits(1):
        start = time.perf_counter()
        for f in frames:
            model.predict_frame(f)
        predict = time.perf_counter() - start
        start = time.perf_counter()
        for i, p in enumerate(files):
            out = io.BytesIO()
            model.predict_frame(read(p)).to_parquet(out, index=False)
            fs.pipe_file(f"{bucket()}/{ways.OUTPUT}/baseline/part.{i}.parquet", out.getvalue())
        e2e = time.perf_counter() - start
    return {"predict": rows / predict, "e2e": rows / e2e}


def background(cores: float, seconds: float = 10.0) -> float:
    """Share of the machine busy while the cluster has no work: healthchecks,
    heartbeats, the engine."""
    return cores_used(seconds, {"machine": machine_busy_s})["machine"] / cores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--rows-per-file", type=int, default=100_000)
    parser.add_argument("--row-group", type=int, default=1_000)
    parser.add_argument("--partition-rows", type=int, default=50_000)
    parser.add_argument("--iters", type=int, default=300, help="boosting iterations of the model")
    # Baselines and cluster runs interleave (B C B C ... B): 5 runs give 6 baselines, whose
    # median holds on 2 shared cores where 3 runs spread past 20 % most of the time.
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    lab = open_lab_or_exit()
    c = lab.client
    total = args.files * args.rows_per_file
    groups = args.partition_rows // args.row_group
    try:
        scoring.ensure_input(lab, args.files, args.rows_per_file, args.row_group)
        phase("training the small model on worker-1")
        info = c.submit(m.train_and_save, "small", args.iters, 50_000, workers=["worker-1"],
                        allow_other_workers=False, pure=False).result(timeout=600)
        ways.remove_cache_plugins(lab)
        c.register_plugin(ModelCache(info["path"]))
        prepared = ways.Prepared("d", m.score_cached, info["path"])
        out = ways.output_prefix("bench")
        phase("warm-up run (imports, caches)")
        ways.measure(lab, lambda: prepared, groups, out)
        cores = c.submit(usable_cores, workers=["worker-1"], pure=False).result()

        def baseline():
            return c.submit(single_thread, info["path"], groups, 2, workers=["worker-1"],
                            allow_other_workers=False, pure=False).result(timeout=600)

        phase("the idle cluster's own CPU use, 10 s")
        idle_share = background(cores)
        base, runs = [baseline()], []
        for i in range(args.runs):
            phase(f"cluster run {i + 1}/{args.runs}, then a single-thread baseline")
            store0, busy0 = container_cpu_s(lab.compose.project, "store"), machine_busy_s()
            run = ways.measure(lab, lambda: prepared, groups, out)
            if run.error:
                raise SystemExit(f"cluster run failed: {run.error}")
            runs.append((run, container_cpu_s(lab.compose.project, "store") - store0,
                         machine_busy_s() - busy0))
            base.append(baseline())
    finally:
        ways.remove_cache_plugins(lab)
        lab.close()

    r1 = statistics.median(b["predict"] for b in base)
    r1_e2e = statistics.median(b["e2e"] for b in base)
    spread = (max(b["predict"] for b in base) - min(b["predict"] for b in base)) / r1
    rc = statistics.median(total / run.wall_s for run, _, _ in runs)
    run, store, busy = sorted(runs, key=lambda x: x[0].wall_s)[len(runs) // 2]  # the median run
    other = run.worker_cpu_s - run.predict_cpu_s
    budget = [
        {"part": "predict (workers)", "cpu_s": run.predict_cpu_s},
        {"part": "read, write, S3 client, comms (workers)", "cpu_s": other},
        {"part": "scheduler", "cpu_s": run.scheduler_cpu_s},
        {"part": "object store", "cpu_s": store},
    ]
    used = sum(b["cpu_s"] for b in budget)
    budget += [
        {"part": "rest of the machine (engine, healthchecks, nannies, client)",
         "cpu_s": busy - used},
        {"part": "idle", "cpu_s": cores * run.wall_s - busy},
    ]
    for b in budget:
        b["cpu_s"] = round(b["cpu_s"], 2)
        b["share"] = f"{b['cpu_s'] / (cores * run.wall_s):.0%}"
    eff = rc / (cores * r1)
    print(f"  input                 {total:,} rows, {run.partitions} partitions of "
          f"{args.partition_rows:,} rows, small model ({info['bytes'] / 1e6:.1f} MB)")
    print(f"  usable cores          {cores:g} (worker threads: 3 x {lab.settings['WORKER_THREADS']})")
    print(f"  single thread         {r1:,.0f} rows/s predict, {r1_e2e:,.0f} rows/s read+predict+"
          f"write (medians of {len(base)}; spread {spread:.0%})")
    print(f"  cluster               {rc:,.0f} rows/s (median of {len(runs)} runs)")
    print(f"  speedup               {rc / r1:.2f} x one thread")
    noisy = spread > 0.2
    mark = f"  NOISY: baselines spread {spread:.0%} (> 20 %)" if noisy else ""
    print(f"  efficiency            {eff:.2f}  (goal >= {GOAL}; vs read+predict+write "
          f"baseline: {rc / (cores * r1_e2e):.2f}){mark}")
    print(f"  idle cluster          {idle_share:.0%} of the machine busy with no work; against the "
          f"cores left ({cores * (1 - idle_share):.2f}) efficiency is "
          f"{rc / (cores * (1 - idle_share) * r1):.2f}")
    print(table_text(budget, f"CPU budget of the median cluster run ({run.wall_s:.1f} s x "
                             f"{cores:g} cores)"))
    # A noisy figure is marked, not failed: only a quiet run below the goal is a miss.
    return 1 if eff < GOAL and not noisy else 0


if __name__ == "__main__":
    raise SystemExit(main())
