"""Drift: how a paper account departs from what its backtest led one to expect.

- ``drift_trade_rate``: closed trades per bar over the backtest's, minus 1 (once the backtest's rate
  expects at least ``MIN_TRADES`` trades over the session's bars);
- ``drift_pnl_ks``: the two-sample Kolmogorov-Smirnov statistic between the paper trades' returns on
  margin and the backtest's (from ``MIN_TRADES`` paper trades on);
- ``drift_equity``: the account's equity over a backtest re-run of the same bars from the session's
  first bar, minus 1 (0 unless the data under past bars changed or the state was tampered with);
- ``gap_observed_bps`` against ``slippage_assumed_bps``: the mean move from a bar's close (where a
  decision is taken) to the next open (where it fills), which the assumed slippage should cover.

``drift`` is the largest of the first three in absolute value: what ``paper.max_drift`` alerts on and
the ``max_drift`` promotion gate reads.
"""

import math
import tempfile
from dataclasses import dataclass

import numpy as np

MIN_TRADES = 10


@dataclass(frozen=True)
class Expectation:
    trades_per_bar: float
    rets: np.ndarray  # the backtest's closed trades' returns on margin
    slippage_bps: float


def expectation(client, run_id: str, slippage_bps: float) -> Expectation:
    """The backtest run's trade rate and return distribution (its ``trades.parquet``)."""
    import polars as pl

    run = client.get_run(run_id)
    bars = float(run.data.tags.get("data_bars", "nan"))
    n_trades = run.data.metrics.get("n_trades", math.nan)
    rets = np.zeros(0)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            trades = pl.read_parquet(client.download_artifacts(run_id, "trades.parquet", tmp))
            rets = trades.filter(pl.col("exit_reason") != "end_of_data")["ret"].to_numpy()
        except Exception:  # a run logged without trades: no return distribution to compare
            pass
    return Expectation(n_trades / bars if bars > 0 else math.nan, rets, slippage_bps)


def measure(exp: Expectation, rets: np.ndarray, n_bars: int, equity: float, rerun: float, gap_bps: float) -> dict:
    """The drift metrics of an account with closed-trade returns ``rets`` over ``n_bars`` bars."""
    from scipy.stats import ks_2samp

    out: dict[str, float] = {}
    expected = exp.trades_per_bar * n_bars
    if expected >= MIN_TRADES:
        out["drift_trade_rate"] = len(rets) / expected - 1.0
    if len(rets) >= MIN_TRADES and len(exp.rets) >= MIN_TRADES:
        out["drift_pnl_ks"] = float(ks_2samp(rets, exp.rets).statistic)
    if rerun > 0:
        out["drift_equity"] = equity / rerun - 1.0
    out["drift"] = max((abs(v) for v in out.values()), default=0.0)
    if not math.isnan(gap_bps):
        out["gap_observed_bps"] = gap_bps
        out["slippage_assumed_bps"] = exp.slippage_bps
    return out


def close_to_open_bps(close: np.ndarray, open_: np.ndarray, tradable: np.ndarray) -> float:
    """Mean |open[t] - close[t-1]| / close[t-1] in bps over the tradable bar pairs."""
    ok = tradable[1:] & tradable[:-1] & (close[:-1] > 0)
    if not ok.any():
        return math.nan
    moves = np.abs(open_[1:] - close[:-1]) / np.where(close[:-1] > 0, close[:-1], 1.0)
    return float(moves[ok].mean() * 1e4)
