"""Per-symbol exchange rules (maintenance brackets, lot filters) from the ``exchange`` config group
and, for lot filters, from the exchangeInfo the data pipeline stored in the data root."""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from kernels import enums as E
from runner.data.paths import instruments_path
from runner.data.timeframes import parse_utc
from runner.errors import ConfigError

LOT_KEYS = ("qty_step", "min_qty", "min_notional")
LOT_SOURCES = ("data", "config")


@dataclass(frozen=True)
class Instruments:
    """Kernel arrays for the symbols of a run: ``tiers (n_assets, n_tiers, N_TIER)`` (the last row
    repeated to pad, its cap unbounded) and ``lots (n_assets, N_LOT)``; where each symbol's rules
    came from (``sources``, tagged on runs), warnings, and the rules as config (``resolved``) so a
    run's logged config reproduces them."""

    tiers: np.ndarray
    lots: np.ndarray
    sources: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    resolved: dict[str, dict] = field(default_factory=dict)
    # point in time: era e >= 1 starts at era_starts[e - 1] (ms); era 0 (before the first known date)
    # has the rules above; rows e * n_assets .. of era_tiers / era_lots hold era e's
    era_starts: tuple[int, ...] = ()
    era_tiers: np.ndarray | None = None
    era_lots: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.era_tiers is None:
            object.__setattr__(self, "era_tiers", self.tiers)
            object.__setattr__(self, "era_lots", self.lots)


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


def _history(rule: Mapping, s: str, brackets: object, lot: list[float]) -> list[tuple[int, np.ndarray, list[float]]]:
    """``exchange.symbols.<s>.history``: ``(since ms, brackets, lot filters)`` of each later era, each
    inheriting what it does not give from the one before (the first from today's rules)."""
    raw = rule.get("history") if rule is not None else None
    if raw is None:
        return []
    key = f"exchange.symbols.{s}.history"
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{key}: must be a list of {{since: YYYY-MM-DD, brackets: [...], qty_step: ...}}")
    out, prev_ms = [], None
    for i, entry in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(entry, Mapping) or "since" not in entry:
            raise ConfigError(f"{where}: must be a mapping with since: YYYY-MM-DD and the rules that changed")
        unknown = sorted(set(entry) - {"since", "brackets", *LOT_KEYS})
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown key; valid: since, brackets, {', '.join(LOT_KEYS)}")
        since = parse_utc(entry["since"], f"{where}.since")
        if prev_ms is not None and since <= prev_ms:
            raise ConfigError(f"{where}.since={entry['since']}: must be after the previous entry's")
        brackets = entry.get("brackets", brackets)
        tiers = _brackets(brackets, f"{where}.brackets")
        lot = [_number(entry.get(k, lot[j]), f"{where}.{k}") for j, k in enumerate(LOT_KEYS)]
        out.append((since, tiers, lot))
        prev_ms = since
    return out


def _eras(tiers: list, lots: list, histories: list) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
    """Every symbol's rules in each era (a change of any symbol starts one), stacked era by era."""
    starts = sorted({since for h in histories for since, _, _ in h})
    era_t, era_l = [list(tiers)], [list(lots)]
    for start in starts:
        row_t, row_l = [], []
        for a, h in enumerate(histories):
            in_force = [e for e in h if e[0] <= start]
            row_t.append(in_force[-1][1] if in_force else tiers[a])
            row_l.append(in_force[-1][2] if in_force else lots[a])
        era_t.append(row_t)
        era_l.append(row_l)
    flat_lots = np.array([lot for row in era_l for lot in row], dtype=np.float64)
    return tuple(starts), _stacked([t for row in era_t for t in row]), np.ascontiguousarray(flat_lots)


def _stacked(tables: list[np.ndarray]) -> np.ndarray:
    """Bracket tables as one ``(n, n_tiers, N_TIER)`` array, each padded with its last bracket."""
    width = max(len(t) for t in tables)
    return np.ascontiguousarray(np.stack([np.vstack([t, np.repeat(t[-1:], width - len(t), axis=0)]) for t in tables]))


