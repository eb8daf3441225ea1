"""manual: the simplest distributed cluster, by hand.

A scheduler and two workers from nothing but the image and the plain CLI
(`docker run ... dask scheduler`, `docker run ... dask worker tcp://...`) on a
throwaway network, a client on the host, one checkable computation, and a
teardown that leaves nothing. Then, side by side, what the Compose cluster
adds on top of those three commands: this is the admin's view of
`dask scheduler` and `dask worker`.
"""

from __future__ import annotations

import operator
import shlex
import socket
import uuid

import dask

from dasklab import Result, free_port, phase, try_connect, wait_until
from dasklab.backends import docker_cli
from dasklab.backends.compose import worker_containers

LABEL = "dasklab.manual"


def commands(run_id: str, image: str, port: int) -> list[list[str]]:
    """The exact command lines: a network, a scheduler, two workers."""
    net, tag = f"dasklab-manual-{run_id}", f"{LABEL}={run_id}"
    out = [docker_cli.command("network", "create", "--label", tag, net),
           docker_cli.command("run", "-d", "--name", f"{net}-scheduler", "--label", tag,
            "--network", net, "--network-alias", "scheduler", "--hostname", "scheduler",
            "-p", f"127.0.0.1:{port}:8786", image, "dask", "scheduler", "--port=8786")]
    for name in ("worker-1", "worker-2"):
        out.append(docker_cli.command(
            "run", "-d", "--name", f"{net}-{name}", "--label", tag,
            "--network", net, "--hostname", name, image,
            "dask", "worker", "tcp://scheduler:8786", f"--name={name}",
            "--nthreads=1", "--memory-limit=512MiB"))
    return out


def leftovers(run_id: str) -> dict[str, list[str]]:
    tag = f"label={LABEL}={run_id}"
    return {kind: docker_cli.run(kind, "ls", "-q", *(["-a"] if kind == "container" else []),
                          "--filter", tag).split()
            for kind in ("container", "network", "volume")}


def teardown(run_id: str) -> None:
    ids = leftovers(run_id)
    if ids["container"]:
        # -v: the anonymous volumes the image's VOLUME lines would create, if any.
        docker_cli.run("rm", "-f", "-v", *ids["container"], check=False)
    for net in ids["network"]:
        docker_cli.run("network", "rm", net, check=False)


def what_compose_adds(lab, inspect: dict) -> list[dict]:
    """By hand (read off the manual containers) vs the lab's compose definition."""
    project = worker_containers.Project.read(lab.compose.project)
    w = project.worker
    hand = inspect["HostConfig"]
    return [
        {"concern": "restart policy", "by hand": hand["RestartPolicy"]["Name"] or "no",
         "compose": w.get("restart", "no"),
         "why": "a crashed or OOM-killed container comes back by itself"},
        {"concern": "healthcheck", "by hand": "none",
         "compose": "GET /health every " + w["healthcheck"]["interval"],
         "why": "`make up` returns only when every process answers its probe"},
        {"concern": "worker storage", "by hand": "the container's own layer",
         "compose": "a named volume per worker at /data",
         "why": "spill files survive a restart and stay off the image layer"},
        {"concern": "addresses", "by hand": "whatever Docker assigns",
         "compose": f"fixed IPs in {project.subnet}; workers advertise their name",
         "why": "a restarted worker comes back at the same address"},
        {"concern": "Dask config", "by hand": "the image's defaults",
         "compose": "compose/dask.yaml mounted in every container",
         "why": "the same timeouts, spill and pause fractions everywhere"},
        {"concern": "container memory limit", "by hand": str(hand.get("Memory") or "none"),
         "compose": f"{int(w['mem_limit']) >> 20} MiB = the worker's --memory-limit",
         "why": "Dask's spill/pause fractions are fractions of what the kernel enforces"},
        {"concern": "object store", "by hand": "none",
         "compose": "Garage (S3) with credentials in every container's environment",
         "why": "workers read and write shared data without the client in the path"},
        {"concern": "lab code", "by hand": "not on the workers",
         "compose": "scenarios/ mounted read-only",
         "why": "functions sent by reference import on the workers too"},
    ]


def run(lab, n: int = 200) -> Result:
    r = Result("manual")
    run_id = uuid.uuid4().hex[:8]
    image = worker_containers.Project.read(lab.compose.project).worker["image"]
    port = free_port()
    lines = commands(run_id, image, port)
    r.tables["commands"] = [{"step": i + 1, "command line": shlex.join(c)}
                            for i, c in enumerate(lines)]
    try:
        phase(f"starting a scheduler and two workers by hand (network dasklab-manual-{run_id})")
        for c in lines:
            docker_cli.run(*c[1:])
        address = f"tcp://127.0.0.1:{port}"
        phase("connecting a client and waiting for both workers")
        # Plain TCP even when the lab runs TLS=on: this by-hand cluster has no
        # certificates (the client's Security is fixed when it is made).
        with dask.config.set({"distributed.comm.require-encryption": False}):
            client = wait_until(lambda: try_connect(address), 90, f"the scheduler at {address}")
        try:
            client.wait_for_workers(2, timeout=120)
            # Library functions only: these workers have the image, not the lab's code.
            futures = client.map(operator.mul, range(n), range(n))
            total = client.submit(sum, futures).result(timeout=60)
            ran_on = {a for holders in client.who_has(futures).values() for a in holders}
            names = {w["name"] for w in client.scheduler_info()["workers"].values()}
            hostnames = set(client.run(socket.gethostname).values())
        finally:
            client.close()
        inspect = json_inspect(f"dasklab-manual-{run_id}-worker-1")
        r.tables["what compose adds"] = what_compose_adds(lab, inspect)
    finally:
        phase("tearing everything down")
        teardown(run_id)
    left = leftovers(run_id)
    expected = sum(i * i for i in range(n))
    r.measurements.update({
        "sum of squares": total, "expected": expected,
        "workers registered": sorted(names), "workers that ran tasks": len(ran_on),
        "containers left": len(left["container"]), "networks left": len(left["network"]),
        "volumes left": len(left["volume"]),
    })
    r.check(total == expected, f"sum of squares {total} != {expected}")
    r.check(names == {"worker-1", "worker-2"} and hostnames == names,
            f"workers should be worker-1 and worker-2 (got {names}, hostnames {hostnames})")
    r.check(len(ran_on) == 2, f"both workers should have run tasks (ran on {len(ran_on)})")
    r.check(not any(left.values()), f"teardown should leave nothing; left {left}")
    r.notes += [
        "Three commands make a Dask cluster: `dask scheduler`, then `dask worker "
        "<scheduler address>` per worker. Nothing else is required; the table above "
        "is what a real deployment adds on top.",
        "The client reached the scheduler through a port published on 127.0.0.1; the "
        "workers found it by the network alias `scheduler` on the private network.",
        "The tasks were library functions (operator.mul, socket.gethostname): these workers "
        "have the image and nothing else, so a function from the lab's own code would fail "
        "to unpickle on them. The Compose cluster mounts scenarios/ for that reason.",
    ]
    return r


def json_inspect(container: str) -> dict:
    import json

    return json.loads(docker_cli.run("inspect", container))[0]
