"""Live progress on stderr while a scenario runs: its phases as they start,
with the time elapsed, and a progress bar while it waits on many futures.

stdout stays for the result (a table, or clean JSON with --json); `--quiet`
silences all of this. rich is imported only when something is shown: these
modules are imported on the workers too, whose image has no rich.
"""

from __future__ import annotations

import sys
import time
from typing import Iterable

_state = {"quiet": False, "name": "", "start": time.monotonic(), "phase": "", "phase_at": 0.0}
# Every phase of this process's scenarios, ended: (scenario, phase, seconds).
# The test session prints the slowest (tests/conftest.py): where time goes.
ENDED: list[tuple[str, str, float]] = []


def configure(*, quiet: bool | None = None, name: str | None = None) -> None:
    """Called by the registry when a scenario starts (name, clock) and by the
    CLI (--quiet)."""
    if quiet is not None:
        _state["quiet"] = quiet
    if name is not None:
        # A phase left open outside a registry run (a unit test's) is not timed.
        _state["name"], _state["start"], _state["text"] = name, time.monotonic(), ""


def quiet() -> bool:
    return bool(_state["quiet"])


def elapsed() -> float:
    return time.monotonic() - _state["start"]


def phase(text: str) -> None:
    """Announce a phase: `[  12.3 s] spill: disk full, no max-spill`."""
    prefix = f"{_state['name']}: " if _state["name"] else ""
    end_phase()
    # Remembered even when quiet: a time limit names the phase that stalled.
    _state["phase"], _state["phase_at"] = prefix + text, time.monotonic()
    _state["text"] = text
    if quiet():
        return
    print(f"[{elapsed():7.1f} s] {prefix}{text}", file=sys.stderr, flush=True)


def end_phase() -> None:
    """Close the current phase (its time goes to ENDED); the registry calls it
    when a scenario is done."""
    if _state.get("text"):
        ENDED.append((_state["name"], _state["text"], time.monotonic() - _state["phase_at"]))
    _state["text"] = ""


def slowest(n: int = 15) -> list[tuple[str, str, float]]:
    """The n longest phases ended in this process, longest first."""
    return sorted(ENDED, key=lambda e: -e[2])[:n]


def last_phase() -> str | None:
    """The phase announced last and how long ago, e.g. "spill: disk full
    (started 41 s ago)"; None when no phase was announced yet."""
    if not _state["phase"]:
        return None
    return f"{_state['phase']} (started {time.monotonic() - _state['phase_at']:.0f} s ago)"


def wait_futures(futures: Iterable, what: str, timeout: float) -> None:
    """Like distributed.wait(futures, timeout): returns when every future is
    done (finished, erred or cancelled), raises TimeoutError past `timeout`;
    meanwhile a progress bar counts them on stderr."""
    from distributed import as_completed, wait

    futures = list(futures)
    if not futures:
        return
    if quiet():
        wait(futures, timeout=timeout)
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn)

    phase(what)
    columns = (TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, transient=True, console=_console()) as bar:
        task = bar.add_task(what, total=len(futures))
        # as_completed raises TimeoutError at the deadline: bounded in time.
        for _ in as_completed(futures, timeout=timeout):
            bar.advance(task)


def _console():
    from rich.console import Console

    return Console(stderr=True)
