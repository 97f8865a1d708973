"""Entry permissions per bar and asset from a strategy's time filters (UTC sessions, weekdays,
funding settlements)."""

from collections.abc import Sequence

import numpy as np

from runner.data.funding import schedule
from runner.strategy.dsl import TimeFilters

DAY_MS = 86_400_000


def entry_mask(
    times: np.ndarray, bar_ms: int, tf: TimeFilters, settlements: Sequence[np.ndarray] = (), n_assets: int = 0
) -> np.ndarray:
    """``(n_bars, n_assets)``: ``True`` where an entry decided at bar ``t``'s close may be placed.

    The entry instant is the bar's close (``times + bar_ms``), when the order goes out whether it
    fills at that close or at the next open. Sessions are ``[start, end)`` minutes of the UTC day
    (a window may wrap midnight); the funding blackout blocks instants strictly within N minutes
    of one of the asset's funding settlements (``settlements``: each asset's settlement instants, as
    its funding history has them; without them, or for ``n_assets`` more, every 8h from 00:00 UTC),
    before or after.
    """
    instant = times + bar_ms
    ok = _calendar(instant, tf)
    k = max(len(settlements), n_assets, 1)
    out = np.repeat(ok[:, None], k, axis=1)
    if tf.funding_blackout_minutes > 0:
        window = tf.funding_blackout_minutes * 60_000
        for a in range(k):
            known = settlements[a] if a < len(settlements) else np.zeros(0, dtype=np.int64)
            if known.size == 0:  # the default schedule around the bars
                known = schedule(known, np.zeros(0), int(instant[0]) - DAY_MS, int(instant[-1]) + DAY_MS)
            out[:, a] &= _distance(instant, known) >= window
    return out


def _distance(instant: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Each instant's distance to the nearest of the sorted ``known`` instants."""
    right = np.searchsorted(known, instant)
    after = known[np.minimum(right, known.size - 1)]
    before = known[np.maximum(right - 1, 0)]
    return np.minimum(np.abs(after - instant), np.abs(instant - before))


def _calendar(instant: np.ndarray, tf: TimeFilters) -> np.ndarray:
    """Sessions and weekdays at each entry instant."""
    ok = np.ones(instant.shape[0], dtype=np.bool_)
    if tf.sessions:
        minute = (instant % DAY_MS) // 60_000
        inside = np.zeros_like(ok)
        for start, end in tf.sessions:
            if start < end:
                inside |= (minute >= start) & (minute < end)
            else:
                inside |= (minute >= start) | (minute < end)
        ok &= inside
    if tf.blocked_weekdays:
        weekday = ((instant // DAY_MS) + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
        ok &= ~np.isin(weekday, tf.blocked_weekdays)
    return ok
