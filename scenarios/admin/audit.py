"""What each container of a compose project exposes and holds, read the way
an admin would check it: `docker inspect`, `docker top` and /proc/1/status
from inside. The `security` scenario prints it and judges it."""

from __future__ import annotations

import re

# Environment variable names that carry credentials (their values are never shown).
SECRET_ENV = re.compile(r"(SECRET|TOKEN|PASSWORD|ACCESS_KEY)")
ANY_ADDRESS = {"", "0.0.0.0", "::"}


def published(attrs: dict) -> list[str]:
    """"127.0.0.1:8786->8786/tcp" for each published port."""
    out = []
    for port, bindings in sorted((attrs["HostConfig"].get("PortBindings") or {}).items()):
        for b in bindings or []:
            out.append(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}->{port}")
    return out


def process_uids(container) -> list[int]:
    """The uid of every process in the container, as the host's ps sees it."""
    top = container.top(ps_args="-o pid,uid")
    col = top["Titles"].index("UID")
    return sorted({int(p[col]) for p in top["Processes"]})


def proc_status(container) -> dict[str, str]:
    """CapEff, NoNewPrivs and Seccomp of the container's first process, from inside."""
    code, out = container.exec_run(["cat", "/proc/1/status"])
    fields = dict(line.split(":", 1) for line in out.decode().splitlines() if ":" in line)
    return {k: fields.get(k, "?").strip() for k in ("CapEff", "NoNewPrivs", "Seccomp")}


def secrets_held(attrs: dict) -> list[str]:
    env = [e.split("=", 1)[0] for e in attrs["Config"].get("Env") or []]
    mounted = [m["Destination"] for m in attrs["Mounts"]
               if m["Destination"].startswith("/run/secrets/")]
    return sorted(n for n in env if SECRET_ENV.search(n)) + sorted(mounted)


def env_value(attrs: dict, name: str) -> str | None:
    for e in attrs["Config"].get("Env") or []:
        key, _, value = e.partition("=")
        if key == name:
            return value
    return None


def row(container) -> dict:
    a = container.attrs
    host = a["HostConfig"]
    status = proc_status(container)
    return {
        "service": container.labels.get("com.docker.compose.service", container.name),
        "published": ", ".join(published(a)) or "-",
        "uids": ",".join(map(str, process_uids(container))),
        "cap_drop": ",".join(host.get("CapDrop") or []) or "-",
        "cap_eff": status["CapEff"],
        "no_new_privs": status["NoNewPrivs"] == "1",
        "seccomp": status["Seccomp"] == "2",
        "read_only": bool(host.get("ReadonlyRootfs")),
        "pids_limit": host.get("PidsLimit") or "-",
        "secrets": ", ".join(secrets_held(a)) or "-",
        "tls": env_value(a, "DASKLAB_TLS") == "on",
        "ca_key_mounted": any(m.get("Source", "").endswith("ca-key.pem") or
                              "ca-key" in m["Destination"] for m in a["Mounts"]),
    }


def problems(rows: list[dict]) -> list[str]:
    """The verdict's hard rules: what would make this cluster unsafe to run."""
    out = []
    for r in rows:
        for p in r["published"].split(", "):
            if p != "-" and p.split(":")[0] in ANY_ADDRESS:
                out.append(f"{r['service']} publishes {p} on every interface")
        if 0 in map(int, r["uids"].split(",")):
            out.append(f"{r['service']} runs a process as root")
        if r["ca_key_mounted"]:
            out.append(f"{r['service']} holds the CA's private key")
    return out
