"""Strict readers for the Binance CSV files: every rejection names the file and line."""

import hashlib
import os
from pathlib import Path

import polars as pl

from runner.errors import DataFileError

KLINE_COLUMNS = ("open_time_utc", "open_time_ms", "open", "high", "low", "close", "volume")
FUNDING_COLUMNS = ("funding_time_utc", "funding_time_ms", "funding_rate")
MARK_COLUMNS = ("open_time_utc", "open_time_ms", "open", "high", "low", "close")
MARK_STEP_MS = 3_600_000
PRICE_COLUMNS = ("open", "high", "low", "close")
# bounds past which a value is absurd (and products of it overflow or swamp every other figure)
MAX_PRICE = 1e12  # USDT per unit of the base asset
MAX_VOLUME = 1e18  # base-asset units per bar
MAX_FUNDING_RATE = 1.0  # |rate| per settlement (Binance caps are a few percent)
INTERVAL_COLUMN = "funding_interval_hours"  # optional: the settlement's interval where the source gave it
NULLABLE = {INTERVAL_COLUMN}
READER_VERSION = "3"
_ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (the source fingerprint)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _line(frame: pl.DataFrame, mask: pl.Series, first_line: int = 2) -> int:
    """Line number in the CSV of the first row where ``mask`` holds (``first_line``: row 0's line;
    2 when a header row comes first)."""
    return int(frame.with_row_index("_i").filter(mask)["_i"][0]) + first_line


def _read_text(path: Path, columns: tuple[str, ...], optional: tuple[str, ...] = ()) -> pl.DataFrame:
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except Exception as exc:  # polars raises several types for malformed files
        raise DataFileError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataFileError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(columns)}")
    if frame.height == 0:
        raise DataFileError(f"{path}: no rows")
    return frame.select(*columns, *(c for c in optional if c in frame.columns))


def parse_numbers(
    label: object, frame: pl.DataFrame, columns: dict[str, pl.DataType], first_line: int = 2
) -> pl.DataFrame:
    """Cast text columns to numbers; an unparsable cell is an error naming ``label`` and its line."""
    parsed = frame.with_columns(pl.col(c).str.strip_chars().cast(t, strict=False).alias(c) for c, t in columns.items())
    for c in columns:
        bad = parsed[c].is_null() & frame[c].is_not_null() if c in NULLABLE else parsed[c].is_null()
        if bad.any():
            row = _line(frame, bad, first_line)
            raise DataFileError(
                f"{label}: line {row}: column '{c}' has unparsable value {frame[c][row - first_line]!r}"
            )
    return parsed


def check_prices(label: object, frame: pl.DataFrame, first_line: int = 2) -> None:
    """Finite positive prices, a finite non-negative volume (when present) and consistent OHLC."""
    for c in PRICE_COLUMNS:
        bad = ~frame[c].is_finite() | (frame[c] <= 0) | (frame[c] >= MAX_PRICE)
        if bad.any():
            row = _line(frame, bad, first_line)
            got = frame[c][row - first_line]
            raise DataFileError(f"{label}: line {row}: '{c}' must be a positive number below {MAX_PRICE:g}, got {got}")
    if "volume" in frame.columns:
        bad = ~frame["volume"].is_finite() | (frame["volume"] < 0) | (frame["volume"] >= MAX_VOLUME)
        if bad.any():
            row = _line(frame, bad, first_line)
            got = frame["volume"][row - first_line]
            raise DataFileError(f"{label}: line {row}: 'volume' must be >= 0 and below {MAX_VOLUME:g}, got {got}")
    o, h, lo, c = (frame[x] for x in PRICE_COLUMNS)
    checks = (
        ((h < o) | (h < c), "high below open or close"),
        ((lo > o) | (lo > c), "low above open or close"),
        (h < lo, "high below low"),
    )
    for bad, what in checks:
        if bad.any():
            raise DataFileError(f"{label}: line {_line(frame, bad, first_line)}: OHLC violation ({what})")


def check_order(
    label: object, frame: pl.DataFrame, ms: str, step_ms: int | None, first_line: int = 2, shown: str | None = None
) -> None:
    """Times strictly increasing, unique and (with ``step_ms``) on the bar grid; ``shown`` names the
    column whose text the message quotes (default: the epoch-ms column)."""
    text = frame[shown] if shown else frame[ms].cast(pl.String)
    diffs = frame[ms].diff()
    dup = (diffs == 0).fill_null(False)
    if dup.any():
        row = _line(frame, dup, first_line)
        raise DataFileError(f"{label}: line {row}: duplicate timestamp {text[row - first_line]}")
    unsorted = (diffs < 0).fill_null(False)
    if unsorted.any():
        row = _line(frame, unsorted, first_line)
        i = row - first_line
        raise DataFileError(f"{label}: line {row}: timestamps not increasing ({text[i]} after {text[i - 1]})")
    if step_ms:
        off = (frame[ms] % step_ms) != 0
        if off.any():
            row = _line(frame, off, first_line)
            raise DataFileError(f"{label}: line {row}: timestamp {text[row - first_line]} is off the bar grid")


