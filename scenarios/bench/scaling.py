"""make bench-scaling: how fast ComposeCluster adds workers, on an idle side
project (a bare scheduler), side by side with Compose starting a worker of
its own in the same run.

Per run (medians of --runs):
- scale(0 -> n): seconds from the call to n workers registered, and per worker;
- scale(0 -> 1): the same for a single worker;
- `docker compose up -d worker-1` (the static definition, same image): seconds
  to that worker registered, the floor any container-per-worker manager pays;
- adaptive reaction: first queued task -> first extra worker registered.
Goal: <= 5 s per added worker on an idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

from dasklab import ComposeCluster, side_project, use_lab_config, wait_until
from dasklab.progress import phase

PROJECT, NETWORK = "dasklab-bench-scaling", "172.29.92"


def _registered(client) -> set[str]:
    return {w["name"] for w in client.scheduler_info()["workers"].values()}


def scale_up(cluster, client, n: int) -> float:
    start = time.monotonic()
    cluster.scale(n)
    cluster.wait_for_workers(n, timeout=300)
    seconds = time.monotonic() - start
    cluster.scale(0)
    wait_until(lambda: not cluster.workers and not _registered(client), 120, "scale(0)")
    return seconds


def compose_start(compose, client) -> float:
    start = time.monotonic()
    compose.run("up", "-d", "--no-deps", "worker-1")
    wait_until(lambda: "worker-1" in _registered(client), 300, "worker-1 registered")
    seconds = time.monotonic() - start
    compose.run("rm", "-sfv", "worker-1")
    wait_until(lambda: not _registered(client), 120, "worker-1 gone")
    return seconds


def _nap(i: int) -> int:
    time.sleep(1)
    return i


def adaptive_reaction(cluster, client) -> float:
    adapt = cluster.adapt(minimum=1, maximum=2, interval="1s", wait_count=3, cooldown=3)
    cluster.wait_for_workers(1, timeout=300)
    t0 = time.time()
    futures = client.map(_nap, range(200), pure=False)
    first = wait_until(lambda: min((t for t, what, _ in cluster.events
                                    if what == "registered" and t > t0), default=None),
                       300, "an extra worker registered")
    client.cancel(futures)
    adapt.stop()
    cluster.scale(0)
    wait_until(lambda: not cluster.workers and not _registered(client), 120, "scale(0)")
    return first - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    use_lab_config()
    from distributed import Client

    ups, ones, composes, reactions = [], [], [], []
    with side_project(PROJECT, NETWORK) as compose, \
            ComposeCluster(project=PROJECT) as cluster, Client(cluster) as client:
        for run in range(1, args.runs + 1):
            phase(f"run {run}/{args.runs}: scale(0 -> {args.workers})")
            ups.append(scale_up(cluster, client, args.workers))
            phase(f"run {run}/{args.runs}: scale(0 -> 1)")
            ones.append(scale_up(cluster, client, 1))
            phase(f"run {run}/{args.runs}: docker compose up -d worker-1")
            composes.append(compose_start(compose, client))
            phase(f"run {run}/{args.runs}: adaptive reaction to a queue")
            reactions.append(adaptive_reaction(cluster, client))
    up, single, one, react = (statistics.median(x) for x in (ups, ones, composes, reactions))
    per_worker = up / args.workers
    print(f"  runs                          {args.runs} (medians)")
    print(f"  scale(0 -> {args.workers}) registered      {up:6.1f} s   runs {[round(x, 1) for x in ups]}")
    print(f"  per added worker              {per_worker:6.1f} s   (goal <= 5 s)")
    print(f"  scale(0 -> 1) registered      {single:6.1f} s   runs {[round(x, 1) for x in ones]}")
    print(f"  compose up one worker         {one:6.1f} s   runs {[round(x, 1) for x in composes]}")
    print(f"  ratio scale(0 -> 1) / compose {single / one:6.2f}")
    print(f"  adaptive: queue -> 1st extra  {react:6.1f} s   runs {[round(x, 1) for x in reactions]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
