"""python -m scenarios [list | NAME [--json] [--quiet] [--set key=value ...]]

Phases and progress bars go to stderr while a scenario runs (--quiet: none);
the result goes to stdout, as a report or as JSON.

Exit status: 0 pass, 1 fail or error, 2 bad usage (unknown scenario, bad
settings), 3 cluster not reachable, 4 skipped (the cluster lacks what the
scenario needs; the result says what).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import registry
from dasklab.result import SKIP, render


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_params(pairs: list[str]) -> dict:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        params[key.replace("-", "_")] = _value(value)
    return params


def list_scenarios() -> str:
    """The scenarios under their course sections, as `make scenarios` prints them."""
    width = max(map(len, registry.SCENARIOS))
    out = []
    for title, group in registry.SECTIONS.items():
        out += ["" if out else None, f"{title}:"]
        out += [f"  {s.name.ljust(width)}  {s.summary}" for s in group]
    return "\n".join(line for line in out if line is not None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", default="list")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--quiet", action="store_true",
                        help="no phases or progress bars on stderr")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a scenario parameter, e.g. --set rows=1000000")
    args = parser.parse_args(argv)

    if args.name == "list":
        print(list_scenarios())
        return 0
    if args.name not in registry.SCENARIOS:
        print(f"error: {registry.UnknownScenario(args.name)}\n\nScenarios:\n{list_scenarios()}",
              file=sys.stderr)
        return 2
    params = parse_params(args.set)
    # A scenario may check its parameters before anything connects (chaos: the job's path).
    check = getattr(registry.module(args.name), "validate", None)
    if check is not None:
        try:
            check(**params)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2

    from dasklab import open_lab_or_exit, progress

    if "hosts" in registry.SCENARIOS[args.name].needs and not os.environ.get("DASKLAB_BACKEND"):
        os.environ["DASKLAB_BACKEND"] = "hosts"  # only the engine hosts have what it needs

    progress.configure(quiet=args.quiet)

    lab = open_lab_or_exit()
    try:
        result = registry.run(args.name, lab, **params)
    finally:
        lab.close()
    print(result.to_json() if args.json else render(result))
    if result.verdict == SKIP:
        return 4
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
