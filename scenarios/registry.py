"""The one list of scenarios. The CLI, `make scenarios` and the tests read it."""

from __future__ import annotations

import importlib
import time
import traceback
from types import ModuleType

from .result import ERROR, Result

# name -> (module, one-line summary). Modules are imported only when run.
SCENARIOS: dict[str, tuple[str, str]] = {
    "tour": ("scenarios.tour",
             "Cast of characters: scheduler, nannies, workers, volumes, versions side by side"),
    "source-data": ("scenarios.source_data",
                    "Client reads and ships data vs workers read from S3; the local-path trap"),
    "scatter": ("scenarios.scatter",
                "Embedding a large object vs scatter vs broadcast; scattered data dies with its worker"),
    "worker-local": ("scenarios.worker_local",
                     "Data on one worker's volume: pinned by name, invisible elsewhere, "
                     "survives restart, not volume loss"),
    "output": ("scenarios.output",
               "Workers write in parallel vs gather and write from the client; "
               "no partial or duplicate objects"),
    "spill": ("scenarios.spill",
              "Twice the memory target: spill to each worker's volume, pause, disk full, max-spill"),
    "worker-loss": ("scenarios.worker_loss",
                    "Kill worker-2 half way: detection, lost keys recomputed, KilledWorker"),
    "stealing": ("scenarios.stealing",
                 "Tasks piled on worker-1: steal events, per-worker split, vs strict placement"),
    "storage-loss": ("scenarios.storage_loss",
                     "worker-2's spill directory wiped mid-job: Dask alone hangs; the lab's "
                     "guard recovers"),
    "environment": ("scenarios.environment",
                    "A module the workers lack; PipInstall vs upload_file vs image, timed; "
                    "version drift"),
}


class UnknownScenario(KeyError):
    def __str__(self) -> str:
        return (f"unknown scenario {self.args[0]!r}; valid scenarios: "
                + ", ".join(sorted(SCENARIOS)))


def module(name: str) -> ModuleType:
    if name not in SCENARIOS:
        raise UnknownScenario(name)
    return importlib.import_module(SCENARIOS[name][0])


def run(name: str, lab, **params) -> Result:
    """Run one scenario; an exception becomes an `error` verdict, never a pass.
    On any verdict but pass, evidence (logs, ps, cluster dump) is saved."""
    mod = module(name)
    start = time.monotonic()
    try:
        result = mod.run(lab, **params)
    except Exception:  # noqa: BLE001 - the verdict carries it
        result = Result(name=name, verdict=ERROR, error=traceback.format_exc())
    result.seconds = time.monotonic() - start
    if not result.passed:
        from .evidence import save

        result.evidence = save(lab, name)
    return result