def _check_times(path: Path, frame: pl.DataFrame, iso: str, ms: str, step_ms: int | None) -> pl.DataFrame:
    """ISO column must be UTC ('Z') and agree with the epoch-ms column; strictly increasing."""
    stamps = frame[iso].str.to_datetime(_ISO_FORMAT, time_zone="UTC", strict=False)
    bad = stamps.is_null()
    if bad.any():
        row = _line(frame, bad)
        raise DataFileError(
            f"{path}: line {row}: '{iso}' value {frame[iso][row - 2]!r} is not a UTC timestamp "
            f"like 2020-01-01T00:00:00Z"
        )
    disagree = stamps.dt.epoch("ms") != frame[ms]
    if disagree.any():
        row = _line(frame, disagree)
        raise DataFileError(f"{path}: line {row}: '{iso}' and '{ms}' disagree")
    check_order(path, frame, ms, step_ms, shown=iso)
    return frame


def _validate_klines(path: Path, frame: pl.DataFrame, step_ms: int) -> pl.DataFrame:
    numbers = {"open_time_ms": pl.Int64, **{c: pl.Float64 for c in (*PRICE_COLUMNS, "volume")}}
    frame = parse_numbers(path, frame, numbers)
    check_prices(path, frame)
    frame = _check_times(path, frame, "open_time_utc", "open_time_ms", step_ms)
    return frame.select(pl.col("open_time_ms").alias("time"), *PRICE_COLUMNS, "volume")


def _validate_mark(path: Path, frame: pl.DataFrame, step_ms: int = MARK_STEP_MS) -> pl.DataFrame:
    frame = parse_numbers(path, frame, {"open_time_ms": pl.Int64, **{c: pl.Float64 for c in PRICE_COLUMNS}})
    check_prices(path, frame)
    frame = _check_times(path, frame, "open_time_utc", "open_time_ms", step_ms)
    return frame.select(pl.col("open_time_ms").alias("time"), "open", "high", "low", "close")


def check_funding(label: object, frame: pl.DataFrame, first_line: int = 2) -> None:
    """Finite rates and, where given, a positive whole funding interval in hours."""
    bad = ~frame["funding_rate"].is_finite() | (frame["funding_rate"].abs() > MAX_FUNDING_RATE)
    if bad.any():
        row = _line(frame, bad, first_line)
        got = frame["funding_rate"][row - first_line]
        raise DataFileError(
            f"{label}: line {row}: 'funding_rate' must be finite and within +-{MAX_FUNDING_RATE:g}, got {got}"
        )
    if INTERVAL_COLUMN in frame.columns:
        bad = (frame[INTERVAL_COLUMN] <= 0).fill_null(False)
        if bad.any():
            raise DataFileError(f"{label}: line {_line(frame, bad, first_line)}: '{INTERVAL_COLUMN}' must be >= 1")


def _validate_funding(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    numbers = {"funding_time_ms": pl.Int64, "funding_rate": pl.Float64}
    if INTERVAL_COLUMN in frame.columns:
        numbers[INTERVAL_COLUMN] = pl.Int64
    else:
        frame = frame.with_columns(pl.lit(None, pl.String).alias(INTERVAL_COLUMN))
    frame = parse_numbers(path, frame, numbers)
    check_funding(path, frame)
    frame = _check_times(path, frame, "funding_time_utc", "funding_time_ms", None)
    return frame.select(
        pl.col("funding_time_ms").alias("time"),
        pl.col("funding_rate").alias("rate"),
        pl.col(INTERVAL_COLUMN).cast(pl.Int64).alias("interval_hours"),
    )


def _cached(path: Path, kind: str, cache_dir: Path | None, build) -> tuple[pl.DataFrame, str]:
    """Validated table for ``path``, from a parquet cache keyed by the file's sha256."""
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    sha = file_sha256(path)
    target = None
    if cache_dir is not None:
        target = cache_dir / f"{kind}-{READER_VERSION}-{sha[:24]}.parquet"
        if target.is_file():
            try:
                return pl.read_parquet(target), sha
            except Exception:  # a damaged cache entry is rebuilt, never trusted
                target.unlink(missing_ok=True)
    frame = build()
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        frame.write_parquet(tmp)
        os.replace(tmp, target)
    return frame, sha


def read_klines(path: Path, step_ms: int, cache_dir: Path | None = None) -> tuple[pl.DataFrame, str]:
    """Validated klines ``time, open, high, low, close, volume`` and the file's sha256."""
    return _cached(
        path,
        f"klines{step_ms}",
        cache_dir,
        lambda: _validate_klines(path, _read_text(path, KLINE_COLUMNS), step_ms),
    )


def read_mark(path: Path, cache_dir: Path | None = None, step_ms: int = MARK_STEP_MS) -> tuple[pl.DataFrame, str]:
    """Validated mark-price bars ``time, open, high, low, close`` (of ``step_ms``) and the file's sha256."""
    kind = "mark" if step_ms == MARK_STEP_MS else f"mark{step_ms}"
    return _cached(path, kind, cache_dir, lambda: _validate_mark(path, _read_text(path, MARK_COLUMNS), step_ms))


def read_funding(path: Path, cache_dir: Path | None = None) -> tuple[pl.DataFrame, str]:
    """Validated funding events ``time, rate, interval_hours`` (null where the file gives no interval)
    and the file's sha256."""
    return _cached(
        path,
        "funding",
        cache_dir,
        lambda: _validate_funding(path, _read_text(path, FUNDING_COLUMNS, (INTERVAL_COLUMN,))),
    )
