"""source-data: where should the data come from — the client, or the workers?

(a) The client reads every Parquet file from the object store and ships the
    frames to the workers (scatter), as code written for one machine does.
(b) The workers read the files themselves in tasks (dd.read_parquet on s3://).
Both compute the same sum, checked against an independent computation. The
bytes that passed through the client's sockets are counted as they pass.
Then the classic trap: a path that exists on the client but not on workers.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pandas as pd

from dasklab import (Result, SocketMeter, Timer, bucket, ensure_dataset, expected_sum_x, phase,
                   s3)


def _sum_x(df: pd.DataFrame) -> float:
    return float(df["x"].sum())


def client_reads(client, paths: list[str]) -> float:
    fs = s3()
    frames = [pd.read_parquet(fs.open(p, "rb")) for p in paths]
    futures = client.scatter(frames)
    return sum(client.gather(client.map(_sum_x, futures)))


def workers_read(prefix: str) -> float:
    import dask.dataframe as dd

    return float(dd.read_parquet(f"s3://{bucket()}/{prefix}/").x.sum().compute())


def local_path_trap(client) -> tuple[str, str]:
    """A CSV that exists only on the client's disk, read with Dask."""
    import dask.dataframe as dd

    folder = tempfile.mkdtemp(prefix="dasklab-")
    path = os.path.join(folder, "local.csv")
    pd.DataFrame({"x": range(10)}).to_csv(path, index=False)
    try:
        dd.read_csv(path).x.sum().compute()
        return "no error", path
    except Exception as e:  # noqa: BLE001 - the error is the lesson
        return f"{type(e).__name__}: {e}", path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(lab, files: int = 40, rows: int = 250_000) -> Result:
    r = Result("source-data")
    prefix = f"source-data/{files}x{rows}"
    phase(f"the dataset: {files} Parquet files of {rows:,} rows in the store")
    with Timer() as t:
        paths = ensure_dataset(lab.client, prefix, files, rows)
    dataset_bytes = sum(s3().size(p) for p in paths)
    expected = expected_sum_x(files, rows)

    phase("(a) the client reads the files and scatters them")
    with SocketMeter() as io_a, Timer() as time_a:
        got_a = client_reads(lab.client, paths)
    phase("(b) the workers read the files themselves")
    with SocketMeter() as io_b, Timer() as time_b:
        got_b = workers_read(prefix)
    error, path = local_path_trap(lab.client)

    r.measurements.update({
        "files": files,
        "dataset_bytes": dataset_bytes,
        "dataset_write_s": round(t.seconds, 2),
        "a_client_reads_s": round(time_a.seconds, 2),
        "a_client_bytes_in": io_a.received,
        "a_client_bytes_out": io_a.sent,
        "b_workers_read_s": round(time_b.seconds, 2),
        "b_client_bytes_in": io_b.received,
        "b_client_bytes_out": io_b.sent,
        "client_bytes_ratio_a_over_b": round(io_a.total / max(1, io_b.total), 1),
        "speedup_b_over_a": round(time_a.seconds / time_b.seconds, 2),
        "trap_error": error.splitlines()[0][:160],
    })
    r.notes += [
        f"(a) the client downloaded the dataset ({dataset_bytes:,} bytes on disk) and sent "
        "it again to the cluster: it is the bottleneck and must hold it all in memory.",
        "(b) each worker opened its own files from s3:// using the AWS_* variables set in "
        "every container; only the task graph and one float crossed the client.",
        f"Trap: {path} exists on the client, so dd.read_csv could read its header there, "
        "but the tasks ran on workers whose filesystems do not have it. On a cluster, "
        "input must live where every worker can reach it (the object store) — storage "
        "is not shared.",
    ]
    r.check(abs(got_a - expected) < 1e-6 * abs(expected), f"(a) sum {got_a} != {expected}")
    r.check(abs(got_b - expected) < 1e-6 * abs(expected), f"(b) sum {got_b} != {expected}")
    r.check(io_a.received > dataset_bytes, "(a) the client should have read the whole dataset")
    r.check(io_a.sent > dataset_bytes / 2, "(a) the client should have shipped the data")
    r.check(io_b.total < dataset_bytes / 10,
            "(b) far less than the dataset should pass through the client")
    r.check("FileNotFoundError" in error or "No such file" in error,
            f"the local path should fail on the workers, got: {error}")
    return r
