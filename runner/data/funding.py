"""Funding schedules as they really were: each settlement's interval from the data, not a fixed 8h."""

import numpy as np

BINANCE_HOURS = (1, 2, 4, 8)  # intervals Binance has used between settlements
DEFAULT_HOURS = 8
HOUR_MS = 3_600_000


def interval_hours(times: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Each settlement's interval in hours: as the source gave it (``given`` > 0), else the spacing
    to the previous settlement when that is an interval Binance uses, else the previous interval
    (a longer spacing is a hole in the history, not a new interval)."""
    n = times.size
    out = np.empty(n, dtype=np.int64)
    spacing = np.diff(times) // HOUR_MS
    prev = DEFAULT_HOURS
    if n > 1 and given[0] <= 0 and spacing[0] in BINANCE_HOURS:
        prev = int(spacing[0])
    for i in range(n):
        if given[i] > 0:
            h = int(given[i])
        elif i and spacing[i - 1] in BINANCE_HOURS:
            h = int(spacing[i - 1])
        else:
            h = prev
        out[i] = prev = h
    return out


def schedule(times: np.ndarray, hours: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Every settlement instant in ``(lo, hi)`` by the history's own schedule: its settlements, the
    ones missing between them, and those before its first (after its last) at its first (last)
    interval."""
    if times.size == 0:
        step = DEFAULT_HOURS * HOUR_MS
        every = np.arange(lo + (-lo) % step, max(lo, hi), step, dtype=np.int64)
        return every[every > lo]
    parts = [np.arange(times[0], lo, -int(hours[0]) * HOUR_MS, dtype=np.int64)[1:][::-1]]
    for i in range(1, times.size):
        step = int(hours[i]) * HOUR_MS
        parts.append(np.arange(times[i - 1], times[i], step, dtype=np.int64))
    parts.append(np.arange(times[-1], hi, int(hours[-1]) * HOUR_MS, dtype=np.int64))
    every = np.unique(np.concatenate(parts))
    return every[(every > lo) & (every < hi)]
