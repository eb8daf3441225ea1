"""node-loss: host 2 loses power mid-job (make hosts-up first).

The workers Swarm placed on host 2 are lost with it: its cable goes first,
so not one packet of their last words (a FIN, an RST) reaches the scheduler,
then every process of the host dies at once, as in a power cut. Measured
from that moment: when Swarm's manager marks the node Down, when the Dask
scheduler removes each lost worker, and when a replacement worker of the
same name registers from host 1, where Swarm restarted its task. The job
completes with the right result: the lost workers' results are recomputed.

Afterwards host 2 boots again and rejoins the swarm, and the lost workers are
moved back to it (a forced update: Swarm places a task on the host with the
fewest), so the cluster ends as it began.
"""

from __future__ import annotations

import time

from dasklab import (Result, named_workers, phase, removal_event, slow_square, wait_futures,
                     wait_until)

HOST = "dasklab-h2"


def total(values: list[int]) -> int:
    return sum(values)


def run(lab, tasks: int = 120, seconds: float = 0.5, host: str = HOST) -> Result:
    r = Result("node-loss")
    c, res = lab.client, lab.resources
    placed = res.placement()
    victims = res.workers_on(host)
    r.check(bool(victims), f"no worker runs on {host}: {placed}")
    if not victims:
        return r
    before = {n: w["address"] for n, w in lab.workers_by_name().items()}
    expected = sum(i * i for i in range(tasks))
    tag = f"node-loss-{int(time.time() * 1000)}"
    parts = [c.submit(slow_square, i, seconds, key=f"{tag}-{i}") for i in range(tasks)]
    fut = c.submit(total, parts, key=f"{tag}-total")
    wait_until(lambda: sum(p.done() for p in parts) >= tasks // 3, 300, "a third of the tasks",
               interval=0.05, state=lambda: sum(p.done() for p in parts))

    phase(f"{host} loses power (cable first, then every process): {', '.join(victims)} with it")
    lost_at = time.time()
    res.power_off(host)
    try:
        down_s = res.wait_node(host, "Down", timeout=120)
        phase(f"swarm marked {host} Down after {down_s:.1f} s; waiting for Dask to notice")
        removed = {}
        for name in victims:
            ts, msg = wait_until(lambda: removal_event(c, before[name], lost_at - 1), 180,
                                 f"the scheduler's remove-worker event for {name}")
            removed[name] = (ts - lost_at, msg)
        phase("the lost workers removed; waiting for their replacements on the other hosts")
        lab.wait_for_workers(set(named_workers()), timeout=180)
        back_s = time.time() - lost_at
        moved_to = {n: res.placement().get(n) for n in victims}
        wait_futures([*parts, fut], "the rest of the job, lost results recomputed", timeout=600)
        result = fut.result(timeout=60)
    finally:
        phase(f"{host} boots again and rejoins; its workers move back to it")
        boot = time.monotonic()
        res.power_on(host)
        res.wait_node(host, "Ready", timeout=120)
        rejoin_s = time.monotonic() - boot
        res.respread(victims)
        lab.wait_for_workers(set(named_workers()), timeout=180)

    lost = sum(len(m.get("lost-computed-tasks") or []) for _, m in removed.values())
    r.measurements.update({
        "host": host, "workers_lost": victims, "tasks": tasks, "task_seconds": seconds,
        "loss_to_node_down_s": round(down_s, 1),
        **{f"loss_to_{n}_removed_s": round(s, 1) for n, (s, _) in removed.items()},
        # The scheduler's own word for why (its stimulus: a closed stream, worker-ttl).
        "removed_by": sorted({str(m.get("stimulus_id", "?")).rsplit("-", 1)[0]
                              for _, m in removed.values()}),
        "loss_to_all_workers_back_s": round(back_s, 1),
        "replacements_ran_on": moved_to,
        "results_lost_and_recomputed": lost,
        "result_correct": result == expected,
        "host_rejoined_after_boot_s": round(rejoin_s, 1),
        "placement_after": {n: h for n, h in res.placement().items() if n.startswith("worker-")},
    })
    r.check(result == expected, f"result {result} != {expected}")
    r.check(all(h and h != host for h in moved_to.values()),
            f"the replacements should run on another host: {moved_to}")
    slowest = max(s for s, _ in removed.values())
    r.notes += [
        f"Swarm's manager marked {host} Down {down_s:.1f} s after the power cut (its agents "
        "heartbeat every 5 s; the manager waits out a few missed ones).",
        f"The Dask scheduler removed the lost workers after up to {slowest:.1f} s "
        f"({', '.join(r.measurements['removed_by'])}): nothing told it, so it learnt only "
        "when its TCP connection to them timed out, 30 s (distributed.comm.timeouts.tcp) after "
        "it first wrote to them and got no answer; worker-ttl (60 s) would have come later. "
        "FAILOVER=fast in .env shortens both.",
        f"The replacements registered {back_s:.1f} s after the cut: Swarm restarted each task "
        "on another host, but a worker cannot register under a name the scheduler still "
        "holds, so the scheduler's removal, not Swarm, set the pace.",
        f"{lost} finished results lived only on {host} and were recomputed; each replacement "
        "started with an empty volume (the old one is on the lost host's disk).",
    ]
    return r
