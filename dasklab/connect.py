"""What a scenario gets: a connected client plus handles on the cluster.

`open_lab()` fails fast, with the fix in the message, when the cluster is not
running: a TCP probe of the scheduler port answers in milliseconds, where a bare
`Client(...)` would wait out its 30 s connect timeout and end in a traceback.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from . import tls_race
from .waiting import wait_until
from .backends import NAMES as BACKENDS
from .backends import resources_for
from .backends.base import Resources
from .backends.compose.project import Compose
from .faults import Nemesis
from .settings import CERTS, ROOT, compose_files, failover_config, host_s3_env, load, validate

CONNECT_TIMEOUT = 10  # seconds; the promise is "a clear message within 10 s"


class ClusterDown(RuntimeError):
    """No usable scheduler; the message names `make up`."""


def use_lab_config(values: dict[str, str] | None = None) -> None:
    """Make the client read compose/dask.yaml, like every container does, and
    with TLS=on present the client certificate: every Client this process
    makes (the scenarios' own too) then speaks mutual TLS."""
    import dask

    if "DASK_CONFIG" not in os.environ:
        os.environ["DASK_CONFIG"] = str(ROOT / "compose" / "dask.yaml")
        dask.config.refresh()
    failover = failover_config(values or {})
    if failover and any(os.environ.get(k) != v for k, v in failover.items()):
        # FAILOVER=fast: the client gives up on a peer as soon as the cluster does.
        os.environ.update(failover)
        dask.config.refresh()
    if values is not None and values.get("TLS") == "on":
        dask.config.set(tls_config(CERTS))
        tls_race.tolerate()  # a client reconnecting through docker-proxy (see the module)


def tls_config(folder: Path) -> dict[str, Any]:
    """The host client's side of compose/tls.yml, from `make certs`' folder."""
    missing = [n for n in ("ca.pem", "client.pem", "client-key.pem") if not (folder / n).exists()]
    if missing:
        raise ClusterDown(f"TLS=on but {', '.join(missing)} missing in {folder.name}/: "
                          "run `make certs` (or `make up`, which makes them).")
    return {"distributed.comm.require-encryption": True,
            "distributed.comm.tls.ca-file": str(folder / "ca.pem"),
            "distributed.comm.tls.client.cert": str(folder / "client.pem"),
            "distributed.comm.tls.client.key": str(folder / "client-key.pem")}


def scheduler_address(values: dict[str, str]) -> str:
    scheme = "tls" if values.get("TLS") == "on" else "tcp"
    return os.environ.get("DASKLAB_SCHEDULER", f"{scheme}://127.0.0.1:{values['SCHEDULER_PORT']}")


def dashboard_url(values: dict[str, str]) -> str:
    return f"http://127.0.0.1:{values['DASHBOARD_PORT']}/status"


def probe(address: str, timeout: float = 2.0) -> bool:
    u = urlparse(address)
    try:
        socket.create_connection((u.hostname, u.port), timeout=timeout).close()
        return True
    except OSError:
        return False


def connect(address: str, timeout: float = CONNECT_TIMEOUT):
    from distributed import Client

    if not probe(address):
        raise ClusterDown(
            f"no Dask scheduler answers at {address}: the cluster is not running.\n"
            "Start it with `make up` (and `make ps` shows its state)."
        )
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as e:
        raise ClusterDown(
            f"the scheduler at {address} accepts connections but did not answer "
            f"within {timeout:.0f} s ({e}).\nCheck `make ps` and `make logs s=scheduler`; "
            "`make up` waits until it is healthy."
        ) from e


def try_connect(address: str, timeout: float = CONNECT_TIMEOUT):
    """connect(), or None while the scheduler cannot answer yet (for polling)."""
    try:
        return connect(address, timeout)
    except ClusterDown:
        return None


def worker_events(client, addresses, action: str | None = None) -> list[tuple[float, str, dict]]:
    """(timestamp, worker address, message) from each worker's own event topic.

    Not `client.get_events("all")`: in distributed 2026.8 a broadcast scatter
    logs a "replicate" event holding WorkerState objects into "all"; they
    cannot be serialized, and asking for that topic from then on closes the
    client's connection ("Stream is closed"). The scatter scenario shows it.
    """
    out = []
    for address in addresses:
        for ts, msg in client.get_events(address):
            if isinstance(msg, dict) and (action is None or msg.get("action") == action):
                out.append((ts, address, msg))
    return sorted(out, key=lambda e: e[0])


def removal_event(client, address: str, after: float) -> tuple[float, dict] | None:
    """(time, message) of the scheduler's first "remove-worker" event for the
    worker at `address` since `after` (a time.time()), or None yet."""
    for ts, _, msg in worker_events(client, [address], "remove-worker"):
        if ts >= after:
            return ts, msg
    return None


@dataclass
class Lab:
    client: Any  # distributed.Client
    settings: dict[str, str]
    compose: Compose = field(default_factory=Compose)
    # The resource manager: "compose" (the default), "swarm" (the stack of
    # `make swarm-up`) or "none" (any Dask cluster: no faults, no volumes).
    backend: str = "compose"
    resources: Resources | None = None  # defaults to the compose project's containers
    faults: Nemesis | None = None  # the nemesis, over `resources`

    def __post_init__(self) -> None:
        if self.resources is None:
            self.resources = resources_for(self)
        if self.faults is None and self.resources is not None:
            self.faults = Nemesis(self.resources)

    @property
    def dashboard_url(self) -> str:
        return dashboard_url(self.settings)

    def workers_by_name(self) -> dict[str, dict]:
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return {str(w["name"]): {"address": addr, **w} for addr, w in info.items()}

    def names_by_address(self) -> dict[str, str]:
        return {w["address"]: n for n, w in self.workers_by_name().items()}

    def run_by_name(self, func, *args, **kwargs) -> dict[str, Any]:
        """client.run, with results keyed by worker name (sorted) instead of address."""
        names = self.names_by_address()
        results = self.client.run(func, *args, **kwargs)
        return {names[a]: results[a] for a in sorted(results, key=lambda a: names.get(a, a))
                if a in names}

    def process_id(self, name: str) -> str | None:
        """Each worker process makes a fresh scratch folder: a handy identity
        (the scheduler's worker `id` is just the name when one is given)."""
        return self.workers_by_name().get(name, {}).get("local_directory")

    def wait_new_process(self, name: str, old: str | None, timeout: float = 90) -> None:
        wait_until(lambda: self.process_id(name) not in (None, old), timeout,
                   f"{name} to come back as a new worker process",
                   state=lambda: sorted(self.workers_by_name()))

    def replace_process(self, name: str, action: Callable[[], Any]) -> Any:
        """Do `action` (a restart, a recreate, a start after a kill...) and wait
        for worker `name` to register as a new process. Returns what `action`
        returned (a Fault, say)."""
        return self.replace_processes({name: action})[name]

    def replace_processes(self, actions: dict[str, Callable[[], Any]]) -> dict[str, Any]:
        """replace_process for several workers at once: every action first,
        then one wait, so their restarts overlap instead of queueing."""
        old = {name: self.process_id(name) for name in actions}
        values = {name: action() for name, action in actions.items()}
        for name in actions:
            self.wait_new_process(name, old[name])
        return values

    def has_workers(self, names) -> bool:
        """Exactly these workers are registered; False while the scheduler
        cannot answer (during a fault), so it suits polling."""
        try:
            return set(self.workers_by_name()) == set(names)
        except Exception:  # noqa: BLE001 - no answer yet: poll again
            return False

    def reconnect(self, timeout: float = 120):
        """A new client, when the old one gave up (after a scheduler outage)."""
        address = scheduler_address(self.settings)
        self.client = wait_until(lambda: try_connect(address), timeout,
                                 f"a new client to connect to {address}")
        return self.client

    def wait_for_workers(self, names: set[str], timeout: float = 60) -> dict[str, dict]:
        return wait_until(
            lambda: (w := self.workers_by_name()) and names <= set(w) and w,
            timeout, f"workers {sorted(names)} to be registered",
            state=lambda: sorted(self.workers_by_name()),
        )

    def remove_plugins(self, prefixes: tuple[str, ...]) -> list[str]:
        """Unregister every scheduler and worker plugin whose name starts with
        one of `prefixes` (also what an interrupted run left); returns them."""
        scheduler_plugins, worker_plugins = self.client.run_on_scheduler(_plugin_names)
        removed = []
        for names, unregister in ((worker_plugins, self.client.unregister_worker_plugin),
                                  (scheduler_plugins, self.client.unregister_scheduler_plugin)):
            for name in names:
                if name.startswith(prefixes):
                    unregister(name)
                    removed.append(name)
        return removed

    def close(self) -> None:
        self.client.close()


def _plugin_names(dask_scheduler) -> tuple[list[str], list[str]]:
    return list(dask_scheduler.plugins), list(dask_scheduler.worker_plugins)


def open_lab(project: str | None = None) -> Lab:
    values = validate(load())
    compose = Compose(project=project or os.environ.get("DASKLAB_PROJECT", "dasklab"),
                      files=tuple(compose_files(values)))
    use_lab_config(values)
    # Same S3 variables as the containers, with the published endpoint: s3fs
    # and pandas on the client need no storage_options either.
    os.environ.update(host_s3_env(values))
    # fsspec caches filesystems by their arguments, not by the AWS_* variables
    # they read: dd.read_parquet("s3://...") would reuse one made for another
    # lab's endpoint earlier in this process (the tests open a Swarm lab, then
    # the Compose one).
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    backend = backend_name()  # a bad value exits 2 before any connection is tried
    return Lab(client=connect(scheduler_address(values)), settings=values, compose=compose,
               backend=backend)


@contextmanager
def lab_code_by_value():
    """Send the lab's functions by value (cloudpickle) instead of by reference,
    while the block runs. For a cluster the lab did not start
    (DASKLAB_BACKEND=none): its workers lack the `dasklab` and `scenarios` packages that the
    lab's images carry. distributed pickles by value only functions whose own
    module is registered, so every loaded dasklab.* and scenarios.* module is (enter it after
    importing the scenario). Scoped, not process-wide: by value, a function
    drags its module's globals along (a lock cannot travel), which the lab's
    own clusters never need."""
    import cloudpickle

    registered = []
    for name in [m for m in sys.modules if m.split(".")[0] in ("dasklab", "scenarios")]:
        if name not in cloudpickle.list_registry_pickle_by_value():
            cloudpickle.register_pickle_by_value(sys.modules[name])
            registered.append(name)
    try:
        yield
    finally:
        for name in registered:
            cloudpickle.unregister_pickle_by_value(sys.modules[name])


def backend_name() -> str:
    """DASKLAB_BACKEND; by default "compose", or "none" when DASKLAB_SCHEDULER
    points elsewhere (a cluster the lab did not start: no faults there)."""
    from .settings import SettingsError

    default = "none" if os.environ.get("DASKLAB_SCHEDULER") else "compose"
    backend = os.environ.get("DASKLAB_BACKEND") or default
    if backend not in BACKENDS:
        raise SettingsError(f"DASKLAB_BACKEND={backend!r}: must be one of {', '.join(BACKENDS)} "
                            "(e.g. DASKLAB_BACKEND=swarm after `make swarm-up`)")
    return backend


def open_lab_or_exit(project: str | None = None) -> Lab:
    """open_lab for command-line entry points: a bad setting exits 2 and a
    stopped cluster exits 3, each with its message and no traceback."""
    from .settings import SettingsError

    try:
        return open_lab(project)
    except SettingsError as e:
        print(f"error: invalid settings:\n{e}", file=sys.stderr)
        raise SystemExit(2) from None
    except ClusterDown as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(3) from None
