"""Every scenario (and every test) leaves the cluster as it found it.

A scenario that leaves tasks on the scheduler, a plugin on the workers, a
worker still coming back, or a container of a side project changes what the
next one measures: an erred task group broke the dashboard's /groups page
once, a worker still restarting skipped a test once. So, in one place:

- `snapshot(lab)` before, `restore(lab, before)` after every scenario (the
  registry does both): the scheduler forgets the tasks the run created, plugins
  it registered are removed, the Active Memory Manager runs again if it ran
  before, the named workers are back and running, elastic
  workers whose client is gone are removed; it returns what it had to clean.
- `leftovers(lab, before)` names what is still different; the test suite
  checks it after every test and fails the test that left something behind.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass

from .waiting import wait_until

SETTLE = 30  # seconds for released tasks to leave the scheduler
WORKERS_BACK = 90  # seconds for a killed or restarted worker to register again
# Scheduler plugins that stay on purpose: ComposeCluster's rule that the static
# workers are never offered for downscaling holds for every ComposeCluster that
# shares the scheduler (backends/compose/cluster.py), so none removes it on close.
LASTING = frozenset({"scheduler:dasklab-static-floor"})


@dataclass(frozen=True)
class Baseline:
    tasks: frozenset[str]
    plugins: frozenset[str]  # "scheduler:<name>" and "worker:<name>"
    workers: frozenset[str]  # names of registered workers
    docker: frozenset[str]  # "container:<name>", "volume:<name>", "network:<name>" of dasklab
    amm: bool | None = None  # the Active Memory Manager running (None: no AMM on this scheduler)


def _scheduler_state(dask_scheduler=None) -> dict:
    # Dask adds scheduler plugins of its own as they are first needed (the task
    # stream, progress bars, a dashboard page's graph layout, a Cluster's
    # worker-status) and keeps using them: those are not a run's leftovers, and
    # removing one broke the dashboard (HTTP 500). Only plugins from elsewhere count.
    ours = [n for n, p in dask_scheduler.plugins.items()
            if not type(p).__module__.startswith("distributed.")]
    return {"tasks": list(map(str, dask_scheduler.tasks)),
            "plugins": [f"scheduler:{n}" for n in ours]
            + [f"worker:{n}" for n in dask_scheduler.worker_plugins],
            "workers": {str(ws.name): ws.status.name for ws in dask_scheduler.workers.values()},
            # A run that pauses it (scoring's broadcast) and dies before resuming
            # would change how every later run's replicas are kept.
            "amm": amm.running if (amm := dask_scheduler.extensions.get("amm")) else None}


def _held(client_id: str, dask_scheduler=None) -> dict[str, tuple]:
    """{str(key): (key, state)} of the tasks this client wants. The key itself
    too: a dataframe's keys are tuples, and only the real key cancels."""
    state = dask_scheduler.clients.get(client_id)
    return {str(ts.key): (ts.key, ts.state) for ts in state.wants_what} if state else {}


def _held_since(lab, before: "Baseline") -> dict[str, tuple]:
    """{str(key): (key, state)} of what this client wants now, new since `before`."""
    held = lab.client.run_on_scheduler(_held, lab.client.id)
    return {k: v for k, v in held.items() if k not in before.tasks}


def _force_release(lab, held: dict[str, tuple]) -> None:
    from distributed import Future

    lab.client.cancel([Future(key, lab.client) for key, _ in held.values()], force=True)
    # cancel() only queues "cancel-keys" on the client's batched stream; a
    # question asked right after (an RPC on another connection) can overtake
    # it and still see the keys (a repeat run failed so). Wait, bounded, until
    # the scheduler has dropped them, so callers see the state they asked for.
    try:
        wait_until(lambda: not set(held) & set(lab.client.run_on_scheduler(_held, lab.client.id)),
                   10, "the scheduler to drop the cancelled tasks")
    except TimeoutError:
        pass  # leftovers() names whatever is still there


