"""The command line end to end: subprocesses writing into a temporary MLflow store."""

import math
import os
import subprocess
from pathlib import Path

import polars as pl
import pytest
from mlflow.tracking import MlflowClient

from kernels.enums import METRIC_NAMES
from tests.conftest import KLINE_HEADER, kline_rows, write_gz
from tests.prewarmed import run_module

FAST = ["data.start=2024-01-01", "data.end=2024-06-30"]


def cli(tmp_path: Path, *args: str, store: Path | None = None) -> subprocess.CompletedProcess:
    store = store or tmp_path / "mlruns" / "mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}", "PERPLAB_CACHE": str(tmp_path / "cache")}
    return run_module("runner", *args, cwd=tmp_path, env=env)


def runs(store: Path, kind: str | None = "job"):
    """The store's client and its runs of one kind (job, combo, sweep; None: every run)."""
    client = MlflowClient(f"sqlite:///{store}")
    ids = [e.experiment_id for e in client.search_experiments()]
    found = client.search_runs(ids, max_results=10_000)
    return client, [r for r in found if kind is None or r.data.tags.get("perplab.kind") == kind]


def expected_exit(found) -> int:
    """A finished sweep's exit code from its job runs: 3 (no usable result) unless some job finished
    with a finite objective, never liquidated, with a survivor."""
    usable = [
        r
        for r in found
        if r.info.status == "FINISHED"
        and math.isfinite(r.data.metrics.get("objective", math.nan))
        and r.data.metrics.get("n_liquidations") == 0
        and r.data.tags.get("no_survivor") != "true"
    ]
    return 0 if usable else 3


def test_leverage_sweep_tracks_one_run_per_job(tmp_path: Path) -> None:
    out = cli(tmp_path, "strategy=rsi", "leverage=1,3", "-m", *FAST)
    assert out.returncode == 0, out.stderr
    assert "sweep: 2 runs" in out.stdout
    client, found = runs(tmp_path / "mlruns" / "mlflow.db")
    assert len(found) == 2
    assert {r.info.status for r in found} == {"FINISHED"}
    assert sorted(r.data.params["leverage.value"] for r in found) == ["1", "3"]
    assert len({r.data.tags["sweep_id"] for r in found}) == 1
    for r in found:
        assert set(METRIC_NAMES) <= set(r.data.metrics)
        assert r.data.params["strategy.name"] == "rsi" and r.data.params["data.symbols"].startswith('["BTCUSDT"')
        assert len(r.data.tags["git_commit"]) == 40 or r.data.tags["git_commit"] == "unknown"
        assert len(r.data.tags["data_fingerprint"]) == 64
        assert "leverage" in r.data.tags["hydra_overrides"]
        assert r.data.tags["funding_coverage.BTCUSDT"] == "1.0000"
        arts = {a.path for a in client.list_artifacts(r.info.run_id)}
        assert {"config.yaml", "grid.parquet", "trades.parquet", "equity.parquet"} <= arts
        grid = pl.read_parquet(client.download_artifacts(r.info.run_id, "grid.parquet", str(tmp_path)))
        assert grid.height == 1 and grid["n_trades"][0] == r.data.metrics["n_trades"]
        trades = pl.read_parquet(client.download_artifacts(r.info.run_id, "trades.parquet", str(tmp_path)))
        assert trades.height == r.data.metrics["n_trades"]
        final = 10_000 + trades["gross_pnl"].sum() - trades["fees"].sum() - trades["funding"].sum()
        assert final == pytest.approx(r.data.metrics["final_equity"], rel=1e-9)
    assert not (tmp_path / "outputs").exists() and (tmp_path / "multirun").is_dir()


def test_single_run_with_in_job_grid(tmp_path: Path) -> None:
    out = cli(tmp_path, "strategy.params.lower=[20,30]", "strategy.params.period=[7,14]", *FAST)
    assert out.returncode == 0, out.stderr
    assert "best 4 of 4 by score" in out.stdout
    _, found = runs(tmp_path / "mlruns" / "mlflow.db")
    assert len(found) == 1 and found[0].data.metrics["n_combos"] == 4


