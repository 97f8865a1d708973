"""Higher-timeframe bars from the primary panel, and their values aligned back without lookahead."""

import numpy as np


def buckets(times: np.ndarray, primary_ms: int, higher_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, visible)``: each higher bar's first primary row, and per primary bar the higher bar
    whose value is visible at its close (-1: none yet).

    A higher bar ``[T, T + higher)`` closes with the primary bar that ends at ``T + higher``; its
    value is visible from that bar on, never earlier.
    """
    bucket = times - times % higher_ms
    new = np.r_[True, bucket[1:] != bucket[:-1]]
    starts = np.flatnonzero(new)
    group = np.cumsum(new) - 1
    closes = times + primary_ms == bucket + higher_ms
    visible = np.where(closes, group, group - 1)
    return starts, visible


def resample(arrays: dict[str, np.ndarray], starts: np.ndarray) -> dict[str, np.ndarray]:
    """OHLCV ``(n_bars, n_assets)`` arrays aggregated into the buckets starting at ``starts``.

    open = first, high = max, low = min, close = last, volume = sum; a bucket holding an
    undefined (not yet listed) bar is undefined.
    """
    ends = np.r_[starts[1:], next(iter(arrays.values())).shape[0]] - 1
    out = {}
    for name, x in arrays.items():
        if name == "open":
            out[name] = x[starts]
        elif name == "close":
            out[name] = x[ends]
        elif name == "high":
            out[name] = np.maximum.reduceat(x, starts, axis=0)
        elif name == "low":
            out[name] = np.minimum.reduceat(x, starts, axis=0)
        elif name == "volume":
            out[name] = np.add.reduceat(x, starts, axis=0)
    first_nan = np.isnan(out["open"]) if "open" in out else None
    if first_nan is not None:
        for name in out:
            out[name][first_nan] = np.nan
    return out


def align(values: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Higher-timeframe ``(n_higher, n_assets)`` values on the primary grid (NaN before the first close)."""
    out = values[np.maximum(visible, 0)]
    out[visible < 0] = np.nan
    return out
