"""The notebooks' exercises: each check reads the right answer from the
running cluster (never from a constant), compares the learner's, prints
what is right or a hint, and returns True or False. `...` (the notebook's
placeholder) is "not answered yet", not wrong.

The notebooks call each check twice: on the learner's answer (it may be
unanswered), and on the hidden solution with `assert`, so that `make test`,
which runs every notebook top to bottom, proves both solution and check.
"""

from __future__ import annotations

from typing import Any


def _say(answer: Any, ok: bool, right: str, hint: str) -> bool:
    if answer is ... or answer is None:
        print(f"Not answered yet. Hint: {hint}")
        return False
    print(f"Right: {right}" if ok else f"Not yet: {hint}")
    return ok


def total_threads(lab, answer: Any) -> bool:
    workers = lab.client.scheduler_info(n_workers=-1)["workers"].values()
    truth = sum(w["nthreads"] for w in workers)
    return _say(answer, answer == truth,
                f"{truth} threads in {len(workers)} workers; each worker runs that many tasks "
                "at once.",
                "add up `nthreads` over the scheduler's workers.")


def _target(dask_worker) -> tuple[int, float]:
    mm = dask_worker.memory_manager
    return mm.memory_limit, mm.memory_target_fraction


def spill_threshold(lab, answer: Any) -> bool:
    address = lab.workers_by_name()["worker-1"]["address"]
    limit, fraction = lab.client.run(_target, workers=[address])[address]
    truth = limit * fraction
    ok = isinstance(answer, (int, float)) and abs(answer - truth) <= 0.01 * truth
    return _say(answer, ok,
                f"{truth / 2**20:,.0f} MiB: {fraction:.0%} of worker-1's {limit / 2**20:,.0f} MiB "
                "limit. Past it, the worker writes results to its volume.",
                "multiply the worker's memory limit by its target fraction.")


def holder_of(lab, future, answer: Any) -> bool:
    from distributed import wait

    wait(future, timeout=60)
    names = lab.names_by_address()
    truth = sorted(names.get(a, a) for a in lab.client.who_has(future).get(future.key, ()))
    return _say(answer, answer in truth, f"{', '.join(truth)} holds {future.key!r}.",
                "ask the scheduler with client.who_has(future).")


def source_sum(answer: Any, files: int, rows: int) -> bool:
    from dasklab.datasets import expected_sum_x

    truth = expected_sum_x(files, rows)  # rebuilt here from the seed, independently
    ok = isinstance(answer, (int, float)) and abs(answer - truth) <= 1e-9 * max(1.0, abs(truth))
    return _say(answer, ok, f"{truth:,.3f}, read by the workers: no file passed through here.",
                "dd.read_parquet(url, columns=['x'])['x'].sum().compute()")


def survived_kill(lab, victim: str, answer: Any, tasks: int) -> bool:
    truth = sum(i * i for i in range(tasks))
    killed = [f for f in lab.faults.log if f.kind == "kill" and f.target == victim]
    if answer is not ... and answer is not None and not killed:
        return _say(answer, False, "", f"the nemesis never killed {victim}: kill it while the "
                                       "tasks run, inside `with lab.faults.killed(...)`.")
    return _say(answer, answer == truth,
                f"{truth}: {victim} died and the scheduler recomputed what it held.",
                f"the sum of i*i for i < {tasks} is what the cluster should return.")


def bad_index(futures: list, answer: Any) -> bool:
    from distributed import wait

    wait(futures, timeout=120)
    erred = [i for i, f in enumerate(futures) if f.status == "error"]
    return _say(answer, answer in erred,
                f"index {erred[0] if erred else '?'} raised on a worker: "
                f"{futures[erred[0]].exception()!r}" if erred else "",
                "look for the future whose status is 'error'.")


def worker_uid(lab, answer: Any) -> bool:
    import os

    uids = set(lab.client.run(os.getuid).values())
    return _say(answer, uids == {answer},
                f"uid {answer} on every worker{' (not root)' if answer else ' (root!)'}: "
                "images/dask/Dockerfile ends with `USER dask`.",
                "lab.client.run(os.getuid) returns one uid per worker.")


def positives(out: str, answer: Any) -> bool:
    """Counted here with pyarrow, file by file: independent of the learner's Dask code."""
    import pyarrow.parquet as pq

    from scenarios.scoring.verify import output_files
    from dasklab.datasets import s3

    fs, truth = s3(), 0
    for path in output_files(out).values():
        with fs.open(path, "rb") as f:
            truth += int((pq.read_table(f, columns=["label"]).column("label").to_numpy() == 1).sum())
    return _say(answer, answer == truth, f"{truth:,} rows predicted positive.",
                "dd.read_parquet(f's3://{out}/', columns=['label']), then count label == 1.")
