"""Remote debugging of a live worker, from the host, through the scheduler.

debugpy is installed into worker-1 at run time from the cluster's own package
index (the `wheels` service), and started there by a worker plugin, listening
on worker-1's cluster-network address only. A task on worker-1 holds a local
variable. A small Debug Adapter Protocol client, sent to the scheduler's
container with run_on_scheduler (async, so the scheduler's event loop keeps
running), attaches, finds the task's thread by name, pauses it, reads the
variable from its frame, resumes and detaches. While paused, *every* thread of
the worker process stops (debugpy's default), its heartbeats included: past
worker-ttl the scheduler would declare it dead and restart it.
"""

from __future__ import annotations

import asyncio
import json
import time

from dasklab.settings import WHEELS_INDEX


def pip_install_debugpy() -> str:
    """Runs on a worker: install debugpy into its own environment."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *WHEELS_INDEX, "debugpy"],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"pip install debugpy failed: {proc.stderr[-500:]}")
    import importlib

    importlib.invalidate_caches()
    import debugpy

    return debugpy.__version__


def inspectable(secret: str, gate: str) -> str:
    """A task with something to look at: waits (bounded) for `gate`."""
    import debugpy
    from distributed import Event

    debugpy.debug_this_thread()  # threads started before listen() are not traced otherwise
    gate_event, deadline = Event(gate), time.monotonic() + 120
    # Poll in Python, not in one long blocking wait: a debugger can suspend a
    # thread only between Python bytecodes, never inside a blocking C call.
    while not gate_event.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    return secret


class Dap:
    """Just enough of the Debug Adapter Protocol: requests, responses, events."""

    def __init__(self, reader, writer):
        self.reader, self.writer, self.seq, self.events = reader, writer, 0, []

    async def send(self, command: str, **arguments) -> int:
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command,
                           "arguments": arguments}).encode()
        self.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await self.writer.drain()
        return self.seq

    async def message(self) -> dict:
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(await self.reader.readexactly(length))

    async def until(self, predicate, timeout: float = 20) -> dict:
        async def loop():
            for _ in range(10_000):  # bounded; the timeout bounds it in time
                msg = await self.message()
                if msg.get("type") == "event":
                    self.events.append(msg)
                if predicate(msg):
                    return msg
            raise RuntimeError("no such DAP message")
        return await asyncio.wait_for(loop(), timeout)

    async def request(self, command: str, timeout: float = 20, **arguments) -> dict:
        seq = await self.send(command, **arguments)
        msg = await self.until(lambda m: m.get("type") == "response"
                               and m.get("request_seq") == seq, timeout)
        if not msg.get("success"):
            raise RuntimeError(f"DAP {command} failed: {msg.get('message')}")
        return msg.get("body", {})


async def inspect_remote(host: str, port: int, thread_name: str, function: str,
                         variable: str, pause_seconds: float = 2.0,
                         dask_scheduler=None) -> dict:
    """Runs on the scheduler: attach to debugpy at host:port, pause the thread
    called `thread_name` (the one running the task, as an IDE user picks it),
    read `variable` in the frame of `function`, resume, detach.

    Only that thread is paused: pausing the others one by one, as this did
    first, raced debugpy's resume of the previous thread with the next pause
    ("Unable to find thread to evaluate variable reference", once in a CI run)."""
    out = {"steps": []}
    reader, writer = await asyncio.open_connection(host, port)
    dap = Dap(reader, writer)
    try:
        caps = await dap.request("initialize", clientID="dasklab", adapterID="python",
                                 linesStartAt1=True, columnsStartAt1=True, pathFormat="path")
        out["steps"].append(f"initialize: {len(caps)} capabilities")
        attach = await dap.send("attach", justMyCode=False)
        await dap.until(lambda m: m.get("event") == "initialized")
        await dap.request("configurationDone")
        await dap.until(lambda m: m.get("type") == "response" and m.get("request_seq") == attach)
        out["steps"].append("attached")
        threads = (await dap.request("threads"))["threads"]
        out["threads"] = len(threads)
        thread = next((t for t in threads if t["name"] == thread_name), None)
        if thread is None:
            raise RuntimeError(f"debugpy lists no thread {thread_name!r} "
                               f"(it lists {sorted(t['name'] for t in threads)})")
        paused_at = time.time()
        # debugpy sometimes answers the variables request of a thread it has just reported
        # stopped with "Unable to find thread to evaluate variable reference" (seen in CI
        # and in a notebook run, not reproduced by hand): its frames were released between
        # our requests. An IDE user would click again; so do we, a bounded number of times.
        for attempt in range(1, 4):
            try:
                frame, value = await _paused_value(dap, thread, thread_name, function, variable)
                break
            except RuntimeError as e:
                if "Unable to find thread" not in str(e) or attempt == 3:
                    raise
                out["steps"].append(f"debugpy lost the paused frames ({e}); pausing again")
                await dap.request("continue", threadId=thread["id"])
        out["steps"].append(f"paused thread {thread_name!r} in {function}()")
        out["value"] = value
        out["frame"] = f"{function} line {frame['line']}"
        await asyncio.sleep(pause_seconds)  # hold the pause: the heartbeats stop meanwhile
        await dap.request("continue", threadId=thread["id"])
        out["paused_s"] = round(time.time() - paused_at, 2)
        out["steps"].append(f"read {variable} = {out['value']}; resumed")
        await dap.request("disconnect", terminateDebuggee=False)
        out["steps"].append("detached")
    finally:
        writer.close()
    return out


async def _paused_value(dap, thread: dict, thread_name: str, function: str,
                       variable: str) -> tuple[dict, str | None]:
    """Pause `thread`, find `function`'s frame on its stack, read `variable` there."""
    await dap.request("pause", threadId=thread["id"])
    await dap.until(lambda m: m.get("event") == "stopped" and (
        m["body"].get("threadId") == thread["id"] or m["body"].get("allThreadsStopped")))
    frames = (await dap.request("stackTrace", threadId=thread["id"]))["stackFrames"]
    frame = next((f for f in frames if f["name"] == function), None)
    if frame is None:
        raise ValueError(f"thread {thread_name!r} is not in {function}() "
                         f"(its frames: {[f['name'] for f in frames][:8]})")
    scopes = (await dap.request("scopes", frameId=frame["id"]))["scopes"]
    local = next(s for s in scopes if s["name"].lower().startswith("locals"))
    values = await dap.request("variables", variablesReference=local["variablesReference"])
    return frame, next((v["value"] for v in values["variables"] if v["name"] == variable), None)


def executing(dask_worker=None) -> dict[str, str]:
    """Runs on a worker: the keys executing now, each with the name of the
    thread running it (what a debugger lists)."""
    import threading

    names = {t.ident: t.name for t in threading.enumerate()}
    return {str(key): names.get(ident, "?") for ident, key in dask_worker.active_threads.items()}
