"""store-outage: the object store frozen, then stopped, while workers write.

Six writer tasks (two per worker) each write a series of deterministic
8 MiB objects, uploaded as multipart uploads of two parts, to
s3://<bucket>/store-outage/<run>/<case>/. Mid-way the nemesis freezes the
store (`pause`) for a few seconds: the writes stall and then finish, no task
fails. Then the same with the store stopped: writes in flight and new ones
fail inside the tasks (s3fs does not retry a refused connection), and the
error reaches the client naming the worker and the exception. Afterwards
every visible object is checked against its expected size and checksum, and
multipart uploads left incomplete by the stop are counted and aborted.
"""

from __future__ import annotations

import hashlib
import socket
import time
import uuid

import numpy as np

from ..lab import Result, bucket, phase, s3, wait_until

SEED = 20261127
OBJECT_BYTES = 8 * 2**20
PART_BYTES = 5 * 2**20  # S3's smallest multipart part: two parts per object
WRITERS = 6


def payload(i: int) -> bytes:
    return np.random.default_rng([SEED, i]).bytes(OBJECT_BYTES)


def writer(prefix: str, first: int, count: int, gap: float) -> list[dict]:
    """Task: write objects first..first+count-1, one after another, pausing
    `gap` s between an object's first part and the rest (mid-upload is where an
    outage leaves an incomplete multipart upload). The first failure ends the
    task with an error that names this worker."""
    fs = s3()
    done = []
    for i in range(first, first + count):
        path = f"{prefix}/obj-{i:05d}.bin"
        start = time.monotonic()
        try:
            data = payload(i)
            with fs.open(path, "wb", block_size=PART_BYTES) as f:
                f.write(data[:PART_BYTES])  # a full part: the multipart upload begins
                time.sleep(gap)
                f.write(data[PART_BYTES:])  # the last part, then "complete" on close
        except Exception as e:
            raise RuntimeError(f"{socket.gethostname()} could not write {path} after "
                               f"{time.monotonic() - start:.1f} s: {type(e).__name__}: {e}") from e
        done.append({"i": i, "seconds": time.monotonic() - start})
    return done


def _store_answers() -> bool:
    try:
        s3().ls(bucket(), refresh=True)
        return True
    except Exception:  # noqa: BLE001 - not yet: poll again
        return False


def _verify(prefix: str) -> tuple[int, int]:
    """(objects visible under prefix, of which complete and correct)."""
    fs = s3()
    visible = fs.find(prefix)
    good = 0
    for path in visible:
        i = int(path.rsplit("-", 1)[1].split(".")[0])
        data = fs.cat_file(path)
        good += len(data) == OBJECT_BYTES and \
            hashlib.sha256(data).digest() == hashlib.sha256(payload(i)).digest()
    return len(visible), good


def _incomplete_uploads(prefix: str) -> list[dict]:
    key_prefix = prefix.split("/", 1)[1]
    return [u for u in s3().list_multipart_uploads(bucket())
            if u["Key"].startswith(key_prefix)]


def _abort(uploads: list[dict]) -> None:
    fs = s3()
    for u in uploads:
        fs.call_s3("abort_multipart_upload", Bucket=bucket(), Key=u["Key"],
                   UploadId=u["UploadId"])


