"""scaling: manual and adaptive, on a cluster of ComposeCluster's own workers.

A side project with only a scheduler (no static workers), so the cluster
object owns every worker. Manual: 3 -> 5 -> 2 workers while 30 results are
held; the scheduler's own transition log shows whether any result was computed
twice (scaling down retires workers, which first moves their results to the
survivors). Adaptive: a queue of tasks grows the cluster from its minimum to
its maximum; it shrinks back once idle, after a cooldown. A PNG timeline
(workers and tasks processing over time) goes under reports/.
"""

from __future__ import annotations

import time

from dasklab import ComposeCluster, Result, Timeline, phase, side_project, wait_until
from dasklab import report_path

PROJECT, NETWORK = "dasklab-scaling", "172.29.90"


def block(i: int, size: int = 200_000) -> bytes:
    """A held result of `size` bytes (deterministic)."""
    return bytes([i % 256]) * size


def nap(i: int, seconds: float) -> int:
    time.sleep(seconds)
    return i


def computations(keys, dask_scheduler=None) -> dict[str, int]:
    """Per key, how often the scheduler saw it computed (processing -> memory).
    Runs on the scheduler (client.run_on_scheduler)."""
    counts = {str(k): 0 for k in keys}
    for entry in dask_scheduler.story(*keys):
        if entry[1] == "processing" and entry[2] == "memory":
            counts[str(entry[0])] += 1
    return counts


def _until_workers(client, n: int, timeout: float) -> float:
    start = time.monotonic()
    wait_until(lambda: len(client.scheduler_info()["workers"]) == n, timeout,
               f"{n} workers registered",
               state=lambda: sorted(w["name"] for w in client.scheduler_info()["workers"].values()))
    return time.monotonic() - start


def manual(cluster, client, r: Result, sizes: tuple[int, int, int], timeout: float) -> None:
    first, peak, last = sizes
    times = []
    for n in (first, peak):
        phase(f"scale({n})")
        cluster.scale(n)
        seconds = _until_workers(client, n, timeout)
        times.append({"step": f"scale({n})", "seconds to n registered": seconds})
        if n == first:
            futures = client.map(block, range(30))
            client.gather(futures)
    holders_before = {k: set(v) for k, v in client.who_has(futures).items()}
    phase(f"scale({last}) while {len(futures)} results are held")
    cluster.scale(last)
    times.append({"step": f"scale({last})",
                  "seconds to n registered": _until_workers(client, last, timeout)})
    wait_until(lambda: len(cluster.workers) == last, timeout, "retired containers removed")
    intact = client.gather(futures) == [block(i) for i in range(30)]
    counts = client.run_on_scheduler(computations, [f.key for f in futures])
    moved = sum(1 for k, v in client.who_has(futures).items() if set(v) != holders_before[k])
    r.tables["manual scaling"] = times
    r.measurements.update({
        "manual: results held": len(futures),
        "manual: results moved by the retire": moved,
        "manual: results computed twice": sum(1 for c in counts.values() if c > 1),
        "manual: results intact": intact,
    })
    r.check(intact, "held results changed after scaling down")
    r.check(all(c == 1 for c in counts.values()),
            f"every result should be computed exactly once; counts {sorted(set(counts.values()))}")


def stock(r: Result, sizes: tuple[int, int, int], timeout: float) -> None:
    """The same scale-down with Dask's stock SpecCluster behaviour (no retire):
    what the fix prevents, measured the same way."""
    from distributed import Client

    first, _, last = sizes
    with ComposeCluster(project=PROJECT, retire_first=False) as cluster, \
            Client(cluster) as client:
        phase(f"stock SpecCluster scale-down: scale({first}), hold 30 results, scale({last})")
        cluster.scale(first)
        _until_workers(client, first, timeout)
        futures = client.map(block, range(30), key=[f"stock-block-{i}" for i in range(30)])
        client.gather(futures)
        cluster.scale(last)
        _until_workers(client, last, timeout)
        intact = client.gather(futures) == [block(i) for i in range(30)]
        counts = client.run_on_scheduler(computations, [f.key for f in futures])
        client.cancel(futures)
    r.measurements["stock SpecCluster: results computed twice"] = sum(
        1 for c in counts.values() if c > 1)
    r.check(intact, "results after the stock scale-down should still be correct (recomputed)")


