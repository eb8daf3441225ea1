"""Deterministic data the scenarios write and check, plus small helpers for
the object store. Every partition and chunk is a pure function of (seed,
index), so a result can be checked against an independent computation on the
client. These functions run on the workers too (sent by reference)."""

from __future__ import annotations

import hashlib
import os
import time

import numpy as np
import pandas as pd

SEED = 20261126


def partition(index: int, rows: int, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng([seed, index])
    return pd.DataFrame({
        "id": np.arange(index * rows, (index + 1) * rows, dtype="int64"),
        "x": rng.random(rows),
        "y": rng.normal(size=rows),
        "group": rng.integers(0, 16, size=rows, dtype="int64"),
    })


def expected_sum_x(partitions: int, rows: int, seed: int = SEED) -> float:
    return float(sum(partition(i, rows, seed)["x"].sum() for i in range(partitions)))


def frame_digest(df: pd.DataFrame) -> str:
    """A content checksum that ignores the file format: same rows -> same digest."""
    hashed = pd.util.hash_pandas_object(df.reset_index(drop=True), index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def bucket() -> str:
    return os.environ["DASKLAB_BUCKET"]


def s3():
    """An s3fs filesystem configured only by the standard AWS_* variables.
    Listings are not cached: scenarios list right after writing."""
    import s3fs

    return s3fs.S3FileSystem(use_listings_cache=False, skip_instance_cache=True)


def write_partition(path: str, index: int, rows: int, seed: int = SEED) -> int:
    """Task: build partition `index` and write it to s3://`path`; returns bytes."""
    fs = s3()
    data = partition(index, rows, seed).to_parquet(index=False)
    fs.pipe_file(path, data)
    return len(data)


def ensure_dataset(client, prefix: str, files: int, rows: int) -> list[str]:
    """Write the dataset from the workers unless all of it is already there."""
    fs = s3()
    paths = [f"{bucket()}/{prefix}/part-{i:04d}.parquet" for i in range(files)]
    present = set(fs.find(f"{bucket()}/{prefix}/"))
    missing = [(i, p) for i, p in enumerate(paths) if p not in present]
    if missing:
        futures = [client.submit(write_partition, p, i, rows, pure=False) for i, p in missing]
        client.gather(futures)
    return paths


CHUNK_SEED = 42


def make_chunk(i: int, n: int) -> np.ndarray:
    """A shuffled block of the integers i*n .. (i+1)*n-1 as float64: barely
    compressible, and its sum has a closed form."""
    return np.random.default_rng([CHUNK_SEED, i]).permutation(n).astype("float64") + i * n


def expected_total(chunks: int, n: int) -> float:
    """The sum of make_chunk(0..chunks-1, n), without computing them."""
    m = chunks * n
    return m * (m - 1) / 2


def slow_square(i: int, seconds: float) -> int:
    """Task: i*i after `seconds` of sleep, standing for work (it leaves the CPU
    to the cluster's processes); the sum over 0..n-1 has a closed form."""
    time.sleep(seconds)
    return i * i
