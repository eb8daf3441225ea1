"""make bench-faults: how long each fault keeps the cluster from working, side
by side, median of `--runs` (default 3).

For each fault — worker kill, worker pause, partition, scheduler kill, store
pause — the nemesis injects it and holds it `--hold` seconds (default 10)
before healing. Measured: from the fault until the cluster is usable (a probe
of 6 small tasks, each writing a tiny object to the store, completes within
1.5 s, which is also the resolution), and from the heal until full strength
(3 workers registered and the probe completes). A fault whose effect outlasts the hold shows "usable" later
than the heal; one the cluster routes around shows "usable" at once.

With `--profiles default,fast` (the default) each profile gets a cluster of
its own (project dasklab-bench-faults, 1 GiB workers, FAILOVER set), started
and removed in turn, and one table shows both. On each, what the profile
costs is counted too: workers the scheduler gave up on for missing heartbeats
(its `worker-ttl-timed-out` events) while a task held the GIL for `--gil`
seconds, and while the spill scenario pushed 1.5x the memory target to disk.
`--profiles running` measures the running `make up` cluster instead.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import contextmanager

from dasklab import named_workers, progress, s3, wait_until
from dasklab.backends.compose.project import side_project
from dasklab.connect import open_lab, open_lab_or_exit
from dasklab.result import table_text
from dasklab.settings import environment, failover_config

PROJECT, NETWORK = "dasklab-bench-faults", "172.29.96"

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
            # One short attempt: the probe runs while the fault is still held, and a
            # reconnect waiting for the scheduler blocked the bench for its whole
            # 120 s timeout (a 30 s scheduler kill read "usable after 138 s").
            lab.reconnect(timeout=timeout)
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


def hold_the_gil(seconds: float) -> float:
    """One C call that never releases the GIL (sum over a range runs no
    bytecode), sized on this worker to last `seconds`: the worker's event loop,
    heartbeats included, stands still meanwhile. Returns the seconds it took."""
    start = time.perf_counter()
    sum(range(1_000_000))
    per_million = time.perf_counter() - start
    start = time.perf_counter()
    sum(range(int(seconds / per_million * 1_000_000)))
    return time.perf_counter() - start


def ttl_removals(lab) -> int:
    """Workers the scheduler has given up on for missing heartbeats so far."""
    events = lab.client.get_events("scheduler")
    return sum(len(msg.get("workers", ())) for _, msg in events
               if isinstance(msg, dict) and msg.get("action") == "worker-ttl-timed-out")


def false_removals(lab, gil_s: float) -> dict[str, int | float]:
    """What a profile costs: heartbeat removals of workers that were only busy."""
    from distributed import wait

    from scenarios import registry

    out = {}
    before = ttl_removals(lab)
    futures = [lab.client.submit(hold_the_gil, gil_s, workers=[name], pure=False)
               for name in named_workers()]  # one on each worker
    wait(futures, timeout=gil_s * 10 + 120)
    held = [f.result(timeout=10) for f in futures if f.status == "finished"]
    lab.client.cancel(futures)
    out["GIL held (s)"] = round(max(held), 1) if held else float("nan")
    lab.wait_for_workers(set(named_workers()), timeout=120)
    out["removed during GIL-bound tasks"] = ttl_removals(lab) - before
    before = ttl_removals(lab)
    spill = registry.run("spill", lab, factor=1.5, chunk_mb=64)
    out["spill verdict"] = spill.verdict
    out["removed during spill"] = ttl_removals(lab) - before
    return out


@contextmanager
def profile_lab(profile: str):
    """A cluster of its own with FAILOVER=profile, the client set up to match
    (the profile's Dask settings in this process's environment while it lasts)."""
    settings = {"FAILOVER": profile, "WORKER_MEMORY": "1GiB"}
    print(f"[bench-faults] starting a cluster with FAILOVER={profile} ({PROJECT}) ...", flush=True)
    with side_project(PROJECT, NETWORK, services=(), settings=settings) as compose, \
            environment({**compose.env, "DASKLAB_PROJECT": PROJECT, **failover_config(settings)}):
        lab = open_lab(PROJECT)
        try:
            lab.wait_for_workers(set(named_workers()), timeout=120)
            yield lab
        finally:
            lab.close()
    import dask

    dask.config.refresh()  # the next profile's client starts from the files again


def measure_profile(lab, label: str, runs: int, hold: float, gil: float | None) -> dict:
    results = {name: [] for name in FAULTS}
    for run in range(runs):
        for name in FAULTS:
            print(f"[bench-faults] {label}, run {run + 1}/{runs}: {name} ...", end=" ", flush=True)
            usable, full = measure(lab, name, hold)
            results[name].append((usable, full))
            print(f"usable after {usable:.1f} s, full strength {full:.1f} s after heal",
                  flush=True)
    costs = {}
    if gil is not None:
        print(f"[bench-faults] {label}: GIL-bound tasks of {gil:g} s, then the spill scenario ...",
              flush=True)
        costs = false_removals(lab, gil)
        print(f"[bench-faults] {label}: {costs}", flush=True)
    return {"faults": results, "costs": costs}


def table(by_profile: dict[str, dict], runs: int, hold: float) -> str:
    rows = []
    for name in FAULTS:
        row = {f"fault (held {hold:g} s)": name}
        for label, got in by_profile.items():
            row[f"{label}: fault -> usable (s)"] = statistics.median(r[0] for r in got["faults"][name])
            row[f"{label}: heal -> full (s)"] = statistics.median(r[1] for r in got["faults"][name])
        rows.append(row)
    costs = [{"cost": measure, **{label: got["costs"].get(measure, "-")
                                  for label, got in by_profile.items()}}
             for measure in dict.fromkeys(k for got in by_profile.values() for k in got["costs"])]
    return (table_text(rows, f"medians of {runs}") +
            ("\n\n" + table_text(costs, "what each profile costs") if costs else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-faults", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hold", type=float, default=10.0, help="seconds each fault lasts")
    parser.add_argument("--profiles", default="default,fast",
                        help="FAILOVER profiles, each on a cluster of its own, or 'running'")
    parser.add_argument("--gil", type=float, default=8.0,
                        help="seconds a task holds the GIL in the cost check (0: skip the check)")
    args = parser.parse_args(argv)
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    if not (1 <= args.runs <= 10 and 1 <= args.hold <= 60 and 0 <= args.gil <= 60):
        parser.error("--runs must be 1..10, --hold 1..60 and --gil 0..60 seconds")
    if not profiles or not (profiles == ["running"] or set(profiles) <= {"default", "fast"}):
        parser.error(f"--profiles {args.profiles!r}: give default, fast (or both, comma-separated), "
                     "or running")
    progress.configure(quiet=True)  # this program prints its own lines
    by_profile = {}
    try:
        if profiles == ["running"]:
            lab = open_lab_or_exit()
            try:
                by_profile["running"] = measure_profile(lab, "running", args.runs, args.hold, None)
            finally:
                lab.close()
        for profile in profiles if profiles != ["running"] else []:
            with profile_lab(profile) as lab:
                by_profile[profile] = measure_profile(lab, profile, args.runs, args.hold,
                                                      args.gil or None)
    finally:
        if by_profile:
            print("\n" + table(by_profile, args.runs, args.hold))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
