"""A pytest plugin for `make test-repeat N=3`: the suite N times over
(pytest-repeat, `--count N --repeat-scope session`: the whole suite, then the
whole suite again, on one test cluster), then one table: each test, how often
it passed and failed, and its median time. A flaky test shows as a row with
both counts; the closing line says how many tests ever failed.

The table is also written to reports/test-repeat-<time>.txt.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict

_runs: dict[str, dict[str, dict]] = defaultdict(dict)  # test -> repetition -> outcome
_REPEAT_ID = re.compile(r"(?:\[|-)(\d+)-(\d+)\]$")


def _split(nodeid: str) -> tuple[str, str]:
    """'t.py::test_x[2-3]' -> ('t.py::test_x', '2'); 't.py::test_y[a-1-3]' -> ('t.py::test_y[a]', '1')."""
    m = _REPEAT_ID.search(nodeid)
    if not m:
        return nodeid, "1"
    base = nodeid[:m.start()]
    return (base + "]" if nodeid[m.start()] == "-" else base), m.group(1)


def pytest_runtest_logreport(report):
    test, rep = _split(report.nodeid)
    run = _runs[test].setdefault(rep, {"failed": False, "skipped": False, "seconds": 0.0})
    run["seconds"] += report.duration
    run["failed"] |= report.failed
    run["skipped"] |= report.skipped and report.when in ("setup", "call")


def table(runs: dict[str, dict[str, dict]]) -> list[str]:
    rows = []
    for test, reps in runs.items():
        passes = sum(not r["failed"] and not r["skipped"] for r in reps.values())
        fails = sum(r["failed"] for r in reps.values())
        skips = sum(r["skipped"] and not r["failed"] for r in reps.values())
        median = statistics.median(r["seconds"] for r in reps.values())
        rows.append((test, passes, fails, skips, median))
    width = max([len(r[0]) for r in rows] + [4])
    out = [f"{'test'.ljust(width)}  passes  failures  skipped  median s",
           f"{'-' * width}  ------  --------  -------  --------"]
    out += [f"{t.ljust(width)}  {p:6d}  {f:8d}  {s:7d}  {m:8.1f}" for t, p, f, s, m in rows]
    flaky = [r[0] for r in rows if r[2]]
    out.append(f"{len(rows)} tests x {max((len(r) for r in runs.values()), default=0)} runs: "
               f"{len(flaky)} test(s) failed at least once"
               + (f" ({', '.join(flaky)})" if flaky else ""))
    return out


def pytest_terminal_summary(terminalreporter, config):
    if (config.getoption("count", 1) or 1) < 2 or not _runs:
        return
    from .reports import report_path

    lines = table(_runs)
    terminalreporter.section("test-repeat: each test over the repeated runs")
    for line in lines:
        terminalreporter.write_line(line)
    path = report_path("test-repeat", "txt")
    path.write_text("\n".join(lines) + "\n")
    terminalreporter.write_line(f"table saved: {path}")
