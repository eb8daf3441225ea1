"""make bench-idle: what the lab costs when it does nothing, beside a
LocalCluster of the same shape, in the same run.

Three windows of the same length, alternating, `--runs` times: nothing
running (the machine's own floor), the Compose cluster idle (a side project,
started for the bench, no client attached), and a LocalCluster of the same
shape idle (in its own Python process, no client). For each: the whole
machine's busy CPU over the window (psutil; the floor subtracted), and where
it went: for the lab each container's cgroup CPU (healthcheck execs run
inside the container, so they count there) and the engine's own processes
(dockerd, containerd, the shims and the port proxies, with the children they
reaped: runc); for the LocalCluster its process tree. Medians, and the ratio
lab / LocalCluster.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from dasklab.backends.compose.project import side_project
from dasklab.backends.docker_api import container_cpu_s
from dasklab.connect import try_connect, use_lab_config, wait_until
from dasklab.meters import cores_used, machine_busy_s
from dasklab.result import table_text
from dasklab.settings import load, memory_bytes, named_workers, validate

PROJECT = "dasklab-bench-idle"
SERVICES = ("scheduler", *named_workers(), "store", "wheels")
ENGINE = ("dockerd", "containerd", "containerd-shim-runc-v2", "containerd-shim", "docker-proxy")
GOAL = 1.3


def engine_cpu_s() -> float:
    """CPU seconds of the engine's own processes so far, with their reaped children."""
    import psutil

    total = 0.0
    for p in psutil.process_iter(["name"]):
        if p.info["name"] in ENGINE:
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system + t.children_user + t.children_system
    return total


def lab_idle(seconds: float, settle: float) -> dict[str, float]:
    with side_project(PROJECT, "172.29.89", services=()) as compose:
        address = f"tcp://127.0.0.1:{compose.env['SCHEDULER_PORT']}"
        client = wait_until(lambda: try_connect(address), 60, "the scheduler to answer")
        wait_until(lambda: len(client.scheduler_info(n_workers=-1)["workers"]) >= 3, 60,
                   "3 workers to register")
        client.close()  # idle means no client either
        time.sleep(settle)  # let start-up work finish before the window (not a condition wait)
        meters = {"machine": machine_busy_s, "engine": engine_cpu_s}
        meters |= {s: (lambda s=s: container_cpu_s(PROJECT, s)) for s in SERVICES}
        return cores_used(seconds, meters)


LOCAL = """
import sys, time
import psutil
from distributed import LocalCluster
with LocalCluster(n_workers={n}, threads_per_worker={threads}, memory_limit={memory},
                  processes=True, dashboard_address=":0") as cluster:
    time.sleep({settle})
    me = psutil.Process()
    def cpu():
        procs = [me, *me.children(recursive=True)]
        return sum(sum(p.cpu_times()[:2]) for p in procs)
    print("ready", flush=True)
    c0, t0 = cpu(), time.monotonic()
    time.sleep({seconds})
    print(f"{{(cpu() - c0) / (time.monotonic() - t0)}}", flush=True)
"""


def local_idle(values: dict[str, str], seconds: float, settle: float) -> dict[str, float]:
    code = LOCAL.format(n=len(named_workers()), threads=int(values["WORKER_THREADS"]),
                        memory=memory_bytes(values["WORKER_MEMORY"]), settle=settle,
                        seconds=seconds)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", "LocalCluster did not start"
        busy0, t0 = machine_busy_s(), time.monotonic()
        own = float(proc.stdout.readline())
        machine = (machine_busy_s() - busy0) / (time.monotonic() - t0)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return {"machine": machine, "processes": own}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-idle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0, help="each window")
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds after start before a window")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 10 or not 5 <= args.seconds <= 300:
        parser.error("--runs must be 1..10 and --seconds 5..300")
    values = validate(load())
    use_lab_config(values)
    floor, lab, local = [], [], []
    for i in range(args.runs):
        print(f"[bench-idle] run {i + 1}/{args.runs}: nothing running ...", end=" ", flush=True)
        floor.append(cores_used(args.seconds, {"machine": machine_busy_s})["machine"])
        print(f"{floor[-1]:.3f} cores; the lab idle ...", end=" ", flush=True)
        lab.append(lab_idle(args.seconds, args.settle))
        print(f"{lab[-1]['machine']:.3f}; LocalCluster idle ...", end=" ", flush=True)
        local.append(local_idle(values, args.seconds, args.settle))
        print(f"{local[-1]['machine']:.3f}", flush=True)

    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    base = statistics.median(floor)
    lab_net, local_net = med(lab, "machine") - base, med(local, "machine") - base
    containers = sum(med(lab, s) for s in SERVICES)
    rows = [{"what": "machine busy, nothing running (the floor)", "cores": round(base, 3)},
            {"what": "lab idle: machine busy minus the floor", "cores": round(lab_net, 3)},
            *({"what": f"  container {s}", "cores": round(med(lab, s), 3)} for s in SERVICES),
            {"what": "  all containers", "cores": round(containers, 3)},
            {"what": "  the engine's processes (dockerd, containerd, shims, proxies)",
             "cores": round(med(lab, "engine"), 3)},
            {"what": "LocalCluster idle: machine busy minus the floor",
             "cores": round(local_net, 3)},
            {"what": "  its own processes", "cores": round(med(local, "processes"), 3)}]
    print()
    print(table_text(rows, f"idle CPU, medians of {args.runs} windows of {args.seconds:g} s"))
    spread = max(floor) - min(floor)
    ratio = lab_net / local_net if local_net > 0 else float("inf")
    noisy = "  NOISY: the floor varied by %.2f cores between windows" % spread if spread > 0.1 else ""
    print(f"\n  ratio lab / LocalCluster   {ratio:.2f}   (goal <= {GOAL:g}){noisy}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
