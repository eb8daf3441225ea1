"""The README's course map is the project's table of contents: every
scenario appears in it and in the scenarios table (docs/scenarios.md), every
notebook in it, and every test, notebook and page it names exists; every
link between the README and docs/ lands on a file and a heading."""

from __future__ import annotations

import re

from scenarios import registry
from dasklab.settings import ROOT

README = (ROOT / "README.md").read_text()
SCENARIOS_PAGE = (ROOT / "docs" / "scenarios.md").read_text()


def _section(title: str, text: str = README) -> str:
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_every_scenario_is_in_the_course_map_and_the_scenarios_table():
    course = _section("Course map")
    table = SCENARIOS_PAGE
    for name in registry.SCENARIOS:
        assert f"`{name}`" in course, f"{name} missing from the course map"
        assert f"| `{name}` |" in table, f"{name} missing from the scenarios table"


def test_every_test_the_course_map_names_exists():
    named = 0
    for line in _section("Course map").splitlines():
        cells = line.split(" | ")
        if len(cells) < 3:
            continue
        path = None
        for item in re.findall(r"`([^`]+)`", cells[-1]):
            file, _, test = item.partition("::")
            path = ROOT / file if file else path
            assert path is not None and path.is_file(), f"no test file {item}"
            if test:
                assert re.search(rf"^def {re.escape(test)}\(", path.read_text(), re.M), item
                named += 1
    assert named >= 20


def test_every_notebook_is_in_the_course_map_and_every_link_there_exists():
    course = _section("Course map")
    linked = set(re.findall(r"\]\((notebooks/[^)]+\.ipynb)\)", course))
    stored = {f"notebooks/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert len(stored) >= 8, "one notebook per course section"
    assert linked == stored, (linked ^ stored)


def _anchors(text: str) -> set[str]:
    out, fence = set(), False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and re.match(r"^#{1,4} ", line):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def test_links_between_the_readme_and_docs_land_on_a_file_and_a_heading():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    checked = 0
    for page in pages:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://", "<")):
                continue
            file, _, anchor = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            assert dest.exists(), f"{page.name}: link to {target}: no such file"
            if anchor and dest.suffix == ".md":
                assert anchor in _anchors(dest.read_text()), f"{page.name}: no heading #{anchor}"
            checked += 1
    assert checked >= 40