def data_rules(root: Path | None) -> tuple[dict[str, dict], str]:
    """Rules per symbol from the data root's ``instruments.json`` (exchangeInfo) and its date."""
    path = instruments_path(root) if root is not None else None
    if path is None or not path.is_file():
        return {}, ""
    try:
        doc = json.loads(path.read_text())
        when = datetime.fromtimestamp(int(doc["retrieved_at"]) / 1000, tz=UTC).strftime("%Y-%m-%d")
        return dict(doc["symbols"]), when
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{path}: not an instruments file written by python -m runner.data") from None


def instruments(exchange: object, symbols: tuple[str, ...], root: Path | None = None) -> Instruments:
    """Validated rules of ``symbols`` from the composed ``exchange`` group (one line naming the key).

    Lot filters come from the data root's exchangeInfo when it lists the symbol and
    ``exchange.lot_source`` is ``data`` (the default), else from ``exchange.symbols``. A symbol
    without brackets of its own gets ``exchange.default_brackets``, with a warning.
    """
    table = exchange.get("symbols") if isinstance(exchange, Mapping) else None
    if not isinstance(table, Mapping):
        raise ConfigError("exchange.symbols: missing; select an exchange config (exchange=binance_usdm)")
    lot_source = exchange.get("lot_source", "data")
    if lot_source not in LOT_SOURCES:
        raise ConfigError(f"exchange.lot_source={lot_source!r}: valid: {', '.join(LOT_SOURCES)}")
    downloaded, when = data_rules(root) if lot_source == "data" else ({}, "")
    tiers, lots, sources, warnings, resolved, histories = [], [], {}, [], {}, []
    for s in symbols:
        rule = table.get(s)
        if rule is not None and not isinstance(rule, Mapping):
            raise ConfigError(f"exchange.symbols.{s}: must be a mapping with brackets and {', '.join(LOT_KEYS)}")
        if rule is None and s not in downloaded:
            known = ", ".join(table)
            raise ConfigError(
                f"data.symbols: {s} has no exchange rules (brackets, lot filters) in exchange.symbols; "
                f"known: {known} (add it to conf/exchange/, or download it: python -m runner.data download "
                f"'symbols=[{s}]')"
            )
        if rule is not None and rule.get("brackets") is not None:
            key, brackets, b_src = f"exchange.symbols.{s}.brackets", rule["brackets"], "config"
        else:
            key, brackets, b_src = "exchange.default_brackets", exchange.get("default_brackets"), "default"
            warnings.append(
                f"{s}: no maintenance-margin brackets of its own in exchange.symbols; using "
                "exchange.default_brackets (a conservative stand-in, not Binance's table for the symbol)"
            )
        tiers.append(_brackets(brackets, key))
        if s in downloaded:
            got = downloaded[s]
            lot = [_number(got.get(k, 0.0), f"{instruments_path(root)}: {s}.{k}") for k in LOT_KEYS]
            l_src = f"exchangeInfo {when}"
        else:
            lot = [_number(rule.get(k, 0.0), f"exchange.symbols.{s}.{k}") for k in LOT_KEYS]
            l_src = "config"
        lots.append(lot)
        history = _history(rule, s, brackets, lot)
        histories.append(history)
        sources[s] = f"brackets: {b_src}; lots: {l_src}"
        resolved[s] = {**dict(zip(LOT_KEYS, lot, strict=True)), "brackets": brackets}
        if history:
            first = datetime.fromtimestamp(history[0][0] / 1000, tz=UTC).strftime("%Y-%m-%d")
            sources[s] += f"; {len(history)} changes from {first} (before: today's rules)"
            resolved[s]["history"] = rule["history"]
    starts, era_tiers, era_lots = _eras(tiers, lots, histories)
    return Instruments(
        _stacked(tiers),
        np.ascontiguousarray(np.array(lots, dtype=np.float64)),
        sources,
        tuple(warnings),
        resolved,
        era_starts=starts,
        era_tiers=era_tiers if starts else None,
        era_lots=era_lots if starts else None,
    )
