"""``python -m runner.promote`` against a real SQLite MLflow store (and a throwaway PostgreSQL for
active_configs): gate rejection, stage transitions with aliases, version tags, and the registered
model reproducing the backtest's signals bar for bar on the real data."""

import json
import os
import subprocess
from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from kernels import enums as E
from kernels.simulate import signal_flags
from runner.config import validate
from runner.data.panel import build_panel
from runner.model import SIGNALS
from runner.strategy.compile import compile_strategy
from tests.prewarmed import run_module
from tests.runner.test_cli import FAST, cli, runs

JOB = ("strategy=rsi", "data.symbols=[BTCUSDT,ETHUSDT]", "filters=none", *FAST)


def promote(store: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m runner.promote`` on ``store``; PostgreSQL only when ``env`` names it."""
    inherited = {k: v for k, v in os.environ.items() if k != "PERPLAB_POSTGRES_URL"}
    env = {**inherited, "MLFLOW_TRACKING_URI": f"sqlite:///{store}", **(env or {})}
    return run_module("runner.promote", *args, env=env)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """Two tracked jobs: rsi at leverage 1 and 2 (run ids by leverage)."""
    tmp = tmp_path_factory.mktemp("promote")
    for lev in (1, 2):
        out = cli(tmp, *JOB, f"leverage={lev}")
        assert out.returncode == 0, out.stderr
    db = tmp / "mlruns" / "mlflow.db"
    _, found = runs(db)
    return db, {r.data.params["leverage.value"]: r.info.run_id for r in found}


def test_a_failing_gate_changes_nothing(store) -> None:
    db, ids = store
    out = promote(db, f"promote.run_id={ids['1']}", "promote.stage=production", "promote.gates.max_drawdown=0.01")
    assert out.returncode == 1, out.stderr
    assert "rejected" in out.stdout and "FAIL: max_drawdown" in out.stdout and "nothing changed" in out.stdout
    client = MlflowClient(f"sqlite:///{db}")
    assert client.search_registered_models() == []
    assert "model" not in {a.path for a in client.list_artifacts(ids["1"])}


@pytest.mark.parametrize(
    "args, message",
    [
        (["promote.stage=live"], "error: promote.stage='live': valid: challenger, champion, archived, none"),
        (["promote.stage=archived"], "error: promote.stage=archived: needs promote.version=N"),
        (["promote.gates.min_sharpe=1"], "error: override 'promote.gates.min_sharpe': no such key"),
        (["promote.version=7", "promote.stage=champion"], "error: promote.version=7: perplab-rsi has no such"),
        (["promote.run_id=nope"], "error: promote.run_id=nope: no such run in the tracking store"),
        (["promote.strategy=macd"], "error: tracking.experiment=perplab-macd: no such experiment"),
    ],
)
def test_bad_promotion_input_is_one_line_exit_2(store, args, message) -> None:
    db, _ = store
    out = promote(db, *args)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(message) and out.stderr.count("\n") == 1, out.stderr


def test_stage_transitions_aliases_tags_and_parity(store, postgres) -> None:
    """v1 (leverage 1) -> challenger (by its old name, staging) -> champion; v2 (leverage 2) -> champion
    archives v1; v2 -> archived. Aliases and the perplab.stage tag move, deprecated stages are never
    written; active_configs follows the champion; the model loaded by alias reproduces the backtest."""
    import psycopg

    db, ids = store
    client = MlflowClient(f"sqlite:///{db}")
    pg = {"PERPLAB_POSTGRES_URL": postgres["url"]}

    out = promote(db, f"promote.run_id={ids['1']}", "promote.stage=staging", env=pg)
    assert out.returncode == 0, out.stderr
    v1 = client.get_model_version("perplab-rsi", "1")
    assert v1.tags["perplab.stage"] == "challenger" and v1.current_stage == "None"
    assert str(client.get_model_version_by_alias("perplab-rsi", "challenger").version) == "1"
    tags = v1.tags
    assert tags["leverage"] == "1.0" and tags["margin_mode"] == "isolated" and tags["max_position_size"] == "0.5"
    assert tags["source_run_id"] == ids["1"] and tags["objective"] == "objective"
    assert float(tags["objective_value"]) == pytest.approx(client.get_run(ids["1"]).data.metrics["objective"])
    assert tags["data_fingerprint"] == client.get_run(ids["1"]).data.tags["data_fingerprint"]
    assert tags["gate.max_drawdown"].startswith("pass") and tags["gate.min_dsr"].startswith("skipped")
    with psycopg.connect(postgres["url"]) as con:  # staging writes no active config
        assert con.execute("SELECT count(*) FROM active_configs").fetchone()[0] == 0

    out = promote(db, f"promote.run_id={ids['1']}", "promote.stage=champion", env=pg)
    assert out.returncode == 0, out.stderr
    assert "load it with models:/perplab-rsi@champion" in out.stdout.replace("\n", "")
    v1 = client.get_model_version("perplab-rsi", "1")  # the same version moves on: no second registration
    assert v1.tags["perplab.stage"] == "champion" and v1.aliases == ["champion"] and v1.current_stage == "None"
    assert len(client.search_model_versions("name = 'perplab-rsi'")) == 1
    with psycopg.connect(postgres["url"]) as con:
        row = con.execute(
            "SELECT strategy, symbols, params, leverage, margin_mode, max_position_size, model_uri, version, active "
            "FROM active_configs"
        ).fetchone()
    assert row[:2] == ("rsi", ["BTCUSDT", "ETHUSDT"]) and row[2]["period"] == 14 and row[2]["direction"] == "both"
    assert row[3:] == (1.0, "isolated", 0.5, "models:/perplab-rsi/1", 1, True)

    _parity(db, ids["1"])

    out = promote(db, f"promote.run_id={ids['2']}", "promote.stage=champion", env=pg)
    assert out.returncode == 0, out.stderr
    assert "no longer champion: version(s) 1" in out.stdout
    assert client.get_model_version("perplab-rsi", "1").tags["perplab.stage"] == "archived"
    v2 = client.get_model_version("perplab-rsi", "2")
    assert v2.tags["perplab.stage"] == "champion"
    assert str(client.get_model_version_by_alias("perplab-rsi", "champion").version) == "2"
    assert client.get_model_version("perplab-rsi", "1").aliases == []
    with psycopg.connect(postgres["url"]) as con:
        assert con.execute("SELECT version, leverage, active FROM active_configs").fetchall() == [(2, 2.0, True)]

    out = promote(db, "promote.version=2", "promote.stage=archived", env=pg)
    assert out.returncode == 0, out.stderr
    v2 = client.get_model_version("perplab-rsi", "2")
    assert v2.tags["perplab.stage"] == "archived" and v2.aliases == []
    with psycopg.connect(postgres["url"]) as con:
        active, gone = con.execute("SELECT active, deactivated_at IS NOT NULL FROM active_configs").fetchone()
    assert (active, gone) == (False, True)


def _parity(db: Path, run_id: str) -> None:
    """models:/perplab-rsi@champion on the real bars: the backtest's signal flags on every bar and,
    from its recorded trades, the side it held after each bar's decision."""
    client = MlflowClient(f"sqlite:///{db}")
    tmp = db.parent / "parity"
    cfg = OmegaConf.load(client.download_artifacts(run_id, "config.yaml", str(tmp)))
    spec = validate(cfg)
    panel = build_panel(spec.data)
    bars = pl.concat(
        panel.frame(s).with_columns(pl.lit(s).alias("symbol"), pl.col("funding").alias("funding_rate"))
        for s in panel.symbols
    ).drop("tradable", "funding")
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    model = mlflow.pyfunc.load_model("models:/perplab-rsi@champion")
    out = pl.from_pandas(model.predict(bars.to_pandas())).sort("time", "symbol")
    n, k = panel.n_bars, panel.n_assets
    assert out.height == n * k
    order = np.argsort(panel.symbols)  # predictions sorted by symbol within each bar

    compiled = compile_strategy(spec, panel)
    flags = signal_flags(
        0, compiled.market(panel), compiled.program(), compiled.params, spec.initial_capital, panel.bars_per_year
    )
    for g, name in enumerate(SIGNALS):
        got = out[name].to_numpy().reshape(n, k)
        np.testing.assert_array_equal(got[:-1], flags[g][:-1, order], err_msg=name)
        assert got.any()

    trades = pl.read_parquet(client.download_artifacts(run_id, "trades.parquet", str(tmp)))
    assert trades.height > 50
    expected = np.zeros((n, k))
    for tr in trades.sort("entry_bar").iter_rows(named=True):
        side = 1 if tr["side"] == "long" else -1
        # ordered at the close before the entry bar; held until the close before a signal exit,
        # through the exit bar of a stop or liquidation, to the end of the data at the end
        end = {"signal": tr["exit_bar"] - 1, "end_of_data": n - 1}.get(tr["exit_reason"], tr["exit_bar"])
        expected[tr["entry_bar"] - 1 : end, tr["asset"]] = side
    got = out["target_position"].to_numpy().reshape(n, k)
    np.testing.assert_array_equal(got[:-1], expected[:-1, order])
    exposure = out["target_exposure"].to_numpy().reshape(n, k)
    np.testing.assert_allclose(exposure, got * 1.0 * 0.5)  # leverage 1, half the equity per symbol
    assert json.loads(client.get_model_version("perplab-rsi", "1").tags["symbols"]) == ["BTCUSDT", "ETHUSDT"]
    assert E.N_GROUPS == len(SIGNALS)
