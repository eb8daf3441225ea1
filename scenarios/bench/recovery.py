"""make bench-recovery: the worker-loss scenario at full size, in one run:
the same work with worker-2 killed at half way against no fault. Prints the
time ratio (goal <= 1.5) and kill-to-detection latency (goal <= 1 s)."""

from __future__ import annotations

import argparse

from .. import registry
from dasklab.connect import open_lab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=120)
    parser.add_argument("--seconds", type=float, default=1.0, help="duration of each task")
    args = parser.parse_args()
    lab = open_lab()
    try:
        r = registry.run("worker-loss", lab, tasks=args.tasks, seconds=args.seconds)
    finally:
        lab.close()
    m = r.measurements
    if "ratio" not in m:
        print(r.error or r.notes)
        return 1
    print(f"  work                  {m['tasks']} tasks x {m['task_seconds']} s on 3 workers")
    print(f"  no fault              {m['no_fault_s']:6.1f} s")
    print(f"  worker-2 killed       {m['with_kill_s']:6.1f} s   (back after {m['victim_rejoined_after_s']} s)")
    print(f"  ratio                 {m['ratio']:6.2f}   (goal <= 1.5)")
    print(f"  kill -> removal       {m['kill_to_removal_s']:6.3f} s (goal <= 1)")
    print(f"  keys recomputed       {m['keys_lost_recomputed']}")
    return 0 if r.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
