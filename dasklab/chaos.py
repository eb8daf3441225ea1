"""The chaos checker, for any job: run it while the nemesis injects a seeded
schedule of random faults, then judge what it left behind.

A job is three small functions (Job): `start(client)` submits it and returns
the futures whose end is its end; `finish(ok)` (optional) runs once they
ended, e.g. publishes staged output when ok and removes it when not;
`check()` looks at the store afterwards and answers COMPLETE (every output
there and right), ABSENT (nothing published) or a sentence saying what is
wrong ("5 of 8 partitions", "part-0003 twice", "wrong values in part-0001").

The verdict (Verdict.ok): the job completed with COMPLETE output, or failed
with a clear error and ABSENT output. Never a wrong or partial or duplicated
result, never a hang past the deadline. The schedule that was injected comes
with it, so a violation can be replayed with the same seed; on a violation
the cluster's evidence is saved too.

Used by the chaos scenario (its own job), `make chaos JOB=pkg.mod:function`
and the pytest plugin's `chaos` fixture.
"""

from __future__ import annotations

import importlib
import random
import re
import time
from dataclasses import dataclass, field
from typing import Callable

from .settings import named_workers
from .waiting import wait_until

KINDS = ("kill", "pause", "partition", "wipe", "store-pause")
COMPLETE, ABSENT = "complete", "absent"


@dataclass
class Job:
    name: str
    start: Callable[[object], list]
    check: Callable[[], str]
    finish: Callable[[bool], None] | None = None


@dataclass
class Verdict:
    job: str
    seed: int
    outcome: str             # "completed", "failed: <error>", "hung past the deadline"
    published: str           # what check() answered
    ok: bool
    problems: list[str]
    schedule: list[dict]     # the faults injected: kind, target, hold, when, recovery
    seconds: float
    evidence: str | None = None
    errors: list[str] = field(default_factory=list)

    def table(self) -> str:
        """The verdict as a few lines of text, schedule included."""
        rows = [f"job {self.job}, seed {self.seed}: {'PASS' if self.ok else 'VIOLATION'} "
                f"({self.outcome}; output {self.published}; {self.seconds:.0f} s)"]
        rows += [f"  {r['at_s']:>6.1f} s  {r['kind']:<11} {r['target']:<9} held {r['hold_s']} s"
                 for r in self.schedule]
        rows += [f"  problem: {p}" for p in self.problems]
        if self.evidence:
            rows.append(f"  evidence: {self.evidence}")
        return "\n".join(rows)


def check_faults(kinds) -> None:
    """ValueError, naming the catalogue, unless `kinds` are faults it has."""
    unknown = set(kinds) - set(KINDS)
    if unknown or not kinds:
        raise ValueError(f"faults {sorted(unknown) or '(none)'}: choose from {', '.join(KINDS)}")


def schedule(seed: int, count: int, hold: tuple[float, float], rest: tuple[float, float],
             kinds: tuple[str, ...] = KINDS, targets: tuple[str, ...] = ()) -> list[dict]:
    """The faults a seed draws: kind, target (one of `targets`, by default
    the compose file's named workers), how long held, rest before."""
    targets = tuple(targets) or named_workers()
    check_faults(kinds)
    rng = random.Random(seed)
    plan = []
    for _ in range(count):
        kind = rng.choice(tuple(kinds))
        plan.append({"kind": kind, "target": "store" if kind == "store-pause"
                     else rng.choice(targets), "hold_s": round(rng.uniform(*hold), 1),
                     "rest_s": round(rng.uniform(*rest), 1)})
    return plan


def _inject(lab, kind: str, target: str):
    from .plugins.storage_guard import SPILL_GLOB

    f = lab.faults
    return {"kill": lambda: f.killed(target), "pause": lambda: f.paused(target),
            "partition": lambda: f.disconnected(target),
            "wipe": lambda: f.wiped(target, SPILL_GLOB),
            "store-pause": lambda: f.paused("store")}[kind]()


def judge(outcome: str, published: str) -> list[str]:
    """What is wrong with a run that ended so and left this output; [] = fine."""
    if outcome.startswith("hung"):
        return ["the job hung past the deadline"]
    if outcome == "completed":
        return [] if published == COMPLETE else [f"completed, but its output is: {published}"]
    if published in (COMPLETE, ABSENT):
        return []  # failed clearly, published nothing (or, retried, everything right)
    return [f"failed, and left output behind: {published}"]


