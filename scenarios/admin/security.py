"""security: the admin's audit of the running cluster, and why it matters.

1. Per service: published ports and their host address, process users,
   capabilities, no-new-privileges, read-only root, process limit, the
   secrets it holds, TLS. Fails on any port on every interface, any root
   process, or the CA's key inside a container.
2. Least-privilege storage keys: the workers' key reads the reference bucket
   the admin filled, and is refused (Forbidden) writing or deleting there.
3. The lesson: whoever can connect to the scheduler runs code in it. A plain
   `submit` whose argument unpickles into a harmless function call is seen
   executing in the scheduler's own process. Hence loopback-only ports, TLS,
   and no secrets the scheduler does not need.
"""

from __future__ import annotations

import os
import socket

from dasklab import Result, phase
from dasklab.backends import docker_api
from dasklab.settings import reference_bucket
from . import audit

LESSON_KEY = "dasklab-security/lesson.txt"
UNPICKLED: list[dict] = []  # where _record ran; read back with run_on_scheduler


def _record() -> str:
    """Runs wherever the payload is unpickled; only notes where that was."""
    UNPICKLED.append({"host": socket.gethostname(), "pid": os.getpid()})
    return "harmless"


class Payload:
    """Unpickling this calls _record(): any function could stand there."""

    def __reduce__(self):
        return (_record, ())


def _echo(x):
    return x


def _seen() -> list[dict]:
    seen = list(UNPICKLED)
    UNPICKLED.clear()
    return seen


def _s3_try(action: str, path: str, data: bytes = b"") -> str:
    """One S3 call with this container's own key; the outcome as text."""
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    try:
        if action == "read":
            return "ok: " + fs.cat(path).decode()
        if action == "write":
            fs.pipe(path, data)
        elif action == "delete":
            fs.rm(path)
        return "ok"
    except PermissionError as e:
        return f"refused: {e}"


def _s3_env_names() -> list[str]:
    return sorted(k for k in os.environ if k.startswith("AWS_") and "KEY" in k)


def audit_table(lab, r: Result) -> None:
    phase("auditing every container: docker inspect, docker top, /proc/1/status inside")
    running = docker_api.project_containers(lab.compose.project, running_only=True)
    rows = [audit.row(c) for c in running]
    r.tables["audit"] = rows
    for problem in audit.problems(rows):
        r.check(False, problem)
    for row in rows:
        r.check(row["cap_drop"] == "ALL" and row["cap_eff"] == "0000000000000000",
                f"{row['service']} keeps Linux capabilities ({row['cap_eff']})")
        r.check(row["no_new_privs"], f"{row['service']} can gain privileges (no-new-privileges off)")
    by = {row["service"]: row for row in rows}
    for service in ("scheduler", "wheels"):
        if service in by:
            r.check("AWS_SECRET_ACCESS_KEY" not in by[service]["secrets"],
                    f"{service} holds an S3 key it never uses")
    r.measurements["services_audited"] = len(rows)
    r.measurements["read_only_root"] = ", ".join(s for s, row in by.items() if row["read_only"])
    r.measurements["tls"] = "on" if all(by[s]["tls"] for s in by if s not in ("store", "wheels")) \
        else "off"


def least_privilege(lab, r: Result) -> None:
    import s3fs

    if lab.settings.get("STORE_BACKEND") != "garage":
        r.notes.append("least-privilege keys skipped: only the Garage backend gives workers "
                       "their own key (README, 'Security')")
        return
    phase("least privilege: the admin fills the reference bucket; a worker reads, writes, deletes")
    ref = f"{reference_bucket(lab.settings)}/{LESSON_KEY}"
    own = f"{lab.settings['DASKLAB_BUCKET']}/{LESSON_KEY}"
    s3fs.S3FileSystem(skip_instance_cache=True).pipe(ref, b"reference data")  # the admin key
    c = lab.client
    worker = sorted(lab.workers_by_name())[0]
    address = lab.workers_by_name()[worker]["address"]

    def on_worker(*args):
        return c.submit(_s3_try, *args, workers=[address], pure=False).result(timeout=60)

    rows = [{"who": f"{worker} (workers' key)", "action": a, "path": p, "outcome": on_worker(a, p, d)}
            for a, p, d in (("read", ref, b""), ("write", ref, b"tampered"), ("delete", ref, b""),
                            ("write", own, b"output"), ("delete", own, b""))]
    r.tables["least_privilege"] = rows
    out = {(row["action"], row["path"]): row["outcome"] for row in rows}
    r.check(out[("read", ref)] == "ok: reference data", "a worker could not read the reference bucket")
    for action in ("write", "delete"):
        r.check(out[(action, ref)].startswith("refused: Forbidden"),
                f"a worker's {action} in the reference bucket was not refused: {out[(action, ref)]}")
        r.check(out[(action, own)] == "ok", f"a worker's {action} in the lab's bucket failed")
    keys = {"scheduler": c.run_on_scheduler(_s3_env_names), **lab.run_by_name(_s3_env_names)}
    r.measurements["s3_key_variables"] = {k: len(v) for k, v in keys.items()}
    r.check(not keys["scheduler"], f"the scheduler's environment holds {keys['scheduler']}")


def lesson(lab, r: Result) -> None:
    phase("the lesson: a submitted argument unpickles, and runs, in the scheduler")
    c = lab.client
    c.run_on_scheduler(_seen)  # forget what an earlier run left
    scheduler_pid = c.run_on_scheduler(os.getpid)
    value = c.submit(_echo, Payload(), pure=False).result(timeout=60)
    seen = c.run_on_scheduler(_seen)
    c.run(_seen)  # the worker that ran _echo unpickled it too; leave nothing behind
    r.measurements["payload_result"] = value
    r.measurements["scheduler_pid"] = scheduler_pid
    r.measurements["payload_ran_in_scheduler"] = [s for s in seen if s["pid"] == scheduler_pid]
    r.check(any(s["pid"] == scheduler_pid for s in seen),
            f"the payload was not seen in the scheduler's process (seen: {seen})")
    r.notes.append(
        "A plain client.submit ran code inside the scheduler (payload_ran_in_scheduler): "
        "Dask unpickles what clients send, by design. Being able to connect is being able "
        "to run anything the scheduler's user can: keep its port on loopback or behind "
        "mutual TLS, and give it no secret it does not need.")


def run(lab) -> Result:
    r = Result("security")
    audit_table(lab, r)
    least_privilege(lab, r)
    lesson(lab, r)
    return r
