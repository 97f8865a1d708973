"""Binance USDT-M market data as the exchange publishes it: dataset names, archive file paths, REST
endpoints and the parsing of each payload (archive zip or REST JSON) into checked rows."""

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from runner.data.readers import INTERVAL_COLUMN, PRICE_COLUMNS, check_funding, check_order, check_prices, parse_numbers
from runner.data.timeframes import timeframe_ms
from runner.errors import DataError

KLINES, MARK, FUNDING = "klines", "markPriceKlines", "fundingRate"
KINDS = (KLINES, MARK, FUNDING)
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
REST_PATHS = {KLINES: "/fapi/v1/klines", MARK: "/fapi/v1/markPriceKlines", FUNDING: "/fapi/v1/fundingRate"}
REST_LIMITS = {KLINES: 1500, MARK: 1500, FUNDING: 1000}
HOUR_MS = 3_600_000
KLINE_FIELDS = ("open_time", "open", "high", "low", "close", "volume")
FUNDING_FIELDS = ("calc_time", "funding_interval_hours", "last_funding_rate")


def kline_weight(limit: int) -> int:
    """Request weight of /fapi/v1/klines and markPriceKlines for a page size."""
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


@dataclass(frozen=True, order=True)
class Dataset:
    """One downloadable series: a kind (klines, markPriceKlines, fundingRate), a symbol and, for
    klines, an interval."""

    kind: str
    symbol: str
    interval: str = ""

    @property
    def step_ms(self) -> int:
        """Bar length; funding has no fixed grid (0)."""
        return timeframe_ms(self.interval) if self.interval else 0

    @property
    def label(self) -> str:
        name = {KLINES: "klines", MARK: "mark", FUNDING: "funding"}[self.kind]
        return f"{self.symbol} {name}" + (f" {self.interval}" if self.interval else "")

    def archive_path(self, period: str) -> str:
        """Path under the archive's base URL of the monthly (``YYYY-MM``) or daily file."""
        scope = "daily" if len(period) == 10 else "monthly"
        if self.kind == FUNDING:
            return f"data/futures/um/{scope}/{FUNDING}/{self.symbol}/{self.symbol}-{FUNDING}-{period}.zip"
        name = f"{self.symbol}-{self.interval}-{period}.zip"
        return f"data/futures/um/{scope}/{self.kind}/{self.symbol}/{self.interval}/{name}"

    def rest_params(self, start_ms: int, end_ms: int, limit: int) -> dict:
        """Query of one REST page covering open times (settlement times) in ``[start_ms, end_ms)``."""
        params = {"symbol": self.symbol, "startTime": start_ms, "endTime": end_ms - 1, "limit": limit}
        if self.kind != FUNDING:
            params["interval"] = self.interval
        return params


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_checksum(body: bytes, name: str) -> str:
    """The sha256 of a ``.CHECKSUM`` file (``<hex>  <file name>``)."""
    parts = body.decode("ascii", "replace").split()
    if len(parts) < 1 or len(parts[0]) != 64 or any(c not in "0123456789abcdefABCDEF" for c in parts[0]):
        raise DataError(f"{name}.CHECKSUM: not a sha256 checksum file")
    return parts[0].lower()


def _zip_csv(body: bytes, name: str) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            members = [m for m in zf.namelist() if m.endswith(".csv")]
            if len(members) != 1:
                raise DataError(f"{name}: expected one CSV in the zip, found {len(members)}")
            return zf.read(members[0])
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DataError(f"{name}: not a readable zip ({exc})") from None


