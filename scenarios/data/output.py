"""output: writing results — from the workers in parallel, or via the client?

(a) Workers write their partitions straight to the object store (to_parquet
    on s3://), (b) the client gathers every partition and writes them itself.
Both are timed with the client's peak memory. Writes go to a staging prefix
and are published only when every partition succeeded, so a failed or
repeated run leaves no partial or duplicate objects (S3 has no atomic rename:
this is the usual staging-then-publish answer). Every published object is
read back and checked against an independent computation of its rows.
"""

from __future__ import annotations

import uuid

import pandas as pd

from dasklab import PeakMemory, Result, Timer, bucket, frame_digest, partition, phase, s3


def partition_or_fail(index: int, rows: int, fail_at: int = -1) -> pd.DataFrame:
    if index == fail_at:
        raise RuntimeError(f"injected failure in partition {index}")
    return partition(index, rows)


def _name(i: int) -> str:
    return f"part-{i:04d}.parquet"


def publish(fs, staging: str, final: str) -> None:
    """Replace `final` with the objects under `staging` (server-side copies)."""
    # The workers wrote the objects through their own s3fs: this process's
    # listing cache knows nothing of them and may hold a listing from before
    # (seen: find() came back empty and rm() raised FileNotFoundError in
    # bench-scoring's 5th run).
    fs.invalidate_cache()
    staged = sorted(fs.find(staging))
    if not staged:
        raise FileNotFoundError(f"nothing to publish: no objects under {staging}")
    if fs.exists(final):
        fs.rm(final, recursive=True)
    for obj in staged:
        fs.copy(obj, f"{final}/{obj.rsplit('/', 1)[1]}")
    fs.rm(staging, recursive=True)


def _write(df: pd.DataFrame, path: str) -> str:
    s3().pipe_file(path, df.to_parquet(index=False))
    return path


def direct_write(client, partitions: int, rows: int, final: str,
                 fail_at: int = -1) -> tuple[int, int] | None:
    """(a) Each worker writes the partitions it computes. On failure returns
    (objects staged when the first error reached the client, objects staged
    once every task had finished) and removes them; None on success."""
    import dask
    from distributed import as_completed

    fs = s3()
    staging = f"{bucket()}/_staging/{uuid.uuid4().hex[:8]}"
    writes = [dask.delayed(_write)(dask.delayed(partition_or_fail)(i, rows, fail_at),
                                   f"{staging}/{_name(i)}") for i in range(partitions)]
    futures = client.compute(writes)
    at_first_error = None
    # An error reaches the client while sibling tasks are still running and
    # writing: clean up only once every task has finished, or objects written
    # after the cleanup would be left behind.
    for future in as_completed(futures):
        if future.status == "error" and at_first_error is None:
            at_first_error = len(fs.find(staging))
    if at_first_error is not None:
        after_all = len(fs.find(staging))
        if fs.exists(staging):
            fs.rm(staging, recursive=True)
        return at_first_error, after_all
    publish(fs, staging, final)
    return None


def client_write(client, partitions: int, rows: int, final: str) -> None:
    """(b) Gather every partition to the client, write from there."""
    import dask.dataframe as dd

    fs = s3()
    staging = f"{bucket()}/_staging/{uuid.uuid4().hex[:8]}"
    ddf = dd.from_map(partition, range(partitions), rows=rows)
    frames = client.gather(client.compute(ddf.to_delayed()))
    for i, df in enumerate(frames):
        fs.pipe_file(f"{staging}/{_name(i)}", df.to_parquet(index=False))
    publish(fs, staging, final)


def verify(final: str, partitions: int, rows: int) -> tuple[int, int, int]:
    """(objects, bytes, objects whose rows match) under `final`."""
    fs = s3()
    objects = sorted(fs.find(final))
    good = 0
    for i, obj in enumerate(objects):
        with fs.open(obj, "rb") as f:
            ok = obj.endswith(_name(i)) and \
                frame_digest(pd.read_parquet(f)) == frame_digest(partition(i, rows))
        good += ok
    return len(objects), sum(fs.size(o) for o in objects), good


