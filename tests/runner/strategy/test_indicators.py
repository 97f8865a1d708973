"""Every registered indicator on real data: TA-Lib wrappers map their parameters right, composed
types equal plain numpy definitions to 1e-9, and each asset is computed on its listed span only."""

from datetime import UTC, datetime

import numpy as np
import pytest
import talib
from numpy.lib.stride_tricks import sliding_window_view

from runner.data.panel import DataSpec, build_panel
from runner.strategy.indicators import INDICATORS, compute
from tests.conftest import DATA_ROOT


def _ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def panel():
    # SOL lists in September 2020: its first months are undefined
    spec = DataSpec(DATA_ROOT, "futures_um", ("BTCUSDT", "SOLUSDT"), "1h", "1h", _ms("2020-08-01"), _ms("2021-01-01"))
    return build_panel(spec)


def _inputs(panel, itype):
    src = {"src": panel.close, "open": panel.open, "high": panel.high, "low": panel.low, "close": panel.close}
    src["volume"] = panel.volume
    return [src[name] for name in itype.inputs]


def _defaults(itype):
    return {k: float(p.default) for k, p in itype.params.items()}


def _span(panel, a):
    rows = np.flatnonzero(~np.isnan(panel.close[:, a]))
    return slice(rows[0], rows[-1] + 1)


def _rolling(x: np.ndarray, n: int, fn) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    out[n - 1 :] = fn(sliding_window_view(x, n), axis=1)
    return out


def _shift(x: np.ndarray, n: int) -> np.ndarray:
    return np.r_[np.full(n, np.nan), x[:-n]]


def _reference(name: str, o, h, lo, c, v, p) -> list[np.ndarray]:
    """Independent definitions: TA-Lib called directly, or numpy for composed types."""
    n = int(p.get("period", 0))
    simple = {"EMA", "SMA", "WMA", "DEMA", "TEMA", "KAMA", "RSI", "ROC", "MOM"}
    if name in simple:
        return [getattr(talib, name)(c, timeperiod=n)]
    if name in {"CCI", "WILLR", "ADX", "ATR", "NATR"}:
        return [getattr(talib, name)(h, lo, c, timeperiod=n)]
    if name == "MACD":
        return list(talib.MACD(c, 12, 26, 9))
    if name == "STOCH":
        return list(talib.STOCH(h, lo, c, fastk_period=14, slowk_period=3, slowd_period=3))
    if name == "STOCHRSI":
        return list(talib.STOCHRSI(c, timeperiod=14, fastk_period=5, fastd_period=3))
    if name == "BBANDS":
        mid = _rolling(c, 20, np.mean)
        sd = _rolling(c, 20, np.std)
        return [mid + 2 * sd, mid, mid - 2 * sd, 4 * sd / mid]
    if name == "OBV":
        return [talib.OBV(c, v)]
    if name == "MFI":
        return [talib.MFI(h, lo, c, v, timeperiod=n)]
    if name == "DONCHIAN":
        up, dn = _rolling(h, n, np.max), _rolling(lo, n, np.min)
        return [up, dn, (up + dn) / 2]
    if name == "KELTNER":
        mid = talib.EMA(c, 20)
        atr = talib.ATR(h, lo, c, 10)
        return [mid + 2 * atr, mid, mid - 2 * atr]
    if name == "VWAP":
        tp = (h + lo + c) / 3
        return [_rolling(tp * v, n, np.sum) / _rolling(v, n, np.sum)]
    if name == "ICHIMOKU":

        def mid(k: int) -> np.ndarray:
            return (_rolling(h, k, np.max) + _rolling(lo, k, np.min)) / 2

        return [mid(9), mid(26), _shift((mid(9) + mid(26)) / 2, 26), _shift(mid(52), 26)]
    if name == "VOLATILITY":
        r = np.r_[np.nan, c[1:] / c[:-1] - 1]
        return [np.r_[np.nan, _rolling(r[1:], n, np.std)]]
    raise AssertionError(f"no reference for {name}")


@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_indicator_matches_reference_on_real_data(panel, name: str) -> None:
    itype = INDICATORS[name]
    params = _defaults(itype)
    outs = compute(itype, _inputs(panel, itype), params)
    assert len(outs) == len(itype.outputs)
    for a in range(panel.n_assets):
        span = _span(panel, a)
        cols = [
            np.ascontiguousarray(x[span, a]) for x in (panel.open, panel.high, panel.low, panel.close, panel.volume)
        ]
        ref = _reference(name, *cols, params)
        for out, want, label in zip(outs, ref, itype.outputs, strict=True):
            got = out[span, a]
            assert np.isnan(out[: span.start, a]).all()  # nothing before the asset is listed
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{name}.{label} warm-up")
            ok = ~np.isnan(want)
            assert ok.sum() > 1000
            np.testing.assert_allclose(got[ok], want[ok], rtol=1e-9, atol=1e-9, err_msg=f"{name}.{label}")
    assert panel.n_assets == 2 and _span(panel, 1).start > 0  # SOL really starts later


def test_every_type_has_outputs_and_bounded_parameters() -> None:
    for itype in INDICATORS.values():
        assert itype.outputs
        for p in itype.params.values():
            assert p.low <= p.default <= p.high
