"""make bench-startup: how long the Compose cluster takes to start, measured
beside a LocalCluster of the same shape in the same run.

Compose: from `docker compose up` (images present) until the scheduler lists
all workers. LocalCluster: in a fresh Python process, from `import distributed`
until it returns with the same number of workers, threads and memory limit.
Each side runs `--runs` times (default 5), alternating, so both see the same
machine; the medians and their ratio are reported. Run with the images
removed (`make clean bench-startup`) and it also prints the cold path: image
build plus startup.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from dasklab.backends.compose.project import Compose, side_env
from dasklab.connect import try_connect, use_lab_config, wait_until
from dasklab.backends.docker_api import image_present
from dasklab.settings import compose_files, load, memory_bytes, named_workers, validate

PROJECT = "dasklab-bench"
GOAL = 2.5  # issue 26: the lab may start at most 2.5x slower than a LocalCluster of its shape


def compose_startup(values: dict[str, str]) -> dict[str, float]:
    """Seconds from `docker compose up` to the scheduler port open, and to 3
    workers registered; then the cluster is removed."""
    env = side_env("172.29.88")
    compose = Compose(project=PROJECT, env=env, files=tuple(compose_files(values)))
    compose.run("down", "-v", "--timeout", "5", check=False)
    address = f"tcp://127.0.0.1:{env['SCHEDULER_PORT']}"
    try:
        start = time.monotonic()
        compose.run("up", "-d")
        # Docker's port proxy accepts connections before the scheduler listens:
        # poll with a real Dask connection, not a TCP probe.
        client = wait_until(lambda: try_connect(address, timeout=2), 120,
                            "the scheduler to answer", interval=0.05)
        port_s = time.monotonic() - start
        try:
            wanted = set(named_workers())
            wait_until(lambda: {str(w["name"]) for w in
                                client.scheduler_info(n_workers=-1)["workers"].values()} >= wanted,
                       180, f"{len(wanted)} workers to register", interval=0.05)
            return {"scheduler": port_s, "workers": time.monotonic() - start}
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
    code = LOCAL.format(n=len(named_workers()), threads=int(values["WORKER_THREADS"]),
                        memory=memory_bytes(values["WORKER_MEMORY"]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    return float(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs of each side (default 5)")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 20:
        parser.error("--runs must be between 1 and 20")
    values = validate(load())
    use_lab_config()
    cold = None
    if not image_present(values["DASKLAB_IMAGE"]):
        start = time.monotonic()
        subprocess.run(["make", "-s", "images"], check=True)
        cold = time.monotonic() - start
    compose_runs, port_runs, local_runs = [], [], []
    for i in range(args.runs):
        print(f"[bench-startup] run {i + 1}/{args.runs}: Compose cluster (project {PROJECT}) ...",
              end=" ", flush=True)
        c = compose_startup(values)
        compose_runs.append(c["workers"])
        port_runs.append(c["scheduler"])
        print(f"{c['workers']:.2f} s; LocalCluster ...", end=" ", flush=True)
        local_runs.append(local_startup(values))
        print(f"{local_runs[-1]:.2f} s", flush=True)
    compose_s, local_s = statistics.median(compose_runs), statistics.median(local_runs)
    shape = f"3 workers x {values['WORKER_THREADS']} threads, {values['WORKER_MEMORY']} each"
    print(f"\n  shape                            {shape}")
    print(f"  compose up -> scheduler answers  {statistics.median(port_runs):6.2f} s  (median)")
    print(f"  compose up -> 3 registered       {compose_s:6.2f} s  (median of "
          f"{args.runs}: {', '.join(f'{x:.2f}' for x in compose_runs)})")
    print(f"  LocalCluster ready               {local_s:6.2f} s  (median of "
          f"{args.runs}: {', '.join(f'{x:.2f}' for x in local_runs)})")
    print(f"  ratio compose/local (medians)    {compose_s / local_s:6.2f}   (goal <= {GOAL:g})")
    if cold is not None:
        print(f"  cold path (image build + startup) {cold + compose_s:6.1f} s")
    else:
        print("  cold path: images were present; run `make clean bench-startup` to measure it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
