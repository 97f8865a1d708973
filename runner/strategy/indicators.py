"""Indicator registry backed by TA-Lib; adding a type is one small decorated function.

Each type declares its price inputs, its parameters (friendly name -> default, bounds,
integer) and its outputs (the first is what a bare name refers to: ``macd`` is ``macd.line``).
A function receives 1-D float64 arrays for one asset over its listed span and returns one
array per output. Composed types (Donchian, Keltner, rolling VWAP, Ichimoku, volatility) are
built from TA-Lib primitives; nothing is re-implemented in numba.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import talib

from runner.errors import ConfigError

SOURCES = ("open", "high", "low", "close", "volume", "hl2", "hlc3", "ohlc4")


@dataclass(frozen=True)
class Param:
    default: float
    low: float
    high: float
    integer: bool = True


@dataclass(frozen=True)
class IndicatorType:
    name: str
    fn: Callable[..., tuple[np.ndarray, ...]]
    inputs: tuple[str, ...]  # "src" is the configurable source (close by default)
    params: dict[str, Param]
    outputs: tuple[str, ...]


INDICATORS: dict[str, IndicatorType] = {}
PERIOD = {"period": Param(14, 2, 100_000)}


def indicator(name: str, inputs: tuple[str, ...], params: dict[str, Param], outputs: tuple[str, ...] = ("value",)):
    """Register ``fn(*inputs, **params) -> tuple of outputs`` as indicator type ``name``."""

    def wrap(fn):
        INDICATORS[name] = IndicatorType(name, fn, inputs, params, outputs)
        return fn

    return wrap


def _i(v: float) -> int:
    return int(round(v))


for _name in ("EMA", "SMA", "WMA", "DEMA", "TEMA", "KAMA", "RSI", "ROC", "MOM"):

    def _make(fname: str):
        fn = getattr(talib, fname)

        def run(src, period):
            return (fn(src, timeperiod=_i(period)),)

        return run

    indicator(_name, ("src",), PERIOD)(_make(_name))

for _name in ("CCI", "WILLR", "ADX", "ATR", "NATR"):

    def _make_hlc(fname: str):
        fn = getattr(talib, fname)

        def run(high, low, close, period):
            return (fn(high, low, close, timeperiod=_i(period)),)

        return run

    indicator(_name, ("high", "low", "close"), PERIOD)(_make_hlc(_name))


@indicator(
    "MACD",
    ("src",),
    {"fast": Param(12, 2, 10_000), "slow": Param(26, 2, 10_000), "signal": Param(9, 1, 10_000)},
    ("line", "signal", "hist"),
)
def _macd(src, fast, slow, signal):
    return talib.MACD(src, fastperiod=_i(fast), slowperiod=_i(slow), signalperiod=_i(signal))


@indicator(
    "STOCH",
    ("high", "low", "close"),
    {"fastk": Param(14, 1, 10_000), "slowk": Param(3, 1, 10_000), "slowd": Param(3, 1, 10_000)},
    ("k", "d"),
)
def _stoch(high, low, close, fastk, slowk, slowd):
    return talib.STOCH(high, low, close, fastk_period=_i(fastk), slowk_period=_i(slowk), slowd_period=_i(slowd))


@indicator(
    "STOCHRSI",
    ("src",),
    {"period": Param(14, 2, 10_000), "fastk": Param(5, 1, 10_000), "fastd": Param(3, 1, 10_000)},
    ("k", "d"),
)
def _stochrsi(src, period, fastk, fastd):
    return talib.STOCHRSI(src, timeperiod=_i(period), fastk_period=_i(fastk), fastd_period=_i(fastd))


@indicator(
    "BBANDS",
    ("src",),
    {"period": Param(20, 2, 10_000), "nbdev": Param(2.0, 0.01, 100.0, integer=False)},
    ("upper", "middle", "lower", "width"),
)
def _bbands(src, period, nbdev):
    upper, middle, lower = talib.BBANDS(src, timeperiod=_i(period), nbdevup=nbdev, nbdevdn=nbdev)
    with np.errstate(divide="ignore", invalid="ignore"):
        width = (upper - lower) / middle
    return upper, middle, lower, width


@indicator("OBV", ("src", "volume"), {})
def _obv(src, volume):
    return (talib.OBV(src, volume),)


@indicator("MFI", ("high", "low", "close", "volume"), PERIOD)
def _mfi(high, low, close, volume, period):
    return (talib.MFI(high, low, close, volume, timeperiod=_i(period)),)


@indicator("DONCHIAN", ("high", "low"), {"period": Param(20, 1, 100_000)}, ("upper", "lower", "middle"))
def _donchian(high, low, period):
    upper = talib.MAX(high, timeperiod=_i(period))
    lower = talib.MIN(low, timeperiod=_i(period))
    return upper, lower, (upper + lower) / 2.0


@indicator(
    "KELTNER",
    ("high", "low", "close"),
    {"period": Param(20, 2, 10_000), "atr_period": Param(10, 1, 10_000), "mult": Param(2.0, 0.01, 100.0, False)},
    ("upper", "middle", "lower"),
)
def _keltner(high, low, close, period, atr_period, mult):
    middle = talib.EMA(close, timeperiod=_i(period))
    atr = talib.ATR(high, low, close, timeperiod=_i(atr_period))
    return middle + mult * atr, middle, middle - mult * atr


@indicator("VWAP", ("high", "low", "close", "volume"), {"period": Param(24, 1, 100_000)})
def _vwap(high, low, close, volume, period):
    """Rolling VWAP over ``period`` bars of the typical price (NaN while the window has no volume)."""
    typical = (high + low + close) / 3.0
    pv = talib.SUM(typical * volume, timeperiod=_i(period))
    v = talib.SUM(volume, timeperiod=_i(period))
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.where(v > 0.0, pv / v, np.nan),)


def _shift(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full_like(x, np.nan)
    if n < x.shape[0]:
        out[n:] = x[: x.shape[0] - n]
    return out


@indicator(
    "ICHIMOKU",
    ("high", "low"),
    {"tenkan": Param(9, 1, 10_000), "kijun": Param(26, 1, 10_000), "senkou": Param(52, 1, 10_000)},
    ("tenkan", "kijun", "senkou_a", "senkou_b"),
)
def _ichimoku(high, low, tenkan, kijun, senkou):
    """Conversion and base lines; leading spans as plotted at each bar (computed ``kijun`` bars ago).

    The lagging span (close shifted back) would look ahead and is not offered.
    """

    def mid(n: float) -> np.ndarray:
        return (talib.MAX(high, timeperiod=_i(n)) + talib.MIN(low, timeperiod=_i(n))) / 2.0

    t, k = mid(tenkan), mid(kijun)
    return t, k, _shift((t + k) / 2.0, _i(kijun)), _shift(mid(senkou), _i(kijun))


@indicator("VOLATILITY", ("src",), {"period": Param(24, 2, 100_000)})
def _volatility(src, period):
    """Rolling population standard deviation of one-bar simple returns."""
    return (talib.STDDEV(talib.ROCP(src, timeperiod=1), timeperiod=_i(period), nbdev=1.0),)


def indicator_type(name: object, where: str) -> IndicatorType:
    key = str(name).upper()
    if key not in INDICATORS:
        raise ConfigError(f"{where}={name!r}: unknown indicator type; valid: {', '.join(sorted(INDICATORS))}")
    return INDICATORS[key]


def price_source(name: str, open_, high, low, close, volume) -> np.ndarray:
    """A price field or a blend (hl2, hlc3, ohlc4) of ``(n_bars, n_assets)`` arrays."""
    if name == "open":
        return open_
    if name == "high":
        return high
    if name == "low":
        return low
    if name == "close":
        return close
    if name == "volume":
        return volume
    if name == "hl2":
        return (high + low) / 2.0
    if name == "hlc3":
        return (high + low + close) / 3.0
    if name == "ohlc4":
        return (open_ + high + low + close) / 4.0
    raise ValueError(name)


def compute(itype: IndicatorType, inputs: list[np.ndarray], params: dict[str, float]) -> list[np.ndarray]:
    """Outputs of ``itype`` over ``(n_bars, n_assets)`` inputs, each asset on its listed span.

    An asset's span runs from its first to its last bar where every input is defined; values
    outside it are NaN.
    """
    shape = inputs[0].shape
    outs = [np.full(shape, np.nan) for _ in itype.outputs]
    defined = np.ones(shape, dtype=np.bool_)
    for x in inputs:
        defined &= ~np.isnan(x)
    for a in range(shape[1]):
        rows = np.nonzero(defined[:, a])[0]
        if rows.size == 0:
            continue
        lo, hi = rows[0], rows[-1] + 1
        args = [np.ascontiguousarray(x[lo:hi, a], dtype=np.float64) for x in inputs]
        with np.errstate(divide="ignore", invalid="ignore"):
            values = itype.fn(*args, **params)
        for out, v in zip(outs, values, strict=True):
            out[lo:hi, a] = v
    return outs
