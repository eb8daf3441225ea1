"""tasks: submitting tasks, directing them, and proving where they ran.

Every policy is shown with proof from the cluster itself (the task stream,
who_has, the scheduler's task states, events the tasks log), not from what
the code meant: submit/map/compute/persist/fire_and_forget, priorities,
restrictions, resources, retries and queuing. Every key carries this run's
prefix, and every submit is pure=False: Dask deduplicates pure submits, and the
second one would keep the first one's priority and restrictions.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import Counter

from dasklab import ComposeCluster, Result, phase, task_states, wait_until

# Per worker process: how many GPU tasks run right now, and the most at once.
_GPU = {"now": 0, "max": 0, "lock": threading.Lock()}


def inc(x: int) -> int:
    return x + 1


def gated(i: int, gate: str) -> int:
    """Block until the distributed Event `gate` is set (holds a thread)."""
    from distributed import Event

    Event(gate).wait(timeout=120)
    return i


def noted(i: int, topic: str) -> int:
    """Log (start time, i) to an event topic as the task starts."""
    from distributed import get_worker

    get_worker().log_event(topic, {"i": i, "start": time.time()})
    return i


def gpu_task(i: int) -> dict:
    from distributed import get_worker

    with _GPU["lock"]:
        _GPU["now"] += 1
        _GPU["max"] = max(_GPU["max"], _GPU["now"])
    time.sleep(0.3)
    with _GPU["lock"]:
        _GPU["now"] -= 1
        peak = _GPU["max"]
    return {"worker": get_worker().name, "max_at_once": peak}


def flaky(run: str, fail_times: int) -> int:
    """Fails on its first `fail_times` attempts (counted in a distributed
    Variable, whichever worker runs it), logging each attempt."""
    from distributed import Variable, get_worker

    counter = Variable(f"{run}-attempts")
    attempt = counter.get(timeout=10) + 1
    counter.set(attempt)
    # "name", not "worker": the scheduler overwrites a message's "worker" with the address.
    get_worker().log_event(f"{run}-attempts", {"attempt": attempt, "name": get_worker().name})
    if attempt <= fail_times:
        raise RuntimeError(f"attempt {attempt} fails on purpose")
    return attempt


def mark_done(name: str) -> str:
    from distributed import Variable

    Variable(name).set("done")
    return "done"


def set_saturation(value: float, dask_scheduler=None) -> float:
    """The scheduler reads worker-saturation into this attribute at start; the
    queuing decisions read the attribute, so setting it changes what follows."""
    old = dask_scheduler.WORKER_SATURATION
    dask_scheduler.WORKER_SATURATION = value
    return old


class Proof:
    """One policy's table rows and the checks behind its verdict."""

    def __init__(self, r: Result, title: str):
        self.r, self.rows = r, r.tables.setdefault(title, [])

    def row(self, claim: str, seen, ok: bool) -> None:
        self.rows.append({"claim": claim, "seen": seen, "holds": ok})
        self.r.check(ok, f"{claim} (seen: {seen})")


def submission(lab, r: Result, run: str) -> None:
    from distributed import Future, fire_and_forget

    import dask.array as da

    c, names = lab.client, lab.names_by_address()
    p = Proof(r, "submit, map, compute, persist")
    f = c.submit(inc, 1, key=f"{run}-submit")
    p.row("submit returns a Future; result() brings the value", (type(f).__name__, f.result()),
          isinstance(f, Future) and f.result() == 2)
    p.row("the result lives on a worker until released", names[c.who_has(f)[f.key][0]],
          names[c.who_has(f)[f.key][0]].startswith("worker-"))
    fs = c.map(inc, range(6), key=[f"{run}-map-{i}" for i in range(6)])
    values = c.gather(fs)
    holders = {names[a] for f in fs for a in c.who_has(f)[f.key]}
    p.row("map returns one Future per input; gather brings the values", values,
          values == list(range(1, 7)))
    x = da.arange(24, chunks=4).sum()
    fut = c.compute(x)
    p.row("compute(collection) returns a Future of the whole result", fut.result(),
          fut.result() == sum(range(24)))
    y = c.persist(da.arange(24, chunks=4) * 2)

    def held():
        return [k for k, v in c.who_has().items() if isinstance(k, tuple) and k[0] == y.name and v]

    chunks = wait_until(lambda: len(held()) == 6 and held(), 30, "the persisted chunks in memory")
    p.row("persist keeps every chunk on the workers and returns a collection",
          f"{type(y).__name__}, {len(chunks)} chunks held", len(chunks) == 6)
    p.row("computing the persisted collection brings the value back", int(y.sum().compute()),
          int(y.sum().compute()) == 2 * sum(range(24)))
    name = f"{run}-fnf"
    from distributed import Variable

    Variable(name).set("pending")
    fire_and_forget(c.submit(mark_done, name, key=name))
    seen = wait_until(lambda: Variable(name).get(timeout=5) == "done" and "done", 30,
                      "the fire-and-forget task to run")
    p.row("fire_and_forget runs the task with no future held", seen, seen == "done")
    r.measurements["map results held on"] = sorted(holders)
    del f, fs, fut, y


