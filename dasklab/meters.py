"""Measuring instruments used while a scenario runs: bytes through the
client's sockets, peak client memory, worker statuses, wall time, the
cluster's timeline, a worker's heartbeat gap, the scheduler's task states."""

from __future__ import annotations

import socket
import ssl
import threading
import time


def process_cpu_s() -> float:
    """CPU seconds (user + system) of the calling process so far; run on
    workers and the scheduler with client.run / run_on_scheduler."""
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def machine_busy_s() -> float:
    """CPU-seconds the whole machine has been busy (this client runs on the
    same kernel as the Docker engine): everything but idle and I/O wait."""
    import psutil

    t = psutil.cpu_times()
    # steal: time the hypervisor gave to other machines, not ours
    return sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "steal", 0.0)


def cores_used(seconds: float, meters: dict) -> dict[str, float]:
    """Cores used over a window of `seconds`, per meter (each a () -> CPU
    seconds so far: machine_busy_s, a container's or a process's CPU)."""
    import time

    before = {k: f() for k, f in meters.items()}
    start = time.monotonic()
    time.sleep(seconds)  # the measuring window itself, not a wait for a condition
    wall = time.monotonic() - start
    return {k: (f() - before[k]) / wall for k, f in meters.items()}


class SocketMeter:
    """Bytes this process received and sent over sockets while active: what
    really passed through the client, S3 downloads and scheduler traffic
    alike. It wraps socket.socket's recv/send methods (asyncio, tornado and
    aiohttp all go through them) and restores them on exit. Over Dask's TLS,
    tornado calls ssl.SSLSocket's own methods, which bypass socket.socket's:
    those are wrapped too (their sendall loops over send, so only send)."""

    _METHODS = ((socket.socket, ("recv", "recv_into"), ("send", "sendall", "sendmsg")),
                (ssl.SSLSocket, ("recv", "recv_into"), ("send",)))

    def __init__(self) -> None:
        self.received = self.sent = 0
        self._lock = threading.Lock()

    def _wrap(self, cls: type, name: str, incoming: bool):
        original = getattr(cls, name)

        def counted(sock, *args, **kwargs):
            n = original(sock, *args, **kwargs)
            if name == "recv":
                size = len(n)
            elif name == "sendall":
                size = len(memoryview(args[0]).cast("B"))
            elif name == "sendmsg":
                size = n
            else:
                size = n or 0
            with self._lock:
                if incoming:
                    self.received += size
                else:
                    self.sent += size
            return n

        return original, counted

    def __enter__(self) -> "SocketMeter":
        self._saved = {}
        for cls, incoming_names, outgoing_names in self._METHODS:
            for names, incoming in ((incoming_names, True), (outgoing_names, False)):
                for name in names:
                    original, counted = self._wrap(cls, name, incoming)
                    self._saved[(cls, name)] = original
                    setattr(cls, name, counted)
        return self

    def __exit__(self, *exc) -> None:
        for (cls, name), original in self._saved.items():
            setattr(cls, name, original)

    @property
    def total(self) -> int:
        return self.received + self.sent


