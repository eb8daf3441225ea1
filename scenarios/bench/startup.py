"""make bench-startup: how long the Compose cluster takes to start, measured
beside a LocalCluster of the same shape in the same run.

Compose: from `docker compose up` (images present) until the scheduler lists
all workers. LocalCluster: in a fresh Python process, from `import distributed`
until it returns with the same number of workers, threads and memory limit. Run with the images removed
(`make clean bench-startup`) and it also prints the cold path: image build
plus startup.
"""

from __future__ import annotations

import sys
import subprocess
import time

from ..lab.compose import Compose, side_env
from ..lab.docker_api import image_present
from ..lab.connect import connect, probe, use_lab_config, wait_until
from ..lab.settings import load, memory_bytes, validate

PROJECT = "dasklab-bench"
WORKERS = {"worker-1", "worker-2", "worker-3"}


def compose_startup(values: dict[str, str]) -> float:
    """Seconds from `docker compose up` to 3 workers registered."""
    env = side_env("172.29.88")
    compose = Compose(project=PROJECT, env=env)
    compose.run("down", "-v", "--timeout", "5", check=False)
    address = f"tcp://127.0.0.1:{env['SCHEDULER_PORT']}"
    try:
        start = time.monotonic()
        compose.run("up", "-d")
        wait_until(lambda: probe(address, timeout=0.5), 120, "the scheduler port", interval=0.1)
        client = connect(address)
        try:
            wait_until(lambda: {str(w["name"]) for w in
                                client.scheduler_info(n_workers=-1)["workers"].values()} >= WORKERS,
                       180, "3 workers to register", interval=0.1)
            return time.monotonic() - start
        finally:
            client.close()
    finally:
        compose.run("down", "-v", "--timeout", "10", check=False)


LOCAL = """
import time, sys
start = time.monotonic()
from distributed import LocalCluster
with LocalCluster(n_workers={n}, threads_per_worker={threads}, memory_limit={memory},
                  processes=True, dashboard_address=":0") as cluster:
    assert len(cluster.scheduler.workers) == {n}
    print(time.monotonic() - start)
"""


def local_startup(values: dict[str, str]) -> float:
    """A fresh Python process, so Dask's import time counts on both sides (each
    container pays it too)."""
    code = LOCAL.format(n=len(WORKERS), threads=int(values["WORKER_THREADS"]),
                        memory=memory_bytes(values["WORKER_MEMORY"]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    return float(out.strip().splitlines()[-1])


def main() -> int:
    values = validate(load())
    use_lab_config()
    cold = None
    if not image_present(values["DASKLAB_IMAGE"]):
        start = time.monotonic()
        subprocess.run(["make", "-s", "images"], check=True)
        cold = time.monotonic() - start
    print("[bench-startup] starting a Compose cluster (project dasklab-bench) ...", flush=True)
    compose_s = compose_startup(values)
    print("[bench-startup] starting a LocalCluster of the same shape ...", flush=True)
    local_s = local_startup(values)
    shape = f"3 workers x {values['WORKER_THREADS']} threads, {values['WORKER_MEMORY']} each"
    print(f"\n  shape                       {shape}")
    print(f"  compose up -> 3 registered  {compose_s:6.2f} s")
    print(f"  LocalCluster ready          {local_s:6.2f} s")
    print(f"  ratio compose/local         {compose_s / local_s:6.2f}   (goal <= 3)")
    if cold is not None:
        print(f"  cold path (image build + startup) {cold + compose_s:6.1f} s")
    else:
        print("  cold path: images were present; run `make clean bench-startup` to measure it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
