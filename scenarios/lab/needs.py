"""What a scenario needs from the cluster it runs against, and what this one has.

Each scenario in registry.py names its needs. Against a cluster that lacks
one (a Dask cluster on Kubernetes reached with DASKLAB_SCHEDULER, the Swarm
stack, a LocalCluster), the scenario is skipped with the reason, before it
starts, instead of failing half way with an obscure error.
"""

from __future__ import annotations

WORKERS = ("worker-1", "worker-2", "worker-3")

NEEDS = {
    "lab-code": "the lab's code (the `scenarios` package) on the scheduler and workers: "
                "the lab's images carry it (dasklab/dask:stack for other clusters)",
    "store": "the lab's S3 store (the bucket DASKLAB_BUCKET answering at the S3 endpoint)",
    "named-workers": "workers named worker-1, worker-2 and worker-3",
    "containers": "a resource manager the lab drives, for faults and volumes (Compose, or "
                  "the Swarm stack with DASKLAB_BACKEND=swarm); DASKLAB_BACKEND=none has none",
    "compose": "the Compose cluster itself (`make up`): the scenario starts containers, "
               "overlays or side clusters beside it",
}


def provided(lab) -> set[str]:
    """The needs this lab meets, asked of the live cluster."""
    from .objects import bucket_ready

    have = set()
    resources = getattr(lab, "resources", None)
    if resources is not None or _cluster_has_code(lab.client):
        have.add("lab-code")  # the lab's own clusters run its images
    if resources is not None:
        have.add("containers")
        if resources.kind == "compose":
            have.add("compose")
    try:
        if set(WORKERS) <= set(lab.workers_by_name()):
            have.add("named-workers")
    except Exception:  # noqa: BLE001 - no answer: the scenario's own error will say more
        pass
    if bucket_ready(lab.settings):
        have.add("store")
    return have


def _has_code() -> bool:
    import importlib.util

    return importlib.util.find_spec("scenarios") is not None


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
