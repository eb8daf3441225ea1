"""Every notebook of the course, top to bottom, against the test cluster, at
CI sizes (DASKLAB_SIZE=ci): a cell that raises fails the test, and the
notebook as executed, outputs and error included, is saved under evidence/.
The kernel is .venv's Python, as under `make notebook`; it inherits the
test cluster's settings from the session (tests/conftest.py)."""

from __future__ import annotations

import os
import time

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from dasklab.result import verdicts_in_html
from dasklab.settings import ROOT

# The first notebook runs in JupyterLab itself, through the browser (test_jupyterlab.py).
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if not p.name.startswith("01-"))
EVIDENCE = ROOT / "evidence" / "notebooks"

# A notebook at CI sizes takes 10-40 s; a cell that hangs fails at its own limit first.
pytestmark = pytest.mark.timeout(300)


def execute(path, **env):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=180, startup_timeout=60,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute(env={**os.environ, **env})
    except CellExecutionError:
        EVIDENCE.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, EVIDENCE / path.name)
        raise
    return nb


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(lab, path):
    started = time.monotonic()
    nb = execute(path, DASKLAB_SIZE="ci", PYTHONPATH=str(ROOT))
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell ran"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    # Every scenario the notebook ran passed: a Result shows its verdict (dasklab/result.py).
    html = "".join(o.get("data", {}).get("text/html", "") for c in code for o in c.outputs)
    verdicts = verdicts_in_html(html)
    assert verdicts and set(verdicts) == {"pass"}, f"scenario verdicts in {path.name}: {verdicts}"
    # The hidden solution's check passed (it asserts), and it printed so.
    printed = "".join(o.get("text", "") for c in code for o in c.outputs)
    assert "Right:" in printed, "the exercise's check should accept the solution"
    print(f"{path.name}: {time.monotonic() - started:.1f} s at CI sizes")
