"""Versions of client, scheduler and workers side by side: one mechanism for
the `tour` scenario and `make check-env`.

Dask's own check on connect compares the packages in COMPARED and Python down
to the patch level, but a mismatch is only a warning; here it fails.
"""

from __future__ import annotations

import re

# What distributed.versions compares on connect (2026.8), Python first.
COMPARED = ["python", "dask", "distributed", "msgpack", "cloudpickle", "tornado",
            "toolz", "numpy", "pandas", "lz4"]


def environment() -> dict[str, str]:
    """Python and every installed distribution of this process, normalised names."""
    import importlib.metadata as md
    import platform

    found = {"python": platform.python_version()}
    for dist in md.distributions():
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        found[name] = dist.version
    return found


def collect(lab) -> dict[str, dict[str, str]]:
    """environment() of the client, the scheduler and each worker, by name."""
    return {"client": environment(), "scheduler": lab.client.run_on_scheduler(environment),
            **lab.run_by_name(environment)}


def side_by_side(procs: dict[str, dict[str, str]], packages: list[str]) -> list[dict]:
    """One row per package with a column per process and a `match` flag."""
    rows = []
    for pkg in packages:
        row = {"package": pkg, **{who: env.get(pkg, "(absent)") for who, env in procs.items()}}
        row["match"] = len({v for k, v in row.items() if k != "package"}) == 1
        rows.append(row)
    return rows


def differences(procs: dict[str, dict[str, str]], packages: list[str]) -> list[dict]:
    """The rows of side_by_side that do not match, without the flag."""
    return [{k: v for k, v in row.items() if k != "match"}
            for row in side_by_side(procs, packages) if not row["match"]]


def mismatches(rows: list[dict]) -> list[str]:
    out = []
    for row in rows:
        if not row["match"]:
            detail = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("package", "match"))
            out.append(f"{row['package']}: {detail}")
    return out
