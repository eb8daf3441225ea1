"""scatter: getting one large object to the tasks that need it.

(1) embed it in every task (it travels inside the task graph, once per task),
(2) scatter it once and pass the future, (3) broadcast it to every worker.
Then the catch: scattered data lives only in worker memory. When the only
worker holding it dies, it is lost — Dask cannot recompute what it never
computed.
"""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np

from dasklab import Result, SocketMeter, Timer, named_workers, phase, wait_until


def _checksum(arr: np.ndarray, i: int) -> float:
    return float(arr[i::97].sum())


def unserializable_events(dask_scheduler) -> int:
    """Events of the scheduler's "all" topic that cannot be pickled."""
    bad = 0
    for _, msg in dask_scheduler.get_events("all"):
        try:
            pickle.dumps(msg)
        except Exception:  # noqa: BLE001 - counting them is the point
            bad += 1
    return bad


def run(lab, size_mb: int = 100, tasks: int = 6) -> Result:
    r = Result("scatter")
    c = lab.client
    big = np.random.default_rng(7).random(size_mb * 2**20 // 8)
    expected = [_checksum(big, i) for i in range(tasks)]

    phase(f"(1) a {size_mb} MiB object embedded in each of {tasks} tasks")
    with warnings.catch_warnings(record=True) as caught, SocketMeter() as io1, Timer() as t1:
        warnings.simplefilter("always")
        got1 = c.gather([c.submit(_checksum, big, i, pure=False) for i in range(tasks)])
    large_graph = [str(w.message).splitlines()[0] for w in caught
                   if "large" in str(w.message).lower()]

    phase("(2) scattered once; tasks get a small future instead of the data")
    with SocketMeter() as io2, Timer() as t2:
        [big_f] = c.scatter([big])
        got2 = c.gather([c.submit(_checksum, big_f, i, pure=False) for i in range(tasks)])
    phase("(3) broadcast: a copy on every worker up front")
    with Timer() as t3:
        [big_b] = c.scatter([big], broadcast=True)
    holders = len(c.who_has(big_b)[big_b.key])
    poisoned = c.run_on_scheduler(unserializable_events)

    r.measurements.update({
        "object_bytes": big.nbytes,
        "pickled_bytes": len(pickle.dumps(big, protocol=5)),
        "tasks": tasks,
        "embedded_s": round(t1.seconds, 2),
        "embedded_client_sent": io1.sent,
        "scatter_s": round(t2.seconds, 2),
        "scatter_client_sent": io2.sent,
        "broadcast_s": round(t3.seconds, 2),
        "broadcast_copies": holders,
        "warning": large_graph[0] if large_graph else "(none)",
        "unserializable_events_in_all_topic": poisoned,
    })
    # isclose, not ==: numpy's SIMD summation order depends on memory alignment,
    # which differs between the client's array and a deserialized copy.
    same = all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(got1 + got2, expected * 2))
    r.check(same, "results should match the local checksums")
    r.check(io1.sent > tasks * big.nbytes * 0.9,
            "embedding should send the object once per task")
    r.check(io2.sent < 1.5 * big.nbytes, "scatter should send the object about once")
    r.check(holders == len(lab.workers_by_name()), "broadcast should reach every worker")
    del big_f, big_b

    lost = lose_scattered_data(lab, r)
    r.notes += [
        f"Embedding sent {io1.sent / big.nbytes:.1f}x the object through the client "
        f"(one copy per task); scatter sent {io2.sent / big.nbytes:.1f}x.",
        "Dask warns about it when the graph is large: " + (large_graph[0] if large_graph
                                                            else "(no warning seen)"),
        f"Dask bug seen here: broadcasting logged {poisoned} 'replicate' event(s) holding "
        "WorkerState objects in the scheduler's \"all\" event topic; they cannot be "
        "serialized, and from then on client.get_events('all') closes the client's "
        "connection. The lab reads per-worker topics instead (dasklab/connect.py).",
        "Scattered data exists only in the memory of the workers holding it: "
        f"after killing worker-2, the future's status became {lost!r} and no result "
        "could be had; scatter again (or load data in tasks, which Dask can recompute).",
    ]
    return r


def lose_scattered_data(lab, r: Result) -> str:
    """Scatter a small object to worker-2 only, kill worker-2, look at the future."""
    c = lab.client
    [only_here] = c.scatter([np.arange(1000)], workers=["worker-2"])
    r.check(set(c.who_has(only_here)[only_here.key]) ==
            {lab.workers_by_name()["worker-2"]["address"]}, "scattered to worker-2 only")
    phase("scattered to worker-2 only; killing worker-2")
    with lab.faults.killed("worker-2"):
        wait_until(lambda: only_here.status != "finished", 30,
                   "the scattered future to notice worker-2 is gone",
                   state=lambda: only_here.status)
        status = only_here.status
        try:
            only_here.result(timeout=5)
            outcome = "returned a value (unexpected)"
        except Exception as e:  # noqa: BLE001 - what the user sees is the lesson
            outcome = f"{type(e).__name__}"
        r.measurements["lost_future_status"] = status
        r.measurements["lost_future_result"] = outcome
        r.check(status in ("lost", "cancelled", "error"), f"future status {status}")
        r.check(outcome != "returned a value (unexpected)", "lost data cannot be returned")
    lab.wait_for_workers(set(named_workers()), timeout=90)
    return status
