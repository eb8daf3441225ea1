"""Tasks and seeing them: the tasks, find-data and dashboard scenarios against
the test cluster, each proof asserted (no timing asserts)."""

from __future__ import annotations

import shutil
import struct

import pytest

from scenarios import registry
from dasklab.settings import named_workers


def _passed(result):
    assert result.verdict == "pass", result.notes + [result.error or ""]
    return result


def test_tasks_every_policy_is_proven_by_the_cluster(lab, scenario):
    r = _passed(scenario("tasks"))
    for title in ("submit, map, compute, persist", "restrictions", "retries"):
        assert r.tables[title] and all(row["holds"] for row in r.tables[title]), title
    (prio,) = r.tables["priorities (worker-1's two threads busy, then released)"]
    assert prio["seen"] == "high high high high low low low low"
    gpu = r.tables["resources (one elastic worker advertises GPU=1)"]
    assert [row["seen"] for row in gpu][1:] == [1, "no-worker"]
    queuing = {row["worker-saturation"]: row for row in r.tables["queuing (root tasks held by a gate)"]}
    assert (queuing[1.1]["processing"], queuing[1.1]["queued on the scheduler"]) == (9, 21)
    assert queuing[float("inf")]["queued on the scheduler"] == 0
    assert set(lab.workers_by_name()) == set(named_workers())  # GPU worker gone


def test_find_data_second_client_finds_everything(lab, scenario):
    r = _passed(scenario("find-data", n=8))
    assert len(r.tables["proofs"]) == 12 and all(row["holds"] for row in r.tables["proofs"])
    assert r.measurements["dataset"] not in lab.client.list_datasets()  # unpublished after


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_dashboard_pages_render_in_a_real_browser(lab):
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("no chromium/chromedriver: `make browser` could not install Debian's "
                    "chromium and chromium-driver on this machine")
    r = _passed(registry.run("dashboard", lab))
    pages = {row["page"]: row for row in r.tables["pages"]}
    for page in ("/status", "/workers", "/tasks", "/system", "/profile", "/graph", "/groups"):
        assert pages[page]["Bokeh roots"] >= 1 and pages[page]["canvases drawn"] >= 1, page
    for page in ("/status", "/tasks", "/profile"):
        assert pages[page]["run's keys in its data"], page
    from dasklab import REPORTS

    shots = sorted((REPORTS / "dashboard").glob("*.png"))
    assert {"status.png", "workers.png", "tasks.png"} <= {p.name for p in shots}
    for shot in shots:
        width, height = _png_size(shot)
        assert width >= 1000 and height >= 700, f"{shot.name} is {width}x{height}"
        assert shot.stat().st_size > 20_000, f"{shot.name} is too small to show a page"
    assert r.measurements["/sitemap.json status"] == 500  # the known upstream bug, documented