def priorities(lab, r: Result, run: str) -> None:
    from distributed import Event

    c = lab.client
    p = Proof(r, "priorities (worker-1's two threads busy, then released)")
    gate, topic = f"{run}-gate", f"{run}-prio"
    threads = lab.workers_by_name()["worker-1"]["nthreads"]
    blockers = [c.submit(gated, i, gate, workers=["worker-1"], pure=False) for i in range(threads)]
    addr = lab.workers_by_name()["worker-1"]["address"]
    wait_until(lambda: c.processing(workers=[addr])[addr] and all(
        s == "processing" for s in c.run_on_scheduler(task_states, [b.key for b in blockers]).values()),
        30, "worker-1's threads to be busy")
    low = [c.submit(noted, i, topic, workers=["worker-1"], priority=-10, pure=False,
                    key=f"{run}-low-{i}") for i in range(4)]
    high = [c.submit(noted, 100 + i, topic, workers=["worker-1"], priority=10, pure=False,
                     key=f"{run}-high-{i}") for i in range(4)]
    wait_until(lambda: c.run(_ready_count, workers=[addr])[addr] >= 8, 30,
               "8 tasks in worker-1's ready queue")
    Event(gate).set()
    c.gather(low + high + blockers)
    starts = sorted((m["start"], m["i"]) for _, m in c.get_events(topic))
    order = ["high" if i >= 100 else "low" for _, i in starts]
    p.row("high-priority tasks submitted after low ones all start first", " ".join(order),
          order == ["high"] * 4 + ["low"] * 4)


def _ready_count(dask_worker=None) -> int:
    return len(dask_worker.state.ready)


def restrictions(lab, r: Result, run: str) -> None:
    c, names = lab.client, lab.names_by_address()
    p = Proof(r, "restrictions")
    fs = [c.submit(inc, i, workers=["worker-2"], pure=False, key=f"{run}-w2-{i}") for i in range(6)]
    c.gather(fs)
    ran = {names[a] for f in fs for a in c.who_has(f)[f.key]}
    p.row('workers=["worker-2"] runs only there', sorted(ran), ran == {"worker-2"})
    loose = c.submit(inc, 1, workers=["worker-9"], allow_other_workers=True, pure=False,
                     key=f"{run}-loose")
    where = names[c.who_has(loose)[loose.key][0]] if loose.result(timeout=30) else None
    p.row('workers=["worker-9"] (no such worker), allow_other_workers=True: runs elsewhere',
          where, where in lab.workers_by_name())
    strict = c.submit(inc, 1, workers=["worker-9"], pure=False, key=f"{run}-strict")
    state = wait_until(lambda: c.run_on_scheduler(task_states, [strict.key]).get(strict.key)
                       == "no-worker" and "no-worker", 30, "the strict task's state")
    p.row('workers=["worker-9"] without allow_other_workers waits', state, state == "no-worker")
    c.cancel(strict)


def resources(lab, r: Result, run: str) -> None:
    from distributed import Client

    p = Proof(r, "resources (one elastic worker advertises GPU=1)")
    phase("resources: starting a worker with --resources GPU=1 (ComposeCluster)")
    with ComposeCluster(project=lab.compose.project, extra_args=["--resources", "GPU=1"],
                        name=f"{run}-gpu") as cluster, Client(cluster) as c:
        n = len(lab.workers_by_name()) + 1
        cluster.scale(n)
        cluster.wait_for_workers(n, timeout=180)
        (gpu_worker,) = cluster.workers
        out = c.gather(c.map(gpu_task, range(6), resources={"GPU": 1}, pure=False,
                             key=[f"{run}-gpu-{i}" for i in range(6)]))
        where = {o["worker"] for o in out}
        peak = max(o["max_at_once"] for o in out)
        p.row("tasks needing GPU=1 run only on the worker that has it", sorted(where),
              where == {gpu_worker})
        p.row("and never two at once (in-task counter)", peak, peak == 1)
        two = c.submit(gpu_task, 0, resources={"GPU": 2}, pure=False, key=f"{run}-gpu2")
        state = wait_until(lambda: c.run_on_scheduler(task_states, [two.key]).get(two.key)
                           == "no-worker" and "no-worker", 30, "the GPU=2 task's state")
        p.row("a task needing GPU=2 (more than any worker has) waits", state, state == "no-worker")
        c.cancel(two)


