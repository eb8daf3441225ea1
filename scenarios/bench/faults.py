"""make bench-faults: how long each fault keeps the cluster from working, side
by side, median of `--runs` (default 3).

For each fault — worker kill, worker pause, partition, scheduler kill, store
pause — the nemesis injects it and holds it `--hold` seconds (default 10)
before healing. Measured: from the fault until the cluster is usable (a probe
of 6 small tasks, each writing a tiny object to the store, completes within
1.5 s, which is also the resolution), and from the heal until full strength
(3 workers registered and the probe completes). A fault whose effect outlasts the hold shows "usable" later
than the heal; one the cluster routes around shows "usable" at once.
"""

from __future__ import annotations

import argparse
import statistics
import time

from dasklab import named_workers, progress, s3, wait_until
from dasklab.connect import open_lab

FAULTS = {
    "worker kill": lambda f: f.killed("worker-2"),
    "worker pause": lambda f: f.paused("worker-2"),
    "partition": lambda f: f.disconnected("worker-2"),
    "scheduler kill": lambda f: f.killed("scheduler"),
    "store pause": lambda f: f.paused("store"),
}


def touch(path: str) -> int:
    s3().pipe_file(path, b"ok")
    return 1


PROBE_S = 1.5  # a probe's deadline: the resolution of "usable after"


def probe(lab, timeout: float = PROBE_S) -> bool:
    """6 small tasks that each write to the store, all done within `timeout` s.
    A client that gave up during a scheduler outage is replaced."""
    from distributed import wait

    try:
        c = lab.client
        if c.status == "closed":
            lab.reconnect()
            return False
        if c.status != "running":
            return False
        tag = time.monotonic_ns()
        futures = c.map(touch, [f"{lab.settings['DASKLAB_BUCKET']}/bench-faults/{tag}-{i}"
                                for i in range(6)], pure=False)
        try:
            wait(futures, timeout=timeout)  # TimeoutError: not usable yet
            return all(f.status == "finished" for f in futures)
        finally:
            c.cancel(futures)
    except Exception:  # noqa: BLE001 - not usable yet: poll again
        return False


def full_strength(lab) -> bool:
    return lab.has_workers(named_workers()) and probe(lab)


def measure(lab, name: str, hold: float) -> tuple[float, float]:
    start = time.monotonic()
    usable_at = None
    with FAULTS[name](lab.faults):
        while usable_at is None and time.monotonic() - start < hold:  # bounded by the hold
            if probe(lab):
                usable_at = time.monotonic()
        # The rest of the hold: the fault stays in force, the clock runs.
        time.sleep(max(0.0, hold - (time.monotonic() - start)))
    healed = time.monotonic()
    if usable_at is None:
        wait_until(lambda: probe(lab), 180, f"the cluster usable after {name}", interval=0.2)
        usable_at = time.monotonic()
    wait_until(lambda: full_strength(lab), 180, f"full strength after {name}", interval=0.2)
    return usable_at - start, time.monotonic() - healed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-faults", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hold", type=float, default=10.0, help="seconds each fault lasts")
    args = parser.parse_args(argv)
    if not (1 <= args.runs <= 10 and 1 <= args.hold <= 60):
        parser.error("--runs must be 1..10 and --hold 1..60 seconds")
    progress.configure(quiet=True)  # this program prints its own lines
    lab = open_lab()
    results = {name: [] for name in FAULTS}
    try:
        for run in range(args.runs):
            for name in FAULTS:
                print(f"[bench-faults] run {run + 1}/{args.runs}: {name} ...", end=" ", flush=True)
                usable, full = measure(lab, name, args.hold)
                results[name].append((usable, full))
                print(f"usable after {usable:.1f} s, full strength {full:.1f} s after heal",
                      flush=True)
    finally:
        lab.close()
    print(f"\n  {'fault (held ' + format(args.hold, 'g') + ' s)':24} {'fault -> usable':>16} "
          f"{'heal -> full strength':>22}   (medians of {args.runs})")
    for name, rows in results.items():
        print(f"  {name:24} {statistics.median(r[0] for r in rows):14.1f} s "
              f"{statistics.median(r[1] for r in rows):20.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
