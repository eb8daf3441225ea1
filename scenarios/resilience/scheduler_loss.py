"""scheduler-loss: the scheduler's container killed mid-job, then its process
crashed.

Before each fault: a dataset published, a job of `tasks` tasks running, and
(once) partitions written to the store by the workers. Case kill: `docker
compose kill scheduler`, down for `down_s` seconds, then started. Case crash:
the scheduler's process SIGKILLed inside its container; Docker's restart
policy brings the container back by itself. For each case: what the client's
futures became and why, whether the published dataset survived, how the
workers left and who restarted them, whether the outputs in the store are
intact, how long until the cluster was usable again; then the job is
resubmitted and its result checked. Dask keeps no scheduler state anywhere
else: all of it (tasks, results' whereabouts, datasets) goes with the process.
"""

from __future__ import annotations

import time
import uuid

from dasklab import (Result, bucket, frame_digest, named_workers, partition, phase, s3,
                   slow_square, wait_until, write_partition)

ROWS = 20_000


def _job(c, tasks: int, seconds: float, tag: str):
    return [c.submit(slow_square, i, seconds, key=f"{tag}-{i}") for i in range(tasks)]


def _outputs_intact(prefix: str, files: int) -> int:
    """How many of the partitions written before the faults read back equal."""
    import pandas as pd

    fs = s3()
    good = 0
    for i in range(files):
        with fs.open(f"{prefix}/part-{i:04d}.parquet", "rb") as f:
            good += frame_digest(pd.read_parquet(f)) == frame_digest(partition(i, ROWS))
    return good


def _usable(lab) -> bool:
    """Three workers registered and a task runs."""
    if not lab.has_workers(named_workers()):
        return False
    try:
        return lab.client.submit(slow_square, 3, 0, pure=False).result(timeout=10) == 9
    except Exception:  # noqa: BLE001 - not yet: poll again
        return False


def _client_back(lab) -> str:
    """Wait for the client to reconnect; if it gave up, open a new one."""
    c = lab.client
    wait_until(lambda: c.status in ("running", "closed"), 60,
               "the client to reconnect or give up", state=lambda: c.status)
    if c.status == "running":
        return "reconnected by itself"
    lab.reconnect()
    return "gave up (closed); a new Client was opened"


def _case(lab, kind: str, tasks: int, seconds: float, down_s: float) -> dict:
    c = lab.client
    tag = f"sched-{kind}-{uuid.uuid4().hex[:6]}"
    held = c.submit(sum, [1, 2, 3], key=f"{tag}-held")
    c.publish_dataset(held, name=tag)
    parts = _job(c, tasks, seconds, tag)
    wait_until(lambda: sum(p.done() for p in parts) >= tasks // 4, 300,
               "a quarter of the job done", state=lambda: sum(p.done() for p in parts))
    done_before = sum(p.status == "finished" for p in parts)
    restarts = {w: lab.resources.restarts(w) for w in named_workers()}
    if kind == "kill":
        with lab.faults.killed("scheduler") as fault:
            wait_until(lambda: all(p.status == "cancelled" for p in parts), 30,
                       "the client to cancel its futures",
                       state=lambda: {p.status for p in parts})
            # The outage itself: the scheduler stays down for down_s seconds.
            time.sleep(max(0.0, down_s - (time.time() - fault.record.injected_at)))
    else:
        fault = lab.faults.crashed("scheduler")
        wait_until(lambda: all(p.status == "cancelled" for p in parts), 30,
                   "the client to cancel its futures", state=lambda: {p.status for p in parts})
    try:
        parts[0].result(timeout=5)
        reason = "(no error)"
    except Exception as e:  # noqa: BLE001 - the message is what a user sees
        reason = f"{type(e).__name__}: {str(e).splitlines()[0]}"
    back_from = fault.record.healed_at
    client = _client_back(lab)
    wait_until(lambda: _usable(lab), 180, "3 workers registered and a task running",
               state=lambda: sorted(lab.workers_by_name()))
    usable_s = time.time() - back_from
    c = lab.client
    datasets = list(c.list_datasets())
    restarted = {w: lab.resources.restarts(w) - n for w, n in restarts.items()}
    phase("resubmitting the job")
    again = _job(c, tasks, seconds, f"{tag}-again")
    total = sum(c.gather(again))
    return {"case": kind, "finished_before": done_before,
            "futures_cancelled": sum(p.status == "cancelled" for p in parts),
            "reason": reason[:110], "client": client,
            "datasets_after": len(datasets),
            "worker_container_restarts": sum(restarted.values()),
            "usable_after_s": round(usable_s, 1),
            "resubmitted_correct": total == sum(i * i for i in range(tasks))}


