"""Entry permissions per bar from a strategy's time filters (UTC sessions, weekdays, funding)."""

import numpy as np

from runner.strategy.dsl import TimeFilters

DAY_MS = 86_400_000
FUNDING_MS = 8 * 3_600_000


def entry_mask(times: np.ndarray, bar_ms: int, tf: TimeFilters) -> np.ndarray:
    """``True`` where an entry decided at bar ``t``'s close may be placed.

    The entry instant is the bar's close (``times + bar_ms``), when the order goes out whether it
    fills at that close or at the next open. Sessions are ``[start, end)`` minutes of the UTC day
    (a window may wrap midnight); the funding blackout blocks instants strictly within N minutes
    of a 00:00/08:00/16:00 settlement, before or after.
    """
    instant = times + bar_ms
    ok = np.ones(times.shape[0], dtype=np.bool_)
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
    if tf.funding_blackout_minutes > 0:
        offset = instant % FUNDING_MS
        distance = np.minimum(offset, FUNDING_MS - offset)
        ok &= distance >= tf.funding_blackout_minutes * 60_000
    return ok
