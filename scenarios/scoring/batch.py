"""Batch size: the recommended way (a per-process cached model) re-run over a
sweep of partition sizes. Costs are split by CPU, not by wall time: predict
CPU (thread time around predict_proba) against everything else the workers
and the scheduler spent (Parquet, S3, task and comm overhead)."""

from __future__ import annotations

from dasklab.reports import report_path
from . import ways


def sweep(lab, path: str, sizes: list[int], row_group: int, total_rows: int) -> list[dict]:
    rows = []
    prepared = ways.Prepared("d", ways.m.score_cached, path)
    for size in sizes:
        groups = max(1, size // row_group)
        run = ways.measure(lab, lambda: prepared, groups, ways.output_prefix("batch"))
        if run.error:
            raise RuntimeError(f"batch-size run of {size} rows failed: {run.error}")
        other = run.worker_cpu_s + run.scheduler_cpu_s - run.predict_cpu_s
        rows.append({
            "rows_per_partition": groups * row_group, "partitions": run.partitions,
            "wall_s": round(run.wall_s, 2), "rows_per_s": round(total_rows / run.wall_s),
            "predict_us_per_row": round(run.predict_cpu_s / total_rows * 1e6, 2),
            "overhead_us_per_row": round(other / total_rows * 1e6, 2),
            "scheduler_cpu_s": round(run.scheduler_cpu_s, 2),
        })
    return rows


def plot(rows: list[dict]) -> str:
    """rows/s and per-row CPU against partition size (log x), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    x = [r["rows_per_partition"] for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6.5), sharex=True)
    top.plot(x, [r["rows_per_s"] for r in rows], "o-", color="tab:blue")
    top.set_ylabel("rows/s (whole cluster)")
    top.set_ylim(bottom=0)
    top.set_title("Batch scoring: partition size (way d, cached model)")
    bottom.plot(x, [r["overhead_us_per_row"] for r in rows], "s-", color="tab:red",
                label="overhead CPU (read, write, S3, tasks)")
    bottom.plot(x, [r["predict_us_per_row"] for r in rows], "o-", color="tab:green",
                label="predict CPU")
    bottom.set_yscale("log")
    bottom.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    bottom.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    bottom.set_ylabel("CPU µs per row")
    bottom.set_xscale("log")
    bottom.set_xlabel("rows per partition (one task each)")
    bottom.legend()
    for ax in (top, bottom):
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    out = report_path("scoring-batch-size", "png")
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return str(out)
