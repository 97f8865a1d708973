"""What a combination's records become on disk: trades JSON, equity/drawdown and position series,
monthly returns and the cost breakdown that the HTML report draws."""

import json
from pathlib import Path

import numpy as np
import polars as pl

from kernels import enums as E
from runner.data.panel import MarketPanel

COSTS = ("fees", "funding", "slippage")


def positions(panel: MarketPanel, trades: pl.DataFrame) -> np.ndarray:
    """Signed quantity ``(n_bars, n_assets)`` held over each bar's close (a trade holds from its entry
    bar up to, not including, its exit bar). Each bar takes its trade's quantity as the kernel held
    it (an asset holds one position at a time), never a sum, so a flat bar is exactly zero."""
    held = np.zeros((panel.n_bars, panel.n_assets))
    if trades.height:
        signed = trades["qty"].to_numpy() * np.where(trades["side"].to_numpy() == "long", 1.0, -1.0)
        entry, exit_ = trades["entry_bar"].to_numpy(), trades["exit_bar"].to_numpy()
        length = exit_ - entry
        start = np.cumsum(length) - length
        rows = np.repeat(entry, length) + np.arange(int(length.sum())) - np.repeat(start, length)
        held[rows, np.repeat(trades["asset"].to_numpy(), length)] = np.repeat(signed, length)
    return held


def series(panel: MarketPanel, equity: pl.DataFrame, trades: pl.DataFrame) -> pl.DataFrame:
    """Per bar: equity, drawdown, and each asset's signed quantity held over the close
    (``position.<SYMBOL>``) and signed notional exposure as a share of equity (``exposure.<SYMBOL>``)."""
    held = positions(panel, trades)
    eq = equity["equity"].to_numpy()
    safe = np.where(eq > 0.0, eq, np.nan)
    cols = {f"position.{s}": held[:, a] for a, s in enumerate(panel.symbols)}
    cols |= {f"exposure.{s}": held[:, a] * panel.close[:, a] / safe for a, s in enumerate(panel.symbols)}
    return equity.with_columns(**{k: pl.Series(k, v) for k, v in cols.items()})


def trade_rows(trades: pl.DataFrame) -> list[dict]:
    """One plain dict per trade with every field of the record; times as ISO-8601 UTC."""
    out = trades.with_columns(
        pl.col("entry_time").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        pl.col("exit_time").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return [{k: _plain(v) for k, v in row.items()} for row in out.to_dicts()]


def trades_json(trades: pl.DataFrame) -> str:
    """``trade_rows`` as JSON (what a paper session's trades are compared with)."""
    return json.dumps(trade_rows(trades), indent=1) + "\n"


def _plain(v):
    """JSON has no NaN/inf: write them as null."""
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def monthly_returns(equity: pl.DataFrame, initial: float) -> pl.DataFrame:
    """Return of each calendar month (UTC) from the month-end equities (the first month from the
    initial capital)."""
    ends = (
        equity.select("time", "equity")
        .with_columns(pl.col("time").dt.truncate("1mo").alias("month"))
        .group_by("month", maintain_order=True)
        .agg(pl.col("equity").last())
    )
    prev = ends["equity"].shift(1).fill_null(initial)
    return ends.with_columns(
        (pl.col("equity") / prev - 1.0).alias("return"),
        pl.col("month").dt.year().alias("year"),
        pl.col("month").dt.month().alias("month_of_year"),
    )


def costs(trades: pl.DataFrame, metrics: np.ndarray) -> pl.DataFrame:
    """Fees, funding and slippage per symbol (from the trades) and in total (from the metrics row)."""
    per = (
        trades.group_by("symbol")
        .agg(pl.col(c).sum() for c in COSTS)
        .sort("symbol")
        .with_columns(pl.col(c).cast(pl.Float64) for c in COSTS)
        if trades.height
        else pl.DataFrame(schema={"symbol": pl.String, **{c: pl.Float64 for c in COSTS}})
    )
    total = pl.DataFrame(
        {
            "symbol": ["total"],
            "fees": [float(metrics[E.M_FEES_PAID])],
            "funding": [float(metrics[E.M_FUNDING_PAID])],
            "slippage": [float(metrics[E.M_SLIPPAGE_PAID])],
        }
    )
    return pl.concat([per, total])


def write_compact(frame: pl.DataFrame, path: Path) -> None:
    """Parquet for long bar series: times delta-encoded, floats byte-stream-split, zstd (about a
    third of the plain size for six years of hourly equity, losslessly)."""
    import pyarrow.parquet as pq

    encodings = {}
    for name, dtype in frame.schema.items():
        if dtype in (pl.Float64, pl.Float32):
            encodings[name] = "BYTE_STREAM_SPLIT"
        elif dtype.is_temporal() or dtype.is_integer():
            encodings[name] = "DELTA_BINARY_PACKED"
    dictionary = [n for n in frame.columns if n not in encodings]
    pq.write_table(
        frame.to_arrow(),
        path,
        compression="zstd",
        compression_level=9,
        use_dictionary=dictionary or False,
        column_encoding=encodings or None,
    )


def record_files(
    prefix: str, frame: pl.DataFrame, trades: pl.DataFrame, write_report=None, with_json: bool = False
) -> dict:
    """``name -> writer`` for one combination's records: trades (parquet, and JSON ``with_json``), the
    equity, drawdown and exposure series (``frame``), and its report when ``write_report`` is given."""

    def write_json(path: Path) -> None:
        path.write_text(trades_json(trades))

    files = {
        f"{prefix}trades.parquet": lambda p: write_compact(trades, p),
        f"{prefix}equity.parquet": lambda p: write_compact(
            frame.with_columns(pl.col(c).cast(pl.Float32) for c in frame.columns if c.startswith("exposure.")), p
        ),
    }
    if with_json:
        files[f"{prefix}trades.json"] = write_json
    if write_report is not None:
        files[f"{prefix}report.html"] = write_report
    return files
