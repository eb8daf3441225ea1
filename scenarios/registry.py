"""The one list of scenarios, grouped by the course section they teach. The
CLI, `make scenarios` and the tests read it."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pickle
import time
import traceback
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from dasklab.result import ERROR, SKIP, Result


@dataclass(frozen=True)
class Scenario:
    name: str  # as typed: make scenario-<name>
    module: str  # imported only when run
    summary: str
    # What the cluster must offer (dasklab/needs.py); without it: skipped, with the reason.
    needs: frozenset[str] = frozenset({"lab-code"})


STORE, NAMED, CONTAINERS, COMPOSE = "store", "named-workers", "containers", "compose"
HOSTS = "hosts"


def needs(*extra: str) -> frozenset[str]:
    """The lab's code on the cluster (every scenario but `tour` needs it), plus `extra`."""
    return frozenset({"lab-code", *extra})


# Course section -> its scenarios, in teaching order.
SECTIONS: dict[str, list[Scenario]] = {
    "Cast of characters and basic operation": [
        Scenario("tour", "scenarios.basics.tour",
                 "Cast of characters: scheduler, nannies, workers, volumes, versions side by side",
                 # Ships its functions by value: runs against any Dask cluster.
                 needs=frozenset()),
        Scenario("environment", "scenarios.basics.environment",
                 "A module the workers lack; PipInstall vs upload_file vs image, timed; "
                 "version drift",
                 needs=needs(COMPOSE)),
        Scenario("manual", "scenarios.basics.manual",
                 "The simplest cluster by hand: docker run a scheduler and two workers, "
                 "compute, tear down; what Compose adds",
                 needs=needs(COMPOSE)),
        Scenario("sizing", "scenarios.basics.sizing",
                 "Same cores and memory as 1x6, 3x2, 6x1: threads vs processes on "
                 "GIL-bound and NumPy work; the largest object that fits",
                 needs=needs(COMPOSE)),
        Scenario("scaling", "scenarios.basics.scaling",
                 "ComposeCluster: scale 3 -> 5 -> 2 with results held (none recomputed), "
                 "then adapt to a queue and back; PNG timeline",
                 needs=needs(COMPOSE)),
    ],
    "Tasks and seeing them": [
        Scenario("tasks", "scenarios.tasks.policies",
                 "Submit/map/compute/persist, priorities, restrictions, resources, retries, "
                 "queuing: each proven from the cluster",
                 needs=needs(NAMED, COMPOSE)),
        Scenario("find-data", "scenarios.tasks.find_data",
                 "A second client finds published data: who_has/has_what, processing, story, "
                 "task stream, metadata, a state dump"),
        Scenario("dashboard", "scenarios.tasks.dashboard",
                 "The dashboard's pages in a real headless Chromium: rendered, screenshotted; "
                 "Prometheus metrics",
                 needs=needs(NAMED, CONTAINERS)),
    ],
    "Best practices and debugging": [
        Scenario("debugging", "scenarios.debugging.diagnose",
                 "One bad record found three ways (traceback, local re-run, story and logs); "
                 "pdb; remote debugging; profiler; an offline report",
                 needs=needs(NAMED, COMPOSE)),
        Scenario("best-practices", "scenarios.debugging.practices",
                 "Each anti-pattern beside its fix, measured: tiny tasks, embedded objects, "
                 "compute in a loop, gather, big partitions, no persist",
                 needs=needs(NAMED)),
    ],
    "Distributed data": [
        Scenario("source-data", "scenarios.data.source_data",
                 "Client reads and ships data vs workers read from S3; the local-path trap",
                 needs=needs(STORE)),
        Scenario("scatter", "scenarios.data.scatter",
                 "Embedding a large object vs scatter vs broadcast; scattered data dies with "
                 "its worker",
                 needs=needs(NAMED, CONTAINERS)),
        Scenario("worker-local", "scenarios.data.worker_local",
                 "Data on one worker's volume: pinned by name, invisible elsewhere, survives "
                 "restart, not volume loss",
                 needs=needs(NAMED, CONTAINERS)),
        Scenario("output", "scenarios.data.output",
                 "Workers write in parallel vs gather and write from the client; no partial "
                 "or duplicate objects",
                 needs=needs(STORE)),
    ],
    "Resource usage and resilience": [
        Scenario("spill", "scenarios.resilience.spill",
                 "Twice the memory target: spill to each worker's volume, pause, disk full, "
                 "max-spill",
                 needs=needs(NAMED, COMPOSE)),
        Scenario("stealing", "scenarios.resilience.stealing",
                 "Tasks piled on worker-1: steal events, per-worker split, vs strict placement",
                 needs=needs(NAMED)),
        Scenario("worker-loss", "scenarios.resilience.worker_loss",
                 "Kill worker-2 half way: detection, lost keys recomputed, KilledWorker",
                 needs=needs(NAMED, CONTAINERS)),
        Scenario("storage-loss", "scenarios.resilience.storage_loss",
                 "worker-2's spill directory wiped mid-job: Dask alone hangs; the lab's guard "
                 "recovers",
                 needs=needs(NAMED, CONTAINERS)),
        Scenario("scheduler-loss", "scenarios.resilience.scheduler_loss",
                 "The scheduler killed, then crashed, mid-job: futures cancelled, datasets "
                 "gone, workers restarted, store outputs intact",
                 needs=needs(STORE, NAMED, CONTAINERS)),
        Scenario("partition", "scenarios.resilience.partition",
                 "worker-2 cut off the network mid-job: detected by the TCP timeout, work "
                 "recomputed, rejoins at the same address",
                 needs=needs(NAMED, CONTAINERS)),
        Scenario("chaos", "scenarios.resilience.chaos",
                 "A seeded run of random faults under a job that writes to the store: "
                 "correct or a clear error, never wrong, hung or partial",
                 needs=needs(STORE, NAMED, CONTAINERS)),
        Scenario("store-outage", "scenarios.resilience.store_outage",
                 "The object store frozen, then stopped, under writes: stall vs task error, "
                 "no partial object, incomplete uploads cleaned",
                 needs=needs(STORE, CONTAINERS)),
        Scenario("node-loss", "scenarios.hosts.node_loss",
                 "Host 2 of the engine hosts loses power mid-job: swarm Down, Dask's removal, "
                 "replacements on host 1, timed; the result still right",
                 needs=needs(NAMED, HOSTS)),
        Scenario("drain", "scenarios.hosts.drain",
                 "A shuffle's bytes over the hosts' links; host 2 drained for maintenance, "
                 "its workers retired first: nothing lost",
                 needs=needs(NAMED, HOSTS)),
    ],
    "Additional admin concerns: security, tagging and costs": [
        Scenario("security", "scenarios.admin.security",
                 "The admin's audit (ports, users, capabilities, read-only roots, secrets, TLS); "
                 "least-privilege S3 keys refused; a submit that runs in the scheduler",
                 needs=needs(STORE, COMPOSE)),
        Scenario("costs", "scenarios.admin.costs",
                 "Two tagged workloads: CPU-s, GiB-s and bytes per tag from Dask's span metrics, "
                 "checked with Docker's CPU accounting; a cost per tag",
                 needs=needs(NAMED, COMPOSE)),
    ],
    "Use case: batch ML scoring": [
        Scenario("scoring", "scenarios.scoring.scoring",
                 "Data and models in the store; five ways to run inference, measured and "
                 "killed; dependencies; verified output; batch-size curve (PNG)",
                 needs=needs(STORE, NAMED, CONTAINERS)),
    ],
}

