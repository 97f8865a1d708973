"""Synthetic bars with a planted rule: after RSI(7) closes below 20 the price rises for 3 bars."""

from datetime import UTC, datetime

import numpy as np
import talib

from runner.data.panel import MarketPanel
from tests.runner.strategy.test_compile import synthetic

T0 = int(datetime(2021, 1, 1, tzinfo=UTC).timestamp() * 1000)


def planted_closes(n: int = 6000, seed: int = 7, period: int = 7, level: float = 20.0, boost: float = 0.012):
    """A random walk whose next 3 bars gain ``boost`` each after RSI(period) < level (TA-Lib's RSI,
    recomputed on the last 200 bars; the planted signal is only approximately TA-Lib's full-history
    value, as a real edge would be)."""
    rng = np.random.default_rng(seed)
    close = np.empty(n)
    close[0] = 100.0
    pending = 0
    for t in range(1, n):
        r = rng.normal(0.0, 0.01)
        if pending:
            r += boost
            pending -= 1
        close[t] = close[t - 1] * np.exp(r)
        if t > 50 and not pending:
            rsi = talib.RSI(close[max(0, t - 200) : t + 1], timeperiod=period)[-1]
            if rsi < level:
                pending = 3
    return close


def panel_of(closes: np.ndarray) -> MarketPanel:
    """One synthetic asset on 1h bars from 2021-01-01 (opens at the previous close)."""
    return synthetic(closes, start=T0)


def exhaustive_best(panel: MarketPanel, strategy: dict) -> tuple[np.ndarray, int]:
    """The objective (Sharpe, no fees, whole account) of every (period, lower) on the parameters'
    step grids of ``strategy``, sorted, defined values only (the ground truth a search is scored
    on), and how many combinations the grid has; one kernel call."""
    from runner import backtest
    from runner.config import validate
    from runner.strategy.compile import compile_strategy
    from tests.runner.strategy.test_compile import cfg_for

    params = {
        name: {**body, "default": {"start": body["low"], "stop": body["high"], "step": body["step"]}}
        for name, body in strategy["params"].items()
    }
    spec = validate(
        cfg_for(
            "filters=none",
            "objective=sharpe",
            "fees=zero",
            "sizing.fraction=1.0",
            strategy={**strategy, "params": params},
        )
    )
    compiled = compile_strategy(spec, panel)
    metrics, _ = backtest.run_grid(panel, compiled, 10_000.0, progress=False)
    truth = np.sort(backtest.objective_values(metrics, spec.objective))
    return truth[np.isfinite(truth)], compiled.n_combos
