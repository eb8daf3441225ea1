"""JupyterLab in a real browser: the server `make notebook` starts (on a
free port, its state in a temporary folder, a copy of the first notebook so
that JupyterLab's autosave never writes outputs into the checkout), driven
by headless Chromium. Screenshots under reports/notebook/."""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request

import pytest

from dasklab import REPORTS, free_port, wait_until
from dasklab import notebook
from dasklab.result import verdicts_in_html
from dasklab.settings import ROOT

FIRST = "01-cast-of-characters.ipynb"
SHOTS = REPORTS / "notebook"

pytestmark = pytest.mark.timeout(300)

# The notebook panel that holds FIRST, and its cells' state, from JupyterLab's
# own model (window.jupyterapp: the server runs with expose_app_in_browser).
PANEL = """
const app = window.jupyterapp;
if (!app || !app.shell) return null;
for (const w of app.shell.widgets('main'))
  if (w.context && w.context.path && w.context.path.endsWith(arguments[0])) return w.id;
return null;
"""
CELLS = """
const app = window.jupyterapp;
let panel = null;
for (const w of app.shell.widgets('main')) if (w.id === arguments[0]) panel = w;
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
const cells = panel.content.model.cells, out = {kernel: kernel ? kernel.status : null,
  code: 0, ran: 0, errors: [], last_has_output: false, html: ''};
for (let i = 0; i < cells.length; i++) {
  const c = cells.get(i);
  if (c.type !== 'code') continue;
  out.code++;
  if (c.executionCount) out.ran++;
  const outputs = c.outputs.toJSON();
  for (const o of outputs) {
    if (o.output_type === 'error') out.errors.push(o.ename + ': ' + o.evalue);
    if (o.data && o.data['text/html']) out.html += [].concat(o.data['text/html']).join('');
  }
  out.last_has_output = outputs.length > 0;
}
return out;
"""
MOVE_BESIDE = """
const app = window.jupyterapp;
for (const w of app.shell.widgets('main'))
  if (w.title.label === 'Task Stream') app.shell.add(w, 'main', {mode: 'split-right', ref: arguments[0]});
"""
# Bars the Task Stream pane holds: rows of its Bokeh data source (one per task).
BARS = """
const doc = (typeof Bokeh !== 'undefined' && Bokeh.documents.length) ? Bokeh.documents[0] : null;
let bars = 0;
if (doc) for (const m of doc.all_models) if (m.data && m.data.key && m.data.duration)
  bars += m.data.key.length;
return bars;
"""


@pytest.fixture
def drv():
    from scenarios.tasks.dashboard import browser

    try:
        d = browser()
    except RuntimeError as e:
        pytest.skip(str(e))
    yield d
    d.quit()


@pytest.fixture
def server(lab, tmp_path, monkeypatch):
    root = tmp_path / "notebooks"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / FIRST, root / FIRST)
    monkeypatch.setenv("DASKLAB_SIZE", "ci")
    state = tmp_path / "jupyter"
    srv = notebook.start(free_port(), notebook.dashboard_root(lab.settings), state=state,
                         root_dir=root, extra=("--LabApp.expose_app_in_browser=True",))
    yield srv
    assert notebook.stop(state), "JupyterLab should have been running until the end"
    assert notebook.running(state) is None


def _bars(drv, frame) -> int:
    drv.switch_to.frame(frame)
    try:
        return drv.execute_script(BARS) or 0
    finally:
        drv.switch_to.default_content()


def test_wrong_token_is_refused(server, drv):
    assert notebook.answers(server.base, server.token) == 200
    assert notebook.answers(server.base, "0" * 48) == 403
    drv.get(f"{server.base}/lab?token={'0' * 48}")
    wait_until(lambda: "/login" in drv.current_url, 30, "the login page for a wrong token",
               state=lambda: drv.current_url)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{server.base}/api/contents?token=wrong", timeout=10)
    assert err.value.code == 403


def test_first_notebook_runs_in_jupyterlab_with_the_task_stream_beside_it(server, drv):
    from selenium.webdriver.common.by import By

    SHOTS.mkdir(parents=True, exist_ok=True)
    drv.get(f"{server.base}/lab/tree/{FIRST}?token={server.token}")
    panel = wait_until(lambda: drv.execute_script(PANEL, FIRST), 90, "JupyterLab to open the notebook")
    wait_until(lambda: drv.execute_script(CELLS, panel)["kernel"] == "idle", 60,
               "the notebook's kernel to start", state=lambda: drv.execute_script(CELLS, panel))

    # Dask's sidebar is preset to the cluster's dashboard: its Task Stream opens with one click.
    drv.execute_script("window.jupyterapp.shell.activateById('dask-dashboard-launcher')")
    # (The sidebar shows its labels in capitals, by CSS.)
    item = wait_until(lambda: next((e for e in drv.find_elements(By.CSS_SELECTOR, "button")
                                    if e.text.strip().lower() == "task stream"
                                    and e.is_displayed() and e.is_enabled()), None),
                      60, "the Dask sidebar's Task Stream button (the dashboard found)")
    item.click()
    frame = wait_until(lambda: next((f for f in drv.find_elements(By.TAG_NAME, "iframe")
                                     if "task-stream" in (f.get_attribute("src") or "")), None),
                       30, "a Task Stream pane")
    before = _bars(drv, frame)
    # Beside the notebook, where a learner drags it.
    drv.execute_script(MOVE_BESIDE, panel)

    # Run all cells, as Run > Run All Cells does, and watch the pane while they compute.
    drv.execute_script(f"window.jupyterapp.shell.activateById('{panel}');"
                       "window.jupyterapp.commands.execute('notebook:run-all-cells')")
    seen = {"bars": before, "shot": False, "polls": 0}

    def finished():
        state = drv.execute_script(CELLS, panel)
        seen["bars"] = max(seen["bars"], _bars(drv, frame))
        # A few polls after the first bars: the pane has rescaled its time axis by then.
        seen["polls"] += seen["bars"] > before
        if seen["polls"] >= 4 and not seen["shot"]:
            drv.save_screenshot(str(SHOTS / "task-stream-while-computing.png"))
            seen["shot"] = True
        return state if state["ran"] == state["code"] and state["kernel"] == "idle" else None

    started = time.monotonic()
    state = wait_until(finished, 240, "every cell to run",
                       state=lambda: drv.execute_script(CELLS, panel))
    drv.save_screenshot(str(SHOTS / "notebook-after-run-all.png"))
    print(f"run all: {time.monotonic() - started:.1f} s; task stream bars {before} -> "
          f"{seen['bars']}; screenshots in {SHOTS}")
    assert not state["errors"], state["errors"]
    assert state["last_has_output"], "the last cell should have printed its output"
    verdicts = verdicts_in_html(state["html"])
    assert verdicts == ["pass"], f"the tour's verdict in the page: {verdicts}"
    assert seen["bars"] > before, "the Task Stream pane should draw the notebook's tasks"
