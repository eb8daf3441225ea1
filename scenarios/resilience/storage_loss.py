"""storage-loss: worker-2's spill directory vanishes under a running job.

Part 1, Dask alone (the lab's storage guard switched off on worker-2): tasks on
other workers need data worker-2 had spilled; the fetches fail and are retried
("Worker stream died during communication") and the job does not finish
within the deadline. Part 2, the lab's mitigation (the guard, preloaded into
every worker, see dasklab/plugins/storage_guard.py): the same loss makes worker-2's
process exit at the first failed read, the nanny restarts it with fresh
storage, the scheduler recomputes what it held, and the job completes with
the correct result and no manual action.
"""

from __future__ import annotations

import time

import numpy as np

from dasklab import Result, make_chunk, phase, wait_futures, worker_events
from dasklab.plugins.storage_guard import SPILL_GLOB, set_enabled

VICTIM = "worker-2"


def chunk_sum(x: np.ndarray) -> float:
    return float(x.sum())


def _spill_on_victim(lab, chunks: int, n: int, tag: str):
    """Chunks computed on worker-2 only: more than its memory target, so most
    of them are spilled to its volume."""
    c = lab.client
    futures = [c.submit(make_chunk, i, n, workers=[VICTIM], allow_other_workers=False,
                        key=f"{tag}-chunk-{i}") for i in range(chunks)]
    wait_futures(futures, f"{chunks} chunks of {n * 8 >> 20} MiB on {VICTIM}", timeout=300)
    address = lab.workers_by_name()[VICTIM]["address"]
    spilled = c.run(lambda dask_worker: dask_worker.data.spilled_total.disk, workers=[address])
    return futures, spilled[address]


def _consumers(c, futures, tag: str):
    """Sums run on worker-1 and worker-3: they must fetch worker-2's data."""
    sums = [c.submit(chunk_sum, f, workers=["worker-1", "worker-3"], key=f"{tag}-sum-{i}")
            for i, f in enumerate(futures)]
    return c.submit(sum, sums, key=f"{tag}-total")


def run(lab, chunks: int = 0, chunk_mb: int = 32, deadline: float = 20) -> Result:
    r = Result("storage-loss")
    c = lab.client
    n = chunk_mb * 2**20 // 8
    if not chunks:  # 90% of worker-2's memory limit: well past its target, so it spills
        chunks = int(0.9 * lab.workers_by_name()[VICTIM]["memory_limit"] // (n * 8))
    expected = float(np.sum(np.arange(chunks * n, dtype="float64")))

    phase("part 1: Dask alone (the storage guard off on worker-2)")
    address = lab.workers_by_name()[VICTIM]["address"]
    c.run(set_enabled, False, workers=[address])
    tag = f"alone-{int(time.time() * 1000)}"
    futures, spilled = _spill_on_victim(lab, chunks, n, tag)
    since = time.time() - 1
    lab.faults.wiped(VICTIM, SPILL_GLOB)
    total = _consumers(c, futures, tag)
    phase(f"waiting up to {deadline:.0f} s for a result that needs the wiped data")
    try:
        total.result(timeout=deadline)
        alone = "finished (unexpected)"
    except TimeoutError:
        alone = f"no result after {deadline:.0f} s (still {total.status})"
    except Exception as e:  # noqa: BLE001 - the failure is the lesson
        alone = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
    retries = sum(lab.resources.logs_since(w, since).count("Worker stream died")
                  for w in ("worker-1", "worker-3"))
    r.measurements.update({
        "spilled_on_worker2_bytes": spilled,
        "dask_alone": alone,
        "dask_alone_fetch_failures_logged": retries,
    })
    # Switching the guard back on ends part 1: its next check restarts worker-2.
    old_dir = lab.process_id(VICTIM)
    c.run(set_enabled, True, workers=[address])
    c.cancel([total, *futures])
    del total, futures
    lab.wait_new_process(VICTIM, old_dir, timeout=60)

    phase("part 2: the same loss with the storage guard on")
    # Read again: where the resource manager gives a restarted container a
    # new address (Swarm), worker-2 is no longer where part 1 found it.
    address = lab.workers_by_name()[VICTIM]["address"]
    tag = f"guarded-{int(time.time() * 1000)}"
    futures, spilled = _spill_on_victim(lab, chunks, n, tag)
    lab.faults.wiped(VICTIM, SPILL_GLOB)
    wiped_at = time.monotonic()
    total = _consumers(c, futures, tag)
    wait_futures([total], "the job, with worker-2 restarted by the guard", timeout=300)
    got = total.result(timeout=300)
    recovered_s = time.monotonic() - wiped_at
    restarted = [m for ts, _, m in worker_events(c, [address], "remove-worker")
                 if ts >= time.time() - recovered_s - 5]
    lost = len(restarted[-1].get("lost-computed-tasks") or []) if restarted else 0
    r.measurements.update({
        "guarded_result_correct": bool(got == expected),
        "guarded_recovery_s": round(recovered_s, 1),
        "guarded_worker2_restarts": len(restarted),
        "guarded_keys_recomputed": lost,
    })
    r.check("finished" not in alone, "Dask alone was expected not to finish")
    r.check(got == expected, f"guarded result {got} != {expected}")
    r.check(len(restarted) >= 1 and lost > 0, "worker-2 should restart and its keys be recomputed")
    r.notes += [
        f"Dask alone: {alone}; {retries} failed fetches from worker-2 logged meanwhile. Tasks "
        "on worker-2 itself fail with FileNotFoundError instead; Dask 2026.8 never treats "
        "lost spill files as lost data.",
        f"With the storage guard the job finished {recovered_s:.1f} s after the wipe: "
        f"worker-2's process exited at the first failed read, its nanny restarted it, and "
        f"{lost} keys were recomputed. Why a guard in the worker and not a Docker "
        "healthcheck: Docker restarts containers that exit, not unhealthy ones, and a "
        "healthcheck polls; the guard acts on the very read that failed.",
    ]
    return r
