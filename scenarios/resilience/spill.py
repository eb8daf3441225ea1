"""spill: more data than the workers' memory, and where it goes.

Workload: chunks whose total is `factor` times the workers' combined memory
target. Each worker keeps up to `target` of its limit in memory and writes the
rest to its local directory, on its own named volume. The sum is checked
against its closed form. Then the disk-full case on worker-3 (a small tmpfs
over its spill space): with no max-spill Dask logs "Spill to disk failed" and
keeps data in RAM until it pauses; with max-spill it stops spilling cleanly
at the cap. Both runs end by deadline, never hang.
"""

from __future__ import annotations

import math
import os
import time

import dask
import numpy as np

from dasklab import (Result, StatusWatch, expected_total, make_chunk, phase,
                   wait_futures, wait_until)

def spill_info(dask_worker) -> dict:
    spilled = dask_worker.data.spilled_total
    return {"local_directory": dask_worker.local_directory,
            "managed_bytes": dask_worker.state.nbytes,
            "spilled_sizeof": spilled.memory, "spilled_disk": spilled.disk,
            "memory_limit": dask_worker.memory_manager.memory_limit}


def worker_memory_config() -> dict:
    return dict(dask.config.get("distributed.worker.memory"))


def du_inside(lab, service: str, path: str) -> int:
    """Bytes under `path`, measured by `du` inside the container itself."""
    code, out = lab.resources.exec(service, ["du", "-sb", path])
    return int(out.split()[0]) if code == 0 else -1


def run(lab, factor: float = 2.0, chunk_mb: int = 64, disk_full: bool = True) -> Result:
    r = Result("spill")
    c = lab.client
    cfg = dask.config.get("distributed.worker.memory")
    on_workers = c.run(worker_memory_config)
    r.check(all(v["target"] == cfg["target"] and v["pause"] == cfg["pause"]
                for v in on_workers.values()), "workers should use compose/dask.yaml")

    workers = lab.workers_by_name()
    target_total = sum(w["memory_limit"] * cfg["target"] for w in workers.values())
    n = chunk_mb * 2**20 // 8
    chunks = math.ceil(factor * target_total / (n * 8))
    start = time.monotonic()
    phase(f"{chunks} chunks of {chunk_mb} MiB = {factor:g}x the workers' memory target")
    with StatusWatch(c) as watch:
        futures = [c.submit(make_chunk, i, n, pure=False) for i in range(chunks)]
        wait_futures(futures, "chunks computed (and spilled)", timeout=900)
        info = lab.run_by_name(spill_info)
        # Measured before the sum below reads spilled chunks back into memory.
        du = {name: du_inside(lab, name, os.path.join(i["local_directory"], "storage"))
              for name, i in info.items()}
        sums = c.map(np.sum, futures)
        wait_futures(sums, "chunks read back and summed", timeout=900)
        total = sum(c.gather(sums))
    seconds = time.monotonic() - start

    rows = []
    for name, i in info.items():
        storage = os.path.join(i["local_directory"], "storage")
        rows.append({"worker": name, "memory_limit": i["memory_limit"],
                     "in_memory_bytes": i["managed_bytes"] - i["spilled_sizeof"],
                     "spilled_bytes": i["spilled_sizeof"],
                     "spilled_disk_bytes": i["spilled_disk"],
                     "du_inside_container": du[name],
                     "spill_directory": storage,
                     "volume": lab.resources.volume(name)})
    del futures
    r.tables["workers"] = rows
    data_bytes = chunks * n * 8
    spilled = sum(row["spilled_bytes"] for row in rows)
    r.measurements.update({
        "data_bytes": data_bytes, "memory_target_total": int(target_total),
        "data_over_target": round(data_bytes / target_total, 2),
        "chunks": chunks, "seconds": round(seconds, 1),
        "spilled_bytes_total": spilled,
        "sum_matches_closed_form": bool(total == expected_total(chunks, n)),
        "workers_paused": ", ".join(sorted(watch.paused)) or "(none)",
    })
    r.check(total == expected_total(chunks, n), f"sum {total} != {expected_total(chunks, n)}")
    r.check(data_bytes >= 2 * target_total * 0.99 or factor < 2, "data should be >= 2x target")
    r.check(spilled > 0 and all(row["spilled_disk_bytes"] > 0 for row in rows),
            "every worker should have spilled")
    r.check(all(row["du_inside_container"] >= 0.9 * row["spilled_disk_bytes"] for row in rows),
            "du inside each container should find the spilled bytes in its own storage dir")
    r.check(all(row["spill_directory"].startswith("/data/") for row in rows),
            "spill directories should be on /data, the worker's volume")
    r.notes += [
        f"Thresholds from compose/dask.yaml: target {cfg['target']:.0%} of the memory limit "
        f"(managed data beyond it is spilled), spill {cfg['spill']:.0%} of process memory "
        f"(spill oldest data until back under target), pause {cfg['pause']:.0%} (stop "
        f"starting tasks), terminate {cfg['terminate']:.0%} (the nanny restarts the worker).",
        "Paused workers seen: " + (", ".join(sorted(watch.paused)) or
                                   "none — spilling kept up with the workload"),
        "Spilled bytes live in <local-directory>/storage on /data: each worker's own named "
        "volume; `du` inside each container finds them there, not on the client.",
    ]
    if disk_full:
        disk_full_case(lab, r)
    return r


