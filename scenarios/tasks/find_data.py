"""find-data: finding tasks and data programmatically.

A first client computes and publishes a dataset; a second client, knowing
only its name, finds it, where each piece lives, what is running where, a
key's story, the task stream of the run, metadata, and a cluster-state dump
that holds the keys. Ends with a table of where to look for what.
"""

from __future__ import annotations

import time
import uuid

from dasklab import Result, phase, report_path, task_states, wait_until
from .policies import gated


def square(i: int) -> int:
    time.sleep(0.05)
    return i * i


def wanted_by(client_id: str, prefix: str, dask_scheduler=None) -> int:
    cs = dask_scheduler.clients.get(client_id)
    return sum(1 for ts in (cs.wants_what if cs else ()) if str(ts.key).startswith(prefix))


def run(lab, n: int = 24) -> Result:
    from distributed import Client, Event, get_task_stream

    r = Result("find-data")
    run = f"find-{uuid.uuid4().hex[:6]}"
    a = lab.client
    rows = r.tables.setdefault("proofs", [])

    def proof(claim: str, seen, ok: bool) -> None:
        rows.append({"claim": claim, "seen": seen, "holds": ok})
        r.check(ok, f"{claim} (seen: {seen})")

    phase(f"client A computes {n} squares and publishes them as {run!r}")
    with get_task_stream(client=a) as stream:
        futures = a.map(square, range(n), key=[f"{run}-sq-{i}" for i in range(n)])
        a.gather(futures)
    a.publish_dataset(futures, name=run)
    a.set_metadata(["dasklab", run], {"rows": n, "by": "client A"})

    phase("client B finds them knowing only the name")
    with Client(a.scheduler.address, timeout=10) as b:
        proof("B lists the published dataset", run in b.list_datasets(), run in b.list_datasets())
        found = b.get_dataset(run)
        proof("B gets the same futures, values and all", len(found),
              b.gather(found) == [i * i for i in range(n)])
        who = b.who_has(found)
        has = b.has_what()
        agree = all(f.key in has[addr] for f in found for addr in who[f.key])
        proof("who_has and has_what agree on every key", f"{len(who)} keys", agree)
        names = {addr: w["name"] for addr, w in b.scheduler_info()["workers"].items()}
        spread = sorted({names[addr] for f in found for addr in who[f.key]})
        proof("every holder is a registered worker", spread,
              all(addr in names for f in found for addr in who[f.key]))
        in_memory = sorted(k for k, s in b.run_on_scheduler(task_states, prefix=f"{run}-sq-").items()
                           if s == "memory")
        proof("the scheduler holds all of them in memory", len(in_memory), len(in_memory) == n)
        proof("client A still wants them (ClientState.wants_what)",
              b.run_on_scheduler(wanted_by, a.id, f"{run}-sq-"),
              b.run_on_scheduler(wanted_by, a.id, f"{run}-sq-") == n)
        meta = b.get_metadata(["dasklab", run])
        proof("metadata set by A reads back in B", meta, meta == {"rows": n, "by": "client A"})
        story = b.story(found[0].key)
        transitions = [(e[2], e[3]) for e in story if e[0] == "scheduler"]
        proof("a key's story shows its life on the scheduler",
              " | ".join(f"{s}->{f}" for s, f in transitions[:4]),
              ("processing", "memory") in transitions)

        phase("what is processing where, and its call stack")
        gate = f"{run}-gate"
        held = a.submit(gated, 0, gate, pure=False, key=f"{run}-held")
        wait_until(lambda: any(held.key in keys for keys in b.processing().values()), 30,
                   "the gated task to be processing")
        where = [names[addr] for addr, keys in b.processing().items() if held.key in keys]

        def frames_now() -> list:
            stack = b.call_stack([held])
            return [line for per_worker in stack.values() for lines in per_worker.values()
                    for line in lines]

        # "processing" on the scheduler means assigned: the worker's thread may
        # not have started it yet, and call_stack() is empty until it does
        # (seen once in a fresh-clone run).
        frames = wait_until(frames_now, 30, "the gated task to be running on its worker")
        proof("processing() names the worker running the gated task", where, len(where) == 1)
        waiting = [str(f).strip() for f in frames if "wait" in str(f)]
        proof("call_stack() shows it waiting inside Event.wait",
              waiting[0][:70] if waiting else frames[-1:], bool(waiting))
        Event(gate).set()
        held.result(timeout=30)

    records = [t for t in stream.data if str(t["key"]).startswith(f"{run}-sq-")]
    proof("the task stream of the run has one record per task, with its worker",
          len(records), len(records) == n and all(t["worker"] in names for t in records))
    path = report_path("cluster-state", "yaml")
    phase(f"dumping the cluster state to {path}")
    a.dump_cluster_state(str(path.with_suffix("")), format="yaml")
    text = path.read_text()
    proof("the cluster-state dump (YAML) contains the keys", f"{path.stat().st_size} bytes",
          f"{run}-sq-0" in text)
    r.measurements.update({"dataset": run, "held on": spread, "cluster state": str(path)})
    a.unpublish_dataset(run)
    r.tables["where to look for what"] = [
        {"question": "what did another client share?", "look at": "list_datasets(), get_dataset(name)"},
        {"question": "which worker holds key k?", "look at": "who_has(futures)"},
        {"question": "what does worker w hold?", "look at": "has_what()"},
        {"question": "what runs where right now?", "look at": "processing(), call_stack()"},
        {"question": "what happened to key k?", "look at": "story(key) (scheduler and workers)"},
        {"question": "what ran, where, when?", "look at": "get_task_stream() / with get_task_stream()"},
        {"question": "small shared facts", "look at": "set_metadata / get_metadata"},
        {"question": "everything, for later", "look at": "dump_cluster_state(path, format='yaml')"},
        {"question": "a task in any state", "look at": "run_on_scheduler(f): dask_scheduler.tasks"},
    ]
    r.notes += [
        "A published dataset keeps its futures alive on the scheduler until unpublished: "
        "the data outlives the client that made it.",
        "The dump is written as YAML: the msgpack form cannot be loaded back by "
        "distributed 2026.8 once work stealing has run (integer map keys in the stealing "
        "metrics; strict_map_key=False is the workaround).",
    ]
    return r
