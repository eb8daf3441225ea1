"""Checking a scoring run's output on the client, cheaply: object count and
row counts from the Parquet footers, ids complete, and sampled partitions
equal to a local predict of the same model artifact."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from dasklab.datasets import s3
from . import model as m


def _part(path: str) -> int:
    return int(path.rsplit("/", 1)[-1].split(".")[1])  # .../part.<i>.parquet


def output_files(out: str) -> dict[int, str]:
    return {_part(p): p for p in s3().find(out) if p.endswith(".parquet")}


def check_output(out: str, partitions: int, files: int, rows_per_file: int) -> dict:
    """Objects == partitions; rows == input rows; every id exactly once."""
    fs = s3()
    parts = output_files(out)
    ids = []
    rows = 0
    for path in parts.values():
        with fs.open(path, "rb") as f:
            table = pq.read_table(f, columns=["id"])
        rows += table.num_rows
        ids.append(table.column("id").to_numpy())
    total = files * rows_per_file
    ids = np.concatenate(ids) if ids else np.array([], dtype="int64")
    return {
        "objects": len(parts), "objects_ok": len(parts) == partitions,
        "rows": rows, "rows_ok": rows == total,
        "ids_ok": len(ids) == total and len(np.unique(ids)) == total
        and (total == 0 or (ids.min() == 0 and ids.max() == total - 1)),
    }


def check_sample(out: str, parts: list[int], model: m.ScoringModel, rows_per_file: int) -> dict:
    """Predictions of output partitions `parts` against the same model run on
    the client, on inputs rebuilt from their ids (id = file * rows + row)."""
    fs = s3()
    files = output_files(out)
    worst, label_diffs, correct, n = 0.0, 0, 0, 0
    for i in parts:
        with fs.open(files[i], "rb") as f:
            got = pq.read_table(f).to_pandas().sort_values("id")
        ids = got["id"].to_numpy()
        file_of, row_of = ids // rows_per_file, ids % rows_per_file
        x = np.concatenate([m.features(int(fi), rows_per_file)[row_of[file_of == fi]]
                            for fi in np.unique(file_of)])  # ascending, like ids
        local = model.predict_frame(m.input_like(ids, x))
        worst = max(worst, float(np.abs(got["p1"].to_numpy() - local["p1"].to_numpy()).max()))
        label_diffs += int((got["label"].to_numpy() != local["label"].to_numpy()).sum())
        correct += int((got["label"].to_numpy() == m.teacher_labels(x)).sum())
        n += len(got)
    return {"sampled": parts, "max_abs_diff": worst, "label_diffs": label_diffs,
            "accuracy": round(correct / n, 4) if n else 0.0}
