"""meters.StatusWatch: the one watcher of worker statuses (spill's "who was
paused", scoring's stall guard), with a stub client."""

from __future__ import annotations

import time

from dasklab.meters import StatusWatch


class FakeClient:
    def __init__(self, *rounds):
        self.rounds = list(rounds)

    def scheduler_info(self, n_workers=-1):
        statuses = self.rounds.pop(0)
        return {"workers": {f"tcp://{n}": {"name": n, "status": s} for n, s in statuses.items()}}


def test_all_paused_counts_only_while_every_worker_is_paused(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    watch = StatusWatch(FakeClient({"worker-1": "paused", "worker-2": "running"},
                                   {"worker-1": "paused", "worker-2": "paused"},
                                   {"worker-1": "paused", "worker-2": "paused"},
                                   {"worker-1": "running", "worker-2": "paused"}))
    watch.sample()
    assert watch.all_paused_for() == 0 and watch.paused == {"worker-1"}
    watch.sample()  # every worker paused from t=100
    now[0] = 103.0
    watch.sample()  # still: the same stretch, not restarted
    now[0] = 105.0
    assert watch.all_paused_for() == 5.0
    watch.sample()
    assert watch.all_paused_for() == 0 and watch.paused == {"worker-1", "worker-2"}
    assert watch.statuses == {"worker-1": "running", "worker-2": "paused"}


def test_no_workers_is_not_a_stall():
    watch = StatusWatch(FakeClient({}))
    watch.sample()
    assert watch.all_paused_for() == 0
