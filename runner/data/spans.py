"""Half-open time spans ``[start, end)`` in epoch ms: union, difference, holes between bars."""

from collections.abc import Iterable

import numpy as np

Span = tuple[int, int]


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted union of spans (touching spans join)."""
    out: list[Span] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def subtract(spans: Iterable[Span], removed: Iterable[Span]) -> list[Span]:
    """The parts of ``spans`` outside ``removed``."""
    cuts = merge(removed)
    out: list[Span] = []
    for a, b in merge(spans):
        cursor = a
        for c, d in cuts:
            if d <= cursor or c >= b:
                continue
            if c > cursor:
                out.append((cursor, c))
            cursor = max(cursor, d)
            if cursor >= b:
                break
        if cursor < b:
            out.append((cursor, b))
    return out


def length(spans: Iterable[Span]) -> int:
    return sum(b - a for a, b in spans)


def holes(times: np.ndarray, start: int, end: int, step: int) -> list[Span]:
    """Missing bars of a ``step`` grid in ``[start, end)`` given the sorted open times present."""
    times = times[(times >= start) & (times < end)]
    if times.size == 0:
        return [(start, end)] if end > start else []
    bounds = np.concatenate(([start - step], times, [end]))
    gaps = np.nonzero(np.diff(bounds) > step)[0]
    return [(int(bounds[i]) + step, int(bounds[i + 1])) for i in gaps]