def docker_objects() -> frozenset[str]:
    """The lab's containers, volumes and networks in the engine (every project:
    side projects and elastic workers too); empty without a reachable engine."""
    try:
        from .backends.docker_api import docker_client

        d = docker_client()
        label = {"label": "dasklab.lab=true"}
        # Not Swarm's task history (a replaced task's old container): the
        # stack's own, removed with the stack.
        found = {f"container:{c.name}" for c in d.containers.list(all=True, filters=label)
                 if "com.docker.swarm.task" not in c.labels}
        for kind, items in (("volume", d.volumes.list()), ("network", d.networks.list())):
            found |= {f"{kind}:{o.name}" for o in items if o.name.startswith("dasklab")}
        return frozenset(found)
    except Exception:  # noqa: BLE001 - no Docker here (a foreign cluster): nothing to compare
        return frozenset()


def snapshot(lab, docker: bool = True) -> Baseline:
    state = lab.client.run_on_scheduler(_scheduler_state)
    return Baseline(tasks=frozenset(state["tasks"]), plugins=frozenset(state["plugins"]),
                    workers=frozenset(state["workers"]),
                    docker=docker_objects() if docker else frozenset(), amm=state["amm"])


def leftovers(lab, before: Baseline, settle: float = SETTLE, workers: bool = True) -> list[str]:
    """What differs from `before`, one line each; waits (bounded) for what
    settles by itself: released tasks leaving, workers coming back. With
    workers=False the set of workers may differ (a test that scales on purpose)."""
    def differences() -> list[str]:
        state = lab.client.run_on_scheduler(_scheduler_state)
        out = []
        tasks = sorted(set(state["tasks"]) - before.tasks)
        if tasks:
            out.append(f"{len(tasks)} task(s) held by the scheduler, e.g. {tasks[:3]}")
        added = sorted(set(state["plugins"]) - before.plugins - LASTING)
        if added:
            out.append(f"plugin(s) still registered: {', '.join(added)}")
        registered = state["workers"]
        before_workers = before.workers if workers else set(registered)
        missing = sorted(before_workers - set(registered))
        if missing:
            out.append(f"worker(s) not registered: {', '.join(missing)}")
        extra = sorted(set(registered) - before_workers)
        if extra:
            out.append(f"extra worker(s) registered: {', '.join(extra)}")
        odd = sorted(f"{n} ({s})" for n, s in registered.items()
                     if n in before_workers and s != "running")
        if odd:
            out.append(f"worker(s) not running: {', '.join(odd)}")
        if before.amm and not state["amm"]:
            out.append("the Active Memory Manager is stopped (client.amm.start() starts it)")
        if before.docker:
            new = sorted(docker_objects() - before.docker)
            if new:
                out.append(f"Docker objects left: {', '.join(new)}")
        return out

    found: list[list[str]] = []
    collected = []

    def settled() -> bool:
        try:
            found[:] = [differences()]
        except Exception as e:  # noqa: BLE001 - the scheduler not answering is a difference too
            found[:] = [[f"the scheduler did not answer: {e!r}"]]
        if found[0] and not collected:
            # A failed job's futures live on in traceback cycles until collected.
            # Only then: a full collection costs 0.1-0.3 s, after every test.
            gc.collect()
            collected.append(True)
        return not found[0]

    try:
        wait_until(settled, max(settle, WORKERS_BACK if workers and _workers_coming(lab, before)
                                else 0),
                   "the cluster to be as it was before")
    except TimeoutError:
        pass
    return found[0] if found else []


def _workers_coming(lab, before: Baseline) -> bool:
    try:
        return set(lab.workers_by_name()) != set(before.workers)
    except Exception:  # noqa: BLE001
        return True


