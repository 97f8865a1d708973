"""The filters from the command line on the real data: every built-in strategy, results in MLflow."""

from pathlib import Path

import polars as pl
import pytest

from tests.runner.test_cli import cli, expected_exit, runs

STRATEGIES = ["rsi", "ema_cross", "macd", "bbands", "donchian", "rsi_mtf", "momentum_reversion"]
TWO_YEARS = ["data=binance_4h", "data.start=2022-01-01", "data.end=2023-12-31", "data.symbols=[BTCUSDT,ETHUSDT]"]
RUN_METRICS = {"wfe", "oos_sharpe", "dsr", "psr", "pkfold_sharpe_mean", "pkfold_sharpe_std", "pbo", "pareto"}
GRID_COLUMNS = {
    "constraints_pass",
    "dsr",
    "psr",
    "dsr_pass",
    "wfe",
    "wf_chosen",
    "wf_pass",
    "pkfold_sharpe_mean",
    "pkfold_sharpe_std",
    "pkfold_pass",
    "pbo",
    "pbo_pass",
    "pareto_rank",
    "pareto_pass",
    "survivor",
}


def test_all_filters_on_every_builtin_strategy_are_visible_in_mlflow(tmp_path: Path) -> None:
    out = cli(tmp_path, "-m", f"strategy={','.join(STRATEGIES)}", "filters=all", "leverage=[1,3]", *TWO_YEARS)
    assert "overfitting defenses" in out.stdout + out.stderr
    client, found = runs(tmp_path / "mlruns" / "mlflow.db")
    assert out.returncode == expected_exit(found), out.stderr  # 3 when every job's grid failed the filters
    assert sorted(r.data.tags["strategy"] for r in found) == sorted(STRATEGIES)
    for r in found:
        rid = r.info.run_id
        assert r.info.status == "FINISHED"
        assert RUN_METRICS <= set(r.data.metrics), r.data.tags["strategy"]
        assert r.data.metrics["wf_windows"] == 5  # (730 - 270 - 90) days / 90 + 1
        assert r.data.tags["filters"] == "constraints,dsr,walk_forward,purged_kfold,pbo,pareto"
        assert r.data.tags["dsr_sweep_trials"] == str(2 * len(STRATEGIES))
        assert "dsr_sweep" in r.data.metrics
        assert len(client.get_metric_history(rid, "wf_window_oos_apr")) == 5
        arts = {a.path for a in client.list_artifacts(rid)}
        assert {"walk_forward.parquet", "purged_kfold.parquet", "pbo_logits.parquet", "grid.parquet"} <= arts
        grid = pl.read_parquet(client.download_artifacts(rid, "grid.parquet", str(tmp_path / rid)))
        assert GRID_COLUMNS <= set(grid.columns) and grid.height == 2
        assert grid["survivor"].to_list() == [
            all(row) for row in zip(*(grid[c].to_list() for c in GRID_COLUMNS if c.endswith("_pass")), strict=True)
        ]
        wf = pl.read_parquet(client.download_artifacts(rid, "walk_forward.parquet", str(tmp_path / rid)))
        assert wf.height == 5 and (wf["train_end"] < wf["test_start"]).all()
        logits = pl.read_parquet(client.download_artifacts(rid, "pbo_logits.parquet", str(tmp_path / rid)))
        assert logits.height == 12870  # C(16, 8)
        survived = r.data.tags["no_survivor"] == "false"
        assert survived == bool(grid["survivor"].any())
        if not survived:
            assert r.data.tags["no_survivor_reason"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["filters=oracle"], "error: filters=oracle: no such option in conf/filters; valid: all, constraints, dsr"),
        (["filters=dsr", "filters.dsr.threshold=2"], "error: filters.dsr.threshold=2: must be a number from 0 to 1"),
        (
            ["filters=walk_forward", "filters.walk_forward.train=9 months"],
            "error: filters.walk_forward.train='9 months': must be a number of bars or a duration",
        ),
    ],
)
def test_bad_filter_overrides_are_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    out = cli(tmp_path, *args, "data.start=2024-01-01", "data.end=2024-06-30")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), out.stderr
    assert not (tmp_path / "mlruns").exists()


def test_windows_longer_than_the_data_are_refused_before_any_run(tmp_path: Path) -> None:
    out = cli(tmp_path, "filters=walk_forward", "data.start=2024-01-01", "data.end=2024-06-30")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "error: filters.walk_forward: train + test do not fit in the data (4368 bars from 2024-01-01"
    )
    assert not (tmp_path / "mlruns").exists()  # checked with the data before any job: no run
