"""Keep the evidence of a failed scenario: compose ps and logs, each worker's
own log as the client sees it, and a dump of the cluster state."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .settings import ROOT

EVIDENCE = ROOT / "evidence"  # git-ignored


def _write(folder: Path, steps: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for filename, step in steps.items():
        try:
            (folder / filename).write_text(step())
        except Exception as e:  # noqa: BLE001 - evidence is best effort, say what failed
            (folder / f"{filename}.error").write_text(repr(e))


def save_compose(compose, folder: Path) -> None:
    """`docker compose ps` and logs only: for when there is no client (the
    test cluster's teardown, a cluster that never came up)."""
    _write(folder, {"compose-ps.txt": compose.ps, "compose-logs.txt": compose.logs})


def save(lab, label: str, folder: Path | None = None) -> str:
    folder = folder or EVIDENCE / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"
    save_compose(lab.compose, folder)
    steps = {
        "worker-logs.json": lambda: json.dumps(
            lab.client.get_worker_logs(n=500), indent=1, default=str),
        "scheduler-logs.json": lambda: json.dumps(
            lab.client.get_scheduler_logs(n=500), indent=1, default=str),
    }
    _write(folder, steps)
    try:
        lab.client.dump_cluster_state(str(folder / "cluster-state"), format="yaml")
    except Exception as e:  # noqa: BLE001
        (folder / "cluster-state.error").write_text(repr(e))
    return str(folder.relative_to(ROOT)) if folder.is_relative_to(ROOT) else str(folder)