def _settle(held_now, limit: float, still: float) -> dict:
    """Poll held_now() until it is empty; returns {} then. Returns what is
    left when it has not changed for `still` seconds (held by a live
    reference: waiting longer releases nothing; it used to cost 30 s a run)
    or at `limit`."""
    deadline = time.monotonic() + limit
    last, since = None, time.monotonic()
    while True:
        held = held_now()
        now = time.monotonic()
        if not held:
            return {}
        if set(held) != last:
            last, since = set(held), now
        elif now - since >= still or now >= deadline:
            return held
        time.sleep(0.2)


def release_erred(lab, before: Baseline, settle: float = 3) -> int:
    """Release the erred tasks this client still holds only because of a
    distributed 2026.8 bug; returns how many.

    After `future.result()` raised a task's error, the client keeps that
    future's state, whose exception carries the traceback of `result()`, whose
    frame holds the Future itself: a cycle reachable from the client, so the
    future is never collected and the scheduler keeps the erred task (and its
    whole task group) until the client closes. Every other future that frame
    (and its callers) held stays too: the worker-loss scenario's 60 squares.
    Reproduced in tests/basics/test_isolation.py; an erred task group once
    made the dashboard's /groups page answer 500. A future whose error was
    read with `.exception()` instead is released normally."""
    if not _held_since(lab, before):
        return 0  # nothing held, nothing to collect (a full gc.collect costs 0.1-0.3 s)
    gc.collect()

    def erred() -> dict[str, tuple]:
        return {k: v for k, v in _held_since(lab, before).items() if v[1] == "erred"}

    keys = _settle(erred, settle, still=0.5)
    if keys:
        _force_release(lab, keys)
        # Cancelling pops the client's state: the cycle is now garbage, and
        # collecting it releases the futures its frames held.
        gc.collect()
    return len(keys)


def restore(lab, before: Baseline) -> list[str]:
    """Put back what a run left; returns what had to be cleaned (one line
    each), empty when it left nothing."""
    cleaned = []
    released = release_erred(lab, before)
    if released:
        cleaned.append(f"released {released} erred task(s) Dask's client kept "
                       "(a future whose result() raised: dasklab/isolation.py)")

    keys = _settle(lambda: _held_since(lab, before), SETTLE, still=1.0)
    if keys:
        _force_release(lab, keys)
        cleaned.append(f"cancelled {len(keys)} task(s) this client still held, "
                       f"e.g. {list(keys)[:3]}")
    state = lab.client.run_on_scheduler(_scheduler_state)
    if before.amm and not state["amm"]:
        lab.client.amm.start()
        cleaned.append("started the Active Memory Manager again (the run stopped it)")
    for plugin in sorted(set(state["plugins"]) - before.plugins - LASTING):
        kind, _, name = plugin.partition(":")
        unregister = (lab.client.unregister_worker_plugin if kind == "worker"
                      else lab.client.unregister_scheduler_plugin)
        try:
            unregister(name)
            cleaned.append(f"removed the {kind} plugin {name}")
        except Exception as e:  # noqa: BLE001 - say it, the check will name it too
            cleaned.append(f"could not remove the {kind} plugin {name}: {e!r}")
    if before.workers - set(state["workers"]):
        try:
            lab.wait_for_workers(set(before.workers), WORKERS_BACK)
        except TimeoutError as e:
            cleaned.append(str(e))
    if getattr(lab, "backend", None) == "compose":
        from .backends.compose.worker_containers import reap

        removed = reap(lab.compose.project)
        if removed:
            cleaned.append(f"removed elastic workers left by a dead client: {', '.join(removed)}")
    return cleaned


def after_test(lab, before: Baseline, workers: bool = True) -> list[str]:
    """The check after a test (the lab's own suite and the pytest plugin's
    `dasklab_client`): what it left, one line each; when anything, the
    cluster is put back first, so the next test is not affected. Erred tasks
    the client keeps only because of the distributed bug above are not the
    test's doing: released before looking."""
    release_erred(lab, before)
    left = leftovers(lab, before, workers=workers)
    if left:
        restore(lab, before)
    return left
