"""Versions of client, scheduler and workers side by side.

Dask's own check on connect compares these packages and Python down to the
patch level, but a mismatch is only a warning; here it is a failed verdict.
"""

from __future__ import annotations

# What distributed.versions compares on connect (2026.8), Python first.
COMPARED = ["python", "dask", "distributed", "msgpack", "cloudpickle", "tornado",
            "toolz", "numpy", "pandas", "lz4"]


def _python(info: dict) -> str:
    return ".".join(str(info["host"]["python"]).split(".")[:3])


def side_by_side(versions: dict, names: dict[str, str]) -> list[dict]:
    """versions: client.get_versions(check=False); names: worker address -> name.
    One row per package with a column per process and a `match` flag."""
    procs = {"client": versions["client"], "scheduler": versions["scheduler"]}
    for addr, info in sorted(versions["workers"].items(), key=lambda kv: names.get(kv[0], kv[0])):
        procs[names.get(addr, addr)] = info
    rows = []
    for pkg in COMPARED:
        row = {"package": pkg}
        for who, info in procs.items():
            row[who] = _python(info) if pkg == "python" else str(info["packages"].get(pkg))
        row["match"] = len({v for k, v in row.items() if k != "package"}) == 1
        rows.append(row)
    return rows


def mismatches(rows: list[dict]) -> list[str]:
    out = []
    for row in rows:
        if not row["match"]:
            detail = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("package", "match"))
            out.append(f"{row['package']}: {detail}")
    return out