def run_job(lab, job: Job, seed: int = 1, duration: float = 30, hold: tuple = (2, 6),
            rest: tuple = (1, 4), faults: tuple[str, ...] = KINDS,
            deadline: float = 300, ship: dict[str, str] | None = None) -> Verdict:
    """Run `job` under the seed's faults (about one per hold + 4 s of
    `duration`), wait at most `deadline` s for it, then judge it. `ship`:
    your packages the cluster lacks ({name: path}, dasklab.code.package_of),
    uploaded to it meanwhile."""
    from .code import shipped

    with shipped(lab, ship or {}):
        return _run_job(lab, job, seed, duration, hold, rest, faults, deadline)


def _run_job(lab, job: Job, seed: int, duration: float, hold: tuple, rest: tuple,
             faults: tuple[str, ...], deadline: float) -> Verdict:
    from distributed import wait

    from .progress import phase

    workers = set(lab.workers_by_name())  # what "back to full strength" means here
    targets = tuple(w for w in named_workers() if w in workers)
    plan = schedule(seed, max(1, int(duration // (hold[1] + 4))), hold, rest, tuple(faults),
                    targets)
    phase(f"chaos on {job.name}, seed {seed}: {len(plan)} faults drawn: "
          + ", ".join(f"{p['kind']} {p['target']}" for p in plan))
    start = time.monotonic()
    futures = list(job.start(lab.client))
    rows = []
    for step in plan:
        # Calm first (drawn by the seed), so each fault lands mid-job, on
        # results already computed, not before the first task started.
        time.sleep(step["rest_s"])
        if all(f.done() for f in futures):
            break
        at = round(time.monotonic() - start, 1)
        with _inject(lab, step["kind"], step["target"]) as fault:
            time.sleep(step["hold_s"])  # the fault's duration, drawn by the seed
        healed = fault.record.healed_at
        try:
            wait_until(lambda: lab.has_workers(workers), 120, "the workers registered again")
            recovered = round(time.time() - healed, 1)
        except TimeoutError:
            recovered = None  # reported; the verdict below decides what it means
        rows.append({**step, "at_s": at, "back_to_all_workers_s": recovered})
    phase(f"chaos on {job.name}: faults over; waiting for the job to finish or fail")
    _, pending = wait(futures, timeout=deadline, return_when="ALL_COMPLETED")
    errors = [f"{type(f.exception()).__name__}: {str(f.exception())[:160]}"
              for f in futures if f.status == "error"]
    outcome = ("hung past the deadline" if pending else
               f"failed: {errors[0]}" if errors else "completed")
    if job.finish is not None:
        job.finish(not pending and not errors)
    published = job.check()
    problems = judge(outcome, published)
    verdict = Verdict(job=job.name, seed=seed, outcome=outcome, published=published,
                      ok=not problems, problems=problems, schedule=rows,
                      seconds=round(time.monotonic() - start, 1), errors=errors)
    if pending:
        lab.client.cancel(list(pending))
    if problems:
        from .evidence import save
        from .settings import ROOT

        label = re.sub(r"[^A-Za-z0-9._-]+", "-", job.name).strip("-")
        verdict.evidence = save(lab, f"chaos-{label}-seed{seed}")
        (ROOT / verdict.evidence / "verdict.txt").write_text(verdict.table() + "\n")
    return verdict


def check_job_path(path: str) -> None:
    """ValueError, naming the fix, unless `path` names a callable that can be
    imported (without calling it: a job may write its input when called)."""
    module, sep, func = path.partition(":")
    if not sep or not module or not func:
        raise ValueError(f"JOB={path!r}: expected package.module:function, e.g. "
                         "own_pipeline.jobs:demo")
    try:
        target = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"JOB={path!r}: {e}. Is the package importable from here? "
                         "PYTHONPATH=path/to/your/project, or pip install it") from None
    if not callable(target):
        raise ValueError(f"JOB={path!r} is not a function returning a dasklab.chaos.Job")


def load_job(path: str, **params) -> Job:
    """`package.module:function` -> the Job that function returns (called
    with `params`): how `make chaos JOB=...` names a job."""
    check_job_path(path)
    module, _, func = path.partition(":")
    job = getattr(importlib.import_module(module), func)(**params)
    if not isinstance(job, Job):
        raise ValueError(f"JOB={path!r} returned {type(job).__name__}, not a dasklab.chaos.Job")
    return job
