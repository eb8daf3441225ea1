"""make bench-s3: object store throughput from inside the cluster, one run.

Aggregate: the 3 workers at once, each through s3fs on its own objects.
Single stream: one container, one raw GET (or PUT) stream at a time with the
minio SDK. Also the store container's CPU time per phase, from Docker's
stats: on a 2-core machine the store, the workers and the bridge share the
same cores, which is what bounds these numbers.
"""

from __future__ import annotations

import argparse
import os
import time
from urllib.parse import urlparse

from dasklab.backends.docker_api import container_cpu_s
from dasklab.connect import open_lab


def _keys(worker: str, n: int) -> list[str]:
    return [f"{os.environ['DASKLAB_BUCKET']}/bench-s3/{worker}/{i}" for i in range(n)]


def s3fs_write(worker: str, n: int, size: int) -> tuple[float, float, int]:
    from dasklab.datasets import s3

    fs, blob = s3(), os.urandom(size)
    start = time.time()
    for key in _keys(worker, n):
        fs.pipe_file(key, blob)
    return start, time.time(), n * size


def s3fs_read(worker: str, n: int) -> tuple[float, float, int]:
    from dasklab.datasets import s3

    fs = s3()
    start, total = time.time(), 0
    for key in _keys(worker, n):
        total += len(fs.cat_file(key))
    return start, time.time(), total


def _minio():
    from minio import Minio

    url = urlparse(os.environ["AWS_ENDPOINT_URL"])
    return Minio(url.netloc, access_key=os.environ["AWS_ACCESS_KEY_ID"],
                 secret_key=os.environ["AWS_SECRET_ACCESS_KEY"], secure=False,
                 region=os.environ["AWS_DEFAULT_REGION"])


def minio_write(worker: str, n: int, size: int) -> tuple[float, float, int]:
    import io

    client, blob = _minio(), os.urandom(size)
    start = time.time()
    for key in _keys(worker, n):
        bucket, name = key.split("/", 1)
        client.put_object(bucket, name, io.BytesIO(blob), size, part_size=64 * 2**20)
    return start, time.time(), n * size


def minio_read(worker: str, n: int) -> tuple[float, float, int]:
    client = _minio()
    start, total = time.time(), 0
    for key in _keys(worker, n):
        bucket, name = key.split("/", 1)
        response = client.get_object(bucket, name)
        try:
            for chunk in response.stream(1 << 20):
                total += len(chunk)
        finally:
            response.close()
            response.release_conn()
    return start, time.time(), total


def measure(lab, label: str, func, workers: dict[str, str], *args) -> dict:
    """Run func(worker_name, *args) at once on the given workers (name -> address);
    throughput = all bytes over the span from first start to last end."""
    cpu0 = container_cpu_s(lab.compose.project, "store")
    futures = [lab.client.submit(func, name, *args, workers=[name], allow_other_workers=False,
                                 pure=False) for name in workers]
    spans = lab.client.gather(futures)
    cpu = container_cpu_s(lab.compose.project, "store") - cpu0
    seconds = max(s[1] for s in spans) - min(s[0] for s in spans)
    total = sum(s[2] for s in spans)
    return {"phase": label, "streams": len(workers), "bytes": total,
            "seconds": round(seconds, 2), "MB/s": round(total / seconds / 1e6, 1),
            "store_cpu_s": round(cpu, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=4, help="objects per worker")
    parser.add_argument("--size-mb", type=int, default=32, help="size of each object")
    args = parser.parse_args()
    lab = open_lab()
    try:
        names = sorted(lab.workers_by_name())
        one = {names[0]: names[0]}
        every = {n: n for n in names}
        size = args.size_mb * 2**20
        rows = [
            measure(lab, "write, s3fs, all workers", s3fs_write, every, args.objects, size),
            measure(lab, "write, minio SDK, one stream", minio_write, one, args.objects, size),
            measure(lab, "write, s3fs, one stream", s3fs_write, one, args.objects, size),
            measure(lab, "read, s3fs, all workers", s3fs_read, every, args.objects),
            measure(lab, "read, minio SDK, one stream", minio_read, one, args.objects),
            measure(lab, "read, s3fs, one stream", s3fs_read, one, args.objects),
        ]
    finally:
        lab.close()
    print(f"{'phase':32} {'streams':>7} {'bytes':>13} {'s':>6} {'MB/s':>7} {'store CPU s':>11}")
    for r in rows:
        print(f"{r['phase']:32} {r['streams']:>7} {r['bytes']:>13,} {r['seconds']:>6} "
              f"{r['MB/s']:>7} {r['store_cpu_s']:>11}")
    ratio = lambda a, b: rows[a]["MB/s"] / rows[b]["MB/s"]  # noqa: E731
    print(f"\n3 workers (s3fs) / one minio SDK stream: write {ratio(0, 1):.2f}, "
          f"read {ratio(3, 4):.2f}")
    print(f"3 workers (s3fs) / one s3fs stream:      write {ratio(0, 2):.2f}, "
          f"read {ratio(3, 5):.2f}")
    cores = os.cpu_count()
    busiest = max(rows, key=lambda r: r["store_cpu_s"] / r["seconds"])
    print(f"the store used up to {busiest['store_cpu_s'] / busiest['seconds']:.2f} of this "
          f"machine's {cores} cores ({busiest['phase']}); workers and the store share them, "
          "and every byte crosses the Docker bridge in memory: CPU, not disk or network, "
          "is the bound here.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
