"""The lab as a Docker Swarm stack: make swarm-up / swarm-scale / swarm-down.

    python -m dasklab.backends.swarm.deploy up [--workers N]
    python -m dasklab.backends.swarm.deploy scale N     # retire first, then remove services
    python -m dasklab.backends.swarm.deploy down

`up` makes the local engine a single-node swarm when it is in none (manager
listening and advertising on 127.0.0.1 only, and labelled as made by the
lab), builds dasklab/dask:stack (the lab's image plus dasklab/ and scenarios/), generates
the stack from the compose files (stack.py) and deploys it, then starts the
gateway (compose/swarm-gateway.yml) that publishes the scheduler, dashboard
and store on loopback only. Scenarios then run with DASKLAB_BACKEND=swarm.

`down` removes the stack, its volumes and the gateway, and leaves the swarm
only if `up` made it. On Docker 20.10, leaving a swarm drops the DNS names of
every container on every bridge network that existed meanwhile (a running
`make up` cluster's workers can no longer resolve `scheduler`); `down`
re-attaches those containers at the same address under the same aliases,
which puts the names back (README, "Outgrowing one machine").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from ..base import retire_by_name
from ..compose.project import Compose
from ...settings import ROOT, compose_files, load, validate

DEFAULT_STACK = "dasklab-swarm"
CREATED_LABEL = "dasklab.backends.swarm.deploy-created"  # on the node, when `up` made the swarm
GATEWAY_FILE = "compose/swarm-gateway.yml"
STACK_FILE = ROOT / "build" / "swarm" / "stack.yml"


class SwarmError(RuntimeError):
    """Something the user can fix; the message says what."""


def log(message: str) -> None:
    print(f"[swarm] {message}", file=sys.stderr, flush=True)


def stack_name() -> str:
    return os.environ.get("SWARM_STACK", DEFAULT_STACK)


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise SwarmError(f"`docker {' '.join(args)}` exited {proc.returncode}: "
                         f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


# -- the swarm itself ------------------------------------------------------------
def swarm_state() -> tuple[str, bool]:
    """(LocalNodeState, is a manager) of this engine."""
    out = docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
    state, _, manager = out.partition(" ")
    return state, manager == "true"


def created_by_lab() -> bool:
    state, manager = swarm_state()
    if state != "active" or not manager:
        return False
    return docker("node", "inspect", "self", "--format",
                  f'{{{{index .Spec.Labels "{CREATED_LABEL}"}}}}', check=False) == "true"


def ensure_swarm() -> bool:
    """Join nothing, change nothing when this engine is already a manager;
    otherwise make it a single-node swarm on loopback. True if made here."""
    state, manager = swarm_state()
    if state == "active" and manager:
        return created_by_lab()
    if state == "active":
        raise SwarmError("this engine is a swarm worker, not a manager: run `make swarm-up` "
                         "on a manager node (`docker node ls` there lists the nodes)")
    if state != "inactive":
        raise SwarmError(f"this engine's swarm state is {state!r}; fix it first "
                         "(`docker info`, `docker swarm leave --force`)")
    log("initialising a single-node swarm, manager on 127.0.0.1:2377 only")
    docker("swarm", "init", "--listen-addr", "127.0.0.1:2377", "--advertise-addr", "127.0.0.1")
    node = docker("info", "--format", "{{.Swarm.NodeID}}")  # `node update` takes no "self"
    docker("node", "update", "--label-add", f"{CREATED_LABEL}=true", node)
    return True


def bridge_attachments() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(network, container, ip or '', aliases) for every container on every
    user-defined bridge network, ip only where the network has a user subnet
    (only there may `docker network connect --ip` ask for it)."""
    from ..docker_api import docker_client, endpoint

    out = []
    for net in docker_client().networks.list(filters={"driver": "bridge"}):
        net.reload()
        if net.name in ("bridge", "docker_gwbridge"):
            continue
        user_subnet = bool((net.attrs.get("IPAM") or {}).get("Config"))
        for cid in net.attrs.get("Containers") or {}:
            container = docker_client().containers.get(cid)
            ip, aliases = endpoint(container, net.name, keep_ip=user_subnet)
            out.append((net.name, container.name, ip, aliases))
    return out


