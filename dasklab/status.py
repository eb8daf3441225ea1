"""python -m dasklab.status: the endpoints and a one-line summary of the
running cluster (what `make up` prints at the end)."""

from __future__ import annotations

import sys

from dask.utils import format_bytes

from .connect import open_lab_or_exit, scheduler_address


def summary(lab) -> str:
    workers = lab.workers_by_name()
    threads = sum(w["nthreads"] for w in workers.values())
    memory = sum(w["memory_limit"] or 0 for w in workers.values())
    return (f"{len(workers)} workers ({', '.join(sorted(workers))}), {threads} threads, "
            f"{format_bytes(memory)} memory")


def main() -> int:
    lab = open_lab_or_exit()
    try:
        s = lab.settings
        tls = ("  (mutual TLS: client certificate in build/certs)" if s.get("TLS") == "on"
               else "")
        print(f"  scheduler  {scheduler_address(s)}{tls}")
        print(f"  dashboard  {lab.dashboard_url}")
        print(f"  s3         http://127.0.0.1:{s['S3_PORT']}  bucket {s['DASKLAB_BUCKET']} "
              f"({s['STORE_BACKEND']}; `make s3-env` prints the variables for your shell)")
        print(f"  cluster    {summary(lab)}")
    finally:
        lab.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
