"""docker-compose.yml, rendered by Compose, turned into a Swarm stack file.

One source of truth: `make swarm-up` generates the stack from the same
compose files `make up` uses, every time. Each key a compose service uses is
either kept, translated into what `docker stack deploy` accepts, or dropped
for a stated reason (the tables below); a key the tables do not know stops
the generation, so a new key in docker-compose.yml cannot drift silently
(tests/unit/test_stack.py).

What `docker stack deploy` does with the compose file as it is (measured,
research note cluster-api.md §4): it rejects mem_limit and depends_on
conditions, turns 127.0.0.1 port bindings into 0.0.0.0, drops fixed
addresses, and needs relative bind mounts to exist on every node.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

STACK_IMAGE = "dasklab/dask:stack"  # the lab's image plus dasklab/ and scenarios/ (images/stack/)
LAB_CODE = ("/opt/dasklab/dasklab", "/opt/dasklab/scenarios")
RESTART_DELAY = "5s"  # Swarm's default; swarm-scale removes a retired worker within it
# Swarm's DNS lists a task only once its healthcheck passed, and the first probe
# runs one interval after start: Compose's 30 s (docker-compose.yml, x-health)
# would keep "scheduler" unresolvable that long. Swarm also waits for health itself.
SWARM_HEALTH_INTERVAL = "3s"

# Kept as they are.
KEPT = ("image", "command", "environment", "hostname", "healthcheck", "labels", "cap_drop",
        "read_only", "stop_grace_period")

# Translated into Swarm's own form.
TRANSLATED = {
    "mem_limit": "deploy.resources.limits.memory",
    "pids_limit": "deploy.resources.limits.pids",
    "restart": "deploy.restart_policy any, as unless-stopped: a nanny that closes itself "
               "(exit 0, e.g. after losing the scheduler) must come back too; swarm-scale "
               "removes a retired worker's service within the restart delay",
    "tmpfs": "a tmpfs mount of the same size (Swarm takes no uid or mode: Docker's 1777)",
    "volumes": "named volumes kept; bind-mounted files become Swarm configs; "
               "dasklab/ and scenarios/ are baked into dasklab/dask:stack",
    "networks": "the attachable overlay `dask`, addressed by name (dnsrr)",
}

# Dropped, and why.
DROPPED = {
    "ports": "Swarm publishes on every interface of every node; the gateway "
             "(compose/swarm-gateway.yml) publishes on 127.0.0.1 instead",
    "depends_on": "ignored by `docker stack deploy`; workers retry until the scheduler answers",
    "security_opt": "Swarm services cannot set no-new-privileges; processes run as non-root "
                    "with every capability dropped",
    "entrypoint": "null in the rendered config (the image's own)",
}

# Services left out of the stack, and why.
SKIPPED = {
    "wheels": "serves the host's wheelhouse by bind mount, for PipInstall in the environment "
              "scenario, which needs the Compose cluster",
}


class StackError(ValueError):
    """The compose config uses something the generator does not know."""


def _config_name(stack: str, key: str, path: Path) -> str:
    # Swarm configs are immutable: a changed file gets a new name.
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    return f"{stack}-{key}-{digest}"


def _tmpfs(spec: str) -> dict:
    target, _, options = spec.partition(":")
    out: dict = {"type": "tmpfs", "target": target, "tmpfs": {}}
    for option in filter(None, options.split(",")):
        key, _, value = option.partition("=")
        if key == "size":
            out["tmpfs"]["size"] = _bytes(value)
    return out


def _bytes(text: str) -> int:
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    unit = text[-1:].lower()
    return int(text[:-1]) * units[unit] if unit in units else int(text)


def _volumes(name: str, volumes: list[dict], configs: dict,
             stack: str) -> tuple[list[dict], list[dict], set[str]]:
    mounts, used_configs, named = [], [], set()
    for v in volumes:
        if v["type"] == "volume":
            mounts.append({"type": "volume", "source": v["source"], "target": v["target"]})
            named.add(v["source"])
        elif v["type"] == "bind" and v["target"] in LAB_CODE:
            continue  # baked into STACK_IMAGE: no node needs this checkout
        elif v["type"] == "bind" and Path(v["source"]).is_file():
            path = Path(v["source"])
            key = path.name.replace(".", "-")
            configs[key] = {"file": str(path), "name": _config_name(stack, key, path)}
            used_configs.append({"source": key, "target": v["target"], "mode": 0o444})
        else:
            raise StackError(f"{name}: cannot carry the mount {v.get('source')} -> "
                             f"{v['target']} to Swarm (a folder bind mount; see dasklab/backends/swarm/stack.py)")
    return mounts, used_configs, named


def swarm_command(command: list[str]) -> list[str]:
    """A worker advertises its overlay IP (eth0), not its name: Swarm's DNS
    lists a task only once its healthcheck passes, but the worker registers
    before that, and the scheduler's lookup of "worker-1" then fails
    (gaierror in add_worker; measured: the worker then waits forever)."""
    out = []
    for arg in command:
        if arg.startswith("--contact-address="):
            continue
        if arg.startswith("--listen-address="):
            port = arg.rsplit(":", 1)[1]
            out += ["--interface=eth0", f"--worker-port={port}"]
            continue
        out.append(arg)
    return out


def _service(name: str, svc: dict, dask_image: str, stack: str, configs: dict,
             volumes: set[str]) -> dict:
    unknown = set(svc) - set(KEPT) - set(TRANSLATED) - set(DROPPED)
    if unknown:
        raise StackError(f"{name}: the stack generator does not know {sorted(unknown)}: "
                         "keep, translate or drop them in dasklab/backends/swarm/stack.py")
    out = {k: svc[k] for k in KEPT if svc.get(k) is not None}
    if "healthcheck" in out:
        out["healthcheck"] = {**out["healthcheck"], "interval": SWARM_HEALTH_INTERVAL}
    if out.get("image") == dask_image:
        out["image"] = STACK_IMAGE
    if name.startswith("worker-"):
        out["command"] = swarm_command(svc["command"])
    limits: dict = {}
    if "mem_limit" in svc:
        limits["memory"] = str(svc["mem_limit"])
    if "pids_limit" in svc:
        limits["pids"] = int(svc["pids_limit"])
    deploy: dict = {
        "replicas": 1,
        # This kernel has no IPVS: a virtual IP would not route (research §4.2).
        "endpoint_mode": "dnsrr",
        "restart_policy": {"condition": "any", "delay": RESTART_DELAY},
    }
    if limits:
        deploy["resources"] = {"limits": limits}
    if name == "store":
        # Its volume lives on one node: keep it there (the manager).
        deploy["placement"] = {"constraints": ["node.role == manager"]}
    out["deploy"] = deploy
    mounts, used_configs, named = _volumes(name, svc.get("volumes") or [], configs, stack)
    mounts += [_tmpfs(spec) for spec in svc.get("tmpfs") or []]
    if mounts:
        out["volumes"] = mounts
    if used_configs:
        out["configs"] = used_configs
    volumes |= named
    out["networks"] = ["dask"]
    return out


def worker_names(services: dict) -> list[str]:
    return sorted((n for n in services if n.startswith("worker-")), key=lambda n: int(n[7:]))


def _workers(services: dict, count: int) -> dict:
    """worker-1 .. worker-`count`: compose's own, or copies of worker-1 under
    the next names (one Swarm service per worker: retire, then remove)."""
    template = services["worker-1"]
    out = {}
    for i in range(1, count + 1):
        name = f"worker-{i}"
        if name in services:
            out[name] = services[name]
            continue
        svc = dict(template, hostname=name)
        svc["volumes"] = [dict(v, source=f"{name}-data") if v.get("source") == "worker-1-data"
                          else v for v in template["volumes"]]
        out[name] = svc
    return out


def generate(rendered: dict, dask_image: str, stack: str, workers: int,
             constraints: dict[str, list[str]] | None = None) -> dict:
    """The stack file for `docker stack deploy`, from `docker compose config
    --format json` of the lab's compose files. `constraints`: service ->
    placement constraints replacing its own (the hosts pin some services)."""
    if workers < 1:
        raise StackError(f"workers must be at least 1, got {workers}")
    services = {n: s for n, s in rendered["services"].items() if n not in SKIPPED}
    others = {n: s for n, s in services.items() if not n.startswith("worker-")}
    configs: dict = {}
    volumes: set[str] = set()
    out = {name: _service(name, svc, dask_image, stack, configs, volumes)
           for name, svc in {**others, **_workers(services, workers)}.items()}
    for name, wanted in (constraints or {}).items():
        out[name]["deploy"]["placement"] = {"constraints": list(wanted)}
    return {
        "version": "3.9",
        "services": out,
        "networks": {"dask": {"driver": "overlay", "attachable": True}},
        "volumes": {v: {} for v in sorted(volumes)},
        "configs": configs,
    }
