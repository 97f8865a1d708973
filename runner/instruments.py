"""Per-symbol exchange rules (maintenance brackets, lot filters) from the ``exchange`` config group."""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from kernels import enums as E
from runner.errors import ConfigError

LOT_KEYS = ("qty_step", "min_qty", "min_notional")


@dataclass(frozen=True)
class Instruments:
    """Kernel arrays for the symbols of a run: ``tiers (n_assets, n_tiers, N_TIER)`` (the last row
    repeated to pad, its cap unbounded) and ``lots (n_assets, N_LOT)``."""

    tiers: np.ndarray
    lots: np.ndarray


def _number(value: object, key: str, lo: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < lo:
        raise ConfigError(f"{key}={value!r}: must be a number >= {lo:g}")
    return float(value)


def _brackets(rows: object, key: str) -> np.ndarray:
    if not isinstance(rows, list) or not rows:
        raise ConfigError(f"{key}: must be a list of [notional_cap, mmr, max_leverage, cum] rows")
    out = np.zeros((len(rows), E.N_TIER))
    for k, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != 4:
            raise ConfigError(f"{key}[{k}]={row!r}: must be [notional_cap, mmr, max_leverage, cum]")
        cap, mmr, lev, cum = (_number(v, f"{key}[{k}]") for v in row)
        if not 0.0 < mmr < 1.0 or lev < 1.0:
            raise ConfigError(f"{key}[{k}]={row!r}: mmr must lie in (0, 1) and max_leverage be >= 1")
        out[k] = (cap, mmr, cum, lev)
        if k > 0:
            prev = out[k - 1]
            if cap <= prev[E.T_CAP] or mmr < prev[E.T_MMR]:
                raise ConfigError(f"{key}[{k}]={row!r}: caps must increase and rates not decrease")
            expected = prev[E.T_CUM] + prev[E.T_CAP] * (mmr - prev[E.T_MMR])
            if abs(cum - expected) > 1e-6 * max(1.0, expected):
                rule = "previous cum + previous cap x rate step"
                raise ConfigError(f"{key}[{k}]={row!r}: cum must be {expected:g} ({rule})")
        elif cum != 0.0:
            raise ConfigError(f"{key}[0]={row!r}: the first bracket's cum must be 0")
    out[-1, E.T_CAP] = np.inf  # beyond the table, the last bracket's rate goes on
    return out


def instruments(exchange: object, symbols: tuple[str, ...]) -> Instruments:
    """Validated rules of ``symbols`` from the composed ``exchange`` group (one line naming the key)."""
    table = exchange.get("symbols") if isinstance(exchange, Mapping) else None
    if not isinstance(table, Mapping):
        raise ConfigError("exchange.symbols: missing; select an exchange config (exchange=binance_usdm)")
    tiers, lots = [], []
    for s in symbols:
        if s not in table:
            known = ", ".join(table)
            raise ConfigError(
                f"data.symbols: {s} has no exchange rules (brackets, lot filters) in exchange.symbols; "
                f"known: {known} (add it to conf/exchange/)"
            )
        rule = table[s]
        if not isinstance(rule, Mapping):
            raise ConfigError(f"exchange.symbols.{s}: must be a mapping with brackets and {', '.join(LOT_KEYS)}")
        tiers.append(_brackets(rule.get("brackets"), f"exchange.symbols.{s}.brackets"))
        lots.append([_number(rule.get(k, 0.0), f"exchange.symbols.{s}.{k}") for k in LOT_KEYS])
    width = max(len(t) for t in tiers)
    padded = np.stack([np.vstack([t, np.repeat(t[-1:], width - len(t), axis=0)]) for t in tiers])
    return Instruments(np.ascontiguousarray(padded), np.ascontiguousarray(np.array(lots, dtype=np.float64)))
