"""The registered model: a pyfunc that turns recent bars into each symbol's signals and target
position with the backtest's own compile and kernel code (one combination, fixed parameters)."""

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import polars as pl
from omegaconf import DictConfig, OmegaConf

from kernels import enums as E
from runner.config import validate
from runner.data.panel import MarketPanel, align
from runner.data.readers import MAX_PRICE
from runner.data.timeframes import timeframe_ms
from runner.errors import ConfigError, DataError
from runner.strategy.compile import compile_strategy
from runner.values import is_number

INPUT = ("time", "symbol", "open", "high", "low", "close", "volume")  # + optional funding_rate
SIGNALS = ("long_entry", "long_exit", "short_entry", "short_exit")


def fixed_config(cfg: DictConfig, best: dict[str, str]) -> DictConfig:
    """The run's config with every grid or search dimension set to the chosen combination's value
    (``best``: the run's ``best.<key>`` tags), searches off: a config of exactly one combination."""
    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    if OmegaConf.select(out, "search.method") == "discover":
        raise ConfigError("promote: a discovery run has no single strategy; promote a run of an exported one")
    for key, text in best.items():
        value: Any = float(text) if is_number(text) else text
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        node = OmegaConf.select(out, key)
        if isinstance(node, DictConfig) and "default" in node:  # a strategy parameter {type, low, high, default}
            key = f"{key}.default"
        OmegaConf.update(out, key, value, force_add=True)
    OmegaConf.update(out, "search", {"method": "none"}, merge=False)
    return out


def bars_panel(bars: pl.DataFrame, symbols: tuple[str, ...], timeframe: str) -> MarketPanel:
    """A market panel from long-format bars (``INPUT`` columns, optional ``funding_rate``: the rate
    settled at that bar's open), with one extra bar appended so the last real bar's signals are
    evaluated (the kernel closes everything on its final bar)."""
    missing = [c for c in INPUT if c not in bars.columns]
    if missing:
        raise DataError(f"model input: missing columns {', '.join(missing)}; expected {', '.join(INPUT)}")
    unknown = sorted(set(bars["symbol"].unique().to_list()) - set(symbols))
    absent = [s for s in symbols if s not in set(bars["symbol"].to_list())]
    if absent or unknown:
        raise DataError(f"model input: symbols must be {', '.join(symbols)} (missing {absent}, unknown {unknown})")
    prices = bars.select(pl.col("open", "high", "low", "close").cast(pl.Float64, strict=False))
    bad = prices.select(
        pl.any_horizontal(pl.all().is_null() | ~pl.all().is_finite() | (pl.all() <= 0) | (pl.all() >= MAX_PRICE))
    ).to_series()
    if bad.any():
        i = int(bad.arg_max())
        raise DataError(f"model input: row {i}: open/high/low/close must be positive numbers below {MAX_PRICE:g}")
    time = bars["time"]
    if time.dtype.is_temporal():
        bars = bars.with_columns(pl.col("time").dt.replace_time_zone(None).dt.epoch("ms").alias("time"))
    bars = bars.with_columns(pl.col("time").cast(pl.Int64))
    step = timeframe_ms(timeframe)
    if (bars["time"] % step != 0).any():
        raise DataError(f"model input: times must be bar opens on the {timeframe} grid")
    frames = [
        bars.filter(pl.col("symbol") == s).sort("time").unique("time", keep="last", maintain_order=True)
        for s in symbols
    ]
    times, cols, tradable = align(frames, step)
    funding = np.zeros_like(cols["close"])
    if "funding_rate" in bars.columns:
        for a, f in enumerate(frames):
            funding[(f["time"].to_numpy() - times[0]) // step, a] = f["funding_rate"].fill_null(0.0).to_numpy()
    last = cols["close"][-1:]
    pad = {c: np.vstack([v, last if c != "volume" else np.zeros_like(last)]) for c, v in cols.items()}
    return MarketPanel(
        symbols=symbols,
        timeframe=timeframe,
        times=np.append(times, times[-1] + step),
        open=pad["open"],
        high=pad["high"],
        low=pad["low"],
        close=pad["close"],
        volume=pad["volume"],
        tradable=np.vstack([tradable, np.ones((1, len(symbols)), dtype=np.bool_)]),
        funding=np.vstack([funding, np.zeros((1, len(symbols)))]),
        settle=pad["open"],
        fingerprint="live",
        sources={},
    )


def signals(cfg: DictConfig, bars: pl.DataFrame) -> pl.DataFrame:
    """Per bar and symbol: the four signal groups, the target side (-1, 0, 1: what to hold from the
    next bar) and the target exposure (side x leverage x position fraction: notional / equity)."""
    from kernels.simulate import signal_targets

    spec = validate(cfg, resolve_data=False)
    if spec.n_combos != 1:
        raise ConfigError(f"model config: {spec.n_combos} combinations; a model needs exactly one")
    panel = bars_panel(bars, spec.data.symbols, spec.data.timeframe)
    compiled = compile_strategy(spec, panel)
    flags, targets = signal_targets(
        0, compiled.market(panel), compiled.program(), compiled.params, spec.initial_capital, panel.bars_per_year
    )
    n, k = panel.n_bars - 1, panel.n_assets
    p = compiled.params[0]
    side = targets[:n]
    cols: dict[str, Any] = {
        "time": pl.Series(np.repeat(panel.times[:n], k)).cast(pl.Datetime("ms", "UTC")),
        "symbol": np.tile(np.array(panel.symbols), n),
    }
    for g, name in enumerate(SIGNALS):
        cols[name] = flags[g, :n].reshape(-1)
    cols["target_position"] = side.reshape(-1).astype(np.int64)
    fixed = int(p[E.P_SIZING]) == E.SIZE_FRACTION  # other methods size from the account's state
    cols["target_exposure"] = (side * p[E.P_LEVERAGE] * (p[E.P_SIZE] if fixed else np.nan)).reshape(-1)
    return pl.DataFrame(cols)


class PerplabModel(mlflow.pyfunc.PythonModel):
    """``predict(bars)``: long-format OHLCV (+ ``funding_rate``) of the configured symbols -> signals
    and target positions per bar and symbol (a pandas DataFrame)."""

    def load_context(self, context) -> None:
        self.cfg = OmegaConf.load(Path(context.artifacts["config"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return signals(self.cfg, pl.from_pandas(model_input)).to_pandas()
