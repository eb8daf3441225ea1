"""worker-loss: kill worker-2's container half way through a computation.

The same work runs twice: once undisturbed, once with worker-2 SIGKILLed by
the nemesis (what `docker compose kill worker-2` does) at half of
the undisturbed time. Docker Compose, as the resource manager, then starts it
again. Reported: kill-to-removal latency and the keys lost, both from the
scheduler's own "remove-worker" event; the time ratio; worker-2's return at
the same name and address. Then allowed-failures: a task that kills its own
worker process ends in KilledWorker after the configured number of attempts.
"""

from __future__ import annotations

import os
import signal
import time

import dask

from dasklab import (Result, named_workers, phase, rejoined_address, removal_event,
                   slow_square, wait_futures, wait_until, worker_events)

VICTIM = "worker-2"


def total(values: list[int]) -> int:
    return sum(values)


def kill_own_process() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _work(c, tasks: int, seconds: float, tag: str):
    # Results stay in worker memory until `total` runs: a killed worker loses its share.
    parts = [c.submit(slow_square, i, seconds, key=f"{tag}-square-{i}") for i in range(tasks)]
    return parts, c.submit(total, parts, key=f"{tag}-total")


def run(lab, tasks: int = 120, seconds: float = 1.0) -> Result:
    r = Result("worker-loss")
    c = lab.client
    expected = sum(i * i for i in range(tasks))
    run_id = str(int(time.time() * 1000))

    start = time.monotonic()
    parts, fut = _work(c, tasks, seconds, f"calm-{run_id}")
    wait_futures([*parts, fut], f"no fault: {tasks} tasks of {seconds} s", timeout=600)
    baseline = fut.result(timeout=600)
    calm_s = time.monotonic() - start

    before = lab.workers_by_name()[VICTIM]["address"]
    phase(f"the same work again; {VICTIM} is killed half way")
    start = time.monotonic()
    parts, fut = _work(c, tasks, seconds, f"fault-{run_id}")
    wait_until(lambda: sum(p.done() for p in parts) >= tasks // 2, 600, "half of the tasks",
               interval=0.05, state=lambda: sum(p.done() for p in parts))
    # Healing starts it again, as the resource manager would, whatever happened.
    with lab.faults.killed(VICTIM) as kill:
        killed_at = kill.record.injected_at
        removed_at, msg = wait_until(lambda: removal_event(c, before, killed_at - 1), 30,
                                     "the scheduler's remove-worker event for worker-2")
    phase(f"{VICTIM} removed by the scheduler; waiting for it to rejoin")
    back = lab.wait_for_workers(set(named_workers()), timeout=90)
    rejoined_s = time.time() - killed_at
    wait_futures([*parts, fut], "the rest of the work, lost keys recomputed", timeout=600)
    result = fut.result(timeout=600)
    fault_s = time.monotonic() - start

    lost = msg.get("lost-computed-tasks") or []
    processing = msg.get("processing-tasks") or []
    r.measurements.update({
        "tasks": tasks, "task_seconds": seconds,
        "no_fault_s": round(calm_s, 1), "with_kill_s": round(fault_s, 1),
        "ratio": round(fault_s / calm_s, 2),
        "kill_to_removal_s": round(removed_at - killed_at, 3),
        "keys_lost_recomputed": len(lost),
        "tasks_running_on_victim": len(processing),
        "victim_rejoined_after_s": round(rejoined_s, 1),
        "address_before": before, "address_after": back[VICTIM]["address"],
        "result_correct": bool(result == expected == baseline),
    })
    r.check(result == expected == baseline, f"result {result} != {expected}")
    r.check(len(lost) > 0, "keys held by worker-2 should have been lost and recomputed")
    where = rejoined_address(r, lab.resources, VICTIM, before, back[VICTIM]["address"])
    r.notes += [
        f"worker-2 came back after {rejoined_s:.1f} s, {where}.",
        f"A SIGKILLed container closes its TCP connections at once: the scheduler removed "
        f"worker-2 {removed_at - killed_at:.2f} s after the kill. A worker cut off by the "
        "network would be noticed only by TCP timeouts or worker-ttl (compose/dask.yaml).",
        f"{len(lost)} finished results lived only on worker-2 and were recomputed elsewhere; "
        f"{len(processing)} running tasks were rescheduled (and marked suspicious).",
    ]
    killed_worker_case(lab, r)
    return r


def killed_worker_case(lab, r: Result) -> None:
    c = lab.client
    allowed = dask.config.get("distributed.scheduler.allowed-failures")
    phase(f"a task that kills its own worker process: allowed-failures = {allowed}")
    fut = c.submit(kill_own_process, pure=False, key=f"suicide-{int(time.time())}")
    try:
        fut.result(timeout=180)
        outcome, message = "no error", ""
    except Exception as e:  # noqa: BLE001 - the error is what the user sees
        outcome, message = type(e).__name__, str(e)
    # Wait for the nannies to bring every worker back before reading their topics.
    healthy = lab.wait_for_workers(set(named_workers()), timeout=120)
    addresses = [w["address"] for w in healthy.values()]
    deaths = sum(1 for _, _, m in worker_events(c, addresses, "remove-worker")
                 if fut.key in (m.get("processing-tasks") or []))
    after = c.submit(slow_square, 7, 0, pure=False).result(timeout=60)
    r.measurements.update({
        "allowed_failures": allowed, "suicide_task_error": outcome,
        "worker_deaths_for_that_task": deaths,
        "cluster_healthy_after": len(healthy) == 3 and after == 49,
    })
    r.check(outcome == "KilledWorker", f"expected KilledWorker, got {outcome}")
    r.check(deaths == allowed + 1, f"{deaths} worker deaths, expected allowed-failures + 1")
    r.check(len(healthy) == 3 and after == 49, "the cluster should be healthy afterwards")
    r.notes.append(f"KilledWorker says: {message.splitlines()[0][:300]}" if message else "")
