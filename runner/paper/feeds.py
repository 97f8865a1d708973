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
    start_ms: int | None  # the first bar traded (None: replay: the model's first bar; live: the next to close)
    end_ms: int | None  # exclusive (None: replay: the newest bar stored; live: run until stopped)
    speed: float = 0.0  # replay: x real time (0: as fast as possible)
    data_root: str | None = None  # live: the runner.data store the bars are fetched into
    rest_url: str = "https://fapi.binance.com"
    archive_url: str = "https://data.binance.vision"
    ws_url: str = "wss://fstream.binance.com"
    poll_s: float = 15.0  # rest_poll: seconds between fetches
    reconnect_s: float = 1.0  # binance_ws: first reconnection delay (doubling)
    max_reconnect_s: float = 60.0


KINDS = ("replay", "rest_poll", "binance_ws")
KEYS = {
    "replay": {"kind", "start", "end", "speed"},
    "rest_poll": {"kind", "start", "end", "data_root", "rest_url", "archive_url", "poll_s"},
    "binance_ws": {
        "kind",
        "start",
        "end",
        "data_root",
        "rest_url",
        "archive_url",
        "ws_url",
        "reconnect_s",
        "max_reconnect_s",
    },
}


def _seconds(raw: dict, key: str, lo: float, hi: float, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ConfigError(f"feed.{key}={value!r}: must be a number of seconds from {lo:g} to {hi:g}")
    return float(value)


def feed_spec(raw: dict) -> FeedSpec:
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"feed.kind={kind!r}: valid: {', '.join(KINDS)} (feed=replay|rest_poll|binance_ws)")
    extra = sorted(set(raw) - KEYS[kind])
    if extra:
        raise ConfigError(f"feed.{extra[0]}: not a key of feed={kind}; valid: {', '.join(sorted(KEYS[kind]))}")
    start = parse_utc(raw["start"], "feed.start") if raw.get("start") is not None else None
    end = parse_utc(raw["end"], "feed.end", end=True) if raw.get("end") is not None else None
    if start is not None and end is not None and start >= end:
        raise ConfigError(f"feed.start={raw['start']} is not before feed.end={raw['end']}")
    speed = raw.get("speed", 0)
    if isinstance(speed, bool) or not isinstance(speed, int | float) or speed < 0:
        raise ConfigError(f"feed.speed={speed!r}: must be a number >= 0 (x real time; 0: as fast as possible)")
    ws = raw.get("ws_url", FeedSpec.ws_url)
    if not isinstance(ws, str) or not ws.startswith(("ws://", "wss://")):
        raise ConfigError(f"feed.ws_url={ws!r}: must be a ws:// or wss:// URL like wss://fstream.binance.com")
    return FeedSpec(
        kind,
        start,
        end,
        float(speed),
        data_root=raw.get("data_root"),
        rest_url=raw.get("rest_url", FeedSpec.rest_url),
        archive_url=raw.get("archive_url", FeedSpec.archive_url),
        ws_url=ws,
        poll_s=_seconds(raw, "poll_s", 0.01, 3600, FeedSpec.poll_s),
        reconnect_s=_seconds(raw, "reconnect_s", 0.01, 600, FeedSpec.reconnect_s),
        max_reconnect_s=_seconds(raw, "max_reconnect_s", 0.01, 3600, FeedSpec.max_reconnect_s),
    )


class ReplayFeed:
    """Archived bars from the data root, in order: the model's window from its first bar to
    ``feed.end`` (default: the newest bar stored), released ``REPLAY_BATCH`` bars at a time, or one
    bar every bar-length / ``speed`` seconds."""

    def __init__(self, data: DataSpec, spec: FeedSpec):
        end = spec.end_ms if spec.end_ms is not None else int(time.time() * 1000)
        self.full = panel_for(replace(data, end_ms=max(end, data.start_ms + timeframe_ms(data.timeframe))))
        self.spec = spec
        self.step_s = timeframe_ms(data.timeframe) / 1000.0
        self.notes: list[tuple[str, dict]] = []  # a replay has no reconnects or fetches to report

    @property
    def warnings(self) -> list[str]:
        return self.full.warnings

    def close(self) -> None:
        pass

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
