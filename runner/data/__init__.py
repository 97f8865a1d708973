"""Market data: Binance CSV readers, validation, alignment, resampling and caching."""