def run(lab, tasks: int = 40, seconds: float = 0.5, down_s: float = 5.0,
        files: int = 4) -> Result:
    r = Result("scheduler-loss")
    c = lab.client
    prefix = f"{bucket()}/scheduler-loss/{uuid.uuid4().hex[:8]}"
    phase(f"{files} partitions written to the store by the workers")
    c.gather([c.submit(write_partition, f"{prefix}/part-{i:04d}.parquet", i, ROWS, pure=False)
              for i in range(files)])
    rows = []
    for kind in ("kill", "crash"):
        what = f"killed, down {down_s:g} s" if kind == "kill" else "process crashed"
        phase(f"the scheduler {what}, during a job of {tasks} tasks")
        rows.append(_case(lab, kind, tasks, seconds, down_s))
    intact = _outputs_intact(prefix, files)
    r.tables["scheduler lost"] = rows
    r.measurements.update({"outputs_written_before": files, "outputs_intact_after": intact})
    for row in rows:
        r.check(row["futures_cancelled"] == tasks,
                f"{row['case']}: every future should be cancelled")
        r.check("scheduler-connection-lost" in row["reason"],
                f"{row['case']}: the reason should be scheduler-connection-lost")
        r.check(row["datasets_after"] == 0, f"{row['case']}: published datasets are lost")
        r.check(row["resubmitted_correct"], f"{row['case']}: the resubmitted job must be right")
        r.check(row["worker_container_restarts"] >= len(named_workers()),
                f"{row['case']}: Docker should restart every worker container")
    r.check(intact == files, "outputs already in the store must survive")
    kill = rows[0]
    r.notes += [
        "Every future the client held was cancelled, finished ones too: their results "
        "lived in worker memory, and only the scheduler knew where. The reason reads "
        "'scheduler-connection-lost'.",
        f"Published datasets, like all scheduler state, were gone afterwards "
        f"({kill['datasets_after']} left).",
        "The workers do not reconnect (Dask removed worker reconnection in 2022): each "
        "worker closed itself when its scheduler connection broke, its nanny exited, and "
        "Docker's restart policy (unless-stopped) started the container again; the new "
        "nanny waits for the scheduler (up to distributed.comm.timeouts.connect) and "
        "registers a fresh worker.",
        f"Outputs already written to the store were intact ({intact}/{files}): the store, "
        "not worker memory, is what survives a scheduler loss.",
        "To make this survivable: write results to the store under deterministic names "
        "(idempotent, so a resubmission overwrites rather than duplicates), resubmit from "
        "the client, and keep a restart policy on every service. Dask itself keeps no "
        "scheduler state across restarts and has no standby scheduler.",
    ]
    if lab.settings.get("TLS") == "on":
        r.notes.append(
            "Over TLS, distributed 2026.8's client cannot reconnect by itself through "
            "docker-proxy: the proxy accepts while the scheduler is down and closes at once, "
            "and tornado's start_tls raises ValueError('IOStream is not idle') instead of a "
            "closed stream, which escapes Dask's retry loop; the client then stays "
            "'connecting' forever. The lab's host client converts that error into the closed "
            "connection it is (dasklab/tls_race.py), so this run could reconnect.")
    return r
