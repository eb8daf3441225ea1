"""worker-local: data on one worker's own volume.

A task pinned to worker-2 by name writes a Parquet file under /data (its
named volume); tasks pinned to worker-2 read it back. Other workers cannot see
it (no shared storage). It survives a restart of the worker container (same
volume) and is gone once the volume is removed and recreated.
"""

from __future__ import annotations

import os

import pandas as pd

from dasklab import Result, Timer, frame_digest, partition, phase

PATH = "/data/lab/worker-local/part-0000.parquet"
TARGET = "worker-2"


def write_local(path: str, rows: int) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    df = partition(0, rows)
    df.to_parquet(path, index=False)
    return frame_digest(df)


def read_local(path: str) -> str:
    return frame_digest(pd.read_parquet(path))


def exists(path: str) -> bool:
    return os.path.exists(path)


def _on_target(lab, func, *args):
    return lab.client.submit(func, *args, workers=[TARGET], allow_other_workers=False,
                             pure=False).result(timeout=60)


def _visible(lab) -> dict[str, bool]:
    return lab.run_by_name(exists, PATH)


def run(lab, rows: int = 200_000) -> Result:
    r = Result("worker-local")
    volume = lab.resources.volume(TARGET)
    phase(f"a file written on {TARGET}'s own volume ({volume}) and read back")
    written = _on_target(lab, write_local, PATH, rows)
    read_back = _on_target(lab, read_local, PATH)
    visible = _visible(lab)
    other = next(n for n in sorted(visible) if n != TARGET)
    try:
        lab.client.submit(read_local, PATH, workers=[other], allow_other_workers=False,
                          pure=False).result(timeout=60)
        other_error = "(no error)"
    except Exception as e:  # noqa: BLE001 - the error is the lesson
        other_error = f"{type(e).__name__}: {e}".splitlines()[0][:120]

    phase(f"{TARGET} restarted: is the file still there?")
    with Timer() as t_restart:
        lab.replace_process(TARGET, lambda: lab.faults.restarted(TARGET))
    after_restart = _on_target(lab, read_local, PATH)

    phase(f"{TARGET}'s volume lost: a new container on a new, empty volume")
    with Timer() as t_volume:
        lab.replace_process(TARGET, lambda: lab.faults.volume_lost(TARGET))
    after_volume = _visible(lab)[TARGET]

    r.measurements.update({
        "path": PATH,
        "volume": volume,
        "digest_written": written,
        "digest_read_back": read_back,
        "visible_on": ", ".join(n for n, v in visible.items() if v),
        f"read_on_{other}": other_error,
        "restart_s": round(t_restart.seconds, 1),
        "digest_after_restart": after_restart,
        "volume_recreate_s": round(t_volume.seconds, 1),
        "exists_after_new_volume": after_volume,
    })
    r.check(read_back == written, "read back on worker-2 should match what was written")
    r.check([n for n, v in visible.items() if v] == [TARGET], f"only {TARGET} should see it")
    r.check("FileNotFoundError" in other_error or "No such file" in other_error,
            f"{other} should not find the file")
    r.check(after_restart == written, "the file should survive a container restart")
    r.check(after_volume is False, "the file should be gone with the volume")
    r.notes += [
        f"workers=['{TARGET}'] pins a task by name; the address behind the name is the "
        "same after a restart, because the compose file fixes ports and IPs.",
        "Worker-local data is fast and private but tied to one container: a task that "
        "needs it must run there, and losing the volume loses the data. Keep anything "
        "that matters in the object store.",
    ]
    return r
