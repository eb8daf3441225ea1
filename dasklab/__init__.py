"""dasklab: the tool. Connecting to a lab cluster, its backends (Compose,
Swarm, Kubernetes manifests), the nemesis, the meters, the Cluster API, and
the plugins that run inside the cluster (plugins/). The course in scenarios/
imports it; it never imports scenarios/ (tests/unit/test_layout.py).

    from dasklab import Lab, open_lab, wait_until, Result

connect.py   connecting: Lab, open_lab, worker events
waiting.py   wait_until, the one polling loop
settings.py  the .env variables, defaults and checks (also a CLI)
faults.py    the nemesis: inject/heal pairs over backends/base.py's interface
result.py    the one Result shape and its reporter
progress.py  phases and progress bars on stderr
evidence.py  what is kept when a scenario fails
versions.py  package versions on every process, side by side
datasets.py  deterministic data (runs on workers too)
code.py      your own module, written where client.upload_file can ship it
meters.py    socket bytes, peak memory, worker statuses, timers, process CPU, the
             cluster timeline, heartbeat gaps, the scheduler's task states
isolation.py each scenario and test leaves the cluster as it found it
backends/    Compose (ComposeCluster too), Swarm, Kubernetes manifests: the only
             code that speaks to Docker (backends/__init__.py)
plugins/     what runs inside the scheduler and workers
status.py, check_env.py, objects.py   command-line entry points (make up / check-env / objects)

Names are imported lazily, on first use: scenario modules are imported on the
workers too (functions travel by reference), and the workers' image has
neither the docker SDK nor rich.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "waiting": ["wait_until"],
    "connect": ["Lab", "open_lab", "open_lab_or_exit", "worker_events", "try_connect",
                "removal_event",
                "ClusterDown", "connect", "probe", "use_lab_config"],
    "settings": ["ROOT", "SettingsError", "load", "validate", "memory_bytes", "compose_files",
                 "named_workers"],
    "backends.compose.project": ["Compose", "side_env", "free_port", "side_project"],
    "backends.base": ["Resources", "Attachment"],
    "backends.compose.resources": ["ComposeResources"],
    "faults": ["Nemesis", "Fault", "FaultRecord", "rejoined_address"],
    "result": ["Result", "PASS", "FAIL", "ERROR", "render"],
    "progress": ["phase", "wait_futures"],
    "datasets": ["partition", "frame_digest", "bucket", "s3", "ensure_dataset",
                 "expected_sum_x", "write_partition", "make_chunk", "expected_total",
                 "slow_square"],
    "meters": ["SocketMeter", "Sampler", "PeakMemory", "WorkerPeakMemory", "StatusWatch", "Timer",
               "Timeline", "HeartbeatGap", "process_cpu_s", "task_states", "worker_last_seen"],
    "backends.compose.cluster": ["ComposeCluster", "ComposeAdaptive"],
    "reports": ["report_path", "REPORTS"],
    "code": ["module_file"],
    "backends.compose.worker_containers": ["WorkerStartError"],
    "backends.docker_api": ["docker_client", "container", "volume_of", "output_since",
                            "image_present", "project_containers", "container_cpu_s"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'dasklab' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