class Sampler:
    """Calls `sample()` every `interval` seconds on a background thread while
    the `with` block runs: the one polling loop for things measured meanwhile."""

    interval = 0.1

    def sample(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class PeakMemory(Sampler):
    """Peak resident memory of this process above its level at entry,
    sampled every 10 ms."""

    interval = 0.01

    def __init__(self) -> None:
        import psutil

        self.peak = 0
        self._proc = psutil.Process()

    def sample(self) -> None:
        self.peak = max(self.peak, self._proc.memory_info().rss - self._base)

    def __enter__(self) -> "PeakMemory":
        self._base = self._proc.memory_info().rss
        return super().__enter__()

    def __exit__(self, *exc) -> None:
        super().__exit__(*exc)
        self.sample()  # what is still held at the end counts: a block under 10 ms has no sample


_IN_WORKER: dict[str, PeakMemory] = {}


def _peak_start(token: str) -> None:
    _IN_WORKER[token] = PeakMemory().__enter__()


def _peak_stop(token: str) -> int | None:
    meter = _IN_WORKER.pop(token, None)
    if meter is None:  # a new process: the one that started the meter is gone
        return None
    meter.__exit__(None, None, None)
    return meter.peak


class WorkerPeakMemory:
    """PeakMemory run inside one worker's process while the block runs: how
    far that worker's resident memory rose (`rise`, bytes), sampled there
    every 10 ms. The scheduler's view of a worker's memory is refreshed once
    per heartbeat and missed a peak that lasted under a second (a flaky
    best-practices row: 21 MiB seen for a 512 MiB rise).

    When the worker's process was replaced meanwhile (its nanny killed it at
    the terminate threshold, say), the meter died with it: `restarted` is
    True and `rise` is None, so a caller says so instead of reading a number."""

    def __init__(self, client, address: str) -> None:
        self.client, self.address = client, address
        self.rise: int | None = 0
        self.restarted = False

    def __enter__(self) -> "WorkerPeakMemory":
        import uuid

        self.token = uuid.uuid4().hex
        self.client.run(_peak_start, self.token, workers=[self.address])
        return self

    def __exit__(self, *exc) -> None:
        self.rise = self.client.run(_peak_stop, self.token, workers=[self.address],
                                    on_error="return").get(self.address)
        if not isinstance(self.rise, int):  # gone, or a new process without the meter
            self.rise, self.restarted = None, True


class StatusWatch(Sampler):
    """Polls the scheduler for worker statuses: the latest ones, who was ever
    paused, and for how long every worker has been paused at once (a job
    that can make no progress: scoring's stall guard)."""

    interval = 0.2

    def __init__(self, client) -> None:
        self.client, self.paused, self.statuses = client, set(), {}
        self._all_paused_since: float | None = None

    def sample(self) -> None:
        try:
            workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        except Exception:  # noqa: BLE001 - a missed sample is fine
            return
        self.statuses = {str(w["name"]): w["status"] for w in workers}
        self.paused |= {n for n, s in self.statuses.items() if s == "paused"}
        everyone = bool(self.statuses) and all(s == "paused" for s in self.statuses.values())
        self._all_paused_since = (self._all_paused_since or time.monotonic()) if everyone else None

    def all_paused_for(self) -> float:
        """Seconds every worker has been paused without a break; 0 when not."""
        since = self._all_paused_since
        return time.monotonic() - since if since is not None else 0.0


class Timer:
    def __enter__(self) -> "Timer":
        self._start = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.monotonic() - self._start


def task_states(keys=None, prefix: str | None = None, dask_scheduler=None) -> dict[str, str]:
    """{str(key): state} the scheduler knows, for `keys` or for every key
    starting with `prefix`. Runs on the scheduler (client.run_on_scheduler)."""
    if keys is not None:
        return {str(k): dask_scheduler.tasks[k].state for k in keys if k in dask_scheduler.tasks}
    return {str(k): ts.state for k, ts in dask_scheduler.tasks.items()
            if prefix is None or str(k).startswith(prefix)}


def worker_last_seen(name: str, dask_scheduler=None) -> float | None:
    """When the scheduler last heard from worker `name` (time.time()); runs on the scheduler."""
    for ws in dask_scheduler.workers.values():
        if str(ws.name) == name:
            return ws.last_seen
    return None


class Timeline(Sampler):
    """(time, workers registered, tasks processing) every half second."""

    interval = 0.5

    def __init__(self, client):
        self.client, self.rows = client, []

    def sample(self) -> None:
        try:
            processing = self.client.processing()
        except Exception:  # noqa: BLE001 - a missed sample, not a failure
            return
        self.rows.append((time.time(), len(processing),
                          sum(len(keys) for keys in processing.values())))


class HeartbeatGap(Sampler):
    """The longest time the scheduler went without hearing from a worker."""

    interval = 0.25

    def __init__(self, client, name: str):
        self.client, self.name, self.gap, self.samples = client, name, 0.0, 0

    def sample(self) -> None:
        try:
            seen = self.client.run_on_scheduler(worker_last_seen, self.name)
        except Exception:  # noqa: BLE001 - a missed sample
            return
        if seen:
            self.gap = max(self.gap, time.time() - seen)
            self.samples += 1
