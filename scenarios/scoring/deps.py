"""How the scoring code reaches the workers: code the workers lack fails, then
works once uploaded; and the trap of a model class written in the client's
__main__ (a notebook): Dask ships it by value, a pickle in the store cannot."""

from __future__ import annotations

import importlib
import pickle
import sys

from dasklab.code import module_file, shipped
from dasklab.datasets import bucket, s3
from . import model as m

FEATURE_MODULE = '''"""Feature engineering the model's users wrote: not in the image."""


def add_ratio(df):
    out = df.copy()
    out["ratio"] = out["f00"] / (out["f01"].abs() + 1)
    return out
'''

NOTEBOOK_CELL = '''
class NotebookModel:
    """A wrapper typed into a notebook: its module is __main__."""

    def __init__(self, inner):
        self.inner = inner

    def predict_frame(self, df):
        return self.inner.predict_frame(df)
'''


def rows_with_ratio(func, rows: int) -> int:
    """Task: apply a feature function shipped by reference."""
    return int(func(m.input_frame(0, rows))["ratio"].notna().sum())


def rows_scored(model, rows: int) -> int:
    return len(model.predict_frame(m.input_frame(0, rows)))


def rows_scored_from_store(path: str, rows: int) -> int:
    return rows_scored(pickle.loads(s3().cat_file(path)), rows)


def _outcome(future) -> str:
    """"ok: N rows", or the error's first line and, when it wraps another
    error, that one too: where it failed is part of the lesson."""
    try:
        return f"ok: {future.result(timeout=120)} rows"
    except Exception as e:  # noqa: BLE001 - the error is the lesson
        text = f"{type(e).__name__}: {str(e).splitlines()[0]}"
        if e.__cause__ is not None:
            text += f" <- {type(e.__cause__).__name__}: {e.__cause__}"
        return text[:240]


def feature_module(lab) -> dict[str, str]:
    """A module only the client has: the task fails on the workers with
    ModuleNotFoundError; after client.upload_file it runs. upload_file is a
    worker plugin, so a restarted worker gets the file again."""
    c = lab.client
    with module_file("lab_features", FEATURE_MODULE) as (name, path):
        mod = importlib.import_module(name)
        before = _outcome(c.submit(rows_with_ratio, mod.add_ratio, 1000, pure=False))
        # client.upload_file, and its scheduler and worker plugins removed after,
        # so later workers do not get a module nobody uses (dasklab.code.shipped).
        with shipped(lab, {name: path}):
            after = _outcome(c.submit(rows_with_ratio, mod.add_ratio, 1000, pure=False))
    return {"module_missing": before, "after_upload_file": after}


def notebook_class(lab, small: m.ScoringModel) -> dict[str, str]:
    """The class lives in __main__ as a notebook leaves it. Passed to a task,
    distributed pickles it by value (cloudpickle); saved to the store with
    pickle, it is a reference to __main__.NotebookModel, which the workers'
    __main__ does not have."""
    c = lab.client
    main = sys.modules["__main__"]
    namespace = {"__name__": "__main__"}
    exec(NOTEBOOK_CELL, namespace)  # noqa: S102 - standing in for a notebook cell
    cls = namespace["NotebookModel"]
    setattr(main, "NotebookModel", cls)
    path = f"{bucket()}/ml/models/notebook-model.pkl"
    try:
        wrapped = cls(small)
        shipped = _outcome(c.submit(rows_scored, wrapped, 1000, pure=False))
        s3().pipe_file(path, pickle.dumps(wrapped))
        stored = _outcome(c.submit(rows_scored_from_store, path, 1000, pure=False))
    finally:
        delattr(main, "NotebookModel")
        if s3().exists(path):
            s3().rm(path)
    return {"main_class_shipped_by_dask": shipped, "main_class_from_store": stored}
