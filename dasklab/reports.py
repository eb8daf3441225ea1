"""Where pictures and reports go: reports/ (git-ignored), one file per run."""

from __future__ import annotations

import time
from pathlib import Path

from .settings import ROOT

REPORTS = ROOT / "reports"


def report_path(name: str, suffix: str) -> Path:
    """reports/<name>-<date>-<time>.<suffix>, its folder created."""
    REPORTS.mkdir(exist_ok=True)
    return REPORTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.{suffix}"
