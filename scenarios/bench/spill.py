"""make bench-spill: how fast a worker spills to its volume, against a raw
sequential write to the same volume from the same container, in one run.

Spill: chunks pinned to worker-1 until it has spilled more than its memory
limit; throughput = bytes Dask wrote to disk / seconds Dask spent writing them
(its own "disk-write" metrics). Raw: one file of the same total size written
sequentially in 4 MiB blocks, no fsync (Dask does not fsync spill files either).
"""

from __future__ import annotations

import math
import os
import time

from distributed import wait

from dasklab.connect import open_lab
from dasklab.datasets import make_chunk

TARGET = "worker-1"


def spill_metrics(dask_worker) -> tuple[float, float]:
    m = dask_worker.data.cumulative_metrics
    return m.get(("disk-write", "bytes"), 0.0), m.get(("disk-write", "seconds"), 0.0)


def raw_write(total: int, block: int = 4 * 2**20, dask_worker=None) -> tuple[int, float]:
    path = "/data/bench-raw.bin"  # the worker's volume, next to its spill directory
    buf = os.urandom(block)
    start = time.perf_counter()
    with open(path, "wb") as f:
        for _ in range(total // block):
            f.write(buf)
    elapsed = time.perf_counter() - start
    os.remove(path)
    return total // block * block, elapsed


def main() -> int:
    lab = open_lab()
    try:
        c = lab.client
        w = lab.workers_by_name()[TARGET]
        n = 64 * 2**20 // 8
        chunks = math.ceil(1.8 * w["memory_limit"] / (n * 8))
        (b0, s0), = c.run(spill_metrics, workers=[w["address"]]).values()
        futures = [c.submit(make_chunk, 50_000 + i, n, workers=[TARGET],
                            allow_other_workers=False, pure=False) for i in range(chunks)]
        wait(futures, timeout=900)
        (b1, s1), = c.run(spill_metrics, workers=[w["address"]]).values()
        del futures
        spilled, spill_s = b1 - b0, s1 - s0
        (raw_bytes, raw_s), = c.run(raw_write, int(spilled), workers=[w["address"]]).values()
    finally:
        lab.close()
    spill_rate, raw_rate = spilled / spill_s / 1e6, raw_bytes / raw_s / 1e6
    print(f"  worker            {TARGET} ({w['memory_limit'] / 2**30:.1f} GiB), volume /data")
    print(f"  spilled           {spilled / 1e6:8.0f} MB in {spill_s:5.2f} s of disk writes"
          f" = {spill_rate:7.1f} MB/s")
    print(f"  raw sequential    {raw_bytes / 1e6:8.0f} MB in {raw_s:5.2f} s"
          f" = {raw_rate:7.1f} MB/s")
    print(f"  ratio spill/raw   {spill_rate / raw_rate:8.2f}   (goal >= 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