def _spill_info_of(lab, name: str) -> dict:
    """spill_info of one worker. A worker paused at the edge of its memory can
    drop the out-of-band connection (seen once in CI: ConnectionResetError):
    ask again, a bounded number of times."""
    errors = []

    def ask():
        try:
            address = lab.workers_by_name()[name]["address"]
            return lab.client.run(spill_info, workers=[address], on_error="raise")[address]
        except (OSError, KeyError) as e:
            errors.append(repr(e))
            return None

    return wait_until(ask, 20, f"spill info from {name}", interval=1.0,
                      state=lambda: errors[-3:])


def _pin3(c, count: int, n: int):
    return [c.submit(make_chunk, 10_000 + i, n, workers=["worker-3"],
                     allow_other_workers=False, pure=False) for i in range(count)]


def disk_full_case(lab, r: Result, disk_bytes: int = 64 * 2**20, deadline: float = 60) -> None:
    c = lab.client
    small = None
    try:
        for max_spill in (None, disk_bytes // 2):
            label = "no max-spill" if max_spill is None else f"max-spill {max_spill >> 20} MiB"
            phase(f"disk full on worker-3: {disk_bytes >> 20} MiB spill space, {label}")
            # The second case recreates worker-3 straight from the first's small
            # disk: one recreate fewer than going back to the base in between.
            previous, small = small, lab.replace_process(
                "worker-3", lambda: lab.faults.small_spill_disk("worker-3", disk_bytes, max_spill))
            if previous is not None:
                previous.superseded()
            limit = lab.workers_by_name()["worker-3"]["memory_limit"]
            n = 32 * 2**20 // 8
            start, wall_start = time.monotonic(), time.time() - 1
            with StatusWatch(c) as watch:
                # 1.2x the memory limit: it cannot all fit in RAM plus a tiny disk.
                futures = _pin3(c, math.ceil(1.2 * limit / (n * 8)), n)
                # Ends when everything fit, or when worker-3 paused with data stuck in RAM.
                wait_until(lambda: "worker-3" in watch.paused or all(f.done() for f in futures),
                           deadline, f"worker-3 to finish or pause ({label})",
                           state=lambda: [f.status for f in futures].count("finished"))
                i = _spill_info_of(lab, "worker-3")
                logs = lab.resources.logs_since("worker-3", wall_start)
            done = sum(f.status == "finished" for f in futures)
            c.cancel(futures)
            del futures
            r.tables.setdefault("disk-full (worker-3, tmpfs spill space)", []).append({
                "case": label, "tasks_done": done, "paused": "worker-3" in watch.paused,
                "spilled_disk_bytes": i["spilled_disk"],
                "in_memory_bytes": i["managed_bytes"] - i["spilled_sizeof"],
                "spill_failed_logs": logs.count("Spill to disk failed"),
                "capacity_logs": logs.count("reached capacity"),
                "seconds": round(time.monotonic() - start, 1),
            })
    finally:
        if small is not None:
            lab.replace_process("worker-3", small.heal)  # back to the lab's own worker-3
    rows = r.tables["disk-full (worker-3, tmpfs spill space)"]
    r.check(rows[0]["spill_failed_logs"] > 0, "no max-spill: 'Spill to disk failed' expected")
    r.check(rows[1]["spill_failed_logs"] == 0 and rows[1]["spilled_disk_bytes"] <= disk_bytes // 2,
            "max-spill: spilling should stop at the cap without disk errors")
    r.notes.append(
        "Disk full: without max-spill the worker keeps trying, logs 'Spill to disk failed; "
        "keeping data in memory' (rate-limited) and holds the data in RAM until it pauses; "
        "with max-spill below the free space it stops spilling at the cap ('Spill file on "
        "disk reached capacity') and the disk keeps room for everything else. Either way, "
        "more memory or fewer concurrent results are the real fix.")
