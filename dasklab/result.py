"""The one shape every scenario returns, and the reporter that prints it."""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

PASS, FAIL, ERROR, SKIP = "pass", "fail", "error", "skip"


@dataclass
class Result:
    name: str
    # pass | fail | error (an exception inside the scenario) | skip (needs unmet)
    verdict: str = PASS
    measurements: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    evidence: str | None = None  # folder with logs and a cluster dump, on failure
    faults: list[dict[str, Any]] = field(default_factory=list)  # what the nemesis did

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

    def _repr_html_(self) -> str:
        """How a notebook shows a Result: the same report as `render`, as HTML."""
        return render_html(self)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10000:
        return f"{value:,}"
    return str(value)


def table_text(rows: list[dict[str, Any]], title: str | None = None) -> str:
    """Rows of dicts as an aligned text table (rich), one column per key."""
    if not rows:
        return (f"  [{title}]\n" if title else "") + "  (none)"
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text  # plain Text: no markup, "[worker-1]" stays as it is

    cols = list(dict.fromkeys(k for row in rows for k in row))
    t = Table(title=Text(f"[{title}]") if title else None, title_justify="left",
              box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for c in cols:
        t.add_column(Text(c))
    for row in rows:
        t.add_row(*(Text(_fmt(row.get(c, ""))) for c in cols))
    # Plain text, wide enough that no cell wraps: reports end up in logs and files.
    console = Console(file=io.StringIO(), width=max(100, _width(cols, rows)),
                      color_system=None, highlight=False)
    console.print(t)
    return "\n".join("  " + line.rstrip() for line in console.file.getvalue().splitlines())


def _width(cols: list[str], rows: list[dict[str, Any]]) -> int:
    # Per column: its widest cell, 2 of padding and 1 of divider.
    return 4 + sum(max(len(c), *(len(_fmt(r.get(c, ""))) for r in rows)) + 3 for c in cols)


def render(result: Result) -> str:
    """The readable report: verdict, numbers, tables, faults, notes, error."""
    out = [f"== {result.name}: {result.verdict.upper()}  ({result.seconds:.1f} s)"]
    if result.measurements:
        width = max(len(k) for k in result.measurements)
        out += [f"  {k.ljust(width)}  {_fmt(v)}" for k, v in result.measurements.items()]
    for title, rows in result.tables.items():
        out += ["", table_text(rows, title)]
    if result.faults:
        out += ["", table_text(result.faults, "faults injected")]
    if result.notes:
        out += ["", "  notes:", *(f"  - {n}" for n in result.notes)]
    if result.error:
        out += ["", "  error:", *("    " + l for l in result.error.rstrip().splitlines())]
    if result.evidence:
        out += ["", f"  evidence saved in {result.evidence}"]
    return "\n".join(out)


def html_table(rows: list[dict[str, Any]], title: str | None = None) -> str:
    from html import escape

    cols = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{escape(_fmt(row.get(c, '')))}</td>" for c in cols)
                   + "</tr>" for row in rows)
    caption = f"<caption style='text-align:left'><b>{escape(title)}</b></caption>" if title else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(result: Result) -> str:
    """`render` for a notebook: verdict, numbers, tables, faults, notes, error."""
    from html import escape

    color = {PASS: "green", FAIL: "firebrick", ERROR: "firebrick"}.get(result.verdict, "gray")
    out = [f"<h4>{escape(result.name)}: <span data-verdict='{result.verdict}' style='color:{color}'>"
           f"{result.verdict.upper()}</span> ({result.seconds:.1f} s)</h4>"]
    if result.measurements:
        out.append(html_table([{"measurement": k, "value": v}
                               for k, v in result.measurements.items()]))
    out += [html_table(rows, title) for title, rows in result.tables.items() if rows]
    if result.faults:
        out.append(html_table(result.faults, "faults injected"))
    if result.notes:
        out.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in result.notes if n) + "</ul>")
    if result.error:
        out.append(f"<pre>{escape(result.error)}</pre>")
    return "\n".join(out)


def verdicts_in_html(html: str) -> list[str]:
    """The verdicts of the Results a page (an executed notebook) shows, in order."""
    import re

    return re.findall(r"data-verdict='(\w+)'", html)
