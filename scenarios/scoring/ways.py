"""The five ways to run inference, as one pipeline with one changing argument:

    read_parquet(input, split_row_groups=k) -> map_partitions(score, <model>) -> to_parquet

and what one run of a way costs, measured from the cluster: bytes the client
and the scheduler sent, model loads per worker process, CPU, the large-graph
warning. Shared by the scenario, its tests and `make bench-scoring`.
"""

from __future__ import annotations

import time
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any

from dasklab.meters import SocketMeter, StatusWatch, process_cpu_s
from dasklab.datasets import bucket, s3
from ..data.output import publish
from .model_cache import NAME as CACHE_PLUGIN
from .model_cache import ModelCache
from . import model as m

WAYS = {
    "a": "embedded in every task",
    "b": "scattered once, a future",
    "c": "loaded from the store per task",
    "d": "cached per worker process",
    "e": "an actor per worker",
}
INPUT = "ml/input"
OUTPUT = "ml/predictions"


def input_url() -> str:
    return f"s3://{bucket()}/{INPUT}/"


def output_prefix(run: str) -> str:
    return f"{bucket()}/{OUTPUT}/{run}"


def pipeline(groups_per_partition: int, func, *args):
    """The lazy read -> predict -> write job and its partition count. meta= is
    given: without it Dask calls `func` on the client to guess the output's
    shape, and for (c)/(d) the client would load the model itself."""
    import dask.dataframe as dd

    ddf = dd.read_parquet(input_url(), split_row_groups=groups_per_partition)
    kwargs = {"meta": m.META}
    out = ddf.map_partitions(func, *args, **kwargs)
    return out, ddf.optimize().npartitions


# -- per-process probes, run on the scheduler and the workers ----------------

def _net_sent() -> int:
    """Bytes this container sent on its cluster interface (its own network
    namespace: exactly this service's traffic, loopback excluded)."""
    import psutil

    return psutil.net_io_counters(pernic=True)["eth0"].bytes_sent


def _probe() -> dict[str, Any]:
    return {"sent": _net_sent(), "cpu": process_cpu_s(), **m.counters()}


def _probe_scheduler(dask_scheduler=None) -> dict[str, Any]:
    return _probe()


@dataclass
class Snapshot:
    scheduler: dict
    workers: dict[str, dict]
    at: float = field(default_factory=time.monotonic)


def snapshot(lab) -> Snapshot:
    return Snapshot(lab.client.run_on_scheduler(_probe_scheduler), lab.run_by_name(_probe))


def reset(lab) -> None:
    lab.client.run(m.reset_counters)
    lab.client.run_on_scheduler(m.reset_counters)


# -- preparing a way's model argument -----------------------------------------

@dataclass
class Prepared:
    way: str
    func: Any
    arg: Any
    extra: tuple = ()  # more arguments after the model argument
    futures: list = field(default_factory=list)  # what keeps (b)'s copies and (e)'s actors alive
    amm_paused: bool = False  # (b) broadcast: the Active Memory Manager is stopped until resume()


def resume(lab, prepared: Prepared) -> None:
    """Start the Active Memory Manager again if this way paused it."""
    if prepared.amm_paused:
        lab.client.amm.start()
        prepared.amm_paused = False


def release(lab, prepared: Prepared) -> None:
    """Drop a way's state on the cluster now (the scattered model, the
    actors), not whenever the last reference to it happens to go."""
    resume(lab, prepared)
    if prepared.futures:
        lab.client.cancel(prepared.futures, force=True)
        prepared.futures.clear()


def prepare(lab, way: str, model: m.ScoringModel, info: dict,
            scatter_to: list[str] | None = None, actor_timeout: float = 60) -> Prepared:
    """The model argument of a way. (b) broadcasts unless `scatter_to` names
    workers; (d) registers the cache plugin (loads before it returns);
    (e) starts one actor per worker, each call bounded by `actor_timeout`.

    A broadcast pauses the Active Memory Manager until `resume()` (`measure`
    resumes it when the job ends). Dask's own docs call broadcast=True
    "incompatible with the Active Memory Manager's ReduceReplicas policy": every
    2 s it drops each copy no assigned task waits on. In the gap between the
    scatter and the job reaching the scheduler, or after a worker's last task
    before a stolen one lands there, it dropped copies that the workers then
    fetched and unpickled again (loads 2/1/2 in one CI run instead of 1/1/1;
    worse, a kill of the one holder left would cancel the job)."""
    c, path = lab.client, info["path"]
    if way == "a":
        return Prepared(way, m.score_with, model)
    if way == "b":
        broadcast = scatter_to is None
        if broadcast:
            c.amm.stop()
        try:
            [future] = c.scatter([model], broadcast=broadcast, workers=scatter_to)
        except BaseException:
            if broadcast:
                c.amm.start()
            raise
        return Prepared(way, m.score_with, future, futures=[future], amm_paused=broadcast)
    if way == "c":
        return Prepared(way, m.score_loading, path)
    if way == "d":
        c.register_plugin(ModelCache(path))
        return Prepared(way, m.score_cached, path)
    if way == "e":
        names = sorted(lab.workers_by_name())
        futures = [c.submit(m.ModelServer, path, actor=True, workers=[n],
                            allow_other_workers=False) for n in names]
        return Prepared(way, m.score_via_actor, [f.result(timeout=120) for f in futures],
                        (actor_timeout,), futures)
    raise ValueError(f"unknown way {way!r}: one of {', '.join(WAYS)}")


