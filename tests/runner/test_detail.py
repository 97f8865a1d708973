"""Intrabar detail (execution.detail): hand-written fine paths inside one strategy bar that flip or
keep its exit, the real 1m slice (a path-independent strategy gives the bar-level trades exactly,
one with stops reports its deltas), and the pre-flight's refusals."""

import numpy as np
import polars as pl
import pytest

from runner.backtest import records, run_grid
from runner.data.panel import MarketPanel
from runner.detail import deltas, fine_panel, run_detail
from tests.runner.strategy.test_compile import compiled_for, strategy
from tests.runner.test_cli import cli

H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00Z
FLAT = (100.0, 100.0, 100.0, 100.0)


def panel_of(candles: list[tuple[float, float, float, float]], timeframe: str, step: int) -> MarketPanel:
    ohlc = np.array(candles, dtype=np.float64)
    col = [np.ascontiguousarray(ohlc[:, k : k + 1]) for k in range(4)]
    n = len(candles)
    return MarketPanel(
        symbols=("A0USDT",),
        timeframe=timeframe,
        times=T0 + step * np.arange(n, dtype=np.int64),
        open=col[0],
        high=col[1],
        low=col[2],
        close=col[3],
        volume=np.ones((n, 1)),
        tradable=np.ones((n, 1), dtype=np.bool_),
        funding=np.zeros((n, 1)),
        settle=col[0].copy(),
        fingerprint="hand",
        sources={},
    )


def fine_of(bars: list, paths: dict[int, list]) -> list:
    """Four 1h bars per 4h bar: the given path, else the bar repeated flat at its open... close."""
    out = []
    for t, (o, h, lo, c) in enumerate(bars):
        out += paths.get(
            t,
            [(o, o, o, o), (o, h, o, o), (o, o, lo, c), (c, c, c, c)]
            if (h, lo) != (o, c)
            else [(o, o, o, o)] * 3 + [(c, c, c, c)],
        )
    return out


UP_DOWN = [FLAT, FLAT, (100.0, 107.0, 96.0, 100.0), FLAT]  # bar 2 reaches the take-profit and the stop
WILD = [FLAT, FLAT, (100.0, 111.0, 88.0, 100.0), FLAT]  # bar 2 reaches the take-profit and liquidation
STOPS = {"stop_loss": {"percent": 3}, "take_profit": {"percent": 6}}
TP_ONLY = {"take_profit": {"percent": 6}}

