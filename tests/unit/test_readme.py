"""The README's course map is the project's table of contents: every
scenario appears in it and in the scenarios table, and every test it names
exists."""

from __future__ import annotations

import re

from scenarios import registry
from dasklab.settings import ROOT

README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_every_scenario_is_in_the_course_map_and_the_scenarios_table():
    course, table = _section("Course map"), _section("Scenarios")
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
