"""ComposeCluster: Dask's Cluster API over a running lab project.

    from dask.distributed import Client
    from dasklab import ComposeCluster

    with ComposeCluster(project="dasklab") as cluster, Client(cluster) as client:
        cluster.scale(5)                          # 5 workers in all: worker-4, worker-5 join
        cluster.adapt(minimum=3, maximum=6)       # or let the queue decide

What dask-kubernetes does with pods and dask-jobqueue with batch jobs, this
does with containers: a `SpecCluster` whose workers are containers made from
the project's own worker definition (worker_containers.py). It attaches to the
project's scheduler instead of starting one. The compose services worker-1..3
are a fixed floor: `scale(n)` and `adapt(minimum, maximum)` count them, and
the cluster never retires them.

Three things differ from a stock SpecCluster, each because Dask gets it wrong
for us (see ../shared research notes in the README, "Cluster API"):
- scaling down retires workers *by name* first, so their results move to the
  survivors; SpecCluster passes names where the scheduler expects addresses
  and the retire silently does nothing (dask/distributed#4532);
- a name is never used twice while the scheduler lives (SpecCluster reuses
  names, and the scheduler caches name -> IP for its whole life);
- a container that fails to start raises its own error from
  wait_for_workers(), instead of a timeout minutes later.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from functools import partial

from dask.utils import parse_bytes, parse_timedelta
from distributed.core import Status
from distributed.deploy.adaptive import Adaptive
from distributed.deploy.spec import ProcessInterface, SpecCluster
from distributed.protocol.pickle import dumps

from ..base import retire_by_name
from . import worker_containers as wc
from .worker_containers import WorkerStartError

logger = logging.getLogger("dasklab.backends.compose.cluster")
LAST_NAME_KEY = ["dasklab", "last-worker-number"]  # scheduler metadata: lives with it


class ExistingScheduler:
    """The project's scheduler, which this cluster attaches to (never closes)."""

    def __init__(self, address: str, contact_address: str):
        self.address = self.external_address = address
        self.contact_address = contact_address
        self.status = Status.running

    def __await__(self):
        async def _():
            return self
        return _().__await__()

    async def close(self) -> None:
        """The scheduler belongs to the compose project; leave it running."""


class WorkerContainer(ProcessInterface):
    """One Dask worker (nanny + worker) = one container."""

    def __init__(self, scheduler=None, name=None, *, project: wc.Project, nthreads: int,
                 memory_limit: int, image: str | None, extra_args: tuple[str, ...],
                 start_timeout: float, cluster):
        super().__init__(scheduler, name)
        self.name, self.project, self.cluster = name, project, cluster
        self.run = partial(project.run, name, nthreads=nthreads, memory_limit=memory_limit,
                           image=image, extra_args=extra_args)
        self.start_timeout = start_timeout
        self.container = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cluster = self.cluster()
        try:
            self.container = await loop.run_in_executor(None, partial(self.run, cluster=cluster.name))
            deadline = time.monotonic() + self.start_timeout
            # Bounded: start_timeout / 0.5 s polls at most.
            for _ in range(int(self.start_timeout / 0.5) + 1):
                if self.name in cluster.observed:
                    break
                error = await loop.run_in_executor(None, wc.failure, self.container)
                if error:
                    raise WorkerStartError(f"worker {self.name} did not start: {error}")
                if time.monotonic() > deadline:
                    raise WorkerStartError(
                        f"worker {self.name} did not register within {self.start_timeout:.0f} s; "
                        f"`docker logs {self.container.name}` shows why")
                await asyncio.sleep(0.5)
        except Exception as e:
            self.status = Status.failed
            cluster.start_failed(self.name, e)
            if self.container is not None:
                await loop.run_in_executor(None, partial(wc.remove, self.container, 5))
            raise
        await super().start()

    async def close(self) -> None:
        if self.container is not None:
            await asyncio.get_running_loop().run_in_executor(None, wc.remove, self.container)
        await super().close()

    def logs(self) -> str:
        return self.container.logs(tail=2000).decode(errors="replace") if self.container else ""


class ComposeAdaptive(Adaptive):
    """Adaptive with a cooldown: no scale-down within `cooldown` of the last
    scale-up. Stock Adaptive only waits `wait_count` x `interval` (3 s), far
    less than a container's start, so a bursty queue would start and kill
    workers in turns (dask-kubernetes#633). Static workers are never offered."""

    def __init__(self, cluster, cooldown: str | float = "30s", **kwargs):
        super().__init__(cluster, **kwargs)
        self.cooldown = parse_timedelta(cooldown)
        self.last_up = -math.inf

    async def recommendations(self, target: int) -> dict:
        rec = await super().recommendations(target)
        if rec["status"] == "down":
            rec["workers"] = [w for w in rec["workers"] if w in self.cluster.worker_spec]
            if not rec["workers"] or time.monotonic() - self.last_up < self.cooldown:
                return {"status": "same"}
        return rec

    async def scale_up(self, n: int) -> None:
        self.last_up = time.monotonic()
        await super().scale_up(n)