def _csv_rows(text: bytes, name: str, fields: tuple[str, ...]) -> tuple[pl.DataFrame, int]:
    """The first ``len(fields)`` columns of an archive CSV (with or without its header row) as text,
    and the line number of the first data row."""
    first = text.lstrip()[:1]
    header = bool(first) and not (first.isdigit() or first == b"-")
    if not text.strip():
        return pl.DataFrame({f: [] for f in fields}, schema=dict.fromkeys(fields, pl.String)), 1
    try:
        frame = pl.read_csv(io.BytesIO(text), has_header=False, skip_rows=int(header), infer_schema=False)
    except Exception as exc:
        raise DataError(f"{name}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    if frame.width < len(fields):
        raise DataError(f"{name}: expected at least {len(fields)} columns ({','.join(fields)}), found {frame.width}")
    frame = frame.select(frame.columns[: len(fields)])
    return frame.rename(dict(zip(frame.columns, fields, strict=True))), 1 + int(header)


def _klines(frame: pl.DataFrame, ds: Dataset, name: str, first_line: int, volume: bool) -> pl.DataFrame:
    numbers = {"open_time": pl.Int64, **{c: pl.Float64 for c in PRICE_COLUMNS}}
    if volume:
        numbers["volume"] = pl.Float64
    frame = parse_numbers(name, frame.select(list(numbers)), numbers, first_line)
    check_prices(name, frame, first_line)
    check_order(name, frame, "open_time", ds.step_ms, first_line)
    cols = (*PRICE_COLUMNS, "volume") if volume else PRICE_COLUMNS
    return frame.select(pl.col("open_time").alias("time"), *cols)


def _funding(frame: pl.DataFrame, name: str, first_line: int) -> pl.DataFrame:
    """Settlement times rounded to the hour (the exchange's raw times carry a few ms of jitter)."""
    frame = parse_numbers(
        name, frame, {"calc_time": pl.Int64, "funding_rate": pl.Float64, INTERVAL_COLUMN: pl.Int64}, first_line
    )
    check_funding(name, frame, first_line)
    frame = frame.with_columns(((pl.col("calc_time") + HOUR_MS // 2) // HOUR_MS * HOUR_MS).alias("time"))
    check_order(name, frame, "time", None, first_line, shown="calc_time")
    return frame.select("time", pl.col("funding_rate").alias("rate"), pl.col(INTERVAL_COLUMN).alias("interval_hours"))


def parse_archive(ds: Dataset, body: bytes, name: str) -> pl.DataFrame:
    """Rows of an archive zip, checked like every data file (one line naming the file and line)."""
    text = _zip_csv(body, name)
    if ds.kind == FUNDING:
        frame, first = _csv_rows(text, name, FUNDING_FIELDS)
        frame = frame.rename({"last_funding_rate": "funding_rate"})
        return _funding(frame, name, first)
    frame, first = _csv_rows(text, name, KLINE_FIELDS)
    return _klines(frame, ds, name, first, volume=ds.kind == KLINES)


def parse_rest(ds: Dataset, body: bytes, name: str) -> pl.DataFrame:
    """Rows of one REST page (JSON as the endpoint returns it), checked like archive rows."""
    try:
        data = json.loads(body)
    except ValueError:
        raise DataError(f"{name}: response is not JSON") from None
    if not isinstance(data, list):
        raise DataError(f"{name}: expected a JSON list, got {type(data).__name__}")
    if ds.kind == FUNDING:
        rows = {"calc_time": [], "funding_rate": [], INTERVAL_COLUMN: []}
        for k, item in enumerate(data):
            if not isinstance(item, dict) or "fundingTime" not in item or "fundingRate" not in item:
                raise DataError(f"{name}: item {k}: expected fundingTime and fundingRate")
            rows["calc_time"].append(str(item["fundingTime"]))
            rows["funding_rate"].append(str(item["fundingRate"]))
            rows[INTERVAL_COLUMN].append(None)  # the endpoint does not say; derived files leave it empty
        return _funding(pl.DataFrame(rows, schema=dict.fromkeys(rows, pl.String)), name, 1)
    rows = {f: [] for f in KLINE_FIELDS}
    for k, item in enumerate(data):
        if not isinstance(item, list) or len(item) < 6:
            raise DataError(f"{name}: item {k}: expected a kline array of at least 6 fields")
        for f, v in zip(KLINE_FIELDS, item, strict=False):
            rows[f].append(str(v))
    frame = pl.DataFrame(rows, schema=dict.fromkeys(KLINE_FIELDS, pl.String))
    return _klines(frame, ds, name, 1, volume=ds.kind == KLINES)


@dataclass(frozen=True)
class SymbolRules:
    """What exchangeInfo (and fundingInfo) say of one symbol."""

    symbol: str
    status: str
    onboard_ms: int
    qty_step: float
    min_qty: float
    min_notional: float
    tick_size: float
    funding_interval_hours: int | None = None
    funding_cap: float | None = None
    funding_floor: float | None = None


def _filter(filters: list, kind: str) -> dict:
    for f in filters:
        if isinstance(f, dict) and f.get("filterType") == kind:
            return f
    return {}


def parse_exchange_info(body: bytes, funding_info: bytes | None = None) -> dict[str, SymbolRules]:
    """Perpetual contracts of exchangeInfo with their lot filters, listing date and funding terms."""
    try:
        info = json.loads(body)
        extra = {r["symbol"]: r for r in json.loads(funding_info)} if funding_info else {}
        out: dict[str, SymbolRules] = {}
        for s in info["symbols"]:
            if s.get("contractType") != "PERPETUAL":
                continue
            lot, price, notional = (
                _filter(s.get("filters", []), k) for k in ("LOT_SIZE", "PRICE_FILTER", "MIN_NOTIONAL")
            )
            fi = extra.get(s["symbol"], {})
            out[s["symbol"]] = SymbolRules(
                symbol=s["symbol"],
                status=str(s.get("status", "")),
                onboard_ms=int(s.get("onboardDate", 0)),
                qty_step=float(lot.get("stepSize", 0)),
                min_qty=float(lot.get("minQty", 0)),
                min_notional=float(notional.get("notional", 0)),
                tick_size=float(price.get("tickSize", 0)),
                funding_interval_hours=int(fi["fundingIntervalHours"]) if "fundingIntervalHours" in fi else None,
                funding_cap=float(fi["adjustedFundingRateCap"]) if "adjustedFundingRateCap" in fi else None,
                funding_floor=float(fi["adjustedFundingRateFloor"]) if "adjustedFundingRateFloor" in fi else None,
            )
        return out
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"exchangeInfo: unexpected response ({type(exc).__name__}: {exc})") from None
