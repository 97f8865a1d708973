"""A loopback imitation of Binance's public USDT-M market data, served from the real shared files.

One HTTP server answers the bulk archive of https://data.binance.vision (monthly/daily zips and their
``.CHECKSUM``) and the REST endpoints of https://fapi.binance.com that a downloader uses, with a settable
clock (``now``), request-weight accounting and injectable faults (see ``Fault``).

CLI: ``python -m tests.runner.data.binance_server --symbols BTCUSDT,LTCUSDT --start 2023-01-01
--end 2025-01-01 --now 2025-01-15T00:00`` prints the URL as its first line and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import re
import signal
import socket
import struct
import sys
import threading
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import polars as pl

H_MS = 3_600_000
DAY_MS = 24 * H_MS
INTERVAL_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": H_MS,
    "2h": 2 * H_MS,
    "4h": 4 * H_MS,
    "6h": 6 * H_MS,
    "8h": 8 * H_MS,
    "12h": 12 * H_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
}
VALID_INTERVALS = frozenset(INTERVAL_MS) | {"1M"}
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"
FAULT_KINDS = ("status", "missing", "truncate", "reset", "bad_checksum", "corrupt", "delay")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
DELIVERY_DATE = 4_133_404_800_000
CHUNK = 1 << 16

# symbol -> (tick, step, min_qty, max_qty, min_notional); an alias takes its source's tick and OTHER_LOT's lots.
LOTS = {
    "BTCUSDT": ("0.10", "0.001", "0.001", "1000", "100"),
    "ETHUSDT": ("0.01", "0.001", "0.001", "10000", "20"),
    "XRPUSDT": ("0.0001", "0.1", "0.1", "10000000", "5"),
    "LTCUSDT": ("0.01", "0.001", "0.001", "100000", "20"),
    "SOLUSDT": ("0.0100", "1", "1", "1000000", "5"),
}
OTHER_LOT = ("0.0001", "1", "1", "10000000", "5")


# --------------------------------------------------------------------------------------------- time helpers


def to_ms(value: str | int) -> int:
    """Epoch ms from ms or an ISO date/time ("YYYY-MM-DD", "YYYY-MM-DDTHH:MM", ...), naive = UTC."""
    if isinstance(value, int):
        return value
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _period(label: str, daily: bool) -> tuple[int, int] | None:
    """[start, end) ms of a "YYYY-MM" month or "YYYY-MM-DD" day; None when the label is malformed."""
    try:
        if daily:
            start = datetime.strptime(label, "%Y-%m-%d").replace(tzinfo=UTC)
            return int(start.timestamp() * 1000), int(start.timestamp() * 1000) + DAY_MS
        start = datetime.strptime(label, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        return None
    nxt = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return int(start.timestamp() * 1000), int(nxt.timestamp() * 1000)


def jitter(symbol: str, t: int) -> int:
    """Deterministic 0..9 ms added to a settlement time (Binance's raw funding times carry such jitter)."""
    return zlib.crc32(f"{symbol}:{t}".encode()) % 10


# --------------------------------------------------------------------------------------------- market data


@dataclass
class Market:
    """The data a server serves; frames are sorted by time (Int64 epoch ms)."""

    klines: dict[tuple[str, str], pl.DataFrame]  # (symbol, interval) -> time, open, high, low, close, volume
    mark: dict[tuple[str, str], pl.DataFrame]  # (symbol, interval) -> time, open, high, low, close
    funding: dict[str, pl.DataFrame]  # symbol -> time (on the hour), rate, interval_hours
    instruments: dict[
        str, dict
    ]  # symbol -> onboard, tick, step, min_qty, max_qty, min_notional, funding_interval_hours


def _read(path: Path, time_col: str, cols: dict[str, str]) -> pl.DataFrame:
    """One shared .csv.gz as time + renamed float columns."""
    schema = {time_col: pl.Int64, **dict.fromkeys(cols, pl.Float64)}
    frame = pl.read_csv(path, schema_overrides=schema)
    return frame.select(pl.col(time_col).alias("time"), *[pl.col(c).alias(n) for c, n in cols.items()])


def _kline_file(futures: Path, symbol: str, interval: str) -> Path:
    if interval not in ("1h", "1m") or (interval == "1m" and symbol != "BTCUSDT"):
        raise ValueError(f"no shared {interval} klines for {symbol}: 1h exists for every symbol, 1m only for BTCUSDT")
    return futures / f"klines_{interval}" / f"{symbol}-{interval}.csv.gz"


def _with_intervals(funding: pl.DataFrame, first: int = 8) -> pl.DataFrame:
    """Add interval_hours: the spacing to the previous event in hours (``first`` for the first event)."""
    hours = (pl.col("time").diff() // H_MS).fill_null(first).cast(pl.Int64)
    return funding.select("time", "rate", hours.alias("interval_hours"))


def _instrument(symbol: str, source: str, onboard: int, funding_hours: int) -> dict:
    lot = LOTS.get(symbol) or (LOTS.get(source, OTHER_LOT)[0], *OTHER_LOT[1:])
    tick, step, min_qty, max_qty, notional = lot
    return {
        "onboard": onboard,
        "tick": tick,
        "step": step,
        "min_qty": min_qty,
        "max_qty": max_qty,
        "min_notional": notional,
        "funding_interval_hours": funding_hours,
    }


def market_from_shared(
    root: Path,
    symbols: list[str],
    start: str,
    end: str,
    intervals: tuple[str, ...] = ("1h",),
    mark: bool = True,
    funding: bool = True,
    alias: dict[str, str] | None = None,
) -> Market:
    """Real rows with start <= time < end (UTC dates, end exclusive) for ``symbols`` plus ``alias`` keys.

    ``alias={"DOGEUSDT": "BTCUSDT"}`` serves BTCUSDT's rows under the name DOGEUSDT. Mark prices exist only
    at 1h and are loaded as (symbol, "1h") when ``mark``. Raises ValueError for intervals the shared data lacks.
    """
    alias = alias or {}
    futures = Path(root) / "binance" / "futures_um"
    window = (pl.col("time") >= to_ms(start)) & (pl.col("time") < to_ms(end))
    prices = {c: c for c in ("open", "high", "low", "close")}
    market = Market({}, {}, {}, {})
    for symbol in dict.fromkeys([*symbols, *alias]):
        source = alias.get(symbol, symbol)
        full = {
            iv: _read(_kline_file(futures, source, iv), "open_time_ms", {**prices, "volume": "volume"})
            for iv in dict.fromkeys([*intervals, "1h"])
        }
        for interval in intervals:
            market.klines[symbol, interval] = full[interval].filter(window)
        if mark:
            frame = _read(futures / "mark_price_1h" / f"{source}-mark-1h.csv.gz", "open_time_ms", prices)
            market.mark[symbol, "1h"] = frame.filter(window)
        hours = 8
        if funding:
            path = futures / "funding" / f"{source}-funding.csv.gz"
            table = _with_intervals(_read(path, "funding_time_ms", {"funding_rate": "rate"}))
            market.funding[symbol] = table.filter(window)
            hours = int(table["interval_hours"][-1]) if table.height else 8
        market.instruments[symbol] = _instrument(symbol, source, int(full["1h"]["time"][0]), hours)
    return market


def with_funding_schedule(
    market: Market, symbol: str, schedule: list[tuple[str, int, float]], end: str | int | None = None
) -> Market:
    """A copy of ``market`` whose ``symbol`` funding follows ``schedule``: (start_iso, interval_hours, rate) segments.

    Each segment settles on the epoch-aligned grid of its interval (8h -> 00/08/16 UTC) from its start up to the
    next segment's start; the last runs to ``end`` (default: the end of the symbol's klines). interval_hours is the
    spacing to the previous settlement (the first event's own interval), as in ``market_from_shared``.
    """
    stop = to_ms(end) if end is not None else _data_end(market, symbol)
    bounds = [to_ms(s) for s, _, _ in schedule] + [stop]
    times: list[int] = []
    rates: list[float] = []
    for (_, hours, rate), lo, hi in zip(schedule, bounds, bounds[1:], strict=False):
        step = hours * H_MS
        grid = list(range(-(-lo // step) * step, hi, step))
        times += grid
        rates += [float(rate)] * len(grid)
    frame = pl.DataFrame({"time": times, "rate": rates}, schema={"time": pl.Int64, "rate": pl.Float64})
    frame = _with_intervals(frame, first=schedule[0][1])
    instruments = {
        **market.instruments,
        symbol: {**market.instruments[symbol], "funding_interval_hours": schedule[-1][1]},
    }
    return replace(market, funding={**market.funding, symbol: frame}, instruments=instruments)


def _data_end(market: Market, symbol: str) -> int:
    """The end (exclusive) of the symbol's kline data."""
    ends = [int(f["time"][-1]) + INTERVAL_MS[iv] for (s, iv), f in market.klines.items() if s == symbol and f.height]
    if not ends:
        raise ValueError(f"no klines for {symbol}: pass end= to with_funding_schedule")
    return max(ends)


# --------------------------------------------------------------------------------------------- indexed series


@dataclass
class _Series:
    """Sorted times plus columns as numpy arrays, for fast windows."""

    times: np.ndarray
    cols: dict[str, np.ndarray]
    step: int = 0

    @classmethod
    def of(cls, frame: pl.DataFrame, step: int = 0) -> _Series:
        cols = {c: frame[c].to_numpy() for c in frame.columns if c != "time"}
        return cls(frame["time"].to_numpy().astype(np.int64), cols, step)

    def span(self, lo: int, hi: int) -> tuple[int, int]:
        """Indices of rows with lo <= time < hi."""
        return int(np.searchsorted(self.times, lo)), int(np.searchsorted(self.times, hi))

    def window(self, start: int | None, end: int | None, now: int, limit: int) -> tuple[int, int]:
        """Binance paging: start <= time <= min(end, now); the first ``limit`` after start, else the last ``limit``."""
        top = now if end is None else min(end, now)
        hi = int(np.searchsorted(self.times, top, side="right"))
        lo = 0 if start is None else int(np.searchsorted(self.times, start))
        if start is not None:
            return lo, max(lo, min(hi, lo + limit))
        return max(lo, hi - limit), hi

    def get(self, name: str, lo: int, hi: int) -> list[Any]:
        return (self.times if name == "time" else self.cols[name])[lo:hi].tolist()


def _funding_series(symbol: str, frame: pl.DataFrame) -> _Series:
    """Funding with jittered times ("time") and the hour ("hour")."""
    hours = frame["time"].to_numpy().astype(np.int64)
    jittered = np.array([t + jitter(symbol, int(t)) for t in hours], dtype=np.int64)
    cols = {"hour": hours, "rate": frame["rate"].to_numpy(), "interval_hours": frame["interval_hours"].to_numpy()}
    return _Series(jittered, cols)


# --------------------------------------------------------------------------------------------- faults and log


@dataclass
class Fault:
    """An injected failure for requests whose path matches ``pattern`` (re.search); ``times=None`` = always.

    Kinds: status (respond ``status``, Retry-After ``retry_after``), missing (404), truncate (half the body with a
    matching Content-Length), reset (half the body, then a TCP reset), bad_checksum (a wrong sha256 in the CHECKSUM
    of a matching zip path), corrupt (3rd CSV row's high = low / 2 in a matching zip; a fundingRate zip's 3rd
    calc_time repeats the 2nd), delay (sleep ``delay_s`` first). ``hits`` counts the requests it has acted on.
    bad_checksum and corrupt match the zip's path: bad_checksum is used up by CHECKSUM requests, corrupt by zip
    requests, and a CHECKSUM is computed over the zip the next zip request would get (corrupt while the fault is
    active). status/missing answer before the weight check, so those replies carry no weight header.
    """

    kind: str
    pattern: str
    times: int | None = None
    status: int | None = None
    retry_after: int | None = None
    delay_s: float = 0.0
    hits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.kind == "status" and self.status is None:
            raise ValueError("a status fault needs status=")

    @property
    def active(self) -> bool:
        return self.times is None or self.hits < self.times


@dataclass
class Logged:
    """One request as served: bytes_sent counts the body bytes actually written."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    bytes_sent: int = 0


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


class _ApiError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def _json(data: Any, status: int = 200) -> _Reply:
    return _Reply(status, json.dumps(data, separators=(",", ":")).encode())


def _no_such_key(path: str) -> _Reply:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Key>{path.lstrip("/")}</Key></Error>'
    return _Reply(404, body.encode(), "application/xml")


def _status_reply(fault: Fault) -> _Reply:
    status = int(fault.status or 0)
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    if status in (418, 429):
        msg = "Way too many requests; IP banned." if status == 418 else "Too many requests"
        return replace(_json({"code": -1003, "msg": msg}, status), headers=headers)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return _Reply(status, f"{status} {phrase}\n".encode(), "text/plain", headers)


# --------------------------------------------------------------------------------------------- REST helpers


def _int_param(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"-?\d{1,20}", raw):
        raise _ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")
    return int(raw)


def _limit(query: dict[str, str], default: int, maximum: int) -> int:
    limit = _int_param(query, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= maximum:
        raise _ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
    return limit


def _range(query: dict[str, str]) -> tuple[int | None, int | None]:
    start, end = _int_param(query, "startTime"), _int_param(query, "endTime")
    if start is not None and end is not None and start > end:
        raise _ApiError(-1023, "Start time is greater than end time.")
    return start, end


def _kline_weight(query: dict[str, str]) -> int:
    try:
        limit = int(query.get("limit") or 500)
    except ValueError:
        return 1
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def _symbol_info(symbol: str, inst: dict) -> dict:
    """One exchangeInfo symbol, shaped like Binance's."""
    tick, step = inst["tick"], inst["step"]
    lots = {"stepSize": step, "minQty": inst["min_qty"], "maxQty": inst["max_qty"]}
    return {
        "symbol": symbol,
        "pair": symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": DELIVERY_DATE,
        "onboardDate": inst["onboard"],
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": symbol.removesuffix("USDT"),
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
        "pricePrecision": _decimals(tick),
        "quantityPrecision": _decimals(step),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000", "tickSize": tick},
            {"filterType": "LOT_SIZE", **lots},
            {"filterType": "MARKET_LOT_SIZE", **lots},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": inst["min_notional"]},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


# --------------------------------------------------------------------------------------------- archive helpers

_KLINE_PATH = re.compile(
    r"^/data/futures/um/(monthly|daily)/(klines|markPriceKlines)/([A-Z0-9]+)/(\w+)/([A-Z0-9]+)-(\w+)-"
    r"(\d{4}-\d{2}(?:-\d{2})?)\.zip$"
)
_FUNDING_PATH = re.compile(
    r"^/data/futures/um/monthly/fundingRate/([A-Z0-9]+)/([A-Z0-9]+)-fundingRate-(\d{4}-\d{2})\.zip$"
)


@dataclass(frozen=True)
class _ArchiveFile:
    name: str  # the zip's file name
    kind: str  # klines, markPriceKlines or fundingRate
    symbol: str
    interval: str
    start: int
    end: int


def _parse_archive(path: str) -> _ArchiveFile | None:
    """The archive file a zip path names, or None when the path is not a well-formed archive path."""
    name = path.rsplit("/", 1)[-1]
    if m := _KLINE_PATH.match(path):
        scope, kind, sym, interval, sym2, interval2, label = m.groups()
        span = _period(label, daily=scope == "daily")
        if sym != sym2 or interval != interval2 or span is None or (len(label) == 10) != (scope == "daily"):
            return None
        return _ArchiveFile(name, kind, sym, interval, *span)
    if (m := _FUNDING_PATH.match(path)) and m[1] == m[2] and (span := _period(m[3], daily=False)):
        return _ArchiveFile(name, "fundingRate", m[1], "", *span)
    return None


def _zip_bytes(member: str, text: str) -> bytes:
    """A deterministic single-member deflated zip."""
    info = zipfile.ZipInfo(member, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, text)
    return buf.getvalue()


def _kline_lines(series: _Series, lo: int, hi: int, mark: bool, corrupt: bool) -> list[str]:
    t, o, h, low, c = (series.get(n, lo, hi) for n in ("time", "open", "high", "low", "close"))
    if corrupt and t:
        bad = min(2, len(t) - 1)
        h[bad] = low[bad] / 2
    step = series.step
    if mark:
        return [f"{t[i]},{o[i]!r},{h[i]!r},{low[i]!r},{c[i]!r},0,{t[i] + step - 1},0,0,0,0,0" for i in range(len(t))]
    v = series.get("volume", lo, hi)
    return [
        f"{t[i]},{o[i]!r},{h[i]!r},{low[i]!r},{c[i]!r},{v[i]!r},{t[i] + step - 1},{v[i] * c[i]!r},0,0,0,0"
        for i in range(len(t))
    ]


def _funding_lines(series: _Series, lo: int, hi: int, corrupt: bool) -> list[str]:
    t, hours, rate = series.get("time", lo, hi), series.get("interval_hours", lo, hi), series.get("rate", lo, hi)
    if corrupt and len(t) > 1:
        bad = min(2, len(t) - 1)
        t[bad] = t[bad - 1]
    return [f"{t[i]},{hours[i]},{rate[i]!r}" for i in range(len(t))]


# --------------------------------------------------------------------------------------------- the server


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: BinanceServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # clients that hang up are normal here
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_GET(self) -> None:
        self.server.app._handle(self, head=False)

    def do_HEAD(self) -> None:
        self.server.app._handle(self, head=True)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class BinanceServer:
    """Binance's archive + fapi REST on 127.0.0.1 (port chosen by the OS), clock ``now``, faults via add_fault.

    The market is indexed when the server is created; later changes to it are not seen.
    """

    def __init__(
        self,
        market: Market,
        now: str | int,
        header_from: str = "2022-01-01",
        weight_limit: int = 2400,
        weight_window_s: float = 60.0,
    ) -> None:
        self.market = market
        self.header_from = to_ms(header_from)
        self.weight_limit, self.weight_window_s = weight_limit, weight_window_s
        self.requests: list[Logged] = []
        self._now = to_ms(now)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._window, self._used = -1, 0
        self._zips: dict[tuple[str, bool], bytes | None] = {}
        self._klines = {k: _Series.of(f, INTERVAL_MS[k[1]]) for k, f in market.klines.items()}
        self._mark = {k: _Series.of(f, INTERVAL_MS[k[1]]) for k, f in market.mark.items()}
        self._funding = {s: _funding_series(s, f) for s, f in market.funding.items()}
        self._routes: dict[str, tuple[Callable[[dict[str, str]], int], Callable[[dict[str, str]], Any]]] = {
            "/fapi/v1/time": (lambda q: 1, lambda q: {"serverTime": self.now}),
            "/fapi/v1/exchangeInfo": (lambda q: 1, self._exchange_info),
            "/fapi/v1/fundingInfo": (lambda q: 1, self._funding_info),
            "/fapi/v1/klines": (_kline_weight, lambda q: self._kline_rows(q, mark=False)),
            "/fapi/v1/markPriceKlines": (_kline_weight, lambda q: self._kline_rows(q, mark=True)),
            "/fapi/v1/fundingRate": (lambda q: 1, self._funding_rows),
        }
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.app = self
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread: threading.Thread | None = None

    # ---- lifecycle and control

    def start(self) -> BinanceServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> BinanceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def now(self) -> int:
        return self._now

    def set_now(self, now: str | int) -> None:
        self._now = to_ms(now)

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def count(self, pattern: str) -> int:
        """Requests (any status) whose path matches the regex."""
        with self._lock:
            return sum(1 for r in self.requests if re.search(pattern, r.path))

    def _take(self, kind: str, path: str, consume: bool = True) -> Fault | None:
        """The first active fault of ``kind`` matching ``path``, counted as used when ``consume``."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and fault.active and re.search(fault.pattern, path):
                    fault.hits += int(consume)
                    return fault
        return None

    # ---- request handling

    def _handle(self, handler: _Handler, head: bool) -> None:
        url = urlsplit(handler.path)
        path, query = url.path, dict(parse_qsl(url.query, keep_blank_values=True))
        if delay := self._take("delay", path):
            time.sleep(delay.delay_s)
        try:
            reply = self._faulted(path) or self._route(path, query)
        except Exception as exc:  # a bug here must not hang the client
            reply = _Reply(500, f"internal error: {exc!r}\n".encode(), "text/plain")
        mode = None
        if reply.status == 200:
            mode = next((k for k in ("truncate", "reset") if self._take(k, path)), None)
        entry = Logged(handler.command, path, query, reply.status)
        with self._lock:
            self.requests.append(entry)
        try:
            self._send(handler, reply, entry, head, mode)
        except OSError:
            handler.close_connection = True

    def _faulted(self, path: str) -> _Reply | None:
        if fault := self._take("status", path):
            return _status_reply(fault)
        if self._take("missing", path):
            return _no_such_key(path)
        return None

    def _route(self, path: str, query: dict[str, str]) -> _Reply:
        if path.startswith("/fapi/"):
            return self._rest(path, query)
        if path.startswith("/data/"):
            return self._archive(path)
        return _Reply(404, b"Not Found\n", "text/plain")

    def _send(self, handler: _Handler, reply: _Reply, entry: Logged, head: bool, mode: str | None) -> None:
        body = reply.body
        out = body[: len(body) // 2] if mode else body
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(out) if mode == "truncate" else len(body)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if head:
            return
        for i in range(0, len(out), CHUNK):
            chunk = out[i : i + CHUNK]
            handler.wfile.write(chunk)
            entry.bytes_sent += len(chunk)
        if mode == "reset":
            _abort(handler)

    # ---- REST

    def _charge(self, weight: int) -> tuple[bool, int, int]:
        """(allowed, weight used in the window, seconds to the window's end) for a request of ``weight``;
        windows are aligned to the wall clock (Binance counts per UTC minute)."""
        clock = time.time()
        window = math.floor(clock / self.weight_window_s)
        with self._lock:
            if window != self._window:
                self._window, self._used = window, 0
            if self._used + weight > self.weight_limit:
                return False, self._used, max(1, math.ceil((window + 1) * self.weight_window_s - clock))
            self._used += weight
            return True, self._used, 0

    def _rest(self, path: str, query: dict[str, str]) -> _Reply:
        weigh, answer = self._routes.get(path, (lambda q: 1, None))
        allowed, used, retry = self._charge(weigh(query))
        if not allowed:
            reply = _json({"code": -1003, "msg": "Too many requests"}, 429)
            reply.headers["Retry-After"] = str(retry)
        elif answer is None:
            reply = _Reply(404, b"Not Found\n", "text/plain")
        else:
            try:
                reply = _json(answer(query))
            except _ApiError as err:
                reply = _json({"code": err.code, "msg": err.msg}, err.status)
        reply.headers["X-MBX-USED-WEIGHT-1M"] = str(used)
        return reply

    def _symbol(self, query: dict[str, str]) -> str:
        symbol = query.get("symbol", "")
        if not symbol:
            raise _ApiError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        if symbol not in self.market.instruments:
            raise _ApiError(-1121, "Invalid symbol.")
        return symbol

    def _exchange_info(self, query: dict[str, str]) -> dict:
        limits = [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": self.weight_limit},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        ]
        symbols = [_symbol_info(s, inst) for s, inst in self.market.instruments.items()]
        return {
            "timezone": "UTC",
            "serverTime": self.now,
            "rateLimits": limits,
            "exchangeFilters": [],
            "assets": [],
            "symbols": symbols,
        }

    def _funding_hours(self, symbol: str) -> int:
        """The interval of the funding period running at ``now`` (the next settlement's spacing)."""
        series = self._funding.get(symbol)
        if series is None or not len(series.times):
            return int(self.market.instruments[symbol]["funding_interval_hours"])
        i = min(int(np.searchsorted(series.times, self.now, side="right")), len(series.times) - 1)
        return int(series.cols["interval_hours"][i])

    def _funding_info(self, query: dict[str, str]) -> list[dict]:
        return [
            {
                "symbol": s,
                "adjustedFundingRateCap": "0.02000000",
                "adjustedFundingRateFloor": "-0.02000000",
                "fundingIntervalHours": self._funding_hours(s),
                "disclaimer": False,
            }
            for s in self.market.instruments
        ]

    def _kline_rows(self, query: dict[str, str], mark: bool) -> list[list]:
        symbol = self._symbol(query)
        interval = query.get("interval", "")
        if interval not in VALID_INTERVALS:
            raise _ApiError(-1120, "Invalid interval.")
        limit = _limit(query, 500, 1500)
        start, end = _range(query)
        series = (self._mark if mark else self._klines).get((symbol, interval))
        if series is None:
            return []
        lo, hi = series.window(start, end, self.now, limit)
        t, o, h, low, c = (series.get(n, lo, hi) for n in ("time", "open", "high", "low", "close"))
        close = [x + series.step - 1 for x in t]
        if mark:
            return [
                [t[i], repr(o[i]), repr(h[i]), repr(low[i]), repr(c[i]), "0", close[i], "0", 0, "0", "0", "0"]
                for i in range(len(t))
            ]
        v = series.get("volume", lo, hi)
        return [
            [
                t[i],
                repr(o[i]),
                repr(h[i]),
                repr(low[i]),
                repr(c[i]),
                repr(v[i]),
                close[i],
                repr(v[i] * c[i]),
                0,
                "0",
                "0",
                "0",
            ]
            for i in range(len(t))
        ]

    def _funding_rows(self, query: dict[str, str]) -> list[dict]:
        symbol = self._symbol(query)
        limit = _limit(query, 100, 1000)
        start, end = _range(query)
        series = self._funding.get(symbol)
        if series is None:
            return []
        lo, hi = series.window(start, end, self.now, limit)
        marks = self._mark.get((symbol, "1h"))
        rows = []
        for t, hour, rate in zip(
            series.get("time", lo, hi), series.get("hour", lo, hi), series.get("rate", lo, hi), strict=True
        ):
            rows.append(
                {"symbol": symbol, "fundingTime": t, "fundingRate": f"{rate:.8f}", "markPrice": _mark_at(marks, hour)}
            )
        return rows

    # ---- archive

    def _archive(self, path: str) -> _Reply:
        checksum = path.endswith(".CHECKSUM")
        zip_path = path.removesuffix(".CHECKSUM")
        file = _parse_archive(zip_path)
        if file is None or file.end > self.now or not self._has_rows(file):
            return _no_such_key(path)
        # corrupt: counted on zip requests; a CHECKSUM follows the zip the fault would serve next.
        corrupt = self._take("corrupt", zip_path, consume=not checksum) is not None
        data = self._zip(file, zip_path, corrupt)
        if not checksum:
            return _Reply(200, data, "application/zip")
        digest = hashlib.sha256(b"x" if self._take("bad_checksum", zip_path) else data).hexdigest()
        return _Reply(200, f"{digest}  {file.name}\n".encode(), "text/plain")

    def _source(self, file: _ArchiveFile) -> _Series | None:
        if file.kind == "fundingRate":
            return self._funding.get(file.symbol)
        return (self._mark if file.kind == "markPriceKlines" else self._klines).get((file.symbol, file.interval))

    def _has_rows(self, file: _ArchiveFile) -> bool:
        series = self._source(file)
        if series is None:
            return False
        times = series.cols["hour"] if file.kind == "fundingRate" else series.times
        return bool(np.any((times >= file.start) & (times < file.end)))

    def _zip(self, file: _ArchiveFile, zip_path: str, corrupt: bool) -> bytes:
        """The zip's bytes (cached: a file's content does not depend on the clock once it exists)."""
        key = (zip_path, corrupt)
        with self._lock:
            cached = self._zips.get(key)
        if cached is not None:
            return cached
        series = self._source(file)
        assert series is not None
        header = (
            [FUNDING_HEADER if file.kind == "fundingRate" else KLINE_HEADER] if file.start >= self.header_from else []
        )
        if file.kind == "fundingRate":
            hours = series.cols["hour"]
            lo, hi = int(np.searchsorted(hours, file.start)), int(np.searchsorted(hours, file.end))
            lines = _funding_lines(series, lo, hi, corrupt)
        else:
            lo, hi = series.span(file.start, file.end)
            lines = _kline_lines(series, lo, hi, file.kind == "markPriceKlines", corrupt)
        data = _zip_bytes(file.name.removesuffix(".zip") + ".csv", "\n".join(header + lines) + "\n")
        with self._lock:
            self._zips[key] = data
        return data


def _mark_at(marks: _Series | None, hour: int) -> str:
    """The mark price bar opening at ``hour`` (8 decimals), or "" when there is none."""
    if marks is None:
        return ""
    i = int(np.searchsorted(marks.times, hour))
    return f"{marks.cols['open'][i]:.8f}" if i < len(marks.times) and marks.times[i] == hour else ""


def _abort(handler: _Handler) -> None:
    """Reset the TCP connection (RST) right after what was written."""
    sock = handler.connection
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.rfile.close()  # drop makefile's reference so close() really closes the socket
    sock.close()
    handler.close_connection = True


# --------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Serve the shared data until SIGTERM/SIGINT; the URL is the first stdout line."""
    from tests.conftest import DATA_ROOT

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", required=True, help="comma-separated, e.g. BTCUSDT,LTCUSDT")
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--now", required=True, help="YYYY-MM-DDTHH:MM (UTC) or epoch ms")
    parser.add_argument("--intervals", default="1h")
    parser.add_argument("--alias", action="append", default=[], help="NAME=SOURCE[,NAME=SOURCE], repeatable")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every response")
    parser.add_argument("--header-from", default="2022-01-01")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    args = parser.parse_args(argv)
    alias = dict(pair.split("=", 1) for arg in args.alias for pair in arg.split(","))
    try:
        market = market_from_shared(
            args.data_root, args.symbols.split(","), args.start, args.end, tuple(args.intervals.split(",")), alias=alias
        )
    except ValueError as err:
        parser.error(str(err))
    now = int(args.now) if args.now.isdigit() else args.now
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with BinanceServer(market, now, header_from=args.header_from) as server:
        if args.delay:
            server.add_fault(Fault("delay", ".", delay_s=args.delay))
        print(server.url, flush=True)
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