class ComposeCluster(SpecCluster):
    """Worker containers of a running lab project, managed through the Docker SDK.

    nthreads / memory_limit default to the project's worker definition; the
    container's memory limit equals the worker's. `extra_args` are appended to
    each worker's command (e.g. ["--resources", "GPU=1"]). retire_first=False
    keeps Dask's stock scale-down (names passed as addresses: no retire), for
    showing what the fix prevents.
    """

    def __init__(self, project: str = "dasklab", *, nthreads: int | None = None,
                 memory_limit: str | int | None = None, image: str | None = None,
                 extra_args=(), n_workers: int = 0, start_timeout: float = 180,
                 retire_first: bool = True, asynchronous: bool = False,
                 name: str | None = None, **kwargs):
        self.project = wc.Project.read(project)
        wc.reap(project)  # leftovers of clients that died without closing
        defined = self.project.worker
        self.static = self.project.static_present()
        self.static_threads = int(_flag(defined["command"], "--nthreads"))
        self.static_memory = parse_bytes(defined["mem_limit"])
        self.retire_first = retire_first
        self.start_errors: list[Exception] = []
        self.events: list[tuple[float, str, str]] = []
        self._last_number = 0
        self._launched: set[str] = set()
        options = {
            "project": self.project, "nthreads": nthreads or self.static_threads,
            "memory_limit": parse_bytes(memory_limit or self.static_memory), "image": image,
            "extra_args": tuple(extra_args), "start_timeout": start_timeout,
            "cluster": weakref.ref(self),
        }
        super().__init__(workers={}, worker={"cls": WorkerContainer, "options": options},
                         asynchronous=asynchronous, name=name or f"{project}-elastic",
                         shutdown_on_close=True, shutdown_scheduler=False, **kwargs)
        if n_workers:
            self.scale(n_workers)

    # -- attaching ---------------------------------------------------------
    async def _start(self) -> None:
        scheme = self.project.scheme  # the host client's certificate comes from its config
        self.scheduler = ExistingScheduler(f"{scheme}://127.0.0.1:{self.project.scheduler_port}",
                                           f"{scheme}://scheduler:8786")
        await super()._start()
        from ...plugins.static_floor import NAME, StaticFloor

        # Left registered on close: several ComposeClusters may share one
        # scheduler, and the rule (static workers are never offered for
        # downscaling) holds for all of them.
        await self.scheduler_comm.register_scheduler_plugin(
            plugin=dumps(StaticFloor(self.project.static_workers)), name=NAME, idempotent=False)
        last = await self.scheduler_comm.get_metadata(keys=LAST_NAME_KEY, default=0)
        seen = [wc.number(n) for n in (*self.project.static_workers, *self.observed,
                                       *self.project.container_services())]
        self._last_number = max([last, *(n for n in seen if n is not None)])

    @property
    def dashboard_link(self) -> str:
        return f"http://127.0.0.1:{self.project.dashboard_port}/status"

    # -- sizes and names ---------------------------------------------------
    def scale(self, n: int = 0, memory=None, cores=None):
        """n = total workers, the static ones included; memory= / cores= =
        totals the cluster should reach. Never retires a static worker."""
        elastic = max(0, n - len(self.static))
        if memory is not None:
            short = parse_bytes(memory) - self.static_memory * len(self.static)
            elastic = max(elastic, math.ceil(max(0, short) / self._memory_per_worker()))
        if cores is not None:
            short = cores - self.static_threads * len(self.static)
            elastic = max(elastic, math.ceil(max(0, short) / self._threads_per_worker()))
        return super().scale(elastic)

    def _new_worker_name(self, worker_number) -> str:
        self._last_number += 1
        return f"worker-{self._last_number}"

    @property
    def plan(self) -> set:
        return super().plan | set(self.static)

    @property
    def requested(self) -> set:
        return set(self.workers) | set(self.static)

    def adapt(self, Adaptive=ComposeAdaptive, **kwargs):
        """adapt(minimum=, maximum=) in total workers; `cooldown` (default 30 s)."""
        return super().adapt(Adaptive=Adaptive, **kwargs)

    # -- the fix: retire by name, never reuse a name -----------------------
    async def _correct_state_internal(self) -> None:
        async with self._lock:
            self._correct_state_waiting = None
            # A worker that died on its own (its container gone) was dropped
            # by SpecCluster; its spec entry would start the same name again.
            for name in [n for n in self.worker_spec if n in self._launched
                         and n not in self.workers]:
                del self.worker_spec[name]
                self.worker_spec.update(self.new_worker_spec())
            to_close = set(self.workers) - set(self.worker_spec)
            if to_close:
                for name in sorted(to_close):
                    self.event("retiring", name)
                await self._retire(sorted(to_close))
                await asyncio.gather(*(self.workers[w].close() for w in to_close))
                for name in sorted(to_close):
                    del self.workers[name]
                    self.event("removed", name)
            to_open = sorted(set(self.worker_spec) - set(self.workers), key=wc.number)
            if not to_open:
                return
            self._launched.update(to_open)
            for name in to_open:
                self.event("asked", name)
            await self.scheduler_comm.set_metadata(keys=LAST_NAME_KEY, value=self._last_number)
            workers = {}
            for name in to_open:
                spec = self.worker_spec[name]
                workers[name] = spec["cls"](self.scheduler.contact_address, name=name,
                                            **spec["options"])
                self._created.add(workers[name])
            futures = [asyncio.ensure_future(w) for w in workers.values()]
            await asyncio.wait(futures)
            self.workers.update(workers)
            await asyncio.gather(*futures)

    async def _retire(self, names: list[str]) -> None:
        """Move the workers' unique results to the survivors, then let them exit."""
        registered = [n for n in names if n in self.observed]
        if not registered or self.scheduler.status != Status.running:
            return
        if not self.retire_first:
            # What SpecCluster does (spec.py): names where the scheduler expects
            # addresses, so it retires nothing and the workers are just killed.
            await self.scheduler_comm.retire_workers(workers=registered)
            return
        kept = await retire_by_name(self.scheduler_comm.retire_workers, registered)
        if kept:
            self._log(f"no survivor could take the data of {kept}; removing them anyway")

    # -- what happened, start failures, logs, cleanup ----------------------
    def event(self, what: str, name: str) -> None:
        """(time.time(), what, worker name): asked, registered, retiring,
        left (the scheduler), removed (the container)."""
        self.events.append((time.time(), what, name))

    def _update_worker_status(self, op, msg):
        # The scheduler's own news, the moment it arrives.
        if op == "add":
            for info in msg["workers"].values():
                self.event("registered", str(info["name"]))
        elif op == "remove" and msg in self.scheduler_info["workers"]:
            self.event("left", str(self.scheduler_info["workers"][msg]["name"]))
        super()._update_worker_status(op, msg)

    def start_failed(self, name: str, error: Exception) -> None:
        self.start_errors.append(error)
        self.worker_spec.pop(name, None)
        self._log(str(error))

    async def _wait_for_workers(self, n_workers=0, timeout=None):
        """Cluster.wait_for_workers (n = total), raising a container's start
        error as soon as it happens."""
        deadline = time.monotonic() + (parse_timedelta(timeout) if timeout else 3600)
        for _ in range(int((deadline - time.monotonic()) / 0.2) + 2):
            if self.start_errors:
                raise self.start_errors.pop(0)
            info = await self.scheduler_comm.identity()
            running = [w for w in info["workers"].values() if w["status"] == "running"]
            if len(running) >= n_workers:
                # ... and the starts in flight are done, so `cluster.workers`
                # holds every container asked for (or a start error is raised).
                await self._correct_state()
                return
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{n_workers} workers not registered within {timeout}; "
                           f"{len(running)} are: {sorted(w['name'] for w in running)}")

    async def _get_logs(self, cluster=True, scheduler=True, workers=True):
        logs = await super()._get_logs(cluster, scheduler, workers)
        if workers:
            loop = asyncio.get_running_loop()
            live = [w for w in self._created if w.status == Status.running]
            for w in sorted(live, key=lambda w: wc.number(w.name)):
                logs[f"container {w.name}"] = await loop.run_in_executor(None, w.logs)
        return logs

    @staticmethod
    def reap(project: str = "dasklab", *, everything: bool = False) -> list[str]:
        """Remove elastic workers (containers and volumes) left by clients that
        died without closing; with everything=True, all of the project's."""
        return wc.reap(project, everything=everything)


def _flag(command: list[str], flag: str) -> str:
    for arg in command:
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    raise LookupError(f"the worker definition has no {flag}=")
