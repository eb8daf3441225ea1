"""Best practices and debugging: the debugging scenario's proofs on the test
cluster (no timing asserts)."""

from __future__ import annotations

import re
from pathlib import Path



def test_debugging_finds_the_bad_record_three_ways_and_writes_an_offline_report(lab, scenario):
    r = scenario("debugging", records=40, hot_tasks=6, hot_seconds=0.3)
    assert r.verdict == "pass", r.notes + [r.error or ""]
    rows = {row["claim"]: row for row in r.tables["one bad record, three ways"]}
    assert all(row["holds"] for row in rows.values())
    assert rows["exactly one record failed, the bad one"]["seen"] == [37]
    assert rows["its last frame is parse(), with the bad record in hand"]["seen"] == \
        "parse: return int(record)"
    assert rows["pdb.set_trace() in a task ends in BdbQuit"]["seen"] == "BdbQuit"
    # Remote debugging: attached through the scheduler, read the task's variable, resumed.
    assert "attached" in rows["DAP handshake with worker-1's debugpy, through the scheduler"]["seen"]
    assert "secret = 'needle-" in \
        rows["the running task's local variable, read through the debugger"]["seen"]
    assert rows["after detaching, the task finished normally"]["holds"]
    report = Path(r.measurements["performance report"].split(" (")[0])
    html = report.read_text()
    assert "Dask Performance Report" in html
    assert not re.findall(r'<script[^>]+src="https?:', html), "the report must open offline"
    assert int(re.search(r"number of tasks: (\d+)", html).group(1)) >= 6


def test_best_practices_each_fix_wins_on_counts_or_bytes(lab, scenario):
    r = scenario("best-practices", tiny=2000, big_mb=20, loop=6, gather_mb=80)
    assert r.verdict == "pass", r.notes + [r.error or ""]
    rows = {row["measure"]: row for row in r.tables["anti-pattern vs fix"]}
    assert len(rows) == 6 and all(row["holds"] for row in rows.values())
    assert (rows["tasks executed"]["anti-pattern"], rows["tasks executed"]["fix"]) == (2000, 20)
    # The shared intermediate: once per compute() in the loop, once in all with one compute.
    shared = rows["shared chunks computed"]
    assert shared["anti-pattern"] == 6 * shared["fix"]
    kept = rows["intermediate chunks computed"]
    assert kept["anti-pattern"] == 2 * kept["fix"]
    assert rows["MB the client sent"]["anti-pattern"] >= 6 * 20
    assert r.measurements["Dask's large-graph warnings (embedded object)"] >= 1
