"""Storage guard, preloaded into every worker (`--preload=dasklab.plugins.storage_guard`).

Dask 2026.8 does not cope with a worker whose spill directory disappears:
local tasks needing a spilled key fail with FileNotFoundError, and peers
fetching one loop on "Worker stream died during communication" while the job
hangs. The guard exits the worker process as soon as the loss shows: when a
read of spilled data fails because the directory is gone (before the error
can reach a task or a peer), or at its once-a-second check of the directory.
The nanny starts a fresh worker process with new, empty storage; the
scheduler sees the old one leave, recomputes the keys it held and reschedules
its running tasks: the job completes with no manual action.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger("distributed.worker.storage_guard")
INTERVAL_MS = 1000
EXIT_CODE = 75  # EX_TEMPFAIL: "try again", which is what the nanny does
ENABLED = {"on": True}  # the storage-loss scenario switches it off to show Dask alone


def set_enabled(on: bool) -> bool:
    """For client.run: switch this worker's guard on or off."""
    ENABLED["on"] = on
    return on


# Every worker process's spill directory under the lab's --local-directory
# (a shell glob: the faults that wipe spilled data use it).
SPILL_GLOB = "/data/dask-scratch-space/worker-*/storage"


def spill_directory(worker) -> str:
    return os.path.join(worker.local_directory, "storage")


def _exit_if_lost(path: str, why: str) -> None:
    if ENABLED["on"] and not os.path.isdir(path):
        logger.error("storage guard: spill directory %s is gone (%s); exiting so the nanny "
                     "restarts this worker with fresh storage", path, why)
        logging.shutdown()
        os._exit(EXIT_CODE)


def check(worker) -> None:
    if worker.status.name in ("running", "paused"):
        _exit_if_lost(spill_directory(worker), "periodic check")


def guard_reads(worker) -> None:
    """Make the worker's SpillBuffer exit the process, instead of raising,
    when a spilled key cannot be read because its directory is gone."""
    data = worker.data
    path = spill_directory(worker)
    base = type(data)

    class GuardedSpillBuffer(base):  # type: ignore[misc, valid-type]
        def __getitem__(self, key):
            try:
                return base.__getitem__(self, key)
            except (KeyError, OSError):
                _exit_if_lost(path, f"reading {key!r}")
                raise

    data.__class__ = GuardedSpillBuffer


def dask_setup(worker) -> None:
    from tornado.ioloop import PeriodicCallback

    os.makedirs(spill_directory(worker), exist_ok=True)  # exists before anything spills
    guard_reads(worker)
    callback = PeriodicCallback(lambda: check(worker), INTERVAL_MS)
    worker.periodic_callbacks["storage-guard"] = callback
    callback.start()
    logger.info("storage guard watching %s", spill_directory(worker))
