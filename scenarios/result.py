"""The one shape every scenario returns, and the reporter that prints it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

PASS, FAIL, ERROR = "pass", "fail", "error"


@dataclass
class Result:
    name: str
    verdict: str = PASS  # pass | fail | error (an exception inside the scenario)
    measurements: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    evidence: str | None = None  # folder with logs and a cluster dump, on failure

    def check(self, ok: bool, why: str) -> bool:
        """Record a condition of the verdict: a false one fails the result."""
        if not ok:
            self.verdict = FAIL if self.verdict == PASS else self.verdict
            self.notes.append(f"FAILED: {why}")
        return ok

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10000:
        return f"{value:,}"
    return str(value)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["  (none)"]
    cols = list(dict.fromkeys(k for row in rows for k in row))
    cells = [[_fmt(row.get(c, "")) for c in cols] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  " + "  ".join(v.ljust(w) for v, w in zip(vals, widths))  # noqa: E731
    return [line(cols), line(["-" * w for w in widths]), *(line(r) for r in cells)]


def render(result: Result) -> str:
    """The readable report: verdict, numbers, tables, notes, error."""
    out = [f"== {result.name}: {result.verdict.upper()}  ({result.seconds:.1f} s)"]
    if result.measurements:
        width = max(len(k) for k in result.measurements)
        out += [f"  {k.ljust(width)}  {_fmt(v)}" for k, v in result.measurements.items()]
    for title, rows in result.tables.items():
        out += ["", f"  [{title}]", *_table(rows)]
    if result.notes:
        out += ["", "  notes:", *(f"  - {n}" for n in result.notes)]
    if result.error:
        out += ["", "  error:", *("    " + l for l in result.error.rstrip().splitlines())]
    if result.evidence:
        out += ["", f"  evidence saved in {result.evidence}"]
    return "\n".join(out)