def _case(lab, r: Result, kind: str, prefix: str, per_writer: int, gap: float,
          outage: float) -> dict:
    c = lab.client
    futures = [c.submit(writer, prefix, w * per_writer, per_writer, gap, pure=False,
                        key=f"store-outage-{kind}-writer-{w}-{uuid.uuid4().hex[:6]}")
               for w in range(WRITERS)]
    # Let every writer get going, then take the store away mid-way.
    wait_until(lambda: len(s3().find(prefix)) >= WRITERS, 60, "the first objects written")
    inject = lab.faults.paused if kind == "pause" else lab.faults.stopped
    with inject("store"):
        time.sleep(outage)  # the outage itself: a fixed length is the point, not a poll
    wait_until(_store_answers, 60, "the store to answer again after the heal")
    results, errors = [], []
    for f in futures:
        try:
            results += f.result(timeout=120)
        except Exception as e:  # noqa: BLE001 - the error is the lesson
            errors.append(str(e).splitlines()[0])
    visible, good = _verify(prefix)
    uploads = _incomplete_uploads(prefix)
    row = {"case": f"store {'paused' if kind == 'pause' else 'stopped'} {outage:g} s",
           "writes_ok": len(results),
           "tasks_failed": len(errors), "slowest_write_s": round(max(
               (x["seconds"] for x in results), default=0), 1),
           "objects_visible": visible, "objects_complete": good,
           "incomplete_uploads": len(uploads)}
    _abort(uploads)
    row["incomplete_after_cleanup"] = len(_incomplete_uploads(prefix))
    if errors:
        r.measurements[f"{kind}_first_error"] = errors[0][:240]
    return row


def run(lab, per_writer: int = 25, gap: float = 0.2, pause_s: float = 8.0,
        stop_s: float = 20.0) -> Result:
    r = Result("store-outage")
    if pause_s >= 15:
        raise ValueError(f"pause_s={pause_s}: keep it under s3fs's 15 s read timeout, or the "
                         "pause case turns into a timeout case")
    if stop_s < 15:
        raise ValueError(f"stop_s={stop_s}: botocore retries a refused connection for ~10 s; "
                         "a shorter stop is hidden by the retries")
    run_id = uuid.uuid4().hex[:8]
    rows = []
    for kind, outage in (("pause", pause_s), ("stop", stop_s)):
        phase(f"{WRITERS} writers; the store {'frozen' if kind == 'pause' else 'stopped'} "
              f"for {outage:g} s mid-way")
        prefix = f"{bucket()}/store-outage/{run_id}/{kind}"
        rows.append(_case(lab, r, kind, prefix, per_writer, gap, outage))
    r.tables["writes during an outage"] = rows
    paused, stopped = rows
    r.check(paused["tasks_failed"] == 0 and paused["writes_ok"] == WRITERS * per_writer,
            "a frozen store should stall the writes, not fail them")
    r.check(paused["slowest_write_s"] >= pause_s * 0.5,
            "some write should have stalled for about the length of the pause")
    r.check(stopped["tasks_failed"] > 0, "a stopped store should fail writes inside tasks")
    r.check(all(row["objects_visible"] == row["objects_complete"] for row in rows),
            "every visible object must be complete and correct")
    r.check(all(row["incomplete_after_cleanup"] == 0 for row in rows),
            "incomplete multipart uploads should be cleaned up")
    r.notes += [
        f"Paused (frozen): connections stay open and requests wait; the slowest write took "
        f"{paused['slowest_write_s']} s and none failed. botocore's read timeout (15 s in "
        "s3fs) bounds how long a freeze can last before it becomes an error.",
        f"Stopped: {stopped['tasks_failed']} of {WRITERS} writer tasks failed; the error "
        "reached the client as the task's exception (a task error, not a worker death: "
        "nothing is retried by Dask unless you ask with retries=). A stopped container's "
        "name no longer resolves: botocore retries that for a few seconds (an 8 s stop was "
        "ridden out here), then s3fs gives up.",
        f"No partial object was ever visible: S3 publishes an object only when its upload "
        f"completes. But a multipart upload cut off by the stop stays behind, invisible and "
        f"billed: {stopped['incomplete_uploads']} found, aborted here (or `garage bucket "
        "cleanup-incomplete-uploads`, or a lifecycle rule AbortIncompleteMultipartUpload).",
        "A job whose output must be all-or-nothing writes to a staging prefix and "
        "publishes only when every part succeeded: the `output` scenario's pattern.",
    ]
    return r
