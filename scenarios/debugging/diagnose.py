"""debugging: one bad record in a pipeline, found three ways; pdb; the profiler
and a performance report that opens offline.

Records "0".."N-1" are parsed by tasks and summed; record 37 is "thirty-seven"
and makes `parse` raise. Then:
1. from the client: the exception and traceback the future carries;
2. locally: the failing task re-run in this process (recreate_error_locally),
   whose last frame is `parse` with the bad value in hand;
3. from the cluster's records: the key's story (which worker, which error),
   that worker's log, and the task's own log lines, which only reach the
   client when forwarded (get_worker_logs holds only distributed.worker's).
Plus: pdb inside a task ends in BdbQuit (a worker has no terminal); the
cluster-state dump holds the erred task; a CPU workload's profile names its
hot function; performance_report(mode="inline") writes a report with every
script embedded, so it opens without network access.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
import uuid

from dasklab import HeartbeatGap, Result, phase, report_path, wait_until
from . import remote


def drop_destroyed_curdocs(dask_scheduler=None) -> int:
    """Runs on the scheduler; returns how many stale entries it dropped.

    Bokeh's `patch_curdoc` (bokeh/io/doc.py) pushes a session's document on a
    module-level stack around every dashboard callback and pops it after the
    `yield`, with no try/finally: when a callback raises (the dashboard's task
    group graph raises KeyError when a group it depends on is gone, seen with
    a /groups page left open), the entry stays. Once that session is destroyed,
    every later `curdoc()` outside a session raises "Patched curdoc has been
    previously destroyed", and so does `performance_report` until the
    scheduler restarts. When something else still holds the destroyed
    document, curdoc() returns it instead and `performance_report` fails with
    "'DocumentCallbackManager' object has no attribute '_js_event_callbacks'"
    (seen in the 3rd pass of a repeat run). A document in use by a handler is
    neither, so an entry that is either is stale: drop those."""
    from bokeh.io import doc

    def stale(ref) -> bool:
        document = ref()
        # Document.destroy() deletes _roots (a session's proxy forwards the lookup).
        return document is None or not hasattr(document, "_roots")

    dropped = [ref for ref in doc._PATCHED_CURDOCS if stale(ref)]
    doc._PATCHED_CURDOCS[:] = [ref for ref in doc._PATCHED_CURDOCS if ref not in dropped]
    return len(dropped)

LOGGER = "dasklab.parse"
BAD_INDEX = 37


def parse(record: str) -> int:
    logging.getLogger(LOGGER).warning("parsing record %r", record)
    return int(record)


def total(values: list[int]) -> int:
    return sum(values)


def with_pdb(x: int) -> int:
    import pdb

    pdb.set_trace()  # a worker's stdin is /dev/null: the debugger quits at once
    return x


def hot_loop(i: int, seconds: float) -> int:
    """The profiler's target: a pure-Python loop."""
    end, n = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        n += sum(j * j for j in range(500))
    return n


def find(tree: dict, name: str) -> int:
    """Samples that passed through a frame named `name` (Dask's profile tree;
    leaf counts are 0, so a frame's count is what passed on to its children)."""
    here = tree.get("count", 0) if tree.get("description", {}).get("name") == name else 0
    return here + sum(find(child, name) for child in tree.get("children", {}).values())


