"""The one polling loop: wait for a condition, bounded in time and count.
Kept apart from connect.py so the backends can use it without importing the
connection code (which chooses among them)."""

from __future__ import annotations

import time
from typing import Any, Callable


def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.2, state: Callable[[], Any] | None = None) -> Any:
    """Poll `predicate` until it returns something truthy; raise TimeoutError
    naming what was awaited and the last state seen. Bounded in time and count."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    seen = state() if state else value
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}; last state: {seen!r}")
