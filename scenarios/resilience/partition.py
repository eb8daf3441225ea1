"""partition: worker-2 cut off from the cluster network while it runs tasks,
then healed at the same address.

For comparison, first the kill: worker-2 SIGKILLed, its TCP connections
close, and the scheduler removes it at once. Then the partition (the
nemesis's disconnect): nothing closes, packets just vanish. The scheduler
notices only when a timeout expires: distributed.comm.timeouts.tcp (30 s in
compose/dask.yaml), applied as TCP keepalive and TCP_USER_TIMEOUT on every
connection; worker-ttl (60 s) is the fallback. The work worker-2 held is
recomputed on worker-1 and worker-3 and the result is checked. Meanwhile,
inside the cut-off container, its own log tells what it went through; after
the heal (reconnected at the same IP under the same names) worker-2 registers
again under its name and address.
"""

from __future__ import annotations

import time

import dask

from dasklab import (Result, named_workers, phase, rejoined_address, removal_event,
                   slow_square, wait_futures, wait_until)

VICTIM = "worker-2"
# What the cut-off worker's own log says, in order of appearance (substrings).
SIGNS = ("Connection to tcp://scheduler", "broken", "Timed out", "Forcibly exiting",
         "Restarting worker", "Closing Nanny", "Waiting to connect", "Stream is closed")


def _kill_detection(lab) -> float:
    c = lab.client
    address = lab.workers_by_name()[VICTIM]["address"]
    with lab.faults.killed(VICTIM) as kill:
        at = kill.record.injected_at
        removed_at, _ = wait_until(lambda: removal_event(c, address, at - 1), 30,
                                   "the scheduler to remove the killed worker-2")
    lab.wait_for_workers(set(named_workers()), timeout=120)
    return removed_at - at


def run(lab, tasks: int = 60, seconds: float = 1.0) -> Result:
    r = Result("partition")
    c = lab.client
    tcp_timeout = dask.config.get("distributed.comm.timeouts.tcp")
    ttl = dask.config.get("distributed.scheduler.worker-ttl")
    phase(f"for comparison: {VICTIM} killed")
    kill_s = _kill_detection(lab)

    address = lab.workers_by_name()[VICTIM]["address"]
    tag = f"partition-{int(time.time() * 1000)}"
    parts = [c.submit(slow_square, i, seconds, key=f"{tag}-{i}") for i in range(tasks)]
    # Cut it off once it holds results (lost with it) and runs tasks (rescheduled).
    wait_until(lambda: c.has_what(workers=[address]).get(address)
               and c.processing(workers=[address]).get(address), 60,
               f"{VICTIM} to hold results and run tasks")
    phase(f"{VICTIM} cut off the network while it runs tasks")
    with lab.faults.disconnected(VICTIM) as cut:
        at = cut.record.injected_at
        removed_at, msg = wait_until(lambda: removal_event(c, address, at - 1), 120,
                                     f"the scheduler to remove the cut-off {VICTIM}",
                                     interval=0.5)
        phase(f"{VICTIM} removed after {removed_at - at:.1f} s; healing the partition")
    healed_at = cut.record.healed_at
    back = lab.wait_for_workers(set(named_workers()), timeout=180)
    rejoined_s = time.time() - healed_at
    wait_futures(parts, "the job, lost work recomputed elsewhere", timeout=600)
    total = sum(c.gather(parts))
    inside = lab.resources.logs_since(VICTIM, at - 1)
    seen = [sign for sign in SIGNS if sign in inside]

    r.measurements.update({
        "tcp_timeout": tcp_timeout, "worker_ttl": ttl,
        "kill_detected_after_s": round(kill_s, 2),
        "partition_detected_after_s": round(removed_at - at, 1),
        "keys_lost_recomputed": len(msg.get("lost-computed-tasks") or []),
        "tasks_running_on_victim": len(msg.get("processing-tasks") or []),
        "rejoined_after_heal_s": round(rejoined_s, 1),
        "address_before": address, "address_after": back[VICTIM]["address"],
        "result_correct": total == sum(i * i for i in range(tasks)),
        "victim_log_signs": ", ".join(seen) or "(none)",
    })
    r.check(total == sum(i * i for i in range(tasks)), "the result must be correct")
    r.check(removed_at - at > kill_s, "a partition should take longer to notice than a kill")
    where = rejoined_address(r, lab.resources, VICTIM, address, back[VICTIM]["address"])
    r.notes += [
        f"Killed, worker-2 was removed {kill_s:.2f} s later: its TCP connections closed. "
        f"Cut off, it was removed after {removed_at - at:.1f} s: no connection closes, so "
        f"the scheduler waits for distributed.comm.timeouts.tcp ({tcp_timeout}, TCP "
        f"keepalive and TCP_USER_TIMEOUT), not worker-ttl ({ttl}, the fallback for a worker "
        "that is connected but silent).",
        f"Its running tasks ({r.measurements['tasks_running_on_victim']}) went back to the "
        f"queue and the results it held ({r.measurements['keys_lost_recomputed']}) were "
        "recomputed elsewhere; the job's result is correct.",
        "Inside the cut-off container, the worker's own log shows what it went through: "
        f"{', '.join(seen) or 'nothing'}. Its scheduler connection broke and it closed "
        "itself; while cut off it cannot reach even its own nanny, whose address is the "
        "container's IP that the disconnect removed ('Timed out').",
    ]
    r.notes.append(f"After the heal worker-2 registered again under its name after "
                   f"{rejoined_s:.1f} s, {where}.")
    return r