def run(lab, records: int = 60, hot_tasks: int = 12, hot_seconds: float = 0.4) -> Result:
    from distributed import performance_report, wait

    r = Result("debugging")
    c = lab.client
    run_id = uuid.uuid4().hex[:6]
    names = lab.names_by_address()
    rows = r.tables.setdefault("one bad record, three ways", [])

    def proof(way: str, claim: str, seen, ok: bool) -> None:
        rows.append({"way": way, "claim": claim, "seen": seen, "holds": ok})
        r.check(ok, f"{claim} (seen: {seen})")

    data = [str(i) for i in range(records)]
    data[BAD_INDEX] = "thirty-seven"
    phase(f"{records} records parsed and summed; record {BAD_INDEX} is bad")
    c.forward_logging(LOGGER)  # the tasks' own log lines, re-emitted here
    captured = _Capture()
    logging.getLogger(LOGGER).addHandler(captured)
    try:
        futures = c.map(parse, data, key=[f"parse-{run_id}-{i}" for i in range(records)])
        summed = c.submit(total, futures, key=f"total-{run_id}")
        wait(futures + [summed])  # the sum errs first; wait for its siblings too
        bad = [i for i, f in enumerate(futures) if f.status == "error"]
        wait_until(lambda: any("thirty-seven" in m for m in captured.messages), 10,
                   "the bad task's own log line to be forwarded")
    finally:
        c.unforward_logging(LOGGER)
        logging.getLogger(LOGGER).removeHandler(captured)
    bad_future = futures[BAD_INDEX]

    # 1. From the client.
    error = bad_future.exception()
    last = traceback.extract_tb(bad_future.traceback())[-1]
    proof("1 client", "exactly one record failed, the bad one", bad, bad == [BAD_INDEX])
    proof("1 client", "its future carries the exception", repr(error)[:70],
          isinstance(error, ValueError) and "thirty-seven" in str(error))
    proof("1 client", "and a traceback ending in the user's function",
          f"{last.name} ({last.filename.rsplit('/', 1)[-1]}:{last.lineno})", last.name == "parse")
    proof("1 client", "the sum that depends on it fails with the same error",
          type(summed.exception()).__name__, type(summed.exception()) is ValueError)

    # 2. Locally.
    phase("re-running the failed task here, in the client process")
    try:
        c.recreate_error_locally(summed)
        frames, local_error = [], None
    except ValueError as e:
        local_error = e
        frames = traceback.extract_tb(e.__traceback__)
    proof("2 locally", "recreate_error_locally raises the same error in this process",
          repr(local_error)[:60], isinstance(local_error, ValueError))
    proof("2 locally", "its last frame is parse(), with the bad record in hand",
          f"{frames[-1].name}: {frames[-1].line}" if frames else None,
          bool(frames) and frames[-1].name == "parse")

    # 3. The cluster's own records.
    story = c.story(bad_future.key)
    erred = [e for e in story if e[0] == "scheduler" and e[3] == "erred"]
    executing = [e[0] for e in story if e[0] != "scheduler" and e[3] == "error"]
    worker = names.get(executing[0]) if executing else None
    proof("3 records", "the key's story: erred on the scheduler, error on one worker",
          f"{len(erred)} erred, on {worker}", len(erred) == 1 and worker is not None)
    logs = c.get_worker_logs(workers=executing[:1]) if executing else {}
    failed = [line for lines in logs.values() for _, line in lines
              if "Compute Failed" in line and bad_future.key in line]
    proof("3 records", f"{worker}'s log has the 'Compute Failed' entry for the key",
          len(failed), len(failed) == 1)
    own = [line for lines in logs.values() for _, line in lines if "parsing record" in line]
    forwarded = [m for m in captured.messages if "thirty-seven" in m]
    proof("3 records", "the task's own log line is not in get_worker_logs", len(own), not own)
    proof("3 records", "but forward_logging brought it to the client", forwarded[:1],
          len(forwarded) == 1)

    phase("pdb inside a task")
    pdb_future = c.submit(with_pdb, 1, pure=False, key=f"pdb-{run_id}")
    wait([pdb_future])
    proof("pdb", "pdb.set_trace() in a task ends in BdbQuit", type(pdb_future.exception()).__name__,
          type(pdb_future.exception()).__name__ == "BdbQuit")

    dump = report_path(f"debugging-state-{run_id}", "yaml")
    c.dump_cluster_state(str(dump.with_suffix("")), format="yaml")
    proof("dump", "the cluster-state dump holds the erred task", dump.name,
          bad_future.key in dump.read_text())

    # The profiler and an offline report.
    dropped = c.run_on_scheduler(drop_destroyed_curdocs)
    if dropped:
        r.notes.append(
            f"Mitigated a Dask+Bokeh bug first: the scheduler's Bokeh kept {dropped} destroyed "
            "document(s) as its current one, and performance_report would have failed with "
            "'RuntimeError: Patched curdoc has been previously destroyed' (see "
            "drop_destroyed_curdocs).")
    phase(f"profiling {hot_tasks} tasks of a hot loop inside performance_report(mode='inline')")
    report = report_path("performance-report", "html")
    prefix = f"hot_{run_id}"
    with performance_report(filename=str(report), mode="inline"):
        c.gather(c.map(hot_loop, range(hot_tasks), seconds=hot_seconds, pure=False,
                       key=[f"{prefix}-{i}" for i in range(hot_tasks)]))
        # One profile cycle (1 s) must pass before the samples reach the scheduler.
        samples = wait_until(lambda: find(c.profile(key=prefix), "hot_loop"), 15,
                             "the hot function in the task profile", interval=0.5)
    html = report.read_text()
    external = re.findall(r'<script[^>]+src="(https?:[^"]+)"', html)
    tasks_seen = int(m.group(1)) if (m := re.search(r"number of tasks: (\d+)", html)) else 0
    proof("profile", "the task profile names the hot function", f"hot_loop: {samples} samples",
          samples > 0)
    proof("profile", "the event-loop profiler is off on Python 3.11",
          c.profile(server=True).get("count", 0), c.profile(server=True).get("count", 0) == 0)
    proof("report", "the report embeds every script (no external src)", len(external),
          not external and "Dask Performance Report" in html)
    proof("report", "and counts the run's tasks", tasks_seen, tasks_seen >= hot_tasks)
    remote_debugging(lab, r, proof, run_id)
    r.measurements.update({"performance report": f"{report} ({report.stat().st_size >> 10} KiB)",
                           "cluster state": str(dump), "bad record": data[BAD_INDEX]})
    c.cancel(futures + [summed, pdb_future])
    r.notes += [
        "Way 1 needs nothing but the future. Way 2 re-runs the task in your process, where a "
        "debugger works (pdb.post_mortem). Way 3 works after the fact and for tasks you do "
        "not hold: the story names the worker, its log has the 'Compute Failed' entry.",
        "A task's own logging and print() go to the worker container's stdout (make logs "
        "s=worker-N), not to get_worker_logs, which keeps only distributed.worker's records; "
        "client.forward_logging(name) sends them to the client.",
        "pdb cannot run inside a task: the worker has no terminal, so pdb reads EOF and "
        "raises BdbQuit. Re-run the task locally (way 2) or attach a remote debugger.",
        "Remote debugging: a worker plugin starts debugpy in worker-1, listening on its "
        "cluster-network address only; a debugger reaches it from inside the network (here "
        "a DAP client sent to the scheduler's container; from an IDE, through an SSH tunnel "
        "or a port published on 127.0.0.1 only). A pause stops every thread of the worker "
        "process, heartbeats included: held past worker-ttl (60 s in compose/dask.yaml) the "
        "scheduler declares the worker dead and restarts it. Raise worker-ttl on a cluster "
        "you debug interactively.",
        "performance_report(mode='inline') embeds BokehJS (about 1.7 MB); the default links "
        "it from a CDN and opens blank without network. On Python 3.11 its two "
        "'administrative' profile tabs are empty and the dashboard's /profile says why: "
        "distributed switches the event-loop profiler off (a CPython deadlock, "
        "distributed#8616). The task profile still works.",
    ]
    return r