def remove_cache_plugins(lab) -> None:
    """Unregister every model-cache plugin (also an interrupted run's) and
    empty the workers' caches, so later scenarios start clean."""
    lab.remove_plugins((CACHE_PLUGIN,))
    lab.client.run(m.drop_cache)


# -- one run --------------------------------------------------------------------

@dataclass
class Run:
    """What one run of a way did. `error` is None when it completed."""
    way: str
    out: str  # output prefix in the bucket
    partitions: int
    wall_s: float = 0.0
    client_sent: int = 0
    scheduler_sent: int = 0
    loads: dict[str, int] = field(default_factory=dict)
    scheduler_loads: int = 0
    worker_cpu_s: float = 0.0
    scheduler_cpu_s: float = 0.0
    predict_cpu_s: float = 0.0
    predict_rows: int = 0
    warning: str = "(none)"
    error: str | None = None
    killed_partitions: list[int] = field(default_factory=list)
    staged_when_failed: int = 0  # partitions written to staging by a run that failed
    # Each run writes under a path of its own, so its graph's keys are its own:
    # to_parquet's keys are a hash of the input and the path, and with one path
    # for every run, a run submitted while the scheduler still held the last
    # run's final key got that result back at once and wrote nothing (seen in
    # bench-scoring's 5th run: "no objects under ....staging").
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def staging(self) -> str:
        """Where the run writes; published to `out` only when it completed.
        A sibling of `out`, never inside it: readers of `out` see only
        complete output (a failed run once left half its partitions there)."""
        return f"{self.out}.staging-{self.run_id}"


def submit(lab, prepared: Prepared, groups_per_partition: int, out: str):
    """Start the job; returns (future, partitions, large-graph warning)."""
    job, partitions = pipeline(groups_per_partition, prepared.func, prepared.arg,
                               *prepared.extra)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        future = lab.client.compute(job.to_parquet(f"s3://{out}/", write_index=False,
                                                   compute=False))
    large = [str(w.message).splitlines()[0] for w in caught if "large graph" in str(w.message)]
    return future, partitions, large[0] if large else "(none)"


class Stalled(RuntimeError):
    """Every worker paused for too long: the job cannot make progress."""


def wait_or_stall(lab, future, timeout: float, stall: float = 60) -> None:
    """Wait for the job; raise Stalled once every worker has been paused for
    `stall` seconds. Seen here with a 100 MB model embedded in every task
    after a worker was killed: the two left paused at 80 % memory, nearly
    all of it unmanaged (model copies of the tasks they held, the cache,
    actors), so spilling could not free any; they never resumed and Dask
    alone waits forever."""
    from distributed import wait

    deadline = time.monotonic() + timeout
    with StatusWatch(lab.client) as watch:
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the job did not finish within {timeout:.0f} s")
            try:
                wait(future, timeout=1)
            except TimeoutError:
                pass
            if watch.all_paused_for() > stall:
                raise Stalled(f"every worker paused for {stall:.0f} s (memory): "
                              f"{watch.statuses}; the job cannot progress")


def measure(lab, prepared_by, groups_per_partition: int, out: str, during=None,
            timeout: float = 900, keep: bool = False) -> Run:
    """Run one way, metered from before its preparation to its end.
    `prepared_by()` makes the Prepared (inside the window: a scatter or a
    plugin's load is part of the way's cost). `during(future, run)` may act
    while the job runs (the kill). The way's state is released at the end
    unless `keep`."""
    fs = s3()
    run, prepared = Run("?", out, 0), None
    for prefix in (out, run.staging):  # an earlier run's objects would spoil the counts
        if fs.exists(prefix):
            fs.rm(prefix, recursive=True)
    reset(lab)
    before = snapshot(lab)
    with SocketMeter() as meter:
        start = time.monotonic()
        try:
            prepared = prepared_by()
            run.way = prepared.way
            future, run.partitions, run.warning = submit(lab, prepared, groups_per_partition,
                                                         run.staging)
            if during is not None:
                during(future, run)
            wait_or_stall(lab, future, timeout)
            future.result()
        except Exception as e:  # noqa: BLE001 - a failed run is an outcome to report
            # (e.g. a dead actor fails already when the graph is built, on the client)
            run.error = f"{type(e).__name__}: {' '.join(str(e).split())}"[:200]
        run.wall_s = time.monotonic() - start
        if prepared is not None:
            # The job is over: the AMM runs again either way (release() resumes too).
            if keep:
                resume(lab, prepared)
            else:
                release(lab, prepared)
    after = snapshot(lab)
    # All or nothing (the output scenario's pattern): publish a complete run,
    # remove a failed run's partial staging.
    if run.error is None:
        publish(fs, run.staging, out)
    elif fs.exists(run.staging):
        run.staged_when_failed = len(fs.find(run.staging))
        fs.rm(run.staging, recursive=True)
    run.client_sent = meter.sent
    run.scheduler_sent = after.scheduler["sent"] - before.scheduler["sent"]
    run.scheduler_cpu_s = after.scheduler["cpu"] - before.scheduler["cpu"]
    run.scheduler_loads = after.scheduler.get("loads", 0)
    for name, now in after.workers.items():
        run.loads[name] = now.get("loads", 0)
        was = before.workers.get(name, {"cpu": now["cpu"]})
        # A worker killed and restarted meanwhile starts its CPU count afresh.
        run.worker_cpu_s += now["cpu"] - was["cpu"] if now["cpu"] >= was["cpu"] else now["cpu"]
        run.predict_cpu_s += now.get("predict_ns", 0) / 1e9
        run.predict_rows += now.get("predict_rows", 0)
    return run
