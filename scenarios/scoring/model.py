"""The scoring use case's data, models and task functions. Runs on the client
and on the workers (the scenarios package is mounted in every container).

Features are a pure function of (seed, file index); labels come from one
fixed "teacher" function of the features, so every file has the same
distribution and a model trained on other rows scores well on all of them.
(Per-file generators that each draw new class centres make the held-out
accuracy collapse to about 0.5.)

Counters here are per Python process: how often a model was unpickled, how
much thread CPU went into predict_proba. The scenario reads them from each
worker with client.run.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import threading
import time
from collections import Counter

import numpy as np
import pandas as pd

from dasklab.datasets import bucket, s3

SEED = 20261127
N_FEATURES = 32
FEATURES = [f"f{i:02d}" for i in range(N_FEATURES)]
TRAIN_INDEX = 10_000_000  # a file index no input file uses
META = pd.DataFrame({"id": pd.Series([], dtype="int64"), "p1": pd.Series([], dtype="float32"),
                     "label": pd.Series([], dtype="int8")})

COUNTERS: Counter = Counter()  # loads, predict_ns, predict_rows (this process)
_LOCK = threading.Lock()


def _teacher() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([SEED, 999_999])
    return (rng.standard_normal((N_FEATURES, 16)) / np.sqrt(N_FEATURES),
            rng.standard_normal(16))


def features(index: int, rows: int) -> np.ndarray:
    return np.random.default_rng([SEED, index]).standard_normal((rows, N_FEATURES),
                                                                dtype=np.float32)


def teacher_labels(x: np.ndarray) -> np.ndarray:
    w1, w2 = _teacher()
    return (np.tanh(x.astype(np.float64) @ w1) @ w2 > 0).astype(np.int8)


def input_frame(index: int, rows: int) -> pd.DataFrame:
    return input_like(np.arange(index * rows, (index + 1) * rows, dtype="int64"),
                      features(index, rows))


def input_like(ids: np.ndarray, x: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame(x, columns=FEATURES)
    df.insert(0, "id", ids)
    return df


def write_input_file(path: str, index: int, rows: int, row_group: int) -> int:
    """Task: input file `index` as Parquet with small row groups, so a reader
    can choose its partition size (split_row_groups) without a rewrite."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(input_frame(index, rows), preserve_index=False), buf,
                   row_group_size=row_group)
    s3().pipe_file(path, buf.getvalue())
    return buf.tell()


class ScoringModel:
    """A fitted estimator plus what it was made from. Unpickling counts as a
    load: that is how copies shipped inside task messages get counted too."""

    def __init__(self, estimator, info: dict) -> None:
        self.estimator, self.info = estimator, info

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        with _LOCK:
            COUNTERS["loads"] += 1

    def predict_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        x = df[FEATURES].to_numpy()
        start = time.thread_time_ns()
        p1 = self.estimator.predict_proba(x)[:, 1].astype(np.float32)
        spent = time.thread_time_ns() - start
        with _LOCK:
            COUNTERS["predict_ns"] += spent
            COUNTERS["predict_rows"] += len(df)
        return pd.DataFrame({"id": df["id"].to_numpy(), "p1": p1,
                             "label": (p1 > 0.5).astype(np.int8)})


def estimator(kind: str, size: int):
    """small: gradient boosting, ~1 MB, compute-heavy per row. large: extra
    trees at full depth, tens of MB (size = trees), similar CPU per row."""
    if kind == "small":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(max_iter=size, early_stopping=False, random_state=0)
    if kind == "large":
        from sklearn.ensemble import ExtraTreesClassifier

        return ExtraTreesClassifier(n_estimators=size, random_state=0)
    raise ValueError(f"unknown model kind {kind!r}: small or large")


def versions() -> dict[str, str]:
    import platform

    import sklearn

    return {"python": platform.python_version(), "numpy": np.__version__,
            "pandas": pd.__version__, "scikit-learn": sklearn.__version__}


