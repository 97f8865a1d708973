"""Fixtures of the paper-trading tests: promoted RSI runs on a real SQLite MLflow store, and the
``python -m runner.paper`` command line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runner.promote.test_promote import promote
from tests.runner.test_cli import FAST, cli, runs

JOB = (
    "strategy=rsi",
    "data.symbols=[BTCUSDT,ETHUSDT]",
    "filters=none",
    "leverage=3",
    "tracking.trades_json=true",
    *FAST,
)
REPLAY = ("feed.end=2024-06-30",)  # the backtest's own bars


def paper(store: Path, *args: str, module: str = "runner.paper", env: dict | None = None, wait: bool = True):
    """``python -m runner.paper`` on ``store`` (its state beside it); without ``wait`` the process,
    its stderr going to ``paper.err`` beside the store."""
    inherited = {k: v for k, v in os.environ.items() if k != "PERPLAB_POSTGRES_URL"}
    env = {
        **inherited,
        "MLFLOW_TRACKING_URI": f"sqlite:///{store}",
        "PERPLAB_CACHE": str(store.parent / "cache"),
        **(env or {}),
    }
    cmd = [sys.executable, "-m", module, *args, f"hydra.run.dir={store.parent / 'outputs'}"]
    if module != "runner.paper":
        cmd = cmd[:-1]
    if not wait:
        with open(store.parent / "paper.err", "a") as err:
            return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """Two backtests, isolated (-> champion) and cross margin (-> challenger), promoted."""
    tmp = tmp_path_factory.mktemp("paper")
    for mode in ("isolated", "cross"):
        out = cli(tmp, *JOB, f"margin={mode}")
        assert out.returncode == 0, out.stderr
    db = tmp / "mlruns" / "mlflow.db"
    _, found = runs(db)
    ids = {r.data.params["margin.mode"]: r.info.run_id for r in found}
    off = ("promote.gates.max_drawdown=null", "promote.gates.min_trades=null")
    assert promote(db, f"promote.run_id={ids['isolated']}", "promote.stage=champion", *off).returncode == 0
    assert promote(db, f"promote.run_id={ids['cross']}", "promote.stage=challenger", *off).returncode == 0
    return db, ids