def adaptive(cluster, client, r: Result, minimum: int, maximum: int, tasks: int,
             seconds: float, cooldown: float, timeout: float) -> tuple[list[tuple], float]:
    phase(f"adapt(minimum={minimum}, maximum={maximum}, cooldown={cooldown:g} s)")
    adapt = cluster.adapt(minimum=minimum, maximum=maximum, interval="1s", wait_count=3,
                          cooldown=cooldown)
    _until_workers(client, minimum, timeout)
    from distributed import get_task_stream

    with Timeline(client) as timeline, get_task_stream(client=client) as stream:
        t_submit = time.time()
        phase(f"{tasks} tasks of {seconds:g} s: the queue should grow the cluster")
        futures = client.map(nap, range(tasks), seconds=seconds, pure=False)
        client.gather(futures)
        t_drain = time.time()
        phase("queue drained: waiting for the cluster to shrink back")
        wait_until(lambda: len(client.scheduler_info()["workers"]) == minimum
                   and len(cluster.workers) == minimum, cooldown + timeout,
                   f"the cluster to shrink back to {minimum}")
        t_back = time.time()
    adapt.stop()
    last_start = max(s["start"] for t in stream.data for s in t["startstops"]
                     if s["action"] == "compute")
    ups = [(t, rec) for t, rec in adapt.log if rec["status"] == "up"]
    downs = [(t, rec) for t, rec in adapt.log if rec["status"] == "down"]
    peak = max(n for _, n, _ in timeline.rows)
    registered = [t for t, what, _ in cluster.events if what == "registered" and t > t_submit]
    counts = client.run_on_scheduler(computations, [f.key for f in futures])
    r.measurements.update({
        "adaptive: peak workers": peak,
        "adaptive: first scale-up after submit (s)": ups[0][0] - t_submit if ups else None,
        "adaptive: first extra worker registered after submit (s)":
            min(registered) - t_submit if registered else None,
        "adaptive: queue drained after (s)": t_drain - t_submit,
        "adaptive: back to minimum after drain (s)": t_back - t_drain,
        "adaptive: scale-ups / scale-downs": f"{len(ups)} / {len(downs)}",
        "adaptive: tasks computed twice": sum(1 for c in counts.values() if c > 1),
    })
    r.tables["adaptive decisions"] = [
        {"t (s)": t - t_submit, "decision": rec["status"],
         "detail": rec.get("n", rec.get("workers"))} for t, rec in adapt.log]
    r.check(peak >= minimum + 2, f"the queue should add at least 2 workers (peak {peak})")
    r.check(peak <= maximum, f"peak {peak} exceeds maximum {maximum}")
    r.check(all(t >= last_start for t, _ in downs),
            "no scale-down while tasks were still waiting to start")
    r.check(all(c == 1 for c in counts.values()), "a task was computed twice")
    return timeline.rows, t_drain


def cluster_table(cluster) -> list[dict]:
    asked = {}
    rows = []
    for t, what, name in cluster.events:
        if what == "asked":
            asked[name] = t
        elif what in ("registered", "left", "removed") and name in asked:
            rows.append({"worker": name, "event": what,
                         "seconds after asked": t - asked.get(name, t)})
    return rows


def plot(rows, events, t_drain: float, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = rows[0][0]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 5))
    top.step([t - t0 for t, _, _ in rows], [n for _, n, _ in rows], where="post")
    top.set_ylabel("workers registered")
    bottom.plot([t - t0 for t, _, _ in rows], [p for _, _, p in rows], color="tab:orange")
    bottom.set_ylabel("tasks processing")
    bottom.set_xlabel("seconds since the tasks were submitted")
    for t, what, name in events:
        if t >= t0 and what in ("asked", "registered", "retiring"):
            color = {"asked": "grey", "registered": "green", "retiring": "red"}[what]
            top.axvline(t - t0, color=color, alpha=0.4, lw=1)
    for ax in (top, bottom):
        ax.axvline(t_drain - t0, color="black", ls="--", lw=1)
    bottom.annotate("queue drained", (t_drain - t0, 0), textcoords="offset points",
                    xytext=(4, 8), fontsize=8)
    top.set_title("adaptive scaling: grey = worker asked for, green = registered, red = retiring")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(lab, sizes=(3, 5, 2), minimum: int = 1, maximum: int = 4, tasks: int = 160,
        task_seconds: float = 1.0, cooldown: float = 30, timeout: float = 180) -> Result:
    from distributed import Client

    r = Result("scaling")
    phase(f"starting a side project {PROJECT} with a scheduler and no workers")
    with side_project(PROJECT, NETWORK):
        stock(r, tuple(sizes), timeout)
        with ComposeCluster(project=PROJECT) as cluster, Client(cluster) as client:
            manual(cluster, client, r, tuple(sizes), timeout)
            cluster.scale(minimum)
            rows, t_drain = adaptive(cluster, client, r, minimum, maximum, tasks, task_seconds, cooldown,
                            timeout)
            names = [name for _, what, name in cluster.events if what == "asked"]
            r.tables["worker lifecycle"] = cluster_table(cluster)
            path = report_path("scaling", "png")
            plot(rows, cluster.events, t_drain, path)
            r.measurements["timeline"] = str(path)
            r.check(len(names) == len(set(names)), "a worker name was used twice")
            r.measurements["worker names used"] = f"{names[0]} .. {names[-1]} ({len(names)})"
    r.notes += [
        "scale(n) is a request: the cluster starts containers in the background; each "
        "new worker is a container made from the project's worker definition.",
        "Scaling down retires first: the scheduler copies the results only the leaving "
        "worker holds to a survivor, then the worker exits and its container and volume "
        "are removed. Dask's own SpecCluster skips that step (distributed#4532): it passes "
        "worker names where the scheduler expects addresses, the retire matches nothing, "
        "and results held only by the removed workers are computed again (the 'stock "
        "SpecCluster' line above, same data, same sizes).",
        "Adaptive asks for workers the moment tasks queue, but a container needs "
        "seconds to start; the cooldown keeps it from removing workers between bursts.",
    ]
    return r
