"""Records as artifacts: positions, trades JSON, monthly returns and costs, by hand-computed tables."""

import json

import numpy as np
import polars as pl
import pytest

from kernels import enums as E
from runner import artifacts
from tests.runner.strategy.test_compile import synthetic


def _trades(rows: list[dict]) -> pl.DataFrame:
    base = {
        "combo": 0,
        "entry_price": 100.0,
        "exit_price": 110.0,
        "leverage": 1.0,
        "margin": 100.0,
        "fees": 0.1,
        "funding": 0.05,
        "slippage": 0.02,
        "gross_pnl": 10.0,
        "net_pnl": 9.85,
        "ret": 0.0985,
        "exit_reason": "signal",
    }
    frame = pl.DataFrame([{**base, **r} for r in rows])
    t0 = 1_704_067_200_000  # 2024-01-01T00:00Z
    return frame.with_columns(
        (pl.col("entry_bar") * 3_600_000 + t0).cast(pl.Datetime("ms", "UTC")).alias("entry_time"),
        (pl.col("exit_bar") * 3_600_000 + t0).cast(pl.Datetime("ms", "UTC")).alias("exit_time"),
    )


@pytest.mark.parametrize(
    "rows, expected",
    [
        # no trade: flat everywhere
        ([], [[0, 0]] * 6),
        # a long of 2 on asset 0 from bar 1, exited in bar 3: held over the closes of bars 1 and 2
        (
            [{"asset": 0, "symbol": "A", "side": "long", "qty": 2.0, "entry_bar": 1, "exit_bar": 3}],
            [[0, 0], [2, 0], [2, 0], [0, 0], [0, 0], [0, 0]],
        ),
        # a reversal on asset 1 (short 1.5 bars 0-2, then long 3 from bar 2) and a long on asset 0
        (
            [
                {"asset": 1, "symbol": "B", "side": "short", "qty": 1.5, "entry_bar": 0, "exit_bar": 2},
                {"asset": 1, "symbol": "B", "side": "long", "qty": 3.0, "entry_bar": 2, "exit_bar": 5},
                {"asset": 0, "symbol": "A", "side": "long", "qty": 1.0, "entry_bar": 4, "exit_bar": 5},
            ],
            [[0, -1.5], [0, -1.5], [0, 3], [0, 3], [1, 3], [0, 0]],
        ),
    ],
)
def test_positions_held_over_each_close(rows, expected) -> None:
    panel = synthetic([100.0] * 6, n_assets=2)
    trades = _trades(rows) if rows else pl.DataFrame(schema={"qty": pl.Float64, "side": pl.String})
    np.testing.assert_array_equal(artifacts.positions(panel, trades), np.array(expected, dtype=float))


def test_flat_bars_are_exactly_zero_and_exposure_matches_the_kernel() -> None:
    """A year of real bars at 3x with many reversals: quantities like 0.1 + 0.2 never leave residues,
    so the exposure counted from the positions is the kernel's own metric, to the bit."""
    from runner.backtest import records, run_grid
    from runner.config import validate
    from runner.data.panel import build_panel
    from runner.strategy.compile import compile_strategy
    from tests.runner.strategy.test_compile import cfg_for

    cfg = cfg_for("data.start=2022-01-01", "data.end=2022-12-31", "leverage.value=3", "strategy=ema_cross")
    spec = validate(cfg)
    panel = build_panel(spec.data)
    compiled = compile_strategy(spec, panel)
    metrics = run_grid(panel, compiled, spec.initial_capital, progress=False)[0]
    rec = records(panel, compiled, spec.initial_capital, 0, int(metrics[0, E.M_N_TRADES]))
    assert rec.trades.height > 500
    held = artifacts.positions(panel, rec.trades)
    assert (held != 0).any(axis=0).all()
    # the kernel also counts the positions the last bar closes at its close (end_of_data)
    ends = int((rec.trades["exit_reason"] == "end_of_data").sum())
    exposure = float(((held != 0) & panel.tradable).sum() + ends) / float(panel.tradable.sum())
    assert exposure == metrics[0, E.METRIC_NAMES.index("exposure")]


