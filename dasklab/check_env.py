"""make check-env: is the environment the same on client, scheduler and every worker?

Compares Python (down to the patch level) and every installed distribution —
everything Dask compares on connect plus every package of the lock — across
the client, the scheduler and each worker. Exit 0 with a one-line summary when
all match; exit 1 with a table of the differences; 3 when the cluster is down.
"""

from __future__ import annotations

import re
import sys

from .connect import open_lab_or_exit
from .settings import ROOT
from .versions import COMPARED, collect, differences


def locked_names() -> list[str]:
    text = (ROOT / "images" / "requirements.lock").read_text()
    return [m.group(1).lower() for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", text, re.M)]


def packages_to_compare() -> list[str]:
    return list(dict.fromkeys([*COMPARED, *locked_names()]))


def main() -> int:
    from .result import table_text

    lab = open_lab_or_exit()
    try:
        procs = collect(lab)
    finally:
        lab.close()
    packages = packages_to_compare()
    rows = differences(procs, packages)
    where = f"client, scheduler and {len(procs) - 2} workers ({', '.join(list(procs)[2:])})"
    if not rows:
        print(f"check-env: OK: Python {procs['client']['python']} and {len(packages) - 1} "
              f"packages identical on {where}")
        return 0
    print(f"check-env: {len(rows)} difference(s) across {where}:", file=sys.stderr)
    print(table_text(rows), file=sys.stderr)
    print("Fix: run every process from the same image and the client from the same lock "
          "(make venv); remove or rebuild the odd one out.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