def retries(lab, r: Result, run: str) -> None:
    from distributed import Variable

    c = lab.client
    p = Proof(r, "retries")
    Variable(f"{run}-attempts").set(0)
    f = c.submit(flaky, run, 2, retries=2, pure=False, key=f"{run}-flaky")
    value = f.result(timeout=60)
    attempts = [m for _, m in c.get_events(f"{run}-attempts")]
    executing = [e for e in c.story(f.key) if e[0] != "scheduler" and e[3] == "executing"]
    p.row("retries=2: fails twice, succeeds on attempt 3",
          " ".join(f"#{a['attempt']} on {a['name']}" for a in attempts),
          value == 3 and [a["attempt"] for a in attempts] == [1, 2, 3])
    p.row("the key's story has one execution per attempt", len(executing), len(executing) == 3)
    Variable(f"{run}-x-attempts").set(0)
    g = c.submit(flaky, run + "-x", 4, retries=2, pure=False, key=f"{run}-flaky-x")
    try:
        g.result(timeout=60)
        error = None
    except RuntimeError as e:
        error = str(e)
    p.row("retries=2 but success only on attempt 5: the last attempt's error", error,
          error == "attempt 3 fails on purpose")


def queuing(lab, r: Result, run: str) -> None:
    from distributed import Event

    c = lab.client
    threads = sum(w["nthreads"] for w in lab.workers_by_name().values())
    rows = r.tables.setdefault("queuing (root tasks held by a gate)", [])
    for saturation in (1.1, 2.0, float("inf")):
        old = c.run_on_scheduler(set_saturation, saturation)
        prefix, gate = f"{run}-q{saturation}", f"{run}-gate-q{saturation}"
        try:
            fs = c.map(gated, range(30), gate=gate, pure=False,
                       key=[f"{prefix}-{i}" for i in range(30)])
            counts = wait_until(lambda: (s := Counter(
                c.run_on_scheduler(task_states, prefix=prefix).values()))
                                and s.get("queued", 0) + s.get("processing", 0) == 30 and s,
                                30, "30 tasks queued or processing")
            per_worker = sorted(len(k) for k in c.processing().values())
            Event(gate).set()
            c.gather(fs)
        finally:
            c.run_on_scheduler(set_saturation, old)
        # Per worker ceil(saturation x threads) root tasks (distributed's _task_slots_available).
        expected = 30 if math.isinf(saturation) else min(30, sum(
            math.ceil(saturation * w["nthreads"]) for w in lab.workers_by_name().values()))
        rows.append({"worker-saturation": saturation, "processing": counts.get("processing", 0),
                     "queued on the scheduler": counts.get("queued", 0),
                     "per worker": per_worker, "threads": threads, "holds": None})
        ok = counts.get("processing", 0) == expected
        rows[-1]["holds"] = ok
        r.check(ok, f"worker-saturation {saturation}: {expected} processing expected, "
                    f"saw {dict(counts)}")


def run(lab) -> Result:
    r = Result("tasks")
    run_id = f"tasks-{uuid.uuid4().hex[:6]}"
    for name, step in (("submit, map, compute, persist, fire_and_forget", submission),
                       ("priorities", priorities), ("restrictions", restrictions),
                       ("resources", resources), ("retries", retries), ("queuing", queuing)):
        phase(name)
        step(lab, r, run_id)
    r.notes += [
        "Every proof comes from the cluster: who_has, the scheduler's task states, the "
        "worker's ready queue, events the tasks logged, the key's story.",
        "pure=False everywhere: two identical pure submits share one key, and the second "
        "one's priority= or workers= is ignored.",
        "Priorities order a worker's ready queue: with its threads busy, tasks submitted "
        "later with priority=10 start before earlier ones with priority=-10.",
        "A restriction to a missing worker is not an error: the task waits in 'no-worker' "
        "until such a worker joins (or distributed.scheduler.no-workers-timeout fails it).",
        "Resources are abstract counters per worker process (--resources GPU=1): Dask "
        "never runs more GPU tasks at once than the worker advertises.",
        "Retries may land on other workers; the task stream shows only the last attempt, "
        "the key's story shows each one.",
        "Queuing: the scheduler hands each worker ceil(worker-saturation x threads) root "
        "tasks and keeps the rest queued, so late-joining workers and higher-priority "
        "work still get a turn; worker-saturation=inf sends everything at once. Look at "
        "'per worker' for inf: with no duration estimate for a new task group and nothing "
        "queued, the scheduler co-assigns the root tasks, and here it put them all on one "
        "worker, where they wait behind its two threads.",
    ]
    return r
