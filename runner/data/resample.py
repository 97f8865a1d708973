"""OHLCV resampling to a coarser timeframe (bars aligned to the UTC epoch grid)."""

import polars as pl


def resample_ohlcv(frame: pl.DataFrame, target_ms: int) -> pl.DataFrame:
    """Aggregate ``time, open, high, low, close, volume`` into ``target_ms`` buckets.

    open = first, high = max, low = min, close = last, volume = sum; ``n_source`` counts the
    source bars in each bucket so that partial buckets can be reported.
    """
    return (
        frame.with_columns((pl.col("time") - pl.col("time") % target_ms).alias("bucket"))
        .group_by("bucket", maintain_order=True)
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
            pl.len().alias("n_source"),
        )
        .rename({"bucket": "time"})
        .sort("time")
    )
