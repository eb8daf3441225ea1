"""What a scenario needs from the cluster it runs against, and what this one has.

Each scenario in registry.py names its needs. Against a cluster that lacks
one (a Dask cluster on Kubernetes reached with DASKLAB_SCHEDULER, the Swarm
stack, a LocalCluster), the scenario is skipped with the reason, before it
starts, instead of failing half way with an obscure error.
"""

from __future__ import annotations

from .settings import named_workers

NEEDS = {
    "lab-code": "the lab's code (the `dasklab` and `scenarios` packages) on the scheduler and workers: "
                "the lab's images carry it (dasklab/dask:stack for other clusters)",
    "store": "the lab's S3 store (the bucket DASKLAB_BUCKET answering at the S3 endpoint)",
    "named-workers": "workers named worker-1, worker-2 and worker-3",
    "containers": "a resource manager the lab drives, for faults and volumes (Compose, or "
                  "the Swarm stack with DASKLAB_BACKEND=swarm); DASKLAB_BACKEND=none has none",
    "compose": "the Compose cluster itself (`make up`): the scenario starts containers, "
               "overlays or side clusters beside it",
    "hosts": "the lab on more than one engine host (`sudo make hosts-up N=2`; the scenario "
             "then runs with DASKLAB_BACKEND=hosts)",
}


def provided(lab, wanted: frozenset[str] | None = None) -> set[str]:
    """The needs this lab meets, asked of the live cluster: only those in
    `wanted` (all when None). Asking only what a scenario needs matters: the
    named-workers check waits up to a minute for a worker coming back, which a
    one-worker cluster running a store-only scenario must not pay."""
    from .objects import bucket_ready

    def asked(need: str) -> bool:
        return wanted is None or need in wanted

    have = set()
    resources = getattr(lab, "resources", None)
    if asked("lab-code") and (resources is not None or _cluster_has_code(lab.client)):
        have.add("lab-code")  # the lab's own clusters run its images
    if resources is not None:
        have.add("containers")
        if resources.kind == "compose":
            have.add("compose")
        if hasattr(resources, "power_off"):
            have.add("hosts")
    if asked("named-workers") and _named_workers(lab):
        have.add("named-workers")
    if asked("store") and bucket_ready(lab.settings):
        have.add("store")
    return have


def _named_workers(lab, timeout: float = 60) -> bool:
    """worker-1..3 registered. On the lab's own clusters (or where some
    worker-N is already there) a worker may be coming back from the previous
    scenario's fault: wait for it, bounded, rather than skip."""
    try:
        seen = set(lab.workers_by_name())
        if set(named_workers()) <= seen:
            return True
        if getattr(lab, "resources", None) is None and not seen & set(named_workers()):
            return False  # a cluster with other names: nothing to wait for
        lab.wait_for_workers(set(named_workers()), timeout)
        return True
    except Exception:  # noqa: BLE001 - timed out or no answer: not met
        return False


def _has_code() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(p) is not None for p in ("dasklab", "scenarios"))


def _cluster_has_code(client) -> bool:
    """Sent by value (registry.run ships the lab's code first for such clusters)."""
    try:
        return client.run_on_scheduler(_has_code) and all(client.run(_has_code).values())
    except Exception:  # noqa: BLE001 - cannot tell: treat as missing
        return False


def unmet(needs: frozenset[str], have: set[str]) -> list[str]:
    """Why a scenario cannot run here: one line per missing need."""
    unknown = needs - set(NEEDS)
    if unknown:
        raise ValueError(f"unknown needs {sorted(unknown)}; known: {sorted(NEEDS)}")
    return [NEEDS[n] for n in sorted(needs - have)]