def run(lab, partitions: int = 12, rows: int = 500_000) -> Result:
    r = Result("output")
    base = f"{bucket()}/output/{partitions}x{rows}"
    # Warm up first, so the peaks below measure data, not first-time imports
    # of pyarrow and dask.dataframe on the client.
    direct_write(lab.client, 1, 10, f"{base}/warm-up")
    fs = s3()
    fs.rm(f"{base}/warm-up", recursive=True)
    # Staging left by an interrupted earlier run: remove it, and say so.
    stale = fs.find(f"{bucket()}/_staging/")
    if stale:
        fs.rm(f"{bucket()}/_staging", recursive=True)
    phase(f"(a) {partitions} partitions written by the workers in parallel")
    with PeakMemory() as mem_a, Timer() as t_a:
        direct_write(lab.client, partitions, rows, f"{base}/direct")
    phase("(b) the same partitions gathered and written by the client")
    with PeakMemory() as mem_b, Timer() as t_b:
        client_write(lab.client, partitions, rows, f"{base}/via-client")
    phase("a repeated run, then a run with a failing task")
    direct_write(lab.client, partitions, rows, f"{base}/direct")  # the repeated run
    failed = direct_write(lab.client, partitions, rows, f"{base}/direct", fail_at=partitions // 2)
    at_error, after_all = failed or (0, 0)
    n_a, bytes_a, good_a = verify(f"{base}/direct", partitions, rows)
    n_b, bytes_b, good_b = verify(f"{base}/via-client", partitions, rows)
    leftovers = len(s3().find(f"{bucket()}/_staging/"))

    r.measurements.update({
        "partitions": partitions,
        "rows": partitions * rows,
        "a_direct_s": round(t_a.seconds, 2),
        "a_client_peak_mem": mem_a.peak,
        "b_via_client_s": round(t_b.seconds, 2),
        "b_client_peak_mem": mem_b.peak,
        "client_mem_ratio_b_over_a": round(mem_b.peak / max(1, mem_a.peak), 1),
        "a_objects": n_a, "a_bytes": bytes_a, "a_objects_verified": good_a,
        "b_objects": n_b, "b_bytes": bytes_b, "b_objects_verified": good_b,
        "failed_run_staged_at_error": at_error,
        "failed_run_staged_after_all_tasks": after_all,
        "staging_leftovers": leftovers,
        "stale_staging_removed_at_start": len(stale),
    })
    for label, n, good in (("direct", n_a, good_a), ("via-client", n_b, good_b)):
        r.check(n == partitions, f"{label}: {n} objects, expected {partitions} (no duplicates)")
        r.check(good == partitions, f"{label}: {good}/{partitions} objects have the right rows")
    r.check(failed is not None, "the injected failure should fail the run")
    r.check(leftovers == 0, "no staging objects should be left behind")
    data_bytes = partitions * rows * 32  # 4 columns of 8 bytes
    if data_bytes >= 64 * 2**20:  # below that, allocator noise hides the difference
        r.check(mem_b.peak > mem_a.peak, "gathering should cost the client more memory")
    r.notes += [
        f"(b) held all {partitions * rows:,} rows in the client at once "
        f"({mem_b.peak / 2**20:.0f} MiB peak vs {mem_a.peak / 2**20:.0f} MiB for (a)).",
        f"The failing run (partition {partitions // 2} raised): {at_error} objects were "
        f"staged when the error reached the client, {after_all} once all sibling tasks had "
        "finished (they keep running and writing after the first error). Cleaning up "
        "only after all of them finished left nothing behind; the published output is "
        "still the previous complete one.",
        "A repeated run replaced the published objects instead of adding to them.",
    ]
    return r