# (bar candles, fine paths of bar 2, strategy extras, leverage) -> (bar-level exit, detail exit) of
# the first trade: (reason, exit price or None for the liquidation price, exit bar: 4h / 1h)
SCENARIOS = {
    "take-profit before the stop-loss inside the bar: detail flips the stop into the take-profit": (
        UP_DOWN,
        [(100, 107, 99.5, 106.5), (106.5, 106.5, 100, 100), (100, 100, 96, 97), (97, 100, 97, 100)],
        STOPS,
        1,
        (("stop_loss", 97.0, 2), ("take_profit", 106.0, 8)),
    ),
    "stop-loss first: detail keeps the stop": (
        UP_DOWN,
        [(100, 100, 96, 97), (97, 107, 97, 106.5), (106.5, 106.5, 100, 100), (100, 100, 100, 100)],
        STOPS,
        1,
        (("stop_loss", 97.0, 2), ("stop_loss", 97.0, 8)),
    ),
    "take-profit before the liquidation at 10x: detail flips the liquidation": (
        WILD,
        [(100, 111, 99, 110), (110, 110, 88, 90), (90, 100, 90, 100), (100, 100, 100, 100)],
        TP_ONLY,
        10,
        (("liquidation", None, 2), ("take_profit", 106.0, 8)),
    ),
    "the liquidation first: detail keeps it, at the same price": (
        WILD,
        [(100, 100, 88, 89), (89, 111, 89, 110), (110, 110, 100, 100), (100, 100, 100, 100)],
        TP_ONLY,
        10,
        (("liquidation", None, 2), ("liquidation", None, 9 - 1)),
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_path_inside_a_bar_decides_its_exit(name: str) -> None:
    bars, path, extras, leverage, (at_bar, at_fine) = SCENARIOS[name]
    panel = panel_of(bars, "4h", 4 * H)
    fine = panel_of(fine_of(bars, {2: path}), "1h", H)
    raw = strategy(["close > 0"], **extras)
    spec, compiled = compiled_for(raw, panel, "fees=zero", f"leverage.value={leverage}", "data.timeframe=4h")
    bar = records(panel, compiled, 10_000.0, 0, int(run_grid(panel, compiled, 10_000.0, progress=False)[0][0, 9]))
    detail = run_detail(compiled, panel, fine, 0, 10_000.0, bar)
    first_bar, first_fine = bar.trades.row(0, named=True), detail.fine.trades.row(0, named=True)
    assert (first_bar["entry_bar"], first_fine["entry_bar"]) == (1, 4)  # decided at bar 0's close
    for got, (reason, price, exit_bar) in ((first_bar, at_bar), (first_fine, at_fine)):
        assert (got["exit_reason"], got["exit_bar"]) == (reason, exit_bar)
        if price is not None:
            assert got["exit_price"] == pytest.approx(price, rel=1e-12)
    if at_bar[0] == at_fine[0] == "liquidation":
        assert first_fine["exit_price"] == first_bar["exit_price"]
    flipped = at_bar[0] != at_fine[0]
    assert detail.deltas[f"detail_delta_{at_fine[0]}"] == (1.0 if flipped else 0.0)
    # every later decision is still taken at a 4h close: entries fill at the first hour of a 4h bar
    assert (detail.fine.trades["entry_bar"] % 4 == 0).all()


def test_deltas_by_hand() -> None:
    panel = panel_of([FLAT] * 2, "4h", 4 * H)
    fine = panel_of([FLAT] * 8, "1h", H)

    class R:  # records-like
        def __init__(self, equity, reasons):
            self.equity = pl.DataFrame({"equity": equity})
            self.trades = pl.DataFrame({"exit_reason": reasons}, schema={"exit_reason": pl.String})

    bar = R([100.0, 90.0], ["stop_loss"])
    fine_rec = R([100.0, 120.0, 95.0, 100.0, 100.0, 80.0, 85.0, 99.0], ["take_profit", "signal"])
    d = deltas(bar, fine_rec, 4, 100.0)
    assert d["detail_total_return"] == pytest.approx(-0.01) and d["detail_delta_total_return"] == pytest.approx(0.09)
    assert d["detail_max_drawdown"] == pytest.approx(0.01)  # closes 100, 99 (4h)
    assert d["detail_max_drawdown_intrabar"] == pytest.approx(1 - 80 / 120)
    assert d["detail_delta_max_drawdown"] == pytest.approx(0.01 - 0.10)
    assert (d["detail_delta_n_trades"], d["detail_delta_stop_loss"], d["detail_delta_take_profit"]) == (1, -1, 1)
    assert panel.n_bars * 4 == fine.n_bars


REAL = ("data.symbols=[BTCUSDT]", "data.start=2025-05-26", "data.end=2025-06-23")


def _real(*overrides: str):
    from runner.config import validate
    from runner.data.panel import build_panel
    from runner.strategy.compile import compile_strategy
    from tests.runner.strategy.test_compile import cfg_for

    spec = validate(cfg_for(*REAL, *overrides))
    panel = build_panel(spec.data)
    compiled = compile_strategy(spec, panel)
    metrics = run_grid(panel, compiled, spec.initial_capital, progress=False)[0]
    bar = records(panel, compiled, spec.initial_capital, 0, int(metrics[0, 9]))
    fine = fine_panel(spec.data, panel, "1m")
    detail = run_detail(compiled, panel, fine, 0, spec.initial_capital, bar)
    detail.compiled = compiled
    return detail, panel, fine


def test_a_path_independent_strategy_gives_the_bar_level_trades_exactly() -> None:
    """RSI at 1x, no stops, no liquidation, on the real 1m slice: the same trades at the same prices,
    quantities, fees and funding, and the same final equity, to the bit."""
    detail, panel, fine = _real()
    bar, got = detail.bar.trades, detail.fine.trades
    assert bar.height > 5 and got.height == bar.height
    assert (got["entry_bar"] == bar["entry_bar"] * 60).all()
    exits = bar["exit_bar"] * 60 + np.where(bar["exit_reason"] == "end_of_data", 59, 0)
    assert (got["exit_bar"] == exits).all()
    for col in ("side", "entry_price", "exit_price", "qty", "fees", "funding", "net_pnl", "exit_reason"):
        assert got[col].equals(bar[col]), col
    assert detail.fine.equity["equity"][-1] == detail.bar.equity["equity"][-1]
    assert detail.deltas["detail_delta_total_return"] == 0.0 and detail.deltas["detail_delta_n_trades"] == 0
    # the equity at each hour's close is the bar-level curve's
    np.testing.assert_array_equal(detail.fine.equity["equity"].to_numpy()[59::60], detail.bar.equity["equity"])


def test_stops_on_the_real_slice_report_what_the_minutes_change() -> None:
    detail, _, _ = _real("strategy=ema_cross", "leverage.value=5", "+strategy.take_profit.percent=2")
    bar, got = detail.bar.trades, detail.fine.trades
    for reason in ("stop_loss", "take_profit"):
        want = (got["exit_reason"] == reason).sum() - (bar["exit_reason"] == reason).sum()
        assert detail.deltas[f"detail_delta_{reason}"] == want
    assert detail.deltas["detail_delta_n_trades"] == got.height - bar.height
    assert detail.deltas["detail_max_drawdown_intrabar"] >= detail.deltas["detail_max_drawdown"]
    assert (got.filter(pl.col("exit_reason") == "signal")["exit_bar"] % 60 == 0).all()  # exits at hour opens
    assert got.filter(pl.col("exit_reason") == "take_profit").height > 0


def test_a_run_with_detail_logs_its_deltas(tmp_path) -> None:
    from tests.runner.test_cli import runs

    out = cli(tmp_path, *REAL, "execution.detail=1m", "strategy=ema_cross", "tracking.report=none")
    assert out.returncode in (0, 3), out.stderr
    client, (run,) = runs(tmp_path / "mlruns" / "mlflow.db")
    assert "detail_delta_total_return" in run.data.metrics and "detail_delta_stop_loss" in run.data.metrics
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"detail.parquet", "detail"} <= names


@pytest.mark.parametrize(("latency_ms", "delay"), [(1, 0), (20, 0), (100, 0), (200, 0), (90_000, 1), (185_000, 3)])
def test_latency_moves_signal_orders_by_whole_minutes(latency_ms: float, delay: int) -> None:
    """The presets (1-200 ms) never cross a minute: the trades are the bar-level ones; a custom latency
    of 1.5 (3.08) minutes fills each signal order at the open of the second (fourth) minute."""
    base, panel, fine = _real()
    late = run_detail(base.compiled, panel, fine, 0, 10_000.0, base.bar, latency_ms)
    got = late.fine.trades
    assert got.height == base.fine.trades.height
    assert (got["entry_bar"] == base.bar.trades["entry_bar"] * 60 + delay).all()
    opens = fine.open[got["entry_bar"].to_numpy(), 0]  # filled there, less the 1 bp slippage of fees=vip0
    np.testing.assert_allclose(got["entry_price"] / opens, 1.0 + 1e-4 * np.where(got["side"] == "long", 1, -1))
    if delay == 0:
        assert got.equals(base.fine.trades)
    else:
        assert late.deltas["detail_delta_total_return"] != 0.0


def test_detail_of_the_pareto_front(tmp_path) -> None:
    """execution.detail_combos=pareto: the best and every combination on the Pareto front (no filter
    here, so every combination survives) get a row of detail_* figures."""
    from kernels import enums as E
    from runner.children import child_combos
    from tests.runner.test_cli import runs

    grid = ("strategy=ema_cross", "strategy.params.fast=[6,12,24]", "leverage=[1,3]", "filters=none")
    out = cli(tmp_path, *REAL, *grid, "execution.detail=1m", "execution.detail_combos=pareto", "tracking.report=none")
    assert out.returncode in (0, 3), out.stderr
    client, (run,) = runs(tmp_path / "mlruns" / "mlflow.db")
    table = pl.read_parquet(client.download_artifacts(run.info.run_id, "grid.parquet", str(tmp_path)))
    metrics = table.select(E.METRIC_NAMES).to_numpy()
    best = int(run.data.tags["best_combo"])
    front = set(child_combos("pareto", best, metrics, np.ones(len(table), dtype=bool)).tolist())
    detail = pl.read_parquet(client.download_artifacts(run.info.run_id, "detail.parquet", str(tmp_path)))
    assert set(detail["combo"].to_list()) == front | {best} and len(front) >= 2
    assert detail.filter(pl.col("best"))["combo"].to_list() == [best]
