"""costs: who used what, per tag — from Dask's own metrics, checked with Docker's.

Two workloads run one after the other, each in its own span ("costs", <tag>)
and under its own key prefix: Dask assigns spans per task group, so two tags
sharing a function name would merge into the first (dask/distributed#7975).
Each is pinned to one worker, so the container's CPU accounting can be set
beside the span's.

Per tag, from the scheduler's spans extension (the fine-grained metrics the
workers send with their heartbeats):
  cpu_s          thread CPU seconds the tasks used       (used)
  cpu_s_reserved wall time x the cluster's threads        (what a bill reserves)
  gib_s_reserved wall time x the memory limit of the workers it ran on
                 (Dask measures no per-task memory-time; clouds bill the reservation)
  bytes          output bytes produced + input bytes read from memory or disk
Cost = cpu core-hours x PRICE_CORE_HOUR + GiB-hours x PRICE_GIB_HOUR (.env),
once for the used CPU and once for the reservation.
"""

from __future__ import annotations

from dasklab import Result, phase, wait_until
from dasklab.backends.docker_api import container, container_cpu_s

SPAN = "costs"
# Docker counts every thread of the container (event loop, heartbeats, the
# profiler, the nanny): it exceeds Dask's thread CPU, by 1.25-1.31x in the
# research runs. Below 0.9x would mean Dask counted CPU that never happened.
TOLERANCE = (0.9, 2.0)


def burn(i: int, n: int, out_kib: int):
    """Pure-Python CPU work (GIL-bound), then an output of out_kib KiB."""
    import numpy as np

    x = 0
    for k in range(n):
        x += k * k % 7
    return np.full(out_kib * 128, x + i, dtype="float64")


def total(*parts) -> float:
    return float(sum(p.sum() for p in parts))


def _spans(span_ids: dict[str, str], dask_scheduler=None) -> dict[str, dict]:
    ext = dask_scheduler.extensions["spans"]
    out = {}
    for tag, sid in span_ids.items():
        s = ext.spans[sid]
        m = s.cumulative_worker_metrics
        out[tag] = {
            "done": s.done,
            "cpu_s": sum(v for k, v in m.items() if k[0] == "execute" and k[-2] == "thread-cpu"),
            "noncpu_s": sum(v for k, v in m.items()
                            if k[0] == "execute" and k[-2] == "thread-noncpu"),
            "cpu_s_reserved": s.active_cpu_seconds,
            "wall_s": s.stop - s.enqueued if s.stop else None,
            "bytes_out": s.nbytes_total,
            "bytes_in": sum(v for k, v in m.items() if k[0] == "execute" and k[-1] == "bytes"),
            "tasks": sum(s.states.values()),
        }
    return out


def _worker_cpu(span_id: str, dask_worker=None) -> float:
    """The worker's own running total for the span: the scheduler has all of
    it once its copy (sent with heartbeats) equals this."""
    return sum(v for k, v in dask_worker.digests_total.items()
               if k[:2] == ("execute", span_id) and k[-2:] == ("thread-cpu", "seconds"))


def settled(lab, tag: str, span_id: str, worker: str) -> dict:
    """The span's metrics once it is done and every heartbeat carrying them
    has arrived (polled: the last ones follow the last task by up to 0.5 s)."""
    c = lab.client
    address = lab.workers_by_name()[worker]["address"]

    def read():
        m = c.run_on_scheduler(_spans, {tag: span_id})[tag]
        own = c.run(_worker_cpu, span_id, workers=[address])[address]
        return m if m["done"] and m["cpu_s"] > 0 and abs(m["cpu_s"] - own) < 1e-6 else None

    return wait_until(read, 30, f"span {tag!r} to be done with all its CPU reported")


def run(lab, tasks: int = 8, iterations: int = 1_500_000, ratio: int = 3,
        out_kib: int = 256) -> Result:
    from distributed import span, wait

    r = Result("costs")
    c, s = lab.client, lab.settings
    price_core, price_gib = float(s["PRICE_CORE_HOUR"]), float(s["PRICE_GIB_HOUR"])
    workers = lab.workers_by_name()
    plan = [("etl", "worker-1", iterations), ("train", "worker-2", iterations * ratio)]
    docker_cpu, metrics = {}, {}
    for tag, worker, n in plan:
        phase(f"workload {tag!r}: {tasks} tasks of {n:,} iterations on {worker}")
        cpu0 = container_cpu_s(lab.compose.project, worker)
        with span(SPAN, tag) as span_id:
            parts = c.map(burn, range(tasks), n=n, out_kib=out_kib, workers=[worker],
                          allow_other_workers=False, pure=False,
                          key=[f"{tag}-burn-{i}" for i in range(tasks)])
            summed = c.submit(total, *parts, workers=[worker], key=f"{tag}-total-0")
            wait([summed], timeout=600)
        metrics[tag] = settled(lab, tag, span_id, worker)
        docker_cpu[tag] = container_cpu_s(lab.compose.project, worker) - cpu0
        del parts, summed
    rows = []
    for tag, worker, n in plan:
        m = metrics[tag]
        gib = workers[worker]["memory_limit"] / 2**30
        gib_s = m["wall_s"] * gib
        rows.append({
            "tag": tag, "worker": worker, "tasks": m["tasks"], "iterations": n,
            "cpu_s": round(m["cpu_s"], 2), "cpu_s_reserved": round(m["cpu_s_reserved"], 2),
            "gib_s_reserved": round(gib_s, 2),
            "bytes_out": m["bytes_out"], "bytes_in": int(m["bytes_in"]),
            "docker_cpu_s": round(docker_cpu[tag], 2),
            "docker/dask": round(docker_cpu[tag] / m["cpu_s"], 2),
            "cost_used": m["cpu_s"] / 3600 * price_core,
            "cost_reserved": m["cpu_s_reserved"] / 3600 * price_core + gib_s / 3600 * price_gib,
        })
    r.tables["per_tag"] = [{**row, "cost_used": f"{row['cost_used']:.6f}",
                            "cost_reserved": f"{row['cost_reserved']:.6f}"} for row in rows]
    labels = container(lab.compose.project, "worker-1").labels
    r.measurements.update({
        "prices": f"{price_core}/core-hour, {price_gib}/GiB-hour (PRICE_CORE_HOUR, PRICE_GIB_HOUR)",
        "container_labels": {k: v for k, v in labels.items() if k.startswith("dasklab.")},
        "tolerance_docker_over_dask": TOLERANCE,
    })
    etl, train = rows
    for row in rows:
        lo, hi = TOLERANCE
        r.check(lo <= row["docker/dask"] <= hi,
                f"{row['tag']}: Docker's CPU ({row['docker_cpu_s']} s) is not within "
                f"{lo}-{hi}x Dask's ({row['cpu_s']} s)")
        r.check(row["bytes_out"] > 0 and row["bytes_in"] > 0, f"{row['tag']}: no bytes counted")
    r.check(train["cpu_s"] > etl["cpu_s"] and train["docker_cpu_s"] > etl["docker_cpu_s"],
            "the two measures disagree on which tag used more CPU")
    r.check(train["cost_used"] > etl["cost_used"], "train did not cost more than etl")
    r.notes.append(
        "cpu_s is what the tasks used; cpu_s_reserved and gib_s_reserved are what the "
        "cluster held while each tag ran, which is what a cloud bill charges. Docker's "
        "count is higher than Dask's: it also sees the event loop, heartbeats, the "
        "profiler and the nanny.")
    return r
