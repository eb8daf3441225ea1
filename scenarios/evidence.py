"""Keep the evidence of a failed scenario: compose ps and logs, each worker's
own log as the client sees it, and a dump of the cluster state."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .settings import ROOT

EVIDENCE = ROOT / "evidence"  # git-ignored


def save(lab, label: str) -> str:
    folder = EVIDENCE / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"
    folder.mkdir(parents=True, exist_ok=True)
    steps = {
        "compose-ps.txt": lab.compose.ps,
        "compose-logs.txt": lab.compose.logs,
        "worker-logs.json": lambda: json.dumps(
            lab.client.get_worker_logs(n=500), indent=1, default=str),
        "scheduler-logs.json": lambda: json.dumps(
            lab.client.get_scheduler_logs(n=500), indent=1, default=str),
    }
    for filename, step in steps.items():
        try:
            (folder / filename).write_text(step())
        except Exception as e:  # noqa: BLE001 - evidence is best effort, say what failed
            (folder / f"{filename}.error").write_text(repr(e))
    try:
        lab.client.dump_cluster_state(str(folder / "cluster-state"), format="yaml")
    except Exception as e:  # noqa: BLE001
        (folder / "cluster-state.error").write_text(repr(e))
    return str(folder.relative_to(ROOT)) if folder.is_relative_to(ROOT) else str(folder)