def remote_debugging(lab, r: Result, proof, run_id: str, pause_seconds: float = 3.0) -> None:
    from dasklab.plugins.remote_debug import RemoteDebug

    c = lab.client
    addr = lab.workers_by_name()["worker-1"]["address"]
    host = addr.split("://")[1].rsplit(":", 1)[0]
    phase("remote debugging: debugpy into worker-1 from the cluster's package index")
    version = c.run(remote.pip_install_debugpy, workers=[addr])[addr]
    c.register_plugin(RemoteDebug("worker-1"), name=RemoteDebug.name)
    try:
        _inspect_worker_1(lab, proof, run_id, addr, host, pause_seconds)
    finally:
        # Also after a failure: debugpy cannot stop listening, and a traced
        # process is slower and bigger; a fresh worker process leaves no
        # debugger behind (a failed run once left it to the next scenario).
        c.unregister_worker_plugin(RemoteDebug.name)
        lab.replace_process("worker-1", lambda: c.restart_workers([addr]))
    r.measurements["debugpy"] = version


def _inspect_worker_1(lab, proof, run_id: str, addr: str, host: str,
                      pause_seconds: float) -> None:
    from distributed import Event

    from dasklab.plugins.remote_debug import PORT

    c = lab.client
    gate = f"dbg-gate-{run_id}"
    task = c.submit(remote.inspectable, f"needle-{run_id}", gate, workers=["worker-1"],
                    pure=False, key=f"inspectable-{run_id}")
    thread_name = wait_until(lambda: c.run(remote.executing, workers=[addr])[addr].get(task.key),
                             30, "the task to be executing on worker-1")
    with HeartbeatGap(c, "worker-1") as before:  # the normal silence, over ~2 s of samples
        wait_until(lambda: before.samples >= 8, 15, "8 heartbeat samples")
    phase(f"attaching through the scheduler to {host}:{PORT}, pausing for {pause_seconds:g} s")
    try:
        with HeartbeatGap(c, "worker-1") as during:
            info = c.run_on_scheduler(remote.inspect_remote, host, PORT, thread_name,
                                      "inspectable", "secret", pause_seconds)
    finally:
        Event(gate).set()
    result = task.result(timeout=60)
    proof("remote", "DAP handshake with worker-1's debugpy, through the scheduler",
          " > ".join(info["steps"][:2]), "attached" in info["steps"])
    proof("remote", "the running task's local variable, read through the debugger",
          f"{info.get('frame')} ({thread_name}): secret = {info.get('value')}",
          info.get("value") == repr(f"needle-{run_id}"))
    proof("remote", "while paused, worker-1's heartbeats stopped",
          f"longest silence {during.gap:.1f} s (normally {before.gap:.1f} s)",
          during.gap >= pause_seconds * 0.8 > before.gap)
    proof("remote", "after detaching, the task finished normally", result,
          result == f"needle-{run_id}")


class _Capture(logging.Handler):
    """Collects the forwarded records' messages."""

    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record) -> None:
        self.messages.append(record.getMessage())
