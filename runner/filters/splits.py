"""Split generators (walk-forward windows, purged k-fold, CSCV blocks) and the bar partition."""

import re
from dataclasses import dataclass

import numpy as np

from runner.errors import ConfigError

FIXED_MS = {"h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
MONTHS = {"mo": 1, "y": 12}
_SPAN = re.compile(r"^\s*(\d+)\s*(h|d|w|mo|y)?\s*$")
SPAN_HELP = "a number of bars or a duration like 720h, 270d, 12w, 9mo, 1y"

Range = tuple[int, int]  # [lo, hi) bar indices


@dataclass(frozen=True)
class Span:
    """A length: ``n`` bars (``unit=""``) or ``n`` hours/days/weeks/months/years of calendar time."""

    n: int
    unit: str = ""

    def shift(self, t_ms: int, k: int = 1) -> int:
        """``t_ms`` moved forward by ``k`` spans (calendar months keep the day and time of day)."""
        if self.unit in FIXED_MS:
            return t_ms + k * self.n * FIXED_MS[self.unit]
        months = k * self.n * MONTHS[self.unit]
        t = np.datetime64(int(t_ms), "ms")
        date = t.astype("datetime64[D]")
        month = t.astype("datetime64[M]")
        target = month + np.timedelta64(months, "M")
        day = int((date - month.astype("datetime64[D]")).astype(np.int64))
        days_in = int(
            ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
                np.int64
            )
        )
        moved = target.astype("datetime64[D]") + np.timedelta64(min(day, days_in - 1), "D")
        return int(moved.astype("datetime64[ms]").astype(np.int64)) + int(
            (t - date.astype("datetime64[ms]")).astype(np.int64)
        )


def parse_span(value: object, key: str) -> Span:
    """``120`` (bars) or ``"270d"``; a ConfigError naming ``key`` otherwise."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}={value!r}: must be {SPAN_HELP}")
    text = str(int(value)) if isinstance(value, int) or (isinstance(value, float) and value.is_integer()) else value
    m = _SPAN.match(text) if isinstance(text, str) else None
    if m is None or int(m.group(1)) <= 0:
        raise ConfigError(f"{key}={value!r}: must be {SPAN_HELP} (units h, d, w, mo, y)")
    return Span(int(m.group(1)), m.group(2) or "")


@dataclass(frozen=True)
class Window:
    train: Range
    test: Range


def walk_forward_windows(
    times: np.ndarray, bar_ms: int, train: Span, test: Span, step: Span, anchored: bool
) -> list[Window]:
    """Rolling (or anchored: the train start stays at the first bar) train/test windows, every test
    window ending inside the data, like vectorbt's ``rolling_split``. All spans are bars or all are
    durations; a duration boundary is the first bar opening at or after it."""
    n = len(times)
    kinds = {s.unit == "" for s in (train, test, step)}
    if len(kinds) != 1:
        raise ConfigError("filters.walk_forward: train, test and step must all be bars or all be durations")
    out: list[Window] = []
    if train.unit == "":
        k = 0
        while True:
            lo = 0 if anchored else k * step.n
            mid = (train.n + k * step.n) if anchored else lo + train.n
            hi = mid + test.n
            if hi > n:
                break
            out.append(Window((lo, mid), (mid, hi)))
            k += 1
        return out
    t0 = int(times[0])
    end = int(times[-1]) + bar_ms

    def index(t: int) -> int:
        return int(np.searchsorted(times, t, side="left"))

    k = 0
    while True:
        start = t0 if anchored else step.shift(t0, k)
        mid = step.shift(train.shift(t0), k) if anchored else train.shift(start)
        stop = test.shift(mid)
        if stop > end:
            break
        lo, m, hi = index(start), index(mid), index(stop)
        if m > lo and hi > m:
            out.append(Window((lo, m), (m, hi)))
        k += 1
    return out


@dataclass(frozen=True)
class Fold:
    test: Range
    train: tuple[Range, ...]


def purged_kfold(n: int, k: int, purge: int, embargo: int) -> list[Fold]:
    """``k`` contiguous test folds; each trains on the rest minus ``purge`` bars before the test fold
    and ``purge + embargo`` bars after it (indicator lookbacks there read test-fold bars)."""
    edges = np.linspace(0, n, k + 1).astype(np.int64)
    folds = []
    for i in range(k):
        lo, hi = int(edges[i]), int(edges[i + 1])
        train = []
        if lo - purge > 0:
            train.append((0, lo - purge))
        if hi + purge + embargo < n:
            train.append((hi + purge + embargo, n))
        folds.append(Fold((lo, hi), tuple(train)))
    return folds


def hold_ladder(n: int) -> list[int]:
    """Extra embargo lengths (0, 1, 2, 4, ... bars) cut into the partition after every test fold, so
    that once the run has shown its longest holding period the embargo can be extended to cover it
    without another kernel call (the smallest rung at least that long is used)."""
    out, step = [0], 1
    while step < n:
        out.append(step)
        step *= 2
    return out


def equal_blocks(n: int, s: int) -> list[Range]:
    """``s`` contiguous blocks of (nearly) equal length covering ``0..n``."""
    edges = np.linspace(0, n, s + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


class Partition:
    """The bars cut at every boundary given: a block id per bar (what the kernel reads), and the
    blocks making up any range whose ends are boundaries."""

    def __init__(self, n: int, ranges: list[Range]):
        cuts = {0, n}
        for lo, hi in ranges:
            cuts.update((int(lo), int(hi)))
        self.n_bars = n
        self.edges = np.array(sorted(c for c in cuts if 0 <= c <= n), dtype=np.int64)
        self.n_blocks = len(self.edges) - 1
        self.blk = np.searchsorted(self.edges, np.arange(n), side="right").astype(np.int64) - 1

    def blocks(self, *ranges: Range) -> np.ndarray:
        """Indices (in time order) of the blocks covering ``ranges`` (each made of whole blocks)."""
        out: list[int] = []
        for lo, hi in ranges:
            if hi <= lo:
                continue
            i, j = np.searchsorted(self.edges, [lo, hi])
            if self.edges[i] != lo or j >= len(self.edges) or self.edges[j] != hi:
                raise ValueError(f"range [{lo}, {hi}) does not end on block edges")
            out.extend(range(int(i), int(j)))
        return np.array(sorted(set(out)), dtype=np.int64)