def test_trades_json_has_every_field_and_iso_times() -> None:
    trades = _trades([{"asset": 0, "symbol": "A", "side": "long", "qty": 2.0, "entry_bar": 1, "exit_bar": 3}])
    trades = trades.with_columns(pl.lit(float("nan")).alias("ret"))
    rows = json.loads(artifacts.trades_json(trades))
    assert len(rows) == 1
    assert set(rows[0]) == set(trades.columns)
    assert rows[0]["entry_time"] == "2024-01-01T01:00:00Z" and rows[0]["exit_time"] == "2024-01-01T03:00:00Z"
    assert rows[0]["ret"] is None and rows[0]["qty"] == 2.0 and rows[0]["side"] == "long"


def test_monthly_returns_from_month_end_equity() -> None:
    times = pl.Series(
        ["2024-01-01T00:00:00Z", "2024-01-31T23:00:00Z", "2024-02-15T00:00:00Z", "2024-02-29T23:00:00Z"]
    ).str.to_datetime(time_unit="ms", time_zone="UTC")
    equity = pl.DataFrame({"time": times, "equity": [1000.0, 1100.0, 990.0, 1210.0]})
    out = artifacts.monthly_returns(equity, initial=1000.0)
    assert out["year"].to_list() == [2024, 2024] and out["month_of_year"].to_list() == [1, 2]
    np.testing.assert_allclose(out["return"].to_numpy(), [0.10, 0.10])


def test_costs_per_symbol_and_total() -> None:
    trades = _trades(
        [
            {"asset": 0, "symbol": "A", "side": "long", "qty": 1.0, "entry_bar": 0, "exit_bar": 1, "fees": 1.0},
            {"asset": 0, "symbol": "A", "side": "long", "qty": 1.0, "entry_bar": 2, "exit_bar": 3, "fees": 2.0},
            {"asset": 1, "symbol": "B", "side": "short", "qty": 1.0, "entry_bar": 0, "exit_bar": 1, "funding": -0.5},
        ]
    )
    metrics = np.zeros(E.N_METRICS)
    metrics[[E.M_FEES_PAID, E.M_FUNDING_PAID, E.M_SLIPPAGE_PAID]] = [3.1, -0.4, 0.06]
    out = artifacts.costs(trades, metrics)
    assert out["symbol"].to_list() == ["A", "B", "total"]
    np.testing.assert_allclose(out["fees"].to_numpy(), [3.0, 0.1, 3.1])
    np.testing.assert_allclose(out["funding"].to_numpy(), [0.1, -0.5, -0.4])
    np.testing.assert_allclose(out["slippage"].to_numpy(), [0.04, 0.02, 0.06])


@pytest.mark.parametrize(
    "with_json, report, expected",
    [
        (False, False, {"trades.parquet", "equity.parquet"}),
        (True, False, {"trades.parquet", "equity.parquet", "trades.json"}),
        (False, True, {"trades.parquet", "equity.parquet", "report.html"}),
    ],
)
def test_record_files_by_request(tmp_path, with_json, report, expected) -> None:
    """Trades and series always as compact parquet (trades losslessly, exposure as float32); JSON and
    the report only when asked."""
    trades = _trades([{"asset": 0, "symbol": "A", "side": "long", "qty": 2.5, "entry_bar": 1, "exit_bar": 3}])
    t = pl.Series("time", [1_704_067_200_000 + 3_600_000 * i for i in range(4)]).cast(pl.Datetime("ms", "UTC"))
    frame = pl.DataFrame(
        {"time": t, "equity": [1000.0, 1000.1, 999.7, 1003.0 + 1e-9], "exposure.A": [0.0, 0.3, 0.1, 0.0]}
    )
    files = artifacts.record_files(
        "combos/1/", frame, trades, (lambda p: p.write_text("r")) if report else None, with_json
    )
    assert set(files) == {f"combos/1/{n}" for n in expected}
    for name, write in files.items():
        write(tmp_path / name.split("/")[-1])
    assert pl.read_parquet(tmp_path / "trades.parquet").equals(trades)
    series = pl.read_parquet(tmp_path / "equity.parquet")
    assert series["equity"].to_list() == frame["equity"].to_list() and series["time"].equals(frame["time"])
    assert series["exposure.A"].dtype == pl.Float32
    assert series["exposure.A"].to_list() == pytest.approx(frame["exposure.A"].to_list(), rel=1e-7)