SCENARIOS: dict[str, Scenario] = {s.name: s for group in SECTIONS.values() for s in group}


class UnknownScenario(KeyError):
    def __str__(self) -> str:
        return (f"unknown scenario {self.args[0]!r}; valid scenarios: "
                + ", ".join(sorted(SCENARIOS)))


def section_of(name: str) -> str:
    return next(title for title, group in SECTIONS.items() if any(s.name == name for s in group))


def module(name: str) -> ModuleType:
    if name not in SCENARIOS:
        raise UnknownScenario(name)
    return importlib.import_module(SCENARIOS[name].module)


def run(name: str, lab, **params) -> Result:
    """Run one scenario; an exception becomes an `error` verdict, never a pass.
    A scenario whose needs this cluster does not meet is not started: `skip`.
    Faults the nemesis injected meanwhile are recorded in the result. On any
    verdict but pass, evidence (logs, ps, cluster dump) is saved."""
    from dasklab.connect import lab_code_by_value

    mod = module(name)
    shipping = lab_code_by_value() if getattr(lab, "backend", None) == "none" else nullcontext()
    with shipping:
        result = _run(name, mod, lab, params)
    _record(name, lab, params, result)
    return result


# `make test` runs a scenario once for every test that checks it: the notebooks'
# kernels record each run here (tests/conftest.py sets the folder for the
# session), and a test asking for the same scenario with the same parameters
# reads that run instead of repeating it (`recorded`).
RUNS_DIR = "DASKLAB_RUNS_DIR"


