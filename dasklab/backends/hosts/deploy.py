"""The lab on N engine hosts of this machine: make hosts-up / hosts-down / hosts-status.

    python -m dasklab.backends.hosts.deploy up [N]     # 2 or 3 hosts
    python -m dasklab.backends.hosts.deploy status
    python -m dasklab.backends.hosts.deploy down

`up` makes the hosts (machine.py: namespaces, link, one containerd and
dockerd each), forms a swarm across them (manager on host 1), copies the
lab's images into every host the way a user without a registry would
(`docker save | docker load`, timed), and deploys the same stack as `make
swarm-up` with the scheduler, the store and worker-1 pinned to host 1: Swarm
places every other worker on the host with the fewest tasks, so they spread
over hosts 2.. and may move anywhere when a host is lost or drained. The host
client reaches the scheduler through one door: a forwarder on this machine's
127.0.0.1 to the gateway container on host 1 (the stack publishes nothing).

The user's engine is only read (its images are saved from it); it joins no
swarm, and nothing of it is changed. `down` removes every daemon, namespace,
link, rule, cgroup and folder `up` made, and says what, if anything, is left.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time

from ...settings import environment, load, validate
from ..compose.project import Compose
from ..swarm import deploy as swarm
from . import machine
from .machine import Host, HostsError, log

STACK = "dasklab-hosts"
DOOR_PORTS = ("SCHEDULER_PORT", "DASHBOARD_PORT", "S3_PORT")


def images(values: dict[str, str]) -> list[str]:
    """The images the stack runs: the stack image, the store's."""
    from ...settings import compose_files
    from ..swarm.stack import SKIPPED, STACK_IMAGE

    rendered = Compose(project=STACK, files=tuple(compose_files(values))).config()
    found = {svc["image"] for name, svc in rendered["services"].items() if name not in SKIPPED}
    return sorted(STACK_IMAGE if i == values["DASKLAB_IMAGE"] else i for i in found)


def form_swarm(hosts: list[Host], timeout: float = 60) -> None:
    first, rest = hosts[0], hosts[1:]
    first.docker("swarm", "init", "--advertise-addr", first.ip,
                 "--listen-addr", f"{first.ip}:2377", "--default-addr-pool", "10.215.0.0/16")
    token = first.docker("swarm", "join-token", "-q", "worker")
    for h in rest:
        h.docker("swarm", "join", "--token", token, "--advertise-addr", h.ip,
                 "--listen-addr", f"{h.ip}:2377", f"{first.ip}:2377")
    deadline = time.monotonic() + timeout
    while (ready := nodes(first)) and sum(s == "Ready" for s, _ in ready.values()) < len(hosts):
        if time.monotonic() > deadline:
            raise HostsError(f"not every host joined the swarm within {timeout:.0f} s: {ready}")
        time.sleep(0.5)


def nodes(manager: Host) -> dict[str, tuple[str, str]]:
    """node hostname -> (Status, Availability), as the manager sees them."""
    out = manager.docker("node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.Availability}}",
                         check=False)
    return {w[0]: (w[1], w[2]) for w in (line.split() for line in out.splitlines()) if len(w) == 3}


def copy_images(names: list[str], hosts: list[Host]) -> dict[str, float]:
    """`docker save` from the user's engine, once, then `docker load` into
    every host side by side, as a user without a registry would; seconds
    per host, each counted from the start of the save."""
    from concurrent.futures import ThreadPoolExecutor

    archive = machine.DATA / "images.tar"
    start = time.monotonic()
    proc = subprocess.run(["docker", "save", "-o", str(archive), *names],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise HostsError(f"`docker save {' '.join(names)}` failed: {proc.stderr.strip()} "
                         "(`make images` first)")
    log(f"images saved from this engine in {time.monotonic() - start:.1f} s "
        f"({archive.stat().st_size / 2**30:.1f} GiB)")

    def load(h: Host) -> float:
        h.docker("load", "-q", "-i", str(archive), timeout=600)
        return time.monotonic() - start

    try:
        with ThreadPoolExecutor(len(hosts)) as pool:
            took = dict(zip((h.name for h in hosts), pool.map(load, hosts)))
    finally:
        archive.unlink(missing_ok=True)
    log("images in every host after " + ", ".join(f"{n} {s:.1f} s" for n, s in took.items()))
    return took


def constraints(manager: Host) -> dict[str, list[str]]:
    here = [f"node.hostname == {manager.name}"]
    return {"scheduler": here, "store": here, "worker-1": here}


def start_door(values: dict[str, str], target: Host, timeout: float = 20) -> int:
    """The forwarder from this machine's 127.0.0.1 to host 1's gateway."""
    specs = [f"{values[p]}={target.ip}:{values[p]}" for p in DOOR_PORTS]
    with open(machine.RUN / "door.log", "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dasklab.plugins.forward", "--bind",
                                 "127.0.0.1", *specs], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=out, start_new_session=True)
    deadline = time.monotonic() + timeout
    port = int(values["SCHEDULER_PORT"])
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc.pid
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise HostsError(f"the door on 127.0.0.1:{port} did not open: "
                                 f"{machine._tail(machine.RUN / 'door.log')}") from None
            time.sleep(0.2)


def port_check(values: dict[str, str]) -> None:
    from ..compose.preflight import port_problem

    chosen = {int(values[p]) for p in DOOR_PORTS}
    problems = [p for p in (port_problem(name, int(values[name]), chosen, "make hosts-up")
                            for name in DOOR_PORTS) if p]
    if problems:
        raise HostsError("the door's ports are taken (is `make up`'s cluster running? "
                         "`make down` first):\n" + "\n".join(problems))


