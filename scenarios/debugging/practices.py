"""best-practices: each anti-pattern beside its fix, measured on this cluster.

One row per practice from Dask's own best-practices pages. Each row's verdict
rests on a count or a byte total that does not depend on the machine's speed
(tasks executed, bytes through the client's sockets, a worker's peak memory);
wall times are reported beside them as measurements only.
"""

from __future__ import annotations

import time
import uuid
import warnings

import numpy as np

from dasklab import Result, SocketMeter, WorkerPeakMemory, phase


def inc(x: int) -> int:
    return x + 1


def inc_batch(xs: list[int]) -> list[int]:
    return [x + 1 for x in xs]


def uses(big: np.ndarray, i: int) -> float:
    return float(big[i])


def block(i: int, n: int) -> np.ndarray:
    return np.full(n, float(i))


def expensive(i, n: int, topic: str) -> np.ndarray:
    """The shared intermediate; each run is counted as an event on `topic`."""
    from distributed import get_worker

    get_worker().log_event(topic, "computed")
    return np.random.default_rng(i).random(n)


def runs(client, topic: str) -> int:
    return len(client.get_events(topic))


def run(lab, tiny: int = 4000, big_mb: int = 40, loop: int = 8, gather_mb: int = 160,
        chunk_fraction: float = 0.25) -> Result:
    import dask
    import dask.array as da
    from distributed import get_task_stream

    r = Result("best-practices")
    c = lab.client
    run_id = uuid.uuid4().hex[:6]
    rows = r.tables.setdefault("anti-pattern vs fix", [])

    def row(practice: str, unit: str, bad: float, good: float, bad_s: float, good_s: float,
            ok: bool) -> None:
        rows.append({"practice": practice, "measure": unit, "anti-pattern": bad, "fix": good,
                     "anti-pattern s": bad_s, "fix s": good_s, "holds": ok})
        r.check(ok, f"{practice}: the fix should win on {unit} ({bad} vs {good})")

    phase(f"tasks too small: {tiny} tasks of one addition vs {tiny // 100} batches")
    with get_task_stream(client=c) as small:
        t = time.perf_counter()
        c.gather(c.map(inc, range(tiny), key=[f"tiny-{run_id}-{i}" for i in range(tiny)]))
        bad_s = time.perf_counter() - t
    batches = [list(range(i, i + 100)) for i in range(0, tiny, 100)]
    with get_task_stream(client=c) as batched:
        t = time.perf_counter()
        c.gather(c.map(inc_batch, batches, key=[f"batch-{run_id}-{i}" for i in range(len(batches))]))
        good_s = time.perf_counter() - t
    n_bad, n_good = len(small.data), len(batched.data)
    row("tasks too small vs batched (same additions)", "tasks executed", n_bad, n_good,
        bad_s, good_s, n_good * 10 <= n_bad)

    phase(f"a {big_mb} MB object embedded in 6 tasks vs scattered once")
    big = np.ones(big_mb * 2**20 // 8)
    with SocketMeter() as embedded, warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        t = time.perf_counter()
        c.gather([c.submit(uses, big, i, pure=False) for i in range(6)])
        bad_s = time.perf_counter() - t
    r.measurements["Dask's large-graph warnings (embedded object)"] = sum(
        "large graph" in str(w.message).lower() for w in warned)
    with SocketMeter() as scattered:
        t = time.perf_counter()
        ref = c.scatter(big, broadcast=False)
        c.gather([c.submit(uses, ref, i, pure=False) for i in range(6)])
        good_s = time.perf_counter() - t
    del ref
    row("large object in every task vs scattered once", "MB the client sent",
        round(embedded.sent / 2**20), round(scattered.sent / 2**20), bad_s, good_s,
        scattered.sent * 3 < embedded.sent)

    phase(f"compute() in a loop of {loop} vs one compute of everything")
    loop_topic, once_topic = f"shared-loop-{run_id}", f"shared-once-{run_id}"

    def shared(topic):
        return da.map_blocks(expensive, da.arange(8, chunks=1), n=200_000, topic=topic,
                             dtype=float, chunks=((200_000,) * 8,))

    t = time.perf_counter()
    one_by_one = [(shared(loop_topic) + i).sum().compute() for i in range(loop)]
    bad_s = time.perf_counter() - t
    t = time.perf_counter()
    base = shared(once_topic)
    together = dask.compute(*[(base + i).sum() for i in range(loop)])
    good_s = time.perf_counter() - t
    n_bad, n_good = runs(c, loop_topic), runs(c, once_topic)
    row("compute() in a loop vs one compute", "shared chunks computed", n_bad, n_good,
        bad_s, good_s, n_good < n_bad and np.allclose(one_by_one, together))

    phase(f"gathering {gather_mb} MB to the client vs reducing on the workers")
    n = gather_mb * 2**20 // 8 // 16
    parts = c.map(block, range(16), n=n, key=[f"part-{run_id}-{i}" for i in range(16)])
    c.gather(c.map(len, parts))  # computed, held on the workers
    with SocketMeter() as gathered:
        t = time.perf_counter()
        local = float(sum(p.sum() for p in c.gather(parts)))
        bad_s = time.perf_counter() - t
    with SocketMeter() as reduced:
        t = time.perf_counter()
        remote = float(sum(c.gather(c.map(np.sum, parts))))
        good_s = time.perf_counter() - t
    del parts
    row("gather a large result vs reduce on the workers", "MB the client received",
        round(gathered.received / 2**20), round(reduced.received / 2**20, 2), bad_s, good_s,
        local == remote and reduced.received * 100 < gathered.received)

    worker_1 = lab.workers_by_name()["worker-1"]
    limit = worker_1["memory_limit"]
    for label, fraction in (("right-sized", chunk_fraction / 15), ("too large", chunk_fraction)):
        phase(f"partitions {label}: chunks of {fraction:.0%} of worker-1's memory")
        chunk = int(limit * fraction) // 8
        total = int(limit * chunk_fraction * 4) // 8
        x = da.random.random(total, chunks=chunk)
        with dask.annotate(workers=["worker-1"]), \
                WorkerPeakMemory(c, worker_1["address"]) as peak:
            t = time.perf_counter()
            x.sum().compute(optimize_graph=False)
            seconds = time.perf_counter() - t
        if peak.restarted:  # its nanny killed it: the extreme of "too large"
            r.notes.append(f"partitions {label}: worker-1's process was replaced during the "
                           "block (its memory passed the terminate threshold), so its rise "
                           "is counted as the whole memory limit.")
            lab.wait_for_workers({"worker-1"}, timeout=60)
        rise = limit if peak.restarted else peak.rise
        if label == "too large":
            bad_rise, bad_s = rise, seconds
        else:
            good_rise, good_s = rise, seconds
            if peak.restarted:
                r.check(False, "right-sized partitions should never cost worker-1 its process")
    row("partitions too large vs right-sized (same data, one worker)",
        "worker memory rise MiB", bad_rise >> 20, good_rise >> 20, bad_s, good_s,
        good_rise * 2 < bad_rise)

    phase("a shared intermediate recomputed vs persisted")
    again_topic, kept_topic = f"inter-again-{run_id}", f"inter-kept-{run_id}"
    t = time.perf_counter()
    y = shared(again_topic)
    mean1, std1 = y.mean().compute(), y.std().compute()
    bad_s = time.perf_counter() - t
    t = time.perf_counter()
    kept = shared(kept_topic).persist()
    mean2, std2 = kept.mean().compute(), kept.std().compute()
    good_s = time.perf_counter() - t
    n_bad, n_good = runs(c, again_topic), runs(c, kept_topic)
    del kept
    row("recompute a shared intermediate vs persist it", "intermediate chunks computed",
        n_bad, n_good, bad_s, good_s, n_good < n_bad and np.isclose(mean1, mean2))

    r.notes += [
        "Tasks too small: each task costs the scheduler about a millisecond whatever it "
        "does; batch work into tasks of 100 ms or more.",
        "Large objects: an argument is pickled into every task that uses it; scatter it "
        "once (or load it on the workers) and pass the future.",
        "compute() in a loop rebuilds and recomputes what the results share; "
        "dask.compute(*results) computes shared parts once.",
        "Leave data on the cluster: reduce or write from the workers, gather only the small "
        "result. The client is one machine's memory and one network link.",
        "Partitions: a worker holds a few chunks at once (threads x chunk size); chunks near "
        "its memory limit spill, pause or kill it. Aim for chunks well under 1/threads of "
        "the worker's memory.",
        "persist() a result you use twice; release it when done.",
    ]
    return r
