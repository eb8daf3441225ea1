"""How the notebooks are stored: no outputs (reviews read the source, and no
result of one machine is committed), valid nbformat, one per course section
in order, each with its size parameter, an exercise with a check and a hidden
solution that asserts the check, and every scenario of the course run by one
of them. They are executed against the cluster in tests/notebooks/."""

from __future__ import annotations

import re

import nbformat
import pytest

from dasklab.settings import ROOT
from scenarios import registry

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _code(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def test_one_notebook_per_course_section_in_order():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(NOTEBOOKS) + 1)), [p.name for p in NOTEBOOKS]
    assert len(NOTEBOOKS) >= len(registry.SECTIONS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_without_outputs_and_valid(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, \
                f"{path.name}: outputs committed; clear them (Edit > Clear Outputs of All Cells)"
    assert not any(k in nb.metadata for k in ("widgets", "papermill"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_size_parameter_exercise_check_and_hidden_solution(path):
    nb = nbformat.read(path, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and 'os.environ.get("DASKLAB_SIZE", "demo")' in params[0].source
    assert nb.cells.index(params[0]) <= 2, "the sizes come first"
    code = _code(nb)
    assert any(re.match(r"answer = \.\.\.", s) for s in code), "an exercise for the learner"
    assert any(s.startswith("exercises.") for s in code), "a cell that checks the answer"
    hidden = [c for c in nb.cells if c.metadata.get("jupyter", {}).get("source_hidden")]
    assert len(hidden) == 1 and "assert exercises." in hidden[0].source
    assert "open_lab()" in "\n".join(code) and "lab.close()" in code[-1]


def test_every_scenario_of_the_course_runs_in_a_notebook():
    sources = "\n".join(s for p in NOTEBOOKS for s in _code(nbformat.read(p, as_version=4)))
    named = set(re.findall(r'registry\.run\("([a-z-]+)"', sources))
    named |= set(re.findall(r'"([a-z-]+)"', "".join(re.findall(r"MORE = \[[^\]]*\]", sources))))
    # scoring: its phases (scoring.compare_ways ...), the scenario is too long for a class.
    # node-loss, drain: they need the engine hosts (`sudo make hosts-up`, root), which no
    # notebook starts; tests/hosts runs them.
    on_hosts = {n for n, s in registry.SCENARIOS.items() if "hosts" in s.needs}
    missing = set(registry.SCENARIOS) - named - {"scoring"} - on_hosts
    assert not missing, f"scenarios no notebook runs: {sorted(missing)}"
    assert "scoring.compare_ways(" in sources