def up(n: int = 2, workers: int = 3) -> dict:
    """Make the hosts and deploy the lab on them; what was measured."""
    values = validate(load())
    if values.get("TLS") == "on":
        raise HostsError("TLS=on is not carried to the hosts' stack (as for `make swarm-up`); "
                         "set TLS=off in .env")
    machine.preflight(n)
    port_check(values)
    start = time.monotonic()
    swarm.build_image(values)
    wanted = images(values)
    hosts = [Host(i) for i in range(1, n + 1)]
    storage = machine.storage_driver()
    state = machine.state_record(hosts, storage, {})
    machine.save_state(state)  # from here on, hosts-down can find everything
    try:
        log(f"making {n} hosts: namespaces, link {machine.SUBNET}.0/24, one engine each")
        machine.make_link(hosts)
        state["made_dirs"] = machine.make_mount_points()
        machine.save_state(state)
        for h in hosts:
            state["pids"][h.name] = machine.start_daemons(h, storage)
            machine.save_state(state)
        form_swarm(hosts)
        log(f"swarm of {n} nodes formed, manager {hosts[0].name}")
        state["image_seconds"] = copy_images(wanted, hosts)
        machine.save_state(state)
        with environment({"DOCKER_HOST": hosts[0].socket}):
            deploy_spread(values, hosts[0], workers)
            # The stack's gateway, on host 1, published on host 1's own address.
            Compose(project=f"{STACK}-gateway", files=(swarm.GATEWAY_FILE,),
                    env={"SWARM_STACK": STACK, "GATEWAY_ADDRESS": hosts[0].ip}).run("up", "-d")
            state["door_pid"] = start_door(values, hosts[0])
            machine.save_state(state)
            swarm.wait_ready(values, STACK, workers).close()
            if spread_workers(hosts[0]):
                swarm.wait_ready(values, STACK, workers).close()
            swarm.wait_store(values)
    except BaseException:
        log("hosts-up failed half way: taking down everything it made")
        down()
        raise
    state["up_seconds"] = time.monotonic() - start
    machine.save_state(state)
    log(f"{n} hosts up in {state['up_seconds']:.0f} s; workers: {placement(hosts[0])}; "
        "run `make scenario-node-loss`, `make scenario-drain`; `make hosts-down` to remove")
    return state


def deploy_spread(values: dict[str, str], manager: Host, workers: int) -> None:
    """The stack, one worker more per deploy: Swarm places a new task on the
    host with the fewest tasks, but it counts only tasks already placed, so
    services deployed together may all land on one host."""
    for k in range(1, workers + 1):
        swarm.deploy(values, STACK, k, constraints(manager))
        deadline = time.monotonic() + 60
        while f"worker-{k}" not in placement(manager):
            if time.monotonic() > deadline:
                raise HostsError(f"Swarm placed no task of worker-{k} within 60 s: "
                                 f"{manager.docker('stack', 'ps', STACK, check=False)}")
            time.sleep(0.2)


def spread_workers(manager: Host) -> list[str]:
    """Move each free worker that still landed on host 1: a forced update
    stops its task and Swarm places the new one on the host with the fewest
    tasks, another one. Returns those moved."""
    pinned = set(constraints(manager))
    moved = [s for s, node in sorted(placement(manager).items())
             if s.startswith("worker-") and s not in pinned and node == manager.name]
    for name in moved:
        manager.docker("service", "update", "--force", "--detach=false", "--quiet",
                       f"{STACK}_{name}", timeout=180)
    if moved:
        log(f"moved {', '.join(moved)} off {manager.name}: {placement(manager)}")
    return moved


def placement(manager: Host) -> dict[str, str]:
    """service -> node it runs on."""
    out = manager.docker("stack", "ps", STACK, "--filter", "desired-state=running",
                         "--format", "{{.Name}} {{.Node}}", check=False)
    return {w[0].split(".")[0][len(STACK) + 1:]: w[1]
            for w in (line.split() for line in out.splitlines()) if len(w) == 2}


def down() -> list[str]:
    """Remove everything `up` made; what could not be removed (empty when clean)."""
    import os
    import signal

    state = machine.load_state()
    door = state.get("door_pid")
    if door:
        try:
            os.kill(door, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while machine.alive(door) and time.monotonic() < deadline:
            time.sleep(0.1)
    found = machine.known_hosts()
    for h in found:
        machine.power_off(h)  # nothing on the hosts is kept: no need to stop gracefully
    machine.remove_all()
    left = machine.leftovers()
    log(f"removed {len(found)} hosts" + (f"; LEFT: {left}" if left else "; nothing left"))
    return left


def status() -> str:
    hosts = machine.hosts_up()
    if not hosts:
        return "no hosts are up (`make hosts-up N=2`)"
    lines = [f"{h.name} {h.ip} engine {'answers' if h.answers() else 'DOWN'}" for h in hosts]
    lines += [f"node {k}: {v[0]}, {v[1]}" for k, v in nodes(hosts[0]).items()]
    lines += [f"{svc} on {node}" for svc, node in sorted(placement(hosts[0]).items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dasklab.backends.hosts.deploy",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up")
    p_up.add_argument("n", type=int, nargs="?", default=2)
    sub.add_parser("down")
    sub.add_parser("status")
    args = parser.parse_args(argv)
    from ...settings import SettingsError

    try:
        if args.command == "up":
            up(args.n)
        elif args.command == "down":
            return 1 if down() else 0
        else:
            print(status())
    except SettingsError as e:
        print(f"error: invalid settings:\n{e}", file=sys.stderr)
        return 2
    except (HostsError, swarm.SwarmError, TimeoutError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
