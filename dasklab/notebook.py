"""`make notebook`: JupyterLab for the course, on the host, beside the cluster.

    python -m dasklab.notebook start | stop | url

Where it runs, and why: on the host, from `.venv`. Its kernels are the same
Python and the same locked dask/distributed as the lab's client, so
`make check-env` stays clean, and the notebooks' fault cells (kill worker-2,
wipe its spill directory, pause the store) go through the lab's nemesis on
the host, as every scenario's do. A JupyterLab in a container would need the
Docker socket for that, which is root on the host: no container gets it.

Bound to 127.0.0.1 only, with a generated token (kept in build/jupyter/,
mode 0600). Its configuration lives under build/jupyter/ too, never in the
user's ~/.jupyter: Dask's panes (dask-labextension) are preset to the
cluster's dashboard (defaultURL) and its cluster manager, which would start
LocalClusters on the host, is hidden. The kernels get PYTHONPATH=<checkout>,
so `import scenarios` works from notebooks/, and the lab's settings (TLS
included) come from .env as for every scenario.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .settings import ROOT, SettingsError, load, validate
from .waiting import wait_until

STATE = ROOT / "build" / "jupyter"
NOTEBOOKS = ROOT / "notebooks"


@dataclass(frozen=True)
class Server:
    port: int
    token: str
    pid: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/lab?token={self.token}"


def dashboard_root(values: dict[str, str]) -> str:
    return f"http://127.0.0.1:{values['DASHBOARD_PORT']}"


def environment(state: Path, dashboard: str) -> dict[str, str]:
    """The server's (and so its kernels') environment: every Jupyter folder
    under `state`, Dask's panes pointed at `dashboard`, the checkout importable."""
    settings = state / "lab-settings"
    plugin = settings / "dask-labextension" / "plugin.jupyterlab-settings"
    plugin.parent.mkdir(parents=True, exist_ok=True)
    plugin.write_text(json.dumps({"defaultURL": dashboard, "hideClusterManager": True},
                                 indent=2))
    # The notification extension would ask the internet for news and updates.
    notify = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notify.parent.mkdir(parents=True, exist_ok=True)
    notify.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ)
    path = [str(ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update({
        "JUPYTER_CONFIG_DIR": str(state / "config"),
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(path)),
        "DASK_CONFIG": str(ROOT / "compose" / "dask.yaml"),
    })
    return env


def command(port: int, token: str, root_dir: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
            f"--port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
            # Offline: never ask PyPI whether JupyterLab is current.
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            # ... nor offer to install extensions from it.
            "--LabApp.extension_manager=readonly",
            # CI and this lab's machines run as root; JupyterLab refuses that unless told.
            *(["--allow-root"] if os.geteuid() == 0 else []), *extra]


def answers(base: str, token: str, timeout: float = 2.0) -> int | None:
    """HTTP status of the server's /api/status with `token` (None: no answer)."""
    req = urllib.request.Request(f"{base}/api/status",
                                 headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:  # reap it when it is our own child (a test's server): a zombie is not alive
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def running(state: Path = STATE) -> Server | None:
    try:
        saved = json.loads((state / "server.json").read_text())
    except (OSError, ValueError):
        return None
    server = Server(saved["port"], saved["token"], saved["pid"], Path(saved["log"]))
    return server if _alive(server.pid) else None


def start(port: int, dashboard: str, state: Path = STATE, root_dir: Path = NOTEBOOKS,
          timeout: float = 90, extra: tuple[str, ...] = ()) -> Server:
    """Start JupyterLab in its own session (it outlives this process) and wait
    until it answers with its token. Raises RuntimeError with the log's tail
    when it exits or does not answer in time; nothing is left running then."""
    from .backends.compose.preflight import port_problem

    problem = port_problem("NOTEBOOK_PORT", port, {port}, then="make notebook")
    if problem:
        raise RuntimeError(problem)
    state.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(24)
    log = state / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command(port, token, root_dir, extra), cwd=root_dir,
                                env=environment(state, dashboard), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    server = Server(port, token, proc.pid, log)
    saved = state / "server.json"
    saved.write_text(json.dumps({"port": port, "token": token, "pid": proc.pid,
                                 "log": str(log)}))
    saved.chmod(0o600)
    try:
        wait_until(lambda: proc.poll() is not None or answers(server.base, token) == 200,
                   timeout, "JupyterLab to answer", interval=0.3)
    except TimeoutError:
        pass
    if proc.poll() is not None or answers(server.base, token) != 200:
        stop(state)
        why = "exited" if proc.returncode is not None else f"did not answer in {timeout:.0f} s"
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"JupyterLab {why}; the end of its log ({log}):\n{tail}")
    return server


def stop(state: Path = STATE, timeout: float = 15) -> bool:
    """Stop the server `start` recorded (its whole session: kernels too)."""
    server = running(state)
    (state / "server.json").unlink(missing_ok=True)
    if server is None:
        return False
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except OSError:
        return False
    try:
        wait_until(lambda: not _alive(server.pid), timeout, "JupyterLab to exit")
    except TimeoutError:
        os.killpg(server.pid, signal.SIGKILL)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dasklab.notebook", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("start", "stop", "url"))
    args = p.parse_args(argv)
    if args.action == "stop":
        print("[notebook] JupyterLab stopped" if stop() else "[notebook] JupyterLab was not running")
        return 0
    server = running()
    if args.action == "url":
        if server is None:
            print("[notebook] JupyterLab is not running: `make notebook` starts it", file=sys.stderr)
            return 3
        print(server.url)
        return 0
    try:
        values = validate(load())
    except SettingsError as e:
        print(f"error: invalid settings:\n{e}", file=sys.stderr)
        return 2
    if server is None:
        from .connect import probe, scheduler_address

        if not probe(scheduler_address(values)):
            print(f"error: the cluster is not running (nothing answers at "
                  f"{scheduler_address(values)}).\n    Fix: `make up`, then `make notebook`.",
                  file=sys.stderr)
            return 3
        print(f"[notebook] starting JupyterLab on 127.0.0.1:{values['NOTEBOOK_PORT']} "
              f"(notebooks/, kernel {sys.executable}) ...", flush=True)
        started = time.monotonic()
        try:
            server = start(int(values["NOTEBOOK_PORT"]), dashboard_root(values))
        except RuntimeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"[notebook] ready in {time.monotonic() - started:.1f} s", flush=True)
    else:
        print("[notebook] JupyterLab is already running", flush=True)
    print(f"\n  Open: {server.url}\n\n  Dask's panes: the Dask logo in the left sidebar "
          f"(dashboard {dashboard_root(values)}).\n  Log: {server.log}.  Stop: make notebook-stop "
          "(make down stops it too).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
