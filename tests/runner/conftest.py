"""Fixtures shared by the runner's test folders: a store with promoted RSI runs (the paper trader's
and the model server's tests read it; one instance per test process)."""

from pathlib import Path

import pytest

from tests.runner.promote.test_promote import promote
from tests.runner.test_cli import FAST, cli, runs

JOB = (  # the promoted runs' job (BTC and ETH, the first half of 2024)
    "strategy=rsi",
    "data.symbols=[BTCUSDT,ETHUSDT]",
    "filters=none",
    "leverage=3",
    "tracking.trades_json=true",
    *FAST,
)


@pytest.fixture(scope="session")
def promoted_store(tmp_path_factory) -> tuple[Path, dict[str, str]]:
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
