"""dashboard: the scheduler's dashboard, seen in a real browser.

While a recognisable workload runs (its keys start with a run tag), a headless
Chromium (Debian's chromium + chromedriver, driven by Selenium; `make browser`
installs them) opens each page, waits until it has really rendered, and saves a
screenshot under reports/dashboard/. "Rendered" is checked inside the page:
Bokeh's document has roots, canvases with a size are drawn (inside Bokeh's
shadow DOM), and the page's data holds what the cluster is doing (the run
tag's keys in the task stream, worker-1..3 in the workers table). An HTTP 200
proves nothing: the page shell arrives before any plot exists, and
`chromium --screenshot` captures only that shell.
"""

from __future__ import annotations

import random
import shutil
import string
import time
import urllib.error
import urllib.request
from urllib.parse import quote

from dasklab import REPORTS, Result, phase, wait_until

# page -> (what it is for, what its data must show)
PAGES = {
    "status": "the overview: memory per worker, task stream, progress bars by task prefix",
    "workers": "one row per worker: CPU, memory, spilled bytes, tasks",
    "tasks": "the long task stream: each task as a bar on its worker thread",
    "system": "the scheduler process itself: CPU, memory, network, file descriptors",
    "profile": "a statistical profile of the code the tasks ran, by task prefix",
    "graph": "the task graph the scheduler holds right now, coloured by state",
    "groups": "the same graph collapsed to task groups",
}
INFO = {"info/main/workers.html": "plain HTML: every worker, with links to its logs and state",
        "info/main/exceptions.html": "plain HTML: recent erred tasks and their tracebacks"}

PROBE = """
const doc = (typeof Bokeh !== 'undefined' && Bokeh.documents.length) ? Bokeh.documents[0] : null;
let canvases = 0;
const walk = (node) => {
  if (!node) return;
  if (node.tagName === 'CANVAS' && node.width > 0 && node.height > 0) canvases++;
  if (node.shadowRoot) walk(node.shadowRoot);
  for (const child of (node.children || [])) walk(child);
};
walk(document.body);
const titles = [], strings = new Set();
if (doc) for (const m of doc.all_models) {
  if ((m.type === 'Title' || (m.constructor && m.constructor.__name__ === 'Title')) && m.text)
    titles.push(m.text);
  if (m.data) for (const col of ['key', 'name', 'worker', 'names'])
    if (m.data[col]) for (const v of m.data[col]) if (typeof v === 'string') strings.add(v);
  if (m.options && Array.isArray(m.options))
    for (const o of m.options) strings.add(Array.isArray(o) ? String(o[0]) : String(o));
}
return {bokeh: doc ? Bokeh.version : null, roots: doc ? doc.roots().length : 0, canvases,
        titles: titles.slice(0, 40), strings: Array.from(strings).slice(0, 3000),
        title: document.title};
"""


def burn(i: int, seconds: float) -> int:
    """Pure-Python CPU: something for the profiler to see."""
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += sum(range(1000))
    return n


def nap(i: int, seconds: float) -> int:
    time.sleep(seconds)
    return i


def divide(a: int, b: int) -> float:
    return a / b