def train_and_save(kind: str, size: int, train_rows: int, prefix: str = "ml/models") -> dict:
    """Task: fit, check on held-out rows, save as models/<kind>-<sha8>.pkl
    with a JSON note beside it. The name carries the content hash, so a cache
    keyed on it is never stale."""
    x = features(TRAIN_INDEX, train_rows + 10_000)
    y = teacher_labels(x)
    est = estimator(kind, size)
    start = time.process_time()
    est.fit(x[:train_rows], y[:train_rows])
    info = {"kind": kind, "size": size, "train_rows": train_rows, "features": FEATURES,
            "fit_cpu_s": round(time.process_time() - start, 2),
            "holdout_accuracy": round(float((est.predict(x[train_rows:]) == y[train_rows:]).mean()), 4),
            "versions": versions()}
    blob = pickle.dumps(ScoringModel(est, info), protocol=5)
    sha = hashlib.sha256(blob).hexdigest()
    path = f"{bucket()}/{prefix}/{kind}-{sha[:8]}.pkl"
    info.update(sha256=sha, bytes=len(blob), path=path)
    fs = s3()
    fs.pipe_file(path, blob)
    fs.pipe_file(path[:-4] + ".json", json.dumps(info, indent=2).encode())
    return info


def load(path: str) -> ScoringModel:
    """Read and unpickle one model artifact (counted by __setstate__);
    scikit-learn's version warnings are counted, not printed."""
    import warnings

    blob = s3().cat_file(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = pickle.loads(blob)
    drift = sum(type(w.message).__name__ == "InconsistentVersionWarning" for w in caught)
    with _LOCK:
        COUNTERS["version_warnings"] += drift
    return model


_CACHE: dict[str, ScoringModel] = {}
_CACHE_LOCK = threading.Lock()


def cached(path: str) -> ScoringModel:
    """One copy per worker process, keyed on the content-addressed path. The
    lock stops two threads of one worker from loading it at the same time."""
    model = _CACHE.get(path)
    if model is None:
        with _CACHE_LOCK:
            model = _CACHE.get(path)
            if model is None:
                model = _CACHE[path] = load(path)
    return model


def counters() -> dict[str, int]:
    return dict(COUNTERS)


def reset_counters() -> None:
    with _LOCK:
        COUNTERS.clear()


def drop_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


# The task functions: the same read -> predict -> write pipeline calls one of
# these per partition; only the model argument differs.

def score_with(df: pd.DataFrame, model: ScoringModel) -> pd.DataFrame:
    """(a) embedded and (b) scattered: the model arrives as an argument."""
    return model.predict_frame(df)


def score_loading(df: pd.DataFrame, path: str) -> pd.DataFrame:
    """(c) every task reads the model from the store."""
    return load(path).predict_frame(df)


def score_cached(df: pd.DataFrame, path: str) -> pd.DataFrame:
    """(d) the worker process's cached copy (preloaded by a worker plugin)."""
    return cached(path).predict_frame(df)


def score_via_actor(df: pd.DataFrame, actors: list, timeout: float,
                    partition_info=None) -> pd.DataFrame:
    """(e) partition i goes to actor i mod n: the partition travels to the
    actor's worker, the predictions come back.

    `timeout` bounds the wait for one call, its queue included (an actor runs
    one call at a time, and up to every task thread of the cluster may be
    waiting on the same actor). It is the lab's mitigation of a hang seen
    here: when the actor's worker dies during a call, distributed's actor
    handle waits for the actor's future and retries, and an actor pinned to
    the dead worker comes back only if that worker does; without a deadline
    the task, and the job, wait forever."""
    actor = actors[(partition_info["number"] if partition_info else 0) % len(actors)]
    try:
        return actor.predict(df).result(timeout=timeout)
    except TimeoutError:
        raise TimeoutError(f"the actor on {actor._address} did not answer within "
                           f"{timeout:g} s: its worker is gone or its queue too long") from None


class ModelServer:
    """(e) an actor holding one model; Dask runs its methods one at a time on
    its worker's actor thread."""

    def __init__(self, path: str) -> None:
        self.model = load(path)  # its own copy, not the process cache of way (d)

    def predict(self, df: pd.DataFrame) -> pd.DataFrame:
        return self.model.predict_frame(df)
