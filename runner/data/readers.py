"""Strict readers for the Binance CSV files: every rejection names the file and line."""

import hashlib
import os
from pathlib import Path

import polars as pl

from runner.errors import DataError

KLINE_COLUMNS = ("open_time_utc", "open_time_ms", "open", "high", "low", "close", "volume")
FUNDING_COLUMNS = ("funding_time_utc", "funding_time_ms", "funding_rate")
MARK_COLUMNS = ("open_time_utc", "open_time_ms", "open", "high", "low", "close")
MARK_STEP_MS = 3_600_000
PRICE_COLUMNS = ("open", "high", "low", "close")
READER_VERSION = "1"
_ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (the source fingerprint)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _line(frame: pl.DataFrame, mask: pl.Series) -> int:
    """1-based line number in the CSV (header is line 1) of the first row where ``mask`` holds."""
    return int(frame.with_row_index("_i").filter(mask)["_i"][0]) + 2


def _read_text(path: Path, columns: tuple[str, ...]) -> pl.DataFrame:
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except Exception as exc:  # polars raises several types for malformed files
        raise DataError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(columns)}")
    if frame.height == 0:
        raise DataError(f"{path}: no rows")
    return frame.select(columns)


def _parse_numbers(path: Path, frame: pl.DataFrame, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    parsed = frame.with_columns(pl.col(c).str.strip_chars().cast(t, strict=False).alias(c) for c, t in columns.items())
    for c in columns:
        bad = parsed[c].is_null()
        if bad.any():
            row = _line(frame, bad)
            raise DataError(f"{path}: line {row}: column '{c}' has unparsable value {frame[c][row - 2]!r}")
    return parsed


def _check_times(path: Path, frame: pl.DataFrame, iso: str, ms: str, step_ms: int | None) -> pl.DataFrame:
    """ISO column must be UTC ('Z') and agree with the epoch-ms column; strictly increasing."""
    stamps = frame[iso].str.to_datetime(_ISO_FORMAT, time_zone="UTC", strict=False)
    bad = stamps.is_null()
    if bad.any():
        row = _line(frame, bad)
        raise DataError(
            f"{path}: line {row}: '{iso}' value {frame[iso][row - 2]!r} is not a UTC timestamp "
            f"like 2020-01-01T00:00:00Z"
        )
    disagree = stamps.dt.epoch("ms") != frame[ms]
    if disagree.any():
        row = _line(frame, disagree)
        raise DataError(f"{path}: line {row}: '{iso}' and '{ms}' disagree")
    diffs = frame[ms].diff()
    dup = (diffs == 0).fill_null(False)
    if dup.any():
        row = _line(frame, dup)
        raise DataError(f"{path}: line {row}: duplicate timestamp {frame[iso][row - 2]}")
    unsorted = (diffs < 0).fill_null(False)
    if unsorted.any():
        row = _line(frame, unsorted)
        raise DataError(
            f"{path}: line {row}: timestamps not increasing ({frame[iso][row - 2]} after {frame[iso][row - 3]})"
        )
    if step_ms:
        off = (frame[ms] % step_ms) != 0
        if off.any():
            row = _line(frame, off)
            raise DataError(f"{path}: line {row}: timestamp {frame[iso][row - 2]} is off the bar grid")
    return frame


def _validate_klines(path: Path, frame: pl.DataFrame, step_ms: int) -> pl.DataFrame:
    numbers = {"open_time_ms": pl.Int64, **{c: pl.Float64 for c in (*PRICE_COLUMNS, "volume")}}
    frame = _parse_numbers(path, frame, numbers)
    for c in PRICE_COLUMNS:
        bad = frame[c].is_nan() | (frame[c] <= 0)
        if bad.any():
            row = _line(frame, bad)
            raise DataError(f"{path}: line {row}: '{c}' must be a positive number, got {frame[c][row - 2]}")
    bad = frame["volume"].is_nan() | (frame["volume"] < 0)
    if bad.any():
        row = _line(frame, bad)
        raise DataError(f"{path}: line {row}: 'volume' must be >= 0, got {frame['volume'][row - 2]}")
    o, h, lo, c = (frame[x] for x in PRICE_COLUMNS)
    checks = (
        ((h < o) | (h < c), "high below open or close"),
        ((lo > o) | (lo > c), "low above open or close"),
        (h < lo, "high below low"),
    )
    for bad, what in checks:
        if bad.any():
            raise DataError(f"{path}: line {_line(frame, bad)}: OHLC violation ({what})")
    frame = _check_times(path, frame, "open_time_utc", "open_time_ms", step_ms)
    return frame.select(pl.col("open_time_ms").alias("time"), *PRICE_COLUMNS, "volume")


def _validate_mark(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    frame = _parse_numbers(path, frame, {"open_time_ms": pl.Int64, **{c: pl.Float64 for c in PRICE_COLUMNS}})
    for c in PRICE_COLUMNS:
        bad = frame[c].is_nan() | (frame[c] <= 0)
        if bad.any():
            row = _line(frame, bad)
            raise DataError(f"{path}: line {row}: '{c}' must be a positive number, got {frame[c][row - 2]}")
    frame = _check_times(path, frame, "open_time_utc", "open_time_ms", MARK_STEP_MS)
    return frame.select(pl.col("open_time_ms").alias("time"), "open")


def _validate_funding(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    frame = _parse_numbers(path, frame, {"funding_time_ms": pl.Int64, "funding_rate": pl.Float64})
    bad = ~frame["funding_rate"].is_finite()
    if bad.any():
        raise DataError(f"{path}: line {_line(frame, bad)}: 'funding_rate' must be finite")
    frame = _check_times(path, frame, "funding_time_utc", "funding_time_ms", None)
    return frame.select(pl.col("funding_time_ms").alias("time"), pl.col("funding_rate").alias("rate"))


def _cached(path: Path, kind: str, cache_dir: Path | None, build) -> tuple[pl.DataFrame, str]:
    """Validated table for ``path``, from a parquet cache keyed by the file's sha256."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
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


def read_mark(path: Path, cache_dir: Path | None = None) -> tuple[pl.DataFrame, str]:
    """Validated 1h mark-price opens ``time, open`` and the file's sha256."""
    return _cached(path, "mark", cache_dir, lambda: _validate_mark(path, _read_text(path, MARK_COLUMNS)))


def read_funding(path: Path, cache_dir: Path | None = None) -> tuple[pl.DataFrame, str]:
    """Validated funding events ``time, rate`` and the file's sha256."""
    return _cached(path, "funding", cache_dir, lambda: _validate_funding(path, _read_text(path, FUNDING_COLUMNS)))