def reattach(attachments) -> int:
    """Disconnect and reconnect each container at the same address and aliases:
    the engine re-registers its DNS names (lost when the engine left a swarm)."""
    from ..docker_api import docker_client

    for network, name, ip, aliases in attachments:
        net = docker_client().networks.get(network)
        net.disconnect(name)
        net.connect(name, ipv4_address=ip or None, aliases=list(aliases) or None)
    return len(attachments)


def leave_swarm() -> None:
    attachments = bridge_attachments()
    log("leaving the swarm this lab made")
    docker("swarm", "leave", "--force")
    # The bridge to the host Swarm made; nothing else uses it.
    docker("network", "rm", "docker_gwbridge", check=False)
    if attachments:
        n = reattach(attachments)
        nets = len({a[0] for a in attachments})
        log(f"re-attached {n} containers on {nets} bridge networks: leaving a swarm drops "
            "their DNS names on this engine (Docker 20.10), re-attaching restores them")


# -- the stack ---------------------------------------------------------------------
def build_image(values: dict[str, str]) -> str:
    from .stack import STACK_IMAGE

    files = sorted(str(p.relative_to(ROOT)) for package in ("dasklab", "scenarios")
                   for p in (ROOT / package).rglob("*.py"))
    subprocess.run(["bash", "images/bootstrap/build-image.sh", STACK_IMAGE,
                    "images/stack/Dockerfile", f"DASKLAB_IMAGE={values['DASKLAB_IMAGE']}",
                    "--", *files], cwd=ROOT, check=True)
    return STACK_IMAGE


def write_stack(values: dict[str, str], stack: str, workers: int,
                constraints: dict[str, list[str]] | None = None) -> Path:
    import yaml

    from .stack import generate

    rendered = Compose(project=stack, files=tuple(compose_files(values))).config()
    spec = generate(rendered, values["DASKLAB_IMAGE"], stack, workers, constraints)
    STACK_FILE.parent.mkdir(parents=True, exist_ok=True)
    STACK_FILE.touch(mode=0o600)  # it holds the S3 keys, as .env does
    STACK_FILE.write_text("# Generated by `make swarm-up` from docker-compose.yml: "
                          "do not edit (dasklab/backends/swarm/stack.py)\n"
                          + yaml.safe_dump(spec, sort_keys=False))
    return STACK_FILE


def deploy(values: dict[str, str], stack: str, workers: int,
           constraints: dict[str, list[str]] | None = None) -> None:
    path = write_stack(values, stack, workers, constraints)
    log(f"deploying stack {stack!r} ({workers} workers) from {path.relative_to(ROOT)}")
    # --resolve-image never: the images are local (no registry); --prune
    # removes worker services the new file no longer has (after retiring).
    docker("stack", "deploy", "--resolve-image", "never", "--prune", "-c", str(path), stack,
           timeout=300)


def gateway(stack: str) -> Compose:
    return Compose(project=f"{stack}-gateway", files=(GATEWAY_FILE,), env={"SWARM_STACK": stack})


def services(stack: str) -> list[str]:
    out = docker("stack", "services", stack, "--format", "{{.Name}}", check=False)
    return sorted(s for s in out.splitlines() if s)


def worker_services(stack: str) -> list[str]:
    prefix = f"{stack}_worker-"
    return sorted((s[len(stack) + 1:] for s in services(stack) if s.startswith(prefix)),
                  key=lambda n: int(n[7:]))


def wait_ready(values: dict[str, str], stack: str, workers: int, timeout: float = 300):
    """Until every service runs and the scheduler, reached through the
    gateway, has exactly worker-1..N; returns the connected client."""
    from ...connect import Lab, scheduler_address, try_connect, use_lab_config, wait_until

    use_lab_config(values)
    address = scheduler_address(values)
    start = time.monotonic()
    client = wait_until(lambda: try_connect(address), timeout,
                        f"the stack's scheduler through the gateway at {address}", interval=1,
                        state=lambda: docker("stack", "ps", stack, "--format",
                                             "{{.Name}} {{.CurrentState}} {{.Error}}",
                                             check=False).splitlines()[-8:])
    names = {f"worker-{i}" for i in range(1, workers + 1)}
    lab = Lab(client=client, settings=values, backend="none")  # only to ask the scheduler
    wait_until(lambda: lab.has_workers(names), max(10.0, timeout - (time.monotonic() - start)),
               f"workers {sorted(names)} to register", interval=1,
               state=lambda: sorted(lab.workers_by_name()))
    log(f"scheduler and {workers} workers ready after {time.monotonic() - start:.0f} s")
    return client


