"""The genes a discovered strategy is made of, and the ``search.discover`` settings.

A gene is one condition of the DSL: an indicator (TA-Lib, one of the registry's types) compared
with a threshold (oscillators: ``rsi_7 < 20.0``) or with the close (price-scale indicators:
``close crosses_above ema_50``), on the data's timeframe or a higher one.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from kernels import enums as E
from runner.data.timeframes import TIMEFRAME_MS
from runner.errors import ConfigError
from runner.values import on_grid

OPS = (">", "<", "crosses_above", "crosses_below")


@dataclass(frozen=True)
class Gene:
    name: str
    type: str  # an indicator type of runner.strategy.indicators
    output: str  # which of its outputs
    periods: tuple[int, ...]
    level: tuple[float, float, float] | None  # (low, high, step) of a threshold; None: compared with close
    fixed: tuple[tuple[str, float], ...] = ()  # other parameters of the indicator

    def threshold(self, u: float) -> float:
        """The threshold at ``u`` in [0, 1] of the gene's range, on its step grid."""
        lo, hi, step = self.level  # type: ignore[misc]
        k = int(np.floor(np.clip(u, 0.0, 1.0) * ((hi - lo) / step + 1 - 1e-9)))
        return on_grid(lo, k, step)

    def period(self, u: float) -> int:
        return self.periods[min(int(np.clip(u, 0.0, 1.0) * len(self.periods)), len(self.periods) - 1)]


GENES: dict[str, Gene] = {
    g.name: g
    for g in (
        Gene("RSI", "RSI", "value", (2, 3, 5, 7, 9, 14, 21, 28), (5.0, 95.0, 1.0)),
        Gene("CCI", "CCI", "value", (5, 10, 14, 20, 30, 50), (-250.0, 250.0, 5.0)),
        Gene("WILLR", "WILLR", "value", (5, 10, 14, 20, 30), (-100.0, 0.0, 1.0)),
        Gene("MFI", "MFI", "value", (5, 10, 14, 20, 30), (5.0, 95.0, 1.0)),
        Gene("ROC", "ROC", "value", (2, 3, 5, 10, 20), (-10.0, 10.0, 0.1)),
        Gene("ADX", "ADX", "value", (7, 14, 21, 28), (10.0, 60.0, 1.0)),
        Gene("EMA", "EMA", "value", (5, 10, 20, 50, 100, 200), None),
        Gene("SMA", "SMA", "value", (5, 10, 20, 50, 100, 200), None),
        Gene("BB_UPPER", "BBANDS", "upper", (10, 20, 30, 50), None, (("nbdev", 2.0),)),
        Gene("BB_LOWER", "BBANDS", "lower", (10, 20, 30, 50), None, (("nbdev", 2.0),)),
    )
}


@dataclass(frozen=True)
class DiscoverSpec:
    genes: tuple[str, ...] = tuple(GENES)
    max_entry: int = 5
    max_exit: int = 3
    timeframes: tuple[str | None, ...] = (None, "4h")
    directions: tuple[str, ...] = E.DIRECTIONS
    stop_loss: tuple[float, ...] = (0.0, 2.0, 5.0, 10.0)  # percent; 0: none
    take_profit: tuple[float, ...] = (0.0, 5.0, 10.0, 20.0)
    trailing_stop: tuple[float, ...] = (0.0, 3.0, 6.0)
    leverage: tuple[float, ...] = (1.0, 2.0, 3.0)
    sizing: tuple[float, ...] = (0.1, 0.25)
    holdout: float = 0.3  # the last share of bars, never seen by the fitness
    min_trades: int = 30  # in sample; fewer: the worst fitness
    complexity_penalty: float = 0.01  # per condition beyond the first
    top_k: int = 5
    export_dir: str = "conf/strategy/discovered"


FIELDS = tuple(DiscoverSpec.__dataclass_fields__)


def _numbers(raw: Any, key: str, lo: float, hi: float, integer: bool = False) -> tuple[float, ...]:
    items = raw if isinstance(raw, (list, tuple)) else [raw]
    out = []
    for v in items:
        ok = not isinstance(v, bool) and isinstance(v, (int, float)) and lo <= v <= hi
        if not ok or (integer and not float(v).is_integer()):
            kind = "integers" if integer else "numbers"
            raise ConfigError(f"search.discover.{key}={raw!r}: must be {kind} from {lo:g} to {hi:g}")
        out.append(float(v))
    if not out:
        raise ConfigError(f"search.discover.{key}=[]: needs at least one value")
    return tuple(out)


def discover_spec(raw: Mapping[str, Any], primary: str) -> DiscoverSpec:
    """Parse ``search.discover`` (defaults for missing keys); errors name the key and what is valid."""
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise ConfigError(f"search.discover.{unknown[0]}: unknown setting; valid: {', '.join(FIELDS)}")
    d = DiscoverSpec()
    out: dict[str, Any] = {}
    genes = raw.get("genes", d.genes)
    genes = [genes] if isinstance(genes, str) else list(genes)
    for g in genes:
        if g not in GENES:
            raise ConfigError(f"search.discover.genes: {g!r}: unknown gene; valid: {', '.join(GENES)}")
    if not genes:
        raise ConfigError("search.discover.genes=[]: needs at least one gene")
    out["genes"] = tuple(genes)
    for key, lo, hi in (("max_entry", 1, 5), ("max_exit", 0, 3), ("top_k", 1, 100), ("min_trades", 0, 1_000_000)):
        v = raw.get(key, getattr(d, key))
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ConfigError(f"search.discover.{key}={v!r}: must be an integer from {lo} to {hi}")
        out[key] = v
    tfs = raw.get("timeframes", d.timeframes)
    tfs = [tfs] if tfs is None or isinstance(tfs, str) else list(tfs)
    for tf in tfs:
        if tf is not None and (
            tf not in TIMEFRAME_MS
            or TIMEFRAME_MS[tf] < TIMEFRAME_MS[primary]
            or TIMEFRAME_MS[tf] % TIMEFRAME_MS[primary]
        ):
            raise ConfigError(
                f"search.discover.timeframes: {tf!r}: must be null (the data's) or a whole multiple of {primary}"
            )
    out["timeframes"] = tuple(dict.fromkeys(None if tf == primary else tf for tf in tfs))
    dirs = raw.get("directions", d.directions)
    dirs = [dirs] if isinstance(dirs, str) else list(dirs)
    if not dirs or any(x not in E.DIRECTIONS for x in dirs):
        raise ConfigError(f"search.discover.directions={dirs!r}: valid: {', '.join(E.DIRECTIONS)}")
    out["directions"] = tuple(dirs)
    for key in ("stop_loss", "take_profit", "trailing_stop"):
        out[key] = _numbers(raw.get(key, getattr(d, key)), key, 0.0, 100.0)
    out["leverage"] = _numbers(raw.get("leverage", d.leverage), "leverage", 1, 20, integer=True)
    out["sizing"] = _numbers(raw.get("sizing", d.sizing), "sizing", 1e-9, 1.0)
    out["holdout"] = _numbers(raw.get("holdout", d.holdout), "holdout", 0.0, 0.9)[0]
    out["complexity_penalty"] = _numbers(
        raw.get("complexity_penalty", d.complexity_penalty), "complexity_penalty", 0, 1e6
    )[0]
    export = raw.get("export_dir", d.export_dir)
    if not isinstance(export, str) or not export:
        raise ConfigError(f"search.discover.export_dir={export!r}: must be a folder")
    out["export_dir"] = export
    return DiscoverSpec(**out)