def test_sweep_over_an_indicator_parameter(tmp_path: Path) -> None:
    out = cli(tmp_path, "strategy=ema_cross", "strategy.indicators.ema_slow.period=30,60", "filters=none", "-m", *FAST)
    assert out.returncode == 0, out.stderr
    _, found = runs(tmp_path / "mlruns" / "mlflow.db")
    assert sorted(r.data.params["strategy.indicators.ema_slow.period"] for r in found) == ["30", "60"]
    assert {r.info.status for r in found} == {"FINISHED"}
    assert len({r.data.metrics["final_equity"] for r in found}) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["leverage=0"], "error: leverage.value=0: must be an integer from 1 to 20"),
        (["leverage=200", "-m"], "error: leverage.value=200"),
        (["leverage=1,300", "-m"], "error: leverage.value=300"),
        (
            ["data.symbols=[BTCUSDT,NOPEUSDT]"],
            "error: data.symbols: unknown symbol 'NOPEUSDT'; available in",
        ),
        (
            ["data.start=2025-01-01", "data.end=2024-01-01"],
            "error: data.start=2025-01-01 is not before data.end=2024-01-01",
        ),
        (
            ["strategy=nope"],
            "error: strategy=nope: no such option in conf/strategy; valid: bbands, donchian, ema_cross, macd",
        ),
        (["fees=vip9"], "error: fees=vip9: no such option in conf/fees; valid: vip0, zero"),
        (
            ['strategy.entry.long=["rsi <> lower"]'],
            "error: conf/strategy/rsi.yaml: strategy.entry.long[0]='rsi <> lower': expected a number, a name or '('",
        ),
        (
            ["strategy.indicators.rsi.type=RSX", "-m"],
            "error: conf/strategy/rsi.yaml: strategy.indicators.rsi.type='RSX': unknown indicator type; valid: ADX",
        ),
        (
            ["strategy=macd", "strategy.params.fast=1"],
            "error: conf/strategy/macd.yaml: strategy.params.fast=1: must be",
        ),
        (
            ["strategy.params.lowr=3"],
            "error: override 'strategy.params.lowr': no such key; valid keys under strategy.params",
        ),
        (["leverage=1,3"], "error: leverage.value=1,3: a comma-separated sweep needs -m"),
        (["data.root=/nonexistent"], "error: data.root: no market data found; looked in /nonexistent"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path: Path, args: list[str], message: str) -> None:
    out = cli(tmp_path, *args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "outputs").exists()
    assert not (tmp_path / "multirun").exists()


def _bad_root(tmp_path: Path) -> Path:
    root = tmp_path / "bad"
    rows = kline_rows(1_704_067_200_000, [100.0, 101.0, 102.0])
    rows[1] = rows[1].replace(",10.0", ",oops")
    write_gz(root / "binance/futures_um/klines_1h/BTCUSDT-1h.csv.gz", KLINE_HEADER, rows)
    return root


def test_failing_job_is_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    bad = _bad_root(tmp_path)
    good = Path(__file__).resolve().parents[3] / "shared" / "data"
    good = Path(os.environ.get("PERPLAB_DATA", good))
    out = cli(tmp_path, f"data.root={bad},{good}", "data.symbols=[BTCUSDT]", "-m", *FAST)
    assert out.returncode == 1, out.stderr
    assert "1 of 2 jobs FAILED" in out.stderr
    _, found = runs(tmp_path / "mlruns" / "mlflow.db")
    status = {r.data.params["data.root"]: r for r in found}
    failed, finished = status[str(bad)], status[str(good)]
    assert failed.info.status == "FAILED" and finished.info.status == "FINISHED"
    assert "line 3: column 'volume' has unparsable value 'oops'" in failed.data.tags["error"]
    assert "n_trades" in finished.data.metrics


def test_single_run_bad_csv_is_one_line_exit_2(tmp_path: Path) -> None:
    out = cli(tmp_path, f"data.root={_bad_root(tmp_path)}", "data.symbols=[BTCUSDT]", *FAST)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "BTCUSDT-1h.csv.gz: line 3" in lines[-1]
    assert "Traceback" not in out.stderr
    _, found = runs(tmp_path / "mlruns" / "mlflow.db")
    assert [r.info.status for r in found] == ["FAILED"]  # the attempt is remembered