def wait_store(values: dict[str, str], timeout: float = 120) -> None:
    """Until the bucket answers through the gateway (the store initialised)."""
    from ...objects import bucket_ready
    from ...waiting import wait_until

    wait_until(lambda: bucket_ready(values), timeout, "the store's bucket through the gateway",
               interval=1)


def up(workers: int = 3) -> None:
    values = validate(load())
    if values.get("TLS") == "on":
        raise SwarmError("TLS=on is not carried to the Swarm stack (Swarm secrets would hold "
                         "the keys); set TLS=off in .env for `make swarm-up`")
    stack = stack_name()
    start = time.monotonic()
    build_image(values)
    ensure_swarm()
    deploy(values, stack, workers)
    log("starting the gateway: scheduler, dashboard and store on 127.0.0.1 only")
    try:
        gateway(stack).run("up", "-d")
    except RuntimeError as e:
        raise SwarmError(f"{e}\nIs the Compose cluster using the same ports? "
                         "`make down` first, or set other SCHEDULER_PORT/DASHBOARD_PORT/S3_PORT"
                         ) from None
    client = wait_ready(values, stack, workers)
    client.close()
    wait_store(values)
    log(f"stack {stack!r} up in {time.monotonic() - start:.0f} s; run scenarios with "
        "DASKLAB_BACKEND=swarm (make scenario-tour DASKLAB_BACKEND=swarm)")


def retire(values: dict[str, str], names: list[str]) -> list[str]:
    """Retire workers by name (the one retire, backends/base.py): Dask moves
    their data to the others first, then closes them. Their containers exit;
    Swarm would start them again after the restart delay (5 s), so the caller
    removes their services at once. Returns those that could not be retired."""
    from ...connect import connect, scheduler_address, use_lab_config

    use_lab_config(values)
    client = connect(scheduler_address(values))
    try:
        return client.sync(retire_by_name, client.scheduler.retire_workers, names,
                           callback_timeout=120)
    finally:
        client.close()


def scale(workers: int) -> None:
    values = validate(load())
    stack = stack_name()
    current = worker_services(stack)
    if not current:
        raise SwarmError(f"no stack {stack!r} is running: `make swarm-up` first")
    gone = [n for n in current if int(n[7:]) > workers]
    if gone:
        log(f"retiring {', '.join(gone)} (their data moves to the others first)")
        kept = retire(values, gone)
        if kept:
            log(f"no survivor could take the data of {kept}; removing them anyway")
        docker("service", "rm", *(f"{stack}_{n}" for n in gone))
    deploy(values, stack, workers)
    wait_ready(values, stack, workers).close()


def _stack_leftovers(stack: str) -> list[str]:
    label = f"label=com.docker.stack.namespace={stack}"
    return (docker("ps", "-aq", "--filter", label, check=False).split()
            + docker("network", "ls", "-q", "--filter", label, check=False).split())


def down() -> None:
    from ...waiting import wait_until

    stack = stack_name()
    state, manager = swarm_state()
    gateway(stack).run("down", "--remove-orphans", "--timeout", "5", check=False)
    if state == "active" and manager and services(stack):
        log(f"removing stack {stack!r}")
        docker("stack", "rm", stack)
    if state == "active" and manager:
        # `stack rm` returns at once; tasks and the network go in the background.
        wait_until(lambda: not _stack_leftovers(stack), 120,
                   f"stack {stack!r}'s containers and network to go",
                   interval=0.5, state=lambda: _stack_leftovers(stack))
    volumes = docker("volume", "ls", "-q", "--filter",
                     f"label=com.docker.stack.namespace={stack}", check=False).split()
    if volumes:
        docker("volume", "rm", *volumes)
        log(f"removed {len(volumes)} volumes")
    if created_by_lab():
        leave_swarm()
    elif state == "active":
        log("the swarm was not made by `make swarm-up`: this engine stays in it")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dasklab.backends.swarm.deploy",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up")
    p_up.add_argument("--workers", type=int, default=3)
    p_scale = sub.add_parser("scale")
    p_scale.add_argument("workers", type=int)
    sub.add_parser("down")
    args = parser.parse_args(argv)
    from ...settings import SettingsError

    try:
        if args.command == "up":
            up(args.workers)
        elif args.command == "scale":
            scale(args.workers)
        else:
            down()
    except SettingsError as e:
        print(f"error: invalid settings:\n{e}", file=sys.stderr)
        return 2
    except (SwarmError, TimeoutError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
