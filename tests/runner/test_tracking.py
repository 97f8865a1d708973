"""Tracking at sweep scale: child runs by policy, the sweep-level summary with its Pareto front, and
concurrent jobs (joblib launcher, 2 workers) writing to one SQLite store without losing anything."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from kernels.enums import METRIC_NAMES
from runner.sweep_summary import summary_table
from tests.runner.report_html import figures, points
from tests.runner.test_cli import FAST, cli, runs

GRID = ("strategy.params.period=[7,14,21]", "leverage=[1,2,3]")


def _dominated(points: np.ndarray) -> np.ndarray:
    """Plain O(n^2) check: a row is dominated when another is >= everywhere and > somewhere."""
    out = np.zeros(len(points), dtype=bool)
    for i, p in enumerate(points):
        for j, q in enumerate(points):
            if i != j and np.all(q >= p) and np.any(q > p):
                out[i] = True
    return out


@pytest.mark.parametrize("policy", ["none", "best", "pareto", "all"])
def test_child_runs_by_policy(tmp_path: Path, policy: str) -> None:
    out = cli(tmp_path, *GRID, f"tracking.child_runs={policy}", "filters=none", *FAST)
    assert out.returncode == 0, out.stderr
    client, found = runs(tmp_path / "mlruns" / "mlflow.db", kind=None)
    (job,) = [r for r in found if r.data.tags["perplab.kind"] == "job"]
    children = [r for r in found if r.data.tags["perplab.kind"] == "combo"]
    assert all(r.data.tags["mlflow.parentRunId"] == job.info.run_id for r in children)
    assert all(r.info.status == "FINISHED" for r in children)
    grid = pl.read_parquet(client.download_artifacts(job.info.run_id, "grid.parquet", str(tmp_path)))
    assert grid.height == 9
    combos = sorted(int(r.data.tags["combo"]) for r in children)
    best = int(job.data.tags["best_combo"])
    if policy == "none":
        assert combos == []
    elif policy == "best":
        assert combos == [best]
    elif policy == "all":
        assert combos == list(range(9))
    else:
        ok = grid["n_liquidations"].to_numpy() == 0
        pts = np.column_stack(
            [grid["sharpe"], 1 - grid["max_drawdown"], np.minimum(grid["profit_factor"].to_numpy(), 100.0)]
        )
        front = np.nonzero(ok)[0][~_dominated(pts[ok])]
        assert combos == sorted(front.tolist()) and combos
    for r in children:
        c = int(r.data.tags["combo"])
        assert r.data.params["strategy.params.period"] == str(grid["strategy.params.period"][c])
        for name in METRIC_NAMES:
            value = grid[name][c]
            assert r.data.metrics[name] == pytest.approx(value, rel=1e-12) or np.isnan(value)


def _run(job: str, status: str, **metrics) -> SimpleNamespace:
    return SimpleNamespace(
        info=SimpleNamespace(run_id=f"r{job}", status=status),
        data=SimpleNamespace(metrics=metrics, tags={"job_num": job, "hydra_overrides": f"leverage={job}"}),
    )


@pytest.mark.parametrize(
    "rows, front",
    [
        # (sharpe, max_drawdown, profit_factor, liquidations): 0 dominates 1; 2 trades Sharpe for drawdown
        ([(1.0, 0.2, 1.5, 0), (0.5, 0.3, 1.2, 0), (0.8, 0.1, 1.4, 0)], [True, False, True]),
        # a liquidated run is never on the front, a failed one neither
        ([(2.0, 0.1, 3.0, 1), (1.0, 0.2, 1.5, 0), (3.0, 0.05, 4.0, None)], [False, True, False]),
        # equal points are both on the front; a better profit factor alone keeps a run on it
        ([(1.0, 0.2, 1.5, 0), (1.0, 0.2, 1.5, 0), (0.9, 0.2, 2.0, 0)], [True, True, True]),
    ],
)
def test_sweep_summary_pareto_front(rows, front) -> None:
    found = [
        _run(
            str(i),
            "FAILED" if liq is None else "FINISHED",
            sharpe=s,
            max_drawdown=dd,
            profit_factor=pf,
            **({} if liq is None else {"n_liquidations": float(liq)}),
        )
        for i, (s, dd, pf, liq) in enumerate(rows)
    ]
    table = summary_table(found)
    assert table["pareto"].to_list() == front
    assert table["job"].to_list() == [str(i) for i in range(len(rows))]


def test_concurrent_jobs_lose_nothing(tmp_path: Path) -> None:
    """Four jobs on two joblib workers, each logging a 9-combination grid with a child run per
    combination, into one new SQLite store: every run, metric, parameter and artifact arrives."""
    out = cli(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "fees.slippage_bps=0,1,2,5",
        *GRID,
        "tracking.child_runs=all",
        "-m",
        *FAST,
    )
    assert out.returncode == 0, out.stderr
    client, found = runs(tmp_path / "mlruns" / "mlflow.db", kind=None)
    jobs = [r for r in found if r.data.tags["perplab.kind"] == "job"]
    (sweep,) = [r for r in found if r.data.tags["perplab.kind"] == "sweep"]
    assert len(jobs) == 4 and {r.info.status for r in jobs} == {"FINISHED"}
    assert sorted(r.data.tags["job_num"] for r in jobs) == ["0", "1", "2", "3"]
    for job in jobs:
        assert set(METRIC_NAMES) <= set(job.data.metrics) and job.data.params["fees.slippage_bps"]
        assert job.data.tags["mlflow.parentRunId"] == sweep.info.run_id
        children = [r for r in found if r.data.tags.get("mlflow.parentRunId") == job.info.run_id]
        assert sorted(int(r.data.tags["combo"]) for r in children) == list(range(9))
        assert all(set(METRIC_NAMES) <= set(r.data.metrics) for r in children)
        arts = {a.path for a in client.list_artifacts(job.info.run_id)}
        assert {"config.yaml", "grid.parquet", "trades.parquet", "equity.parquet", "report.html"} <= arts
        assert "trades.json" not in arts  # JSON only with tracking.trades_json=true
    summary = pl.read_parquet(client.download_artifacts(sweep.info.run_id, "sweep_summary.parquet", str(tmp_path)))
    assert sorted(summary["run_id"]) == sorted(r.info.run_id for r in jobs)
    assert summary["pareto"].sum() >= 1 and sweep.data.metrics["n_jobs"] == 4
    page = Path(client.download_artifacts(sweep.info.run_id, "sweep_summary.html", str(tmp_path))).read_text()
    figs = figures(page)
    assert sum(points(t) for t in figs["fig-front"]) == 4  # every run drawn once
    assert [t["name"] for t in figs["fig-front"] if points(t)][-1].startswith("Pareto front")
    assert len(figs["fig-runs"][0]["cells"]["values"][0]) == 4
    assert "sweep-level run" not in out.stderr


def test_tracking_on_postgres(tmp_path: Path, postgres) -> None:
    """tracking=postgres: the job's run, params, metrics and tags land in a PostgreSQL backend store."""
    from mlflow.tracking import MlflowClient

    art = (tmp_path / "artifacts").as_uri()
    out = cli(
        tmp_path,
        "tracking=postgres",
        f"tracking.uri={postgres['mlflow']}",
        f"tracking.artifact_root={art}",
        "leverage=[1,2]",
        *FAST,
    )
    assert out.returncode == 0, out.stderr
    client = MlflowClient(postgres["mlflow"])
    exp = client.get_experiment_by_name("perplab-rsi")
    (run,) = client.search_runs([exp.experiment_id], "tags.`perplab.kind` = 'job'")
    assert run.info.status == "FINISHED" and run.data.metrics["n_combos"] == 2
    assert set(METRIC_NAMES) <= set(run.data.metrics) and run.data.params["strategy.name"] == "rsi"
    assert len(run.data.tags["data_fingerprint"]) == 64
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "grid.parquet", "report.html", "trades.parquet"} <= arts
    assert not (tmp_path / "mlruns").exists() and (tmp_path / "artifacts").is_dir()  # not the SQLite default
