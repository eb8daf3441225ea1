"""tour: the cast of characters, read from the running cluster.

Client (this process, on the host), Scheduler (the `scheduler` container),
and for each worker container a Nanny process that starts and watches a
Worker process. Docker Compose plays the resource manager that Kubernetes,
YARN or Coiled play in production: it starts containers, restarts them, and
gives each worker its own volume.
"""

from __future__ import annotations

import os
import socket
import sys

from dasklab import Result, phase, versions


MANAGERS = {"compose": "Docker Compose here", "swarm": "Docker Swarm here (the stack)",
            "hosts": "Docker Swarm across this machine's engine hosts (make hosts-up)",
            "none": "whatever started this cluster"}


def _hostname() -> str:
    return socket.gethostname()


def run(lab, expected_workers: int = 3) -> Result:
    r = Result("tour")
    c = lab.client
    phase("asking the scheduler, every nanny and every worker who they are")
    info = c.scheduler_info(n_workers=-1)
    workers = lab.workers_by_name()
    hostnames = lab.run_by_name(_hostname)
    worker_pids = lab.run_by_name(os.getpid)
    nanny_pids = lab.run_by_name(os.getpid, nanny=True)
    scheduler_host = c.run_on_scheduler(_hostname)
    # On more than one engine host: which one each worker's task runs on.
    placed = lab.resources.placement() if hasattr(lab.resources, "placement") else {}

    rows = []
    for name in sorted(workers):
        w = workers[name]
        rows.append({
            "name": name,
            "address": w["address"],
            "hostname": hostnames.get(name),
            **({"host": placed.get(name)} if placed else {}),
            "nanny_pid": nanny_pids.get(name),
            "worker_pid": worker_pids.get(name),
            "threads": w["nthreads"],
            "memory_limit": w["memory_limit"],
            "local_directory": w["local_directory"],
            "volume": lab.resources.volume(name) if lab.resources else None,
        })
    r.tables["workers"] = rows
    r.tables["versions"] = vrows = versions.side_by_side(versions.collect(lab),
                                                          versions.COMPARED)

    r.measurements.update({
        "scheduler_address": info["address"],
        "scheduler_container": scheduler_host,
        "client": f"{socket.gethostname()} pid {os.getpid()} ({sys.executable})",
        "dashboard": lab.dashboard_url,
        "workers": len(rows),
        "threads_total": sum(row["threads"] for row in rows),
        "memory_total_bytes": sum(row["memory_limit"] for row in rows),
    })
    r.notes += [
        "Client: this process, on the host; it reaches the scheduler through the port "
        "published on 127.0.0.1 and never talks to workers directly (results come "
        "through the scheduler).",
        "Scheduler: `dask scheduler` in its own container; keeps the task graph and "
        "decides which worker runs what.",
        "Nanny: the first process in each worker container; starts the worker process, "
        "restarts it if it dies or crosses the memory terminate threshold.",
        "Worker: runs tasks in threads, holds results in memory, spills them to its "
        "local directory, which is the container's own named volume.",
        f"Resource manager: {MANAGERS[lab.backend]} (restart policy, volumes, limits); "
        "Kubernetes, YARN or Coiled in production.",
    ]
    if placed:
        r.measurements["scheduler_host"] = placed.get("scheduler")
        r.measurements["hosts_with_workers"] = len({row["host"] for row in rows})
        r.notes.append("Engine hosts: each a network namespace of this machine with its own "
                       "dockerd; the scheduler, the store and worker-1 are pinned to host 1, "
                       "every other worker is free and was placed on another host.")
        r.check(len({row["host"] for row in rows}) > 1,
                f"the workers should spread over the hosts, found {placed}")
    r.check(all(row["nanny_pid"] != row["worker_pid"] for row in rows),
            "nanny and worker should be separate processes")
    if lab.resources is None:
        # Any Dask cluster (DASKLAB_SCHEDULER): its names and shape are its own.
        r.check(len(rows) >= 1, "the cluster has no workers")
        r.notes.append("Not a cluster the lab manages (DASKLAB_BACKEND=none): worker names, "
                       "hostnames and volumes are the cluster's own and were not checked.")
    else:
        r.check(len(rows) == expected_workers,
                f"expected {expected_workers} workers, found {len(rows)}")
        r.check(all(row["hostname"] == row["name"] for row in rows),
                "each worker's container hostname should equal its name")
        r.check(all(row["volume"] for row in rows), "every worker should have a volume at /data")
    for problem in versions.mismatches(vrows):
        r.check(False, f"version mismatch: {problem}")
    return r
