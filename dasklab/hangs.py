"""When something takes too long: the evidence of *where* it waits.

A hang says nothing by itself. This keeps, in one `evidence/` folder:
- every thread's stack in this process (the client's event-loop thread too);
- a `py-spy dump` of every Python process in the cluster's containers, taken
  from the host by PID (root may ptrace them; nothing is installed in the
  images), so the scheduler's and the workers' side of the wait is there too;
- the usual evidence of a failed scenario (compose ps and logs, worker and
  scheduler logs, a cluster state dump), each step bounded in time: the client
  that hung may not answer either.

The per-test time limit of the test suite (tests/conftest.py) calls
`save_hang`; so can anyone who gives up waiting.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from . import evidence
from .evidence import save, save_compose

STEP_TIMEOUT = 20  # seconds for each py-spy dump and each evidence step


def thread_stacks() -> str:
    """Every thread's stack in this process, named, the current one last."""
    names = {t.ident: t.name for t in threading.enumerate()}
    current = threading.get_ident()
    out = []
    frames = sorted(sys._current_frames().items(), key=lambda kv: kv[0] == current)
    for ident, frame in frames:
        mark = " (the thread that noticed the time limit)" if ident == current else ""
        out.append(f"--- thread {names.get(ident, '?')} ({ident}){mark}\n"
                   + "".join(traceback.format_stack(frame)))
    return "\n".join(out)


def _py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def cluster_stacks(project: str) -> dict[str, str]:
    """{file name: py-spy dump} for each Python process of the project's
    running containers (scheduler, nannies, workers, the wheels server)."""
    from .backends.docker_api import project_containers

    spy = _py_spy()
    if spy is None:
        return {"py-spy.error": "py-spy is not installed (it comes with the dev lock: make venv)"}
    out = {}
    for c in project_containers(project, running_only=True):
        service = c.labels.get("com.docker.compose.service", c.name)
        try:
            top = c.top(ps_args="-eo pid,args")
        except Exception as e:  # noqa: BLE001 - one container gone: the others still count
            out[f"py-spy-{service}.error"] = repr(e)
            continue
        titles = top.get("Titles", [])
        for proc in top.get("Processes") or []:
            pid, args = proc[titles.index("PID")], proc[-1]
            if "python" not in args and "dask" not in args:
                continue
            try:
                dump = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True,
                                      text=True, timeout=STEP_TIMEOUT)
                text = dump.stdout + dump.stderr
            except subprocess.TimeoutExpired:
                text = f"py-spy dump --pid {pid} did not finish within {STEP_TIMEOUT} s"
            out[f"py-spy-{service}-{pid}.txt"] = f"# {args}\n{text}"
    return out


def _bounded(step, timeout: float) -> str | None:
    """Run `step` in a daemon thread; give up after `timeout` s. Returns a
    message when it failed or did not finish, else None."""
    problem: list[str] = []

    def target():
        try:
            step()
        except Exception as e:  # noqa: BLE001 - evidence is best effort: say what failed
            problem.append(repr(e))

    worker = threading.Thread(target=target, name="dasklab-evidence", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return f"did not finish within {timeout:.0f} s"
    return problem[0] if problem else None


def save_hang(label: str, *, project: str, lab=None, why: str = "") -> Path:
    """Keep the evidence of a hang under evidence/<time>-<label>/; returns it."""
    folder = evidence.EVIDENCE / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "why.txt").write_text(why + "\n")
    (folder / "thread-stacks.txt").write_text(thread_stacks())
    notes = {}
    def dump_stacks():
        for name, text in cluster_stacks(project).items():
            (folder / name).write_text(text)

    notes["py-spy"] = _bounded(dump_stacks, STEP_TIMEOUT * 10)
    if lab is not None:
        # The client's own evidence (logs, a state dump) into a sub-folder.
        notes["client evidence"] = _bounded(lambda: save(lab, label, folder / "client"), 60)
    else:
        from .backends.compose.project import Compose

        notes["compose"] = _bounded(lambda: save_compose(Compose(project=project), folder), 60)
    problems = {k: v for k, v in notes.items() if v}
    if problems:
        (folder / "evidence-problems.txt").write_text(
            "\n".join(f"{k}: {v}" for k, v in problems.items()) + "\n")
    return folder
