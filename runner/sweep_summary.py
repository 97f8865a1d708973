"""A multirun's summary: every job's run with its metrics, the Pareto front of (sharpe,
1 - max_drawdown, profit_factor) marked, logged as parquet + HTML to a sweep-level run that the
jobs' runs nest under."""

import numpy as np
import polars as pl

from kernels import enums as E
from runner.children import KIND_TAG
from runner.filters.pareto import front_ranks
from runner.report import job_state
from runner.tracking import PARENT_TAG, TrackedRun, finite

COLUMNS = (
    "objective",
    "sharpe",
    "max_drawdown",
    "profit_factor",
    "total_return",
    "apr",
    "n_trades",
    "n_liquidations",
    "dsr_sweep",
)


def summary_table(runs: list) -> pl.DataFrame:
    """One row per job run (MLflow ``Run`` objects), best first: ``usable`` jobs by objective, then the
    rest; ``pareto`` true on the front of the finished, never-liquidated ones."""
    metrics = np.full((len(runs), E.N_METRICS), np.nan)
    for i, r in enumerate(runs):
        for k, name in enumerate(E.METRIC_NAMES):
            metrics[i, k] = r.data.metrics.get(name, np.nan)
    finished = np.array([r.info.status == "FINISHED" for r in runs], dtype=bool)
    valid = finished & (np.nan_to_num(metrics[:, E.M_N_LIQUIDATIONS], nan=1.0) == 0)
    ranks = front_ranks(metrics, valid) if len(runs) else np.zeros(0, np.int64)
    job = [r.data.tags.get("job_num", "?") for r in runs]
    overrides = [r.data.tags.get("hydra_overrides", "") for r in runs]
    frame = pl.DataFrame(
        {
            "job": job,
            "run_id": [r.info.run_id for r in runs],
            "status": [r.info.status for r in runs],
            "overrides": overrides,
            "label": [f"#{j} {o}".strip() for j, o in zip(job, overrides, strict=True)],
            **{c: [float(r.data.metrics.get(c, np.nan)) for r in runs] for c in COLUMNS},
            "pareto": ranks == 1,
            "usable": [usable(r) for r in runs],
        },
        schema_overrides={c: pl.Float64 for c in COLUMNS},
    )
    frame = frame.with_columns(pl.col(c).fill_nan(None) for c in COLUMNS)
    finished = pl.col("status") == "FINISHED"
    return frame.sort(
        [pl.col("usable"), finished, pl.col("objective")], descending=True, nulls_last=True, maintain_order=True
    )


def job_row(run) -> dict:
    """A job's MLflow ``Run`` as the sweep table reads it (``runner.report.job_state``)."""
    return {
        "job": run.data.tags.get("job_num", "?"),
        "overrides": run.data.tags.get("hydra_overrides", ""),
        "status": run.info.status,
        "metrics": run.data.metrics,
        "no_survivor": run.data.tags.get("no_survivor") == "true",
    }


def usable(run) -> bool:
    """A job that can be the sweep's best: finished, a finite objective, never liquidated, a survivor
    (a liquidated trial is discarded whatever its return)."""
    return job_state(job_row(run)) == "ok"


def log_sweep(tracking, sweep: str, runs: list, client, run: TrackedRun | None = None) -> str:
    """Log the summary to the sweep-level run (``run``, else a new one), nest the jobs' runs under
    it, finish it; its id."""
    from mlflow.entities import RunTag

    from runner.html_report import sweep_page
    from runner.plotly_assets import PageLinks

    table = summary_table(runs)
    run = run or TrackedRun(tracking, f"sweep {sweep}", {KIND_TAG: "sweep", "sweep_dir": sweep})
    n_failed = int((table["status"] != "FINISHED").sum())
    best = table.filter(pl.col("usable"))["objective"].drop_nulls()
    run.log_metrics(
        {
            "n_jobs": table.height,
            "n_failed": n_failed,
            "n_pareto": int(table["pareto"].sum()),
            **({"best_objective": finite(float(best.max()))} if best.len() else {}),
        }
    )
    columns = ["job", "overrides", "status", *COLUMNS, "pareto", "usable"]
    title = f"sweep {sweep}: {table.height} runs"
    pages = PageLinks(run, tracking)
    run.log_files(
        {
            "sweep_summary.parquet": table.write_parquet,
            "sweep_summary.html": lambda p: p.write_text(sweep_page(title, table, columns, pages(p.name))),
        }
    )
    for r in runs:
        client.log_batch(r.info.run_id, tags=[RunTag(PARENT_TAG, run.run_id)])
    run.finish()
    return run.run_id
