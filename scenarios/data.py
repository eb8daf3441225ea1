"""Deterministic data the scenarios write and check, plus small helpers for
the object store. Every partition is a pure function of (seed, index), so a
result can be checked against an independent computation on the client."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time

import numpy as np
import pandas as pd

SEED = 20261126


def partition(index: int, rows: int, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng([seed, index])
    return pd.DataFrame({
        "id": np.arange(index * rows, (index + 1) * rows, dtype="int64"),
        "x": rng.random(rows),
        "y": rng.normal(size=rows),
        "group": rng.integers(0, 16, size=rows, dtype="int64"),
    })


def expected_sum_x(partitions: int, rows: int, seed: int = SEED) -> float:
    return float(sum(partition(i, rows, seed)["x"].sum() for i in range(partitions)))


def frame_digest(df: pd.DataFrame) -> str:
    """A content checksum that ignores the file format: same rows -> same digest."""
    hashed = pd.util.hash_pandas_object(df.reset_index(drop=True), index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def bucket() -> str:
    return os.environ["DASKLAB_BUCKET"]


def s3():
    """An s3fs filesystem configured only by the standard AWS_* variables.
    Listings are not cached: scenarios list right after writing."""
    import s3fs

    return s3fs.S3FileSystem(use_listings_cache=False, skip_instance_cache=True)


def write_partition(path: str, index: int, rows: int, seed: int = SEED) -> int:
    """Task: build partition `index` and write it to s3://`path`; returns bytes."""
    fs = s3()
    data = partition(index, rows, seed).to_parquet(index=False)
    fs.pipe_file(path, data)
    return len(data)


def ensure_dataset(client, prefix: str, files: int, rows: int) -> list[str]:
    """Write the dataset from the workers unless all of it is already there."""
    fs = s3()
    paths = [f"{bucket()}/{prefix}/part-{i:04d}.parquet" for i in range(files)]
    present = set(fs.find(f"{bucket()}/{prefix}/"))
    missing = [(i, p) for i, p in enumerate(paths) if p not in present]
    if missing:
        futures = [client.submit(write_partition, p, i, rows, pure=False) for i, p in missing]
        client.gather(futures)
    return paths


class SocketMeter:
    """Bytes this process received and sent over sockets while active: what
    really passed through the client, S3 downloads and scheduler traffic
    alike. It wraps socket.socket's recv/send methods (asyncio, tornado and
    aiohttp all go through them) and restores them on exit."""

    _RECV = ("recv", "recv_into")
    _SEND = ("send", "sendall", "sendmsg")

    def __init__(self) -> None:
        self.received = self.sent = 0
        self._lock = threading.Lock()

    def _wrap(self, name: str, incoming: bool):
        original = getattr(socket.socket, name)

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
        for names, incoming in ((self._RECV, True), (self._SEND, False)):
            for name in names:
                original, counted = self._wrap(name, incoming)
                self._saved[name] = original
                setattr(socket.socket, name, counted)
        return self

    def __exit__(self, *exc) -> None:
        for name, original in self._saved.items():
            setattr(socket.socket, name, original)

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


class StatusWatch(Sampler):
    """Polls the scheduler for worker statuses; remembers who was ever paused."""

    interval = 0.2

    def __init__(self, client) -> None:
        self.client, self.paused = client, set()

    def sample(self) -> None:
        try:
            workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        except Exception:  # noqa: BLE001 - a missed sample is fine
            return
        self.paused |= {str(w["name"]) for w in workers if w["status"] == "paused"}


class Timer:
    def __enter__(self) -> "Timer":
        self._start = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.monotonic() - self._start
