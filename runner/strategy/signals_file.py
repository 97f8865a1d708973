"""External signals: read a parquet or CSV file of per-symbol signal columns and align it to the
market panel (one row per bar open time and symbol; a missing row or null is no signal)."""

from pathlib import Path

import numpy as np
import polars as pl

from runner.data.panel import MarketPanel, iso
from runner.data.timeframes import timeframe_ms
from runner.errors import DataError
from runner.strategy.dsl import SignalsSpec

READERS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".gz": "csv"}


def _read(path: Path) -> pl.DataFrame:
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"strategy.signals.path={path}: unknown format; use .parquet or .csv (.csv.gz)")
    try:
        return pl.read_parquet(path) if kind == "parquet" else pl.read_csv(path, infer_schema_length=10_000)
    except Exception as exc:
        raise DataError(f"{path}: cannot read as {kind}: {str(exc).strip().splitlines()[0]}") from None


def _where(path: Path, row: int) -> str:
    """A row for messages: the line of a CSV (header is line 1), the row number of a parquet file."""
    return f"{path}: line {row + 2}" if READERS[path.suffix.lower()] == "csv" else f"{path}: row {row}"


def _times(path: Path, frame: pl.DataFrame, column: str) -> np.ndarray:
    """Bar open times in epoch ms (UTC): datetimes (naive ones are UTC), ISO-8601 text, or integer ms."""
    col = frame[column]
    if col.dtype == pl.Datetime or col.dtype == pl.Date:
        if col.dtype == pl.Date:
            col = col.cast(pl.Datetime("ms"))
        elif col.dtype.time_zone is not None:  # type: ignore[union-attr]
            col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        out = col.dt.epoch("ms")
    elif col.dtype.is_integer():
        out = col
    elif col.dtype == pl.String:
        out = col.str.to_datetime(time_zone="UTC", strict=False, time_unit="ms").dt.epoch("ms")
    else:
        raise DataError(f"{path}: column {column!r} is {col.dtype}; use datetimes, ISO-8601 text or epoch ms")
    bad = out.is_null()
    if bad.any():
        i = int(bad.arg_max())
        raise DataError(f"{_where(path, i)}: {column}={frame[column][i]!r} is not a time (ISO-8601 UTC or epoch ms)")
    return out.to_numpy().astype(np.int64)


def _flags(path: Path, frame: pl.DataFrame, column: str) -> np.ndarray:
    col = frame[column]
    if col.dtype == pl.Boolean:
        return col.fill_null(False).to_numpy().astype(np.float64)
    if col.dtype.is_numeric():
        values = col.cast(pl.Float64).fill_null(0.0).to_numpy()
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{_where(path, i)}: {column}={values[i]}: a signal is true/false or a number")
        return (values != 0.0).astype(np.float64)
    if col.dtype == pl.String:
        text = col.str.to_lowercase().fill_null("false")
        ok = text.is_in(["true", "false", "1", "0", ""])
        if not ok.all():
            i = int((~ok).arg_max())
            raise DataError(f"{_where(path, i)}: {column}={col[i]!r}: a signal is true/false or 1/0")
        return text.is_in(["true", "1"]).to_numpy().astype(np.float64)
    raise DataError(f"{path}: column {column!r} is {col.dtype}; a signal is true/false or a number")


def load_signals(spec: SignalsSpec, panel: MarketPanel) -> dict[str, np.ndarray]:
    """Each signal column as ``(n_bars, n_assets)`` of 1.0 (signal) / 0.0 on the panel's grid. Rows
    outside the panel's window or of other symbols are ignored; every row's time must be a bar open."""
    path = Path(spec.path).expanduser()
    if not path.is_file():
        raise DataError(f"strategy.signals.path={spec.path}: no such file")
    frame = _read(path)
    needed = [spec.time_column, spec.symbol_column, *spec.columns]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; the file has {', '.join(frame.columns)}")
    if frame.height == 0:
        raise DataError(f"{path}: no rows")
    times = _times(path, frame, spec.time_column)
    symbols = frame[spec.symbol_column].cast(pl.String).to_numpy()
    step = timeframe_ms(panel.timeframe)
    off = (times - panel.times[0]) % step != 0
    if off.any():
        i = int(np.argmax(off))
        raise DataError(f"{_where(path, i)}: {iso(int(times[i]))} is not a bar open of the {panel.timeframe} grid")
    present = set(symbols.tolist())
    absent = [s for s in panel.symbols if s not in present]
    if absent:
        raise DataError(f"{path}: no rows for {', '.join(absent)} (the file has {', '.join(sorted(present)[:10])})")
    keys = pl.DataFrame({"t": times, "s": symbols})
    dup = ~keys.select(pl.struct("t", "s").is_first_distinct()).to_series()
    if dup.any():
        i = int(dup.arg_max())
        raise DataError(f"{_where(path, i)}: a second row for {symbols[i]} at {iso(int(times[i]))}")
    asset = {s: a for a, s in enumerate(panel.symbols)}
    col_of = np.array([asset.get(s, -1) for s in symbols], dtype=np.int64)
    row_of = (times - panel.times[0]) // step
    keep = (col_of >= 0) & (row_of >= 0) & (row_of < panel.n_bars)
    out = {}
    for c in spec.columns:
        values = _flags(path, frame, c)
        grid = np.zeros((panel.n_bars, panel.n_assets))
        grid[row_of[keep], col_of[keep]] = values[keep]
        out[c] = grid
    return out
