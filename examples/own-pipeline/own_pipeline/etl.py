"""Read orders from the store, compute each order's total, write one Parquet
object per partition, publish.

Two writers:
- `staged_job`: each task writes to a staging prefix; the output is published
  (copied to the final prefix) only when every partition was written, and a
  failed run's staging is removed. Idempotent: a retried task overwrites its
  own staging object.
- `naive_job`: each task writes straight to the final prefix under a fresh
  name. Fine on a calm cluster; a worker lost after some writes makes Dask
  recompute them (their results lived on that worker), and each recompute
  writes another copy. The chaos checker catches that.

Both describe their expected output with `check()`, the one function the
chaos checker needs: COMPLETE, ABSENT, or what is wrong.
"""

from __future__ import annotations

import io
import re
import time
import uuid

import numpy as np
import pandas as pd

from dasklab.chaos import ABSENT, COMPLETE, Job


def fs():
    import s3fs

    # Endpoint and keys from the standard AWS_* variables (the lab sets them
    # on the client and in every container). No listings cache: a listing
    # taken while the job ran would hide the objects written after it.
    return s3fs.S3FileSystem(use_listings_cache=False)


def orders(i: int, rows: int) -> pd.DataFrame:
    """Source partition i: a pure function of (i, rows)."""
    ids = np.arange(i * rows, (i + 1) * rows)
    return pd.DataFrame({"order_id": ids, "price": (ids * 7 % 100) / 10, "qty": ids % 5 + 1})


def transform(df: pd.DataFrame) -> pd.DataFrame:
    out = df[df["qty"] > 1].copy()
    out["total"] = out["price"] * out["qty"]
    return out.reset_index(drop=True)


def write_source(bucket: str, prefix: str, parts: int, rows: int) -> str:
    """The input: `parts` Parquet objects under s3://bucket/prefix/source/."""
    f = fs()
    for i in range(parts):
        f.pipe_file(f"{bucket}/{prefix}/source/part-{i:04d}.parquet",
                    orders(i, rows).to_parquet(index=False))
    return f"{bucket}/{prefix}/source"


def extract_transform(source: str, i: int, work_s: float) -> pd.DataFrame:
    with fs().open(f"{source}/part-{i:04d}.parquet", "rb") as f:
        df = pd.read_parquet(f)
    time.sleep(work_s)  # stands for real work
    return transform(df)


def load(df: pd.DataFrame, path: str) -> str:
    fs().pipe_file(path, df.to_parquet(index=False))
    return path


def _part_number(path: str) -> int:
    return int(re.search(r"part-(\d+)", path).group(1))


def check_output(final: str, source: str, parts: int) -> str:
    """COMPLETE when every partition is there once and equals transform(its
    source); ABSENT when nothing is; else what is wrong."""
    f = fs()
    objects = sorted(f.find(final))
    if not objects:
        return ABSENT
    seen: dict[int, int] = {}
    wrong = []
    for path in objects:
        i = _part_number(path)
        seen[i] = seen.get(i, 0) + 1
        got = pd.read_parquet(io.BytesIO(f.cat_file(path)))
        with f.open(f"{source}/part-{i:04d}.parquet", "rb") as src:
            if not got.equals(transform(pd.read_parquet(src))):
                wrong.append(i)
    twice = sorted(i for i, n in seen.items() if n > 1)
    missing = sorted(set(range(parts)) - set(seen))
    if not (twice or missing or wrong):
        return COMPLETE
    problems = []
    if twice:
        problems.append(f"duplicated: partitions {twice} published more than once "
                        f"({len(objects)} objects for {parts} partitions)")
    if missing:
        problems.append(f"partial: partitions {missing} missing")
    if wrong:
        problems.append(f"wrong values in partitions {wrong}")
    return "; ".join(problems)


def _extracted(client, source: str, i: int, work_s: float):
    # Submitted right before its write: each submission is a graph of its
    # own, ranked by submission order, so partition i's write runs as soon as
    # its extract is done (all extracts first, writes last, otherwise).
    return client.submit(extract_transform, source, i, work_s, pure=False)


def staged_job(source: str, out: str, parts: int, work_s: float = 0.3) -> Job:
    staging, final = f"{out}/_staging", f"{out}/final"

    def start(client):
        return [client.submit(load, _extracted(client, source, i, work_s),
                              f"{staging}/part-{i:04d}.parquet", pure=False)
                for i in range(parts)]

    def finish(ok: bool) -> None:
        f = fs()
        if ok:
            for obj in sorted(f.find(staging)):
                f.copy(obj, f"{final}/{obj.rsplit('/', 1)[1]}")
        if f.exists(staging):
            f.rm(staging, recursive=True)

    return Job("own-pipeline (staged)", start, lambda: check_output(final, source, parts),
               finish)


def naive_load(df: pd.DataFrame, final: str, i: int) -> str:
    """Writes straight to the final prefix, under a name of its own each time."""
    return load(df, f"{final}/part-{i:04d}-{uuid.uuid4().hex[:8]}.parquet")


def naive_job(source: str, out: str, parts: int, work_s: float = 0.3) -> Job:
    final = f"{out}/final"

    def start(client):
        return [client.submit(naive_load, _extracted(client, source, i, work_s), final, i,
                              pure=False) for i in range(parts)]

    return Job("own-pipeline (naive)", start, lambda: check_output(final, source, parts))


def run(client, job: Job, timeout: float = 300) -> str:
    """Run a job to its end without faults; returns check()'s answer."""
    from distributed import wait

    futures = job.start(client)
    _, pending = wait(futures, timeout=timeout)
    ok = not pending and all(f.status == "finished" for f in futures)
    if job.finish is not None:
        job.finish(ok)
    return job.check()
