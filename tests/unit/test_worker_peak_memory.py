"""meters.WorkerPeakMemory: the meter runs in the worker's process; when that
process was replaced meanwhile (a nanny's kill at the terminate threshold),
the reading says so instead of failing with a KeyError (a CI failure of
best-practices). The "worker" here is this process, reached by a stub client."""

from __future__ import annotations

from dasklab import meters


class InProcessClient:
    """client.run, as if this process were the worker at `address`."""

    def __init__(self, forget_between: bool = False):
        self.forget_between = forget_between

    def run(self, func, *args, workers, on_error="raise"):
        if func is meters._peak_stop and self.forget_between:
            meters._IN_WORKER.clear()  # what a new worker process starts with
        return {workers[0]: func(*args)}


def test_a_rise_is_measured_in_the_worker_process():
    with meters.WorkerPeakMemory(InProcessClient(), "tcp://w:1") as peak:
        block = bytearray(64 << 20)
        block[::4096] = b"x" * len(block[::4096])  # touch every page: resident
    assert not peak.restarted and peak.rise >= 32 << 20
    assert not meters._IN_WORKER  # the meter is gone from the worker


def test_a_replaced_worker_process_is_named_not_a_keyerror():
    with meters.WorkerPeakMemory(InProcessClient(forget_between=True), "tcp://w:1") as peak:
        pass
    assert peak.restarted and peak.rise is None
