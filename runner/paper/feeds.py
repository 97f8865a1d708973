"""Feeds: where a paper session's closed bars come from (``conf/feed``).

A feed yields the market panel as it grows: every yield is the history from the model's first bar
up to the newest closed bar, and the trader acts on the bars it has not processed yet. A bar is
never seen before it closed; indicators are recomputed on each grown panel (they are causal, so
a bar's values do not depend on later bars).
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from runner.data.panel import DataSpec, MarketPanel, panel_for
from runner.data.timeframes import parse_utc, timeframe_ms
from runner.errors import ConfigError

REPLAY_BATCH = 512  # bars per grown panel when replaying as fast as possible


@dataclass(frozen=True)
class FeedSpec:
    kind: str
    start_ms: int | None  # the first bar traded (None: the model's first bar)
    end_ms: int | None  # exclusive (None: the newest bar the data root has)
    speed: float  # replay: x real time (0: as fast as possible)


def feed_spec(raw: dict) -> FeedSpec:
    kind = raw.get("kind")
    if kind != "replay":
        raise ConfigError(f"feed.kind={kind!r}: valid: replay")
    start = parse_utc(raw["start"], "feed.start") if raw.get("start") is not None else None
    end = parse_utc(raw["end"], "feed.end", end=True) if raw.get("end") is not None else None
    speed = raw.get("speed", 0)
    if isinstance(speed, bool) or not isinstance(speed, int | float) or speed < 0:
        raise ConfigError(f"feed.speed={speed!r}: must be a number >= 0 (x real time; 0: as fast as possible)")
    if start is not None and end is not None and start >= end:
        raise ConfigError(f"feed.start={raw['start']} is not before feed.end={raw['end']}")
    return FeedSpec(kind, start, end, float(speed))


class ReplayFeed:
    """Archived bars from the data root, in order: the model's window from its first bar to
    ``feed.end`` (default: the newest bar stored), released ``REPLAY_BATCH`` bars at a time, or one
    bar every bar-length / ``speed`` seconds."""

    def __init__(self, data: DataSpec, spec: FeedSpec):
        end = spec.end_ms if spec.end_ms is not None else int(time.time() * 1000)
        self.full = panel_for(replace(data, end_ms=max(end, data.start_ms + timeframe_ms(data.timeframe))))
        self.spec = spec
        self.step_s = timeframe_ms(data.timeframe) / 1000.0

    @property
    def warnings(self) -> list[str]:
        return self.full.warnings

    def first_bar(self) -> int:
        """The panel row of ``feed.start`` (0 without it)."""
        if self.spec.start_ms is None:
            return 0
        row = int(np.searchsorted(self.full.times, self.spec.start_ms))
        if row >= self.full.n_bars:
            raise ConfigError(f"feed.start: after the newest bar of the data ({self.full.n_bars} bars)")
        return row

    def panels(self, after: int) -> Iterator[MarketPanel]:
        """Grown panels whose newest bar is after row ``after``."""
        n = self.full.n_bars
        batch = REPLAY_BATCH if self.spec.speed == 0 else 1
        for end in range(after + 1 + batch, n + batch, batch):
            if self.spec.speed > 0:
                time.sleep(self.step_s / self.spec.speed)
            yield self.full.head(min(end, n))