def fetch(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def worker_metrics(lab, name: str, port: int = 8790) -> str:
    """A worker's Prometheus page, read inside its container (the port is not
    published). Not client.run: that runs on the worker's event loop, which
    would then be too busy to answer its own HTTP server."""
    code, text = lab.resources.exec(name, [
        "python3", "-c", "import urllib.request, sys; sys.stdout.write(urllib.request.urlopen("
        f"'http://127.0.0.1:{port}/metrics', timeout=10).read().decode())"])
    if code != 0:
        raise RuntimeError(f"reading {name}'s /metrics failed ({code}): {text[-300:]}")
    return text


def series(text: str, name: str) -> dict[str, float]:
    """Prometheus text -> {labels: value} for one metric name."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name):len(name) + 1] in ("{", " ")):
            labels, _, value = line[len(name):].rpartition(" ")
            out[labels.strip() or "-"] = float(value)
    return out


def browser():
    """Headless Chromium through chromedriver, explicit paths: Selenium never
    looks for (or downloads) a browser of its own."""
    import os

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        raise RuntimeError("no chromium/chromedriver on this machine: run `make browser` "
                           "(Debian's chromium and chromium-driver packages)")
    os.environ["SE_OFFLINE"] = "true"
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    return webdriver.Chrome(service=Service(driver), options=opts)


def visit(drv, url: str, ready, timeout: float) -> dict:
    """Open `url`, poll the page's own state until `ready(state)` holds."""
    drv.get(url)
    seen = {}

    def probe():
        seen.update(drv.execute_script(PROBE))
        return ready(seen)

    start = time.monotonic()
    wait_until(probe, timeout, f"{url} to render", interval=1.0,
               state=lambda: {k: seen.get(k) for k in ("bokeh", "roots", "canvases", "title")})
    seen["seconds"] = round(time.monotonic() - start, 1)
    return seen


def run(lab, tasks: int = 600, nap_seconds: float = 0.5, page_timeout: float = 120) -> Result:
    r = Result("dashboard")
    c = lab.client
    tag = "dash" + "".join(random.choices(string.ascii_lowercase, k=6))
    base = lab.dashboard_url.rsplit("/", 1)[0]
    workers = sorted(lab.workers_by_name())
    out = REPORTS / "dashboard"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):  # this run's screenshots only
        old.unlink()

    phase(f"workload {tag}: CPU tasks, one failing task, then {tasks} naps while we browse")
    hot = c.map(burn, range(12), seconds=0.5, pure=False, key=[f"{tag}_burn-{i}" for i in range(12)])
    c.gather(hot)
    bad = c.submit(divide, 1, 0, pure=False, key=f"{tag}_divide-0")
    wait_until(lambda: bad.status == "error", 30, "the failing task to err")
    naps = c.map(nap, range(tasks), seconds=nap_seconds, pure=False,
                 key=[f"{tag}_nap-{i}" for i in range(tasks)])

    rows, shots, severe = [], [], []
    checks = {
        "status": lambda s: s["canvases"] >= 3 and any(tag in v for v in s["strings"])
        and any(t.startswith("Progress") for t in s["titles"]),
        "workers": lambda s: s["roots"] >= 1 and set(workers) <= set(s["strings"]),
        "tasks": lambda s: s["canvases"] >= 1 and any(tag in v for v in s["strings"]),
        "profile": lambda s: s["canvases"] >= 1 and any(tag in v for v in s["strings"]),
    }
    phase("starting headless Chromium")
    drv = browser()
    try:
        for page, purpose in PAGES.items():
            phase(f"/{page}: waiting until it has rendered")
            ready = checks.get(page, lambda s: s["roots"] >= 1 and s["canvases"] >= 1)
            seen = visit(drv, f"{base}/{page}", ready, page_timeout)
            path = out / f"{page}.png"
            drv.save_screenshot(str(path))
            shots.append(path)
            rows.append({"page": f"/{page}", "title": seen["title"], "Bokeh roots": seen["roots"],
                         "canvases drawn": seen["canvases"],
                         "run's keys in its data": any(tag in v for v in seen["strings"]),
                         "rendered after s": seen["seconds"], "for": purpose})
            severe += [e["message"] for e in drv.get_log("browser")]
        key_page = f"info/task/{quote(bad.key, safe='')}.html"
        for page, purpose in {**INFO, key_page: "plain HTML: one task's state, worker, "
                                                "exception"}.items():
            status, html = fetch(f"{base}/{page}")
            drv.get(f"{base}/{page}")
            name = page.replace("/", "_").replace(".html", "")[:60]
            path = out / f"{name}.png"
            drv.save_screenshot(str(path))
            shots.append(path)
            ok = status == 200 and (all(w in html for w in workers) if "workers" in page
                                    else "ZeroDivisionError" in html)
            rows.append({"page": f"/{page}", "title": drv.title, "Bokeh roots": "-",
                         "canvases drawn": "-", "run's keys in its data": tag in html,
                         "rendered after s": "-", "for": purpose})
            r.check(ok, f"/{page} should show {'every worker' if 'workers' in page else 'the ZeroDivisionError'}")
        phase("Prometheus: the scheduler's /metrics and worker-1's, while the naps run")
        _, scheduler_text = fetch(f"{base}/metrics")
        worker_text = worker_metrics(lab, "worker-1")
    finally:
        drv.quit()
        c.cancel(naps)

    r.tables["pages"] = rows
    for row in rows:
        if row["canvases drawn"] != "-":
            r.check(row["Bokeh roots"] >= 1 and row["canvases drawn"] >= 1,
                    f"{row['page']} did not render")
    for path in shots:
        r.check(path.stat().st_size > 20_000, f"{path.name} is too small to show a page")

    metrics = [
        ("scheduler", "dask_scheduler_workers", series(scheduler_text, "dask_scheduler_workers")),
        ("scheduler", "dask_scheduler_tasks", series(scheduler_text, "dask_scheduler_tasks")),
        ("scheduler", f"dask_scheduler_tasks_compute_seconds_total ({tag}_burn)",
         {k: v for k, v in series(scheduler_text, "dask_scheduler_tasks_compute_seconds_total")
          .items() if f"{tag}_burn" in k}),
        ("worker-1", "dask_worker_tasks", series(worker_text, "dask_worker_tasks")),
        ("worker-1", "dask_worker_memory_bytes", series(worker_text, "dask_worker_memory_bytes")),
        ("worker-1", "dask_worker_spill_bytes_total",
         series(worker_text, "dask_worker_spill_bytes_total")),
    ]
    r.tables["metrics"] = [{"from": who, "series": name,
                            "values": ", ".join(f"{k} {v:g}" for k, v in vals.items()) or "-"}
                           for who, name, vals in metrics]
    r.check(sum(series(scheduler_text, "dask_scheduler_workers").values()) == len(workers),
            "dask_scheduler_workers (by state) should add up to every worker")
    r.check(bool(metrics[2][2]), "the burn tasks' compute seconds should be in the scheduler's metrics")
    r.check(bool(metrics[4][2]), "worker-1 should report its memory")
    sitemap, _ = fetch(f"{base}/sitemap.json")
    r.measurements.update({"run tag": tag, "screenshots": f"{out}/ ({len(shots)} PNG)",
                           "browser errors (SEVERE)": len(severe),
                           "/sitemap.json status": sitemap})
    r.notes += [f"/{p}: {purpose}" for p, purpose in PAGES.items()]
    r.notes += [
        "/info pages are plain HTML, readable without a browser; the worker links on them "
        "point at worker-N:8790, which only the cluster network can reach.",
        "The /profile page says profiling of the event loop is disabled on Python 3.11 (a "
        "CPython deadlock, distributed#8616); the profile of the tasks themselves works.",
        f"/sitemap.json answers {sitemap}: a known distributed 2026.8 bug (its route walker "
        "assumes every static handler has a path; Bokeh's have none). Use "
        "/individual-plots.json to discover the single-plot pages instead.",
    ] + [f"browser error: {m[:200]}" for m in severe[:5]]
    return r
