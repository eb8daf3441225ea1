"""stealing: idle workers take queued work from a busy one.

All tasks are first sent to worker-1 (workers=["worker-1"]), allowed to run
elsewhere (allow_other_workers=True), once the scheduler knows how long such
a task takes. The stealing extension moves queued tasks to idle workers;
"confirm" events on the "stealing" topic count the moves. The same tasks
strictly restricted to worker-1 show what stealing saved. A plain `map` is
shown too: it barely steals, because the scheduler queues such root tasks
itself and hands them out as workers free up — nothing piles up to steal.
"""

from __future__ import annotations

import socket
import time

import dask

from dasklab import Result, phase, wait_futures


def busy(i: int, seconds: float) -> str:
    time.sleep(seconds)  # stands for work; sleeping keeps 2 CPU cores free
    return socket.gethostname()


def _steals_since(c, since: float) -> int:
    return sum(1 for ts, msg in c.get_events("stealing")
               if ts >= since and isinstance(msg, (list, tuple)) and msg[0] == "confirm")


def _batch(c, tag: str, tasks: int, seconds: float, **restrict) -> tuple[float, dict, int]:
    since = time.time()
    start = time.monotonic()
    futures = [c.submit(busy, i, seconds, key=f"{tag}-{i}", **restrict) for i in range(tasks)]
    wait_futures(futures, f"{tasks} tasks: {tag.split('-')[0]}", timeout=600)
    hosts = c.gather(futures)
    elapsed = time.monotonic() - start
    split = {h: hosts.count(h) for h in sorted(set(hosts))}
    return elapsed, split, _steals_since(c, since)


def run(lab, tasks: int = 60, seconds: float = 0.5) -> Result:
    r = Result("stealing")
    c = lab.client
    tag = str(int(time.time() * 1000))
    r.check(dask.config.get("distributed.scheduler.work-stealing"), "work-stealing is off")
    # Let the scheduler learn this task's duration: stealing weighs it.
    c.gather([c.submit(busy, i, seconds, key=f"learn-{tag}-{i}") for i in range(4)])

    phase("three runs of the same tasks: worker-1 preferred, worker-1 only, no restriction")
    loose = _batch(c, f"loose-{tag}", tasks, seconds, workers=["worker-1"],
                   allow_other_workers=True)
    strict = _batch(c, f"strict-{tag}", tasks, seconds, workers=["worker-1"],
                    allow_other_workers=False)
    plain = _batch(c, f"plain-{tag}", tasks, seconds)
    rows = []
    for label, (elapsed, split, steals) in (
            ("worker-1 preferred, others allowed", loose),
            ("worker-1 only (nothing to steal)", strict),
            ("plain submit, no restriction", plain)):
        rows.append({"run": label, "seconds": round(elapsed, 1), "steals": steals,
                     **{f"on {h}": n for h, n in split.items()}})
    r.tables["runs"] = rows
    r.measurements.update({
        "tasks": tasks, "task_seconds": seconds,
        "steals": loose[2], "stolen_share": round(1 - loose[1].get("worker-1", 0) / tasks, 2),
        "speedup_vs_strict": round(strict[0] / loose[0], 2),
        "plain_steals": plain[2],
    })
    r.check(loose[2] > 0, "idle workers should have stolen tasks")
    r.check(len(loose[1]) >= 2, "stolen tasks should have run on other workers")
    r.check(set(strict[1]) == {"worker-1"}, "strict restriction keeps every task on worker-1")
    r.check(strict[0] > loose[0], "stealing should finish sooner than the strict run")
    r.notes += [
        f"Stealing moved {loose[2]} tasks off worker-1 ({r.measurements['stolen_share']:.0%} "
        f"ran elsewhere) and finished {r.measurements['speedup_vs_strict']}x faster than "
        "keeping them on worker-1.",
        f"A plain submit/map stole {plain[2]} tasks: root tasks are queued on the scheduler "
        "(worker-saturation) and given to workers as threads free up, so no worker builds a "
        "backlog worth stealing. Stealing matters when placement is skewed: restrictions, "
        "data locality, or tasks of uneven length.",
    ]
    return r
