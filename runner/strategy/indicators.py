"""Indicator registry backed by TA-Lib; adding a type is one small function."""

from collections.abc import Callable

import numpy as np
import talib

from runner.errors import ConfigError

IndicatorFn = Callable[..., np.ndarray]
INDICATORS: dict[str, tuple[IndicatorFn, tuple[str, ...]]] = {}


def indicator(name: str, *params: str):
    """Register ``fn(close, **params) -> values`` under ``name``."""

    def wrap(fn: IndicatorFn) -> IndicatorFn:
        INDICATORS[name] = (fn, params)
        return fn

    return wrap


@indicator("RSI", "timeperiod")
def _rsi(close: np.ndarray, timeperiod: float) -> np.ndarray:
    return talib.RSI(close, timeperiod=int(timeperiod))


def compute(name: str, close: np.ndarray, params: dict[str, float]) -> np.ndarray:
    """Indicator values for a ``(n_bars, n_assets)`` close panel, each asset on its listed span."""
    if name not in INDICATORS:
        raise ConfigError(f"indicator type {name!r}: unknown; valid: {', '.join(sorted(INDICATORS))}")
    fn, _ = INDICATORS[name]
    out = np.full(close.shape, np.nan)
    for a in range(close.shape[1]):
        listed = np.nonzero(~np.isnan(close[:, a]))[0]
        if listed.size:
            lo, hi = listed[0], listed[-1] + 1
            out[lo:hi, a] = fn(np.ascontiguousarray(close[lo:hi, a]), **params)
    return out