def _run_file(name: str, lab, params: dict) -> Path:
    # The same cluster (a swarm test's stack is not the test cluster), and
    # tuples and lists alike: a notebook's ((1, 2),) is a test's ((1, 2),).
    key = json.dumps([lab.client.scheduler.address, params], sort_keys=True, default=repr)
    return Path(os.environ[RUNS_DIR]) / f"{name}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.pickle"


def _record(name: str, lab, params: dict, result: Result) -> None:
    # Stub labs in unit tests have no client: nothing to record.
    if not os.environ.get(RUNS_DIR) or getattr(lab, "client", None) is None:
        return
    try:
        # Pickle, not JSON: the reader is the same Python, and numbers keep their types.
        _run_file(name, lab, params).write_bytes(pickle.dumps(result))
    except Exception as e:  # noqa: BLE001 - the test that wanted it runs the scenario itself
        print(f"[registry] could not record the run of {name}: {e!r}")


def recorded(name: str, lab, **params) -> Result | None:
    """A passed run of `name` on `lab`'s cluster with exactly these parameters,
    made earlier in this test session (by a notebook's kernel), or None."""
    if not os.environ.get(RUNS_DIR):
        return None
    path = _run_file(name, lab, params)
    if not path.exists():
        return None
    result = pickle.loads(path.read_bytes())
    return result if result.passed else None


def _run(name: str, mod: ModuleType, lab, params: dict) -> Result:
    from dasklab import faults, isolation, progress
    from dasklab.needs import provided, unmet

    progress.configure(name=name)
    wanted = SCENARIOS[name].needs
    reasons = unmet(wanted, provided(lab, wanted)) if wanted else []
    if reasons:
        progress.phase("skipped: this cluster lacks what the scenario needs")
        progress.end_phase()
        return Result(name=name, verdict=SKIP, notes=[f"needs {why}" for why in reasons])
    nemesis = getattr(lab, "faults", None)
    mark = len(nemesis.log) if nemesis else 0
    start, wall = time.monotonic(), time.time()
    before = None
    try:
        # Stub labs in unit tests have no client: nothing to snapshot.
        if getattr(lab, "client", None) is not None:
            before = isolation.snapshot(lab, docker=False)
        result = mod.run(lab, **params)
    except Exception:  # noqa: BLE001 - the verdict carries it
        result = Result(name=name, verdict=ERROR, error=traceback.format_exc())
    result.seconds = time.monotonic() - start
    result.faults = faults.records_since(nemesis, mark, wall)
    # The cluster as the scenario found it, whatever the scenario did (one
    # place for every scenario: dasklab/isolation.py).
    if before is not None:
        progress.phase("cleanup: the cluster back as it was")
        try:
            result.notes += [f"cleanup after the run: {line}"
                             for line in isolation.restore(lab, before)]
        except Exception as e:  # noqa: BLE001 - a cluster that cannot answer: say so
            result.notes.append(f"cleanup after the run failed: {e!r}")
    progress.phase(f"done: {result.verdict}")
    if result.verdict != SKIP and not result.passed:
        from dasklab.evidence import ROOT, save
        from dasklab.result import render

        result.evidence = save(lab, name)
        # The verdict and its reasons beside the logs: a failure seen only in a
        # test's output is lost when that output is.
        try:
            (ROOT / result.evidence).joinpath("result.txt").write_text(render(result) + "\n")
        except OSError as e:
            result.notes.append(f"could not write result.txt into the evidence: {e!r}")
    progress.end_phase()
    return result
