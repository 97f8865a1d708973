"""Parse a strategy YAML (``conf/strategy/*.yaml``) into a checked ``StrategySpec``.

Every error names the file, the key path, the offending text and what would be valid. A
number anywhere in ``params``, an indicator's parameters or a stop may be a list or a
``{start, stop, step}`` range: each becomes an axis of the in-job grid.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kernels import enums as E
from runner.data.timeframes import TIMEFRAME_MS
from runner.errors import ConfigError
from runner.strategy.expr import Bin, Comparison, Neg, Node, Num, ParseError, Ref, parse_condition, refs
from runner.strategy.indicators import SOURCES, IndicatorType, indicator_type
from runner.values import expand

TOP_KEYS = (
    "name",
    "description",
    "direction",
    "params",
    "indicators",
    "entry",
    "exit",
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "time_filters",
    "signals",
)
SIGNAL_KEYS = ("path", "time_column", "symbol_column", "columns")
SIGNAL_GROUPS = {"long_entry": ("entry", "long"), "long_exit": ("exit", "long")} | {
    "short_entry": ("entry", "short"),
    "short_exit": ("exit", "short"),
}
PARAM_KEYS = ("type", "low", "high", "default", "step", "description")
INDICATOR_KEYS = ("type", "source", "timeframe", "shift")
STOPS = {"stop_loss": 0, "take_profit": 1, "trailing_stop": 2}
STOP_UNITS = ("percent", "atr")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SESSION = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
GROUPS = {
    ("entry", "long"): E.G_LONG_ENTRY,
    ("exit", "long"): E.G_LONG_EXIT,
    ("entry", "short"): E.G_SHORT_ENTRY,
    ("exit", "short"): E.G_SHORT_EXIT,
}


@dataclass(frozen=True)
class Value:
    """A number slot: its own grid values (``axis``) or a reference to a named parameter."""

    key: str
    values: tuple[float, ...] = ()
    param: str | None = None


@dataclass(frozen=True)
class ParamSpec:
    name: str
    integer: bool
    low: float
    high: float
    step: float | None
    values: tuple[float, ...]


@dataclass(frozen=True)
class IndicatorSpec:
    name: str
    type: IndicatorType
    params: dict[str, Value]
    source: str  # a price field or another indicator's output (name.output)
    timeframe: str | None
    shift: int


@dataclass(frozen=True)
class CondSpec:
    where: str
    text: str
    cmp: Comparison


@dataclass(frozen=True)
class StopSpec:
    kind: int  # 0 stop_loss, 1 take_profit, 2 trailing_stop
    unit: str  # percent | atr
    value: Value
    atr: str | None  # an indicator output (ATR-like, in price units) for unit=atr


@dataclass(frozen=True)
class TimeFilters:
    sessions: tuple[tuple[int, int], ...] = ()  # minutes of the UTC day, [start, end)
    blocked_weekdays: tuple[int, ...] = ()  # 0 = Monday
    funding_blackout_minutes: float = 0.0

    @property
    def active(self) -> bool:
        return bool(self.sessions or self.blocked_weekdays or self.funding_blackout_minutes > 0)


@dataclass(frozen=True)
class SignalsSpec:
    """External signals: columns of a parquet/CSV file with one row per (bar open time, symbol)."""

    path: str
    time_column: str
    symbol_column: str
    columns: tuple[str, ...]


@dataclass
class StrategySpec:
    name: str
    file: str
    params: dict[str, ParamSpec]
    indicators: dict[str, IndicatorSpec]
    groups: dict[int, list[list[CondSpec]]]  # group -> clauses (all hold) -> conditions (any holds)
    stops: list[StopSpec]
    time_filters: TimeFilters
    values: list[Value] = field(default_factory=list)  # every grid axis, in order
    signals: SignalsSpec | None = None

    def outputs(self) -> dict[str, str]:
        """Every addressable series name -> what it is (for error messages)."""
        out = {s: "price" for s in SOURCES}
        for c in self.signals.columns if self.signals else ():
            out[c] = "signals file"
        for ind in self.indicators.values():
            for o in ind.type.outputs:
                out[f"{ind.name}.{o}"] = ind.type.name
            out[ind.name] = ind.type.name
        return out


class _Ctx:
    def __init__(self, file: str):
        self.file = file

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.file}: {key}: {message}")

    def bad(self, key: str, value: Any, message: str) -> ConfigError:
        """``file: key=value: message``."""
        shown = dict(value) if isinstance(value, Mapping) else value
        return ConfigError(f"{self.file}: {key}={shown!r}: {message}")


def _numbers(ctx: _Ctx, key: str, raw: Any, low: float, high: float, integer: bool) -> tuple[float, ...]:
    """A number, a list of numbers or ``{start, stop, step}`` (stop included), each within bounds."""
    try:
        items = expand(raw)
    except ValueError as exc:
        raise ctx.error(key, f"{dict(raw)}: {exc}") from None
    if not items:
        raise ctx.error(key, "[]: needs at least one value")
    kind = "an integer" if integer else "a number"
    out: list[float] = []
    for item in items:
        ok = not isinstance(item, bool) and isinstance(item, (int, float))
        v = float(item) if ok else float("nan")
        if not ok or not np.isfinite(v) or (integer and not v.is_integer()) or not low <= v <= high:
            raise ctx.bad(key, item, f"must be {kind} from {low:g} to {high:g}")
        out.append(round(v, 12))
    if len(set(out)) != len(out):
        raise ctx.error(key, f"{raw}: values repeat")
    return tuple(out)


def _params(ctx: _Ctx, raw: Any) -> dict[str, ParamSpec]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ctx.error("strategy.params", "must map parameter names to {type, low, high, default}")
    out: dict[str, ParamSpec] = {}
    for name, body in raw.items():
        key = f"strategy.params.{name}"
        if not _NAME.match(str(name)) or name in SOURCES:
            raise ctx.error(key, "a parameter name must be an identifier and not a price field")
        if not isinstance(body, Mapping):
            raise ctx.error(
                key,
                f"{body!r}: a parameter is {{type, low, high, default}}, e.g. "
                f"{{type: float, low: 10, high: 40, default: 30}} (on the command line strategy.params.{name}=25)",
            )
        unknown = sorted(set(body) - set(PARAM_KEYS))
        if unknown:
            raise ctx.error(f"{key}.{unknown[0]}", f"unknown key; valid: {', '.join(PARAM_KEYS)}")
        ptype = body.get("type", "float")
        if ptype not in ("int", "float"):
            raise ctx.bad(f"{key}.type", ptype, "valid: int, float")
        integer = ptype == "int"
        bounds = []
        for b in ("low", "high"):
            v = body.get(b)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                raise ctx.bad(f"{key}.{b}", v, "must be a number (the parameter's bound)")
            bounds.append(float(v))
        low, high = bounds
        if low > high:
            raise ctx.error(key, f"low={low:g} is above high={high:g}")
        step = body.get("step")
        if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0):
            raise ctx.bad(f"{key}.step", step, "must be a number > 0")
        if "default" not in body:
            raise ctx.error(f"{key}.default", "missing; the value used unless overridden")
        values = _numbers(ctx, key, body["default"], low, high, integer)
        out[str(name)] = ParamSpec(str(name), integer, low, high, None if step is None else float(step), values)
    return out


def _value(
    ctx: _Ctx, key: str, raw: Any, params: dict[str, ParamSpec], low: float, high: float, integer: bool
) -> Value:
    if isinstance(raw, str):
        if raw not in params:
            valid = ", ".join(params) or "none defined"
            raise ctx.bad(key, raw, f"not a number and not a parameter; parameters: {valid}")
        p = params[raw]
        for v in p.values:
            if not low <= v <= high or (integer and not float(v).is_integer()):
                kind = "an integer" if integer else "a number"
                raise ctx.error(key, f"parameter {raw}={v:g}: must be {kind} from {low:g} to {high:g}")
        return Value(key, param=raw)
    return Value(key, values=_numbers(ctx, key, raw, low, high, integer))


def _indicators(ctx: _Ctx, raw: Any, params: dict[str, ParamSpec], primary: str) -> dict[str, IndicatorSpec]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ctx.error("strategy.indicators", "must map indicator names to {type, parameters...}")
    out: dict[str, IndicatorSpec] = {}
    for name, body in raw.items():
        key = f"strategy.indicators.{name}"
        if not _NAME.match(str(name)) or name in SOURCES or name in params:
            raise ctx.error(key, "an indicator name must be an identifier, not a price field or a parameter name")
        if not isinstance(body, Mapping) or "type" not in body:
            raise ctx.error(key, "needs a type, e.g. {type: EMA, period: 20}")
        itype = indicator_type(body["type"], f"{ctx.file}: {key}.type")
        valid = (*INDICATOR_KEYS, *itype.params)
        unknown = [k for k in body if k not in valid]
        if unknown:
            raise ctx.error(f"{key}.{unknown[0]}", f"unknown key for {itype.name}; valid: {', '.join(valid)}")
        values = {}
        for pname, p in itype.params.items():
            values[pname] = _value(ctx, f"{key}.{pname}", body.get(pname, p.default), params, p.low, p.high, p.integer)
        source = body.get("source", "close")
        if "src" not in itype.inputs and "source" in body:
            raise ctx.error(f"{key}.source", f"{itype.name} reads {', '.join(itype.inputs)}; it takes no source")
        if not isinstance(source, str):
            raise ctx.bad(f"{key}.source", source, f"a price field ({', '.join(SOURCES)}) or an indicator")
        tf = body.get("timeframe")
        if tf is not None:
            if tf not in TIMEFRAME_MS:
                raise ctx.bad(f"{key}.timeframe", tf, f"valid: {', '.join(TIMEFRAME_MS)}")
            if TIMEFRAME_MS[tf] < TIMEFRAME_MS[primary] or TIMEFRAME_MS[tf] % TIMEFRAME_MS[primary]:
                raise ctx.error(f"{key}.timeframe", f"{tf}: must be a whole multiple of the data's {primary}")
            if tf == primary:
                tf = None
        shift = body.get("shift", 0)
        if isinstance(shift, bool) or not isinstance(shift, int) or not 0 <= shift <= 10_000:
            raise ctx.bad(f"{key}.shift", shift, "must be an integer from 0 to 10000 (bars back)")
        out[str(name)] = IndicatorSpec(str(name), itype, values, source, tf, shift)
    # sources: price fields or earlier-resolvable indicators of the same timeframe, no cycles
    for ind in out.values():
        if ind.source in SOURCES:
            continue
        base = ind.source.split(".")[0]
        src = out.get(base)
        where = f"strategy.indicators.{ind.name}.source"
        if src is None or (ind.source != base and ind.source.split(".", 1)[1] not in src.type.outputs):
            choices = [*SOURCES, *(n for n in out if n != ind.name)]
            raise ctx.bad(where, ind.source, f"valid: {', '.join(choices)}")
        if src.timeframe != ind.timeframe:
            raise ctx.error(where, f"{ind.source!r} is on another timeframe; chain indicators of one timeframe")
    for ind in out.values():
        seen = {ind.name}
        cur = ind
        while cur.source not in SOURCES:
            cur = out[cur.source.split(".")[0]]
            if cur.name in seen:
                raise ctx.error(f"strategy.indicators.{ind.name}.source", "indicator sources form a cycle")
            seen.add(cur.name)
    return out


def _check_refs(ctx: _Ctx, where: str, text: str, cmp: Comparison, spec: StrategySpec) -> None:
    series = spec.outputs()
    nodes = [cmp.lhs, cmp.rhs] + ([cmp.rhs2] if cmp.rhs2 is not None else [])
    for node in nodes:
        for name in refs(node):
            if name in series or name in spec.params:
                continue
            base = name.split(".")[0]
            if base in spec.indicators:
                outs = ", ".join(f"{base}.{o}" for o in spec.indicators[base].type.outputs)
                raise ctx.bad(where, text, f"{name!r} is not an output of {base}; valid: {outs}")
            valid = [*SOURCES, *(spec.signals.columns if spec.signals else ()), *spec.indicators, *spec.params]
            raise ctx.bad(where, text, f"unknown name {name!r}; valid: {', '.join(valid)}")


def _divisors(node: Node) -> list[Node]:
    """Right-hand sides of every division in an expression."""
    if isinstance(node, Bin):
        own = [node.right] if node.op == "/" else []
        return own + _divisors(node.left) + _divisors(node.right)
    if isinstance(node, Neg):
        return _divisors(node.operand)
    return []


def _constant(node: Node, env: dict[str, np.ndarray]) -> np.ndarray:
    """Value of a number-and-parameter expression at every combination in ``env``."""
    if isinstance(node, Num):
        return np.float64(node.value)
    if isinstance(node, Ref):
        return env[node.name]
    if isinstance(node, Neg):
        return -_constant(node.operand, env)
    a, b = _constant(node.left, env), _constant(node.right, env)
    with np.errstate(all="ignore"):
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[node.op]


def _check_division(ctx: _Ctx, where: str, text: str, cmp: Comparison, spec: StrategySpec) -> None:
    """A division by a number, or by parameters that are zero (or not finite) for some combination,
    is refused naming the combination; a division by a series is left to the data (NaN: no signal)."""
    for node in (cmp.lhs, cmp.rhs, cmp.rhs2):
        for div in _divisors(node) if node is not None else []:
            names = list(dict.fromkeys(refs(div)))
            if any(n not in spec.params for n in names):
                continue
            grids = np.meshgrid(*(np.asarray(spec.params[n].values) for n in names), indexing="ij")
            env = {n: g.reshape(-1) for n, g in zip(names, grids, strict=True)}
            value = np.broadcast_to(_constant(div, env), (max(1, grids[0].size) if grids else 1,))
            bad = ~np.isfinite(value) | (value == 0.0)
            if bad.any():
                i = int(np.argmax(bad))
                at = ", ".join(f"strategy.params.{n}={env[n][i]:g}" for n in names)
                raise ctx.bad(where, text, f"divides by {div} = {value[i]:g}" + (f" for {at}" if at else ""))


def _groups(ctx: _Ctx, raw: dict[str, Any], spec: StrategySpec) -> dict[int, list[list[CondSpec]]]:
    groups: dict[int, list[list[CondSpec]]] = {g: [] for g in GROUPS.values()}
    for part in ("entry", "exit"):
        body = raw.get(part)
        if body is None:
            continue
        if not isinstance(body, Mapping):
            raise ctx.error(f"strategy.{part}", "must have long and/or short lists of conditions")
        for side, items in body.items():
            key = f"strategy.{part}.{side}"
            if side not in ("long", "short"):
                raise ctx.error(key, "valid sides: long, short")
            if items is None:
                continue
            if isinstance(items, str):
                items = [items]
            if not isinstance(items, Sequence):
                raise ctx.error(key, "must be a list of conditions (all must hold) and {any: [...]} groups")
            for i, item in enumerate(items):
                where = f"{key}[{i}]"
                if isinstance(item, Mapping):
                    if set(item) != {"any"} or not isinstance(item["any"], Sequence) or isinstance(item["any"], str):
                        raise ctx.bad(where, item, "a group is {any: [condition, ...]}")
                    texts = [(f"{where}.any[{j}]", t) for j, t in enumerate(item["any"])]
                    if not texts:
                        raise ctx.error(where, "an any: group needs at least one condition")
                else:
                    texts = [(where, item)]
                clause = []
                for w, text in texts:
                    if not isinstance(text, str):
                        raise ctx.bad(w, text, "a condition is text such as 'rsi < lower'")
                    try:
                        cmp = parse_condition(text)
                    except ParseError as exc:
                        raise ctx.bad(w, text, f"{exc}") from None
                    _check_refs(ctx, w, text, cmp, spec)
                    _check_division(ctx, w, text, cmp, spec)
                    clause.append(CondSpec(w, text, cmp))
                groups[GROUPS[(part, side)]].append(clause)
    return groups


def _signals(ctx: _Ctx, raw: Any, taken: set[str]) -> SignalsSpec | None:
    """``strategy.signals``: the file, its time and symbol columns, and the signal columns to read
    (each becomes a series conditions can use)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ctx.error("strategy.signals", "must be {path, time_column, symbol_column, columns}")
    unknown = sorted(set(raw) - set(SIGNAL_KEYS))
    if unknown:
        raise ctx.error(f"strategy.signals.{unknown[0]}", f"unknown key; valid: {', '.join(SIGNAL_KEYS)}")
    path = raw.get("path")
    if not isinstance(path, str) or not path.strip() or path == "???":
        raise ctx.bad("strategy.signals.path", path, "required: a parquet or CSV file of signals")
    if not Path(path.strip()).expanduser().is_file():
        raise ctx.bad("strategy.signals.path", path, "no such file")
    names = {}
    for key, default in (("time_column", "time"), ("symbol_column", "symbol")):
        v = raw.get(key) or default
        if not isinstance(v, str):
            raise ctx.bad(f"strategy.signals.{key}", v, "must be a column name")
        names[key] = v
    columns = raw.get("columns") or list(SIGNAL_GROUPS)
    if isinstance(columns, str):
        columns = [columns]
    if not isinstance(columns, Sequence) or not columns:
        raise ctx.bad("strategy.signals.columns", columns, "must be a list of column names")
    for c in columns:
        if not isinstance(c, str) or not _NAME.match(c) or c in SOURCES or c in taken:
            raise ctx.bad(
                "strategy.signals.columns", list(columns), f"{c!r} must be an identifier naming no price or indicator"
            )
    if len(set(columns)) != len(columns):
        raise ctx.bad("strategy.signals.columns", list(columns), "columns repeat")
    return SignalsSpec(path.strip(), names["time_column"], names["symbol_column"], tuple(columns))


def _implied_conditions(raw: Mapping[str, Any], signals: SignalsSpec) -> dict[str, Any]:
    """Without entry/exit conditions, each of long_entry, long_exit, short_entry, short_exit read from
    the file drives its group (``long_entry > 0``: a true or non-zero value)."""
    out: dict[str, Any] = {**raw, "entry": {}, "exit": {}}
    for column, (part, side) in SIGNAL_GROUPS.items():
        if column in signals.columns:
            out[part][side] = [f"{column} > 0"]
    return out


def _stops(ctx: _Ctx, raw: dict[str, Any], spec: StrategySpec) -> list[StopSpec]:
    out = []
    for name, kind in STOPS.items():
        body = raw.get(name)
        if body is None:
            continue
        key = f"strategy.{name}"
        if not isinstance(body, Mapping):
            raise ctx.bad(key, body, "give {percent: 2} or {atr: <indicator>, multiple: 3}")
        if "percent" in body:
            if set(body) != {"percent"}:
                raise ctx.error(key, f"{dict(body)}: a percent stop is {{percent: 2}}")
            # a stop 100 % or more below a long's entry never triggers; a take-profit may be far away
            low, high = (0.001, 1000.0) if name == "take_profit" else (0.001, 99.99)
            value = _value(ctx, f"{key}.percent", body["percent"], spec.params, low, high, False)
            out.append(StopSpec(kind, "percent", value, None))
        elif "atr" in body:
            if set(body) != {"atr", "multiple"}:
                raise ctx.error(key, f"{dict(body)}: an ATR stop is {{atr: <indicator>, multiple: 3}}")
            atr = body["atr"]
            series = spec.outputs()
            if not isinstance(atr, str) or atr not in series or atr in SOURCES:
                valid = ", ".join(n for n in series if n not in SOURCES) or "none defined"
                raise ctx.bad(f"{key}.atr", atr, f"must name an indicator (e.g. an ATR); valid: {valid}")
            value = _value(ctx, f"{key}.multiple", body["multiple"], spec.params, 0.0, 1000.0, False)
            out.append(StopSpec(kind, "atr", value, atr))
        else:
            raise ctx.error(key, f"{dict(body)}: give {{percent: 2}} or {{atr: <indicator>, multiple: 3}}")
    return out


def _time_filters(ctx: _Ctx, raw: Any) -> TimeFilters:
    if raw is None:
        return TimeFilters()
    key = "strategy.time_filters"
    valid = ("sessions", "blocked_weekdays", "funding_blackout_minutes")
    if not isinstance(raw, Mapping):
        raise ctx.error(key, f"must be a mapping with {', '.join(valid)}")
    unknown = [k for k in raw if k not in valid]
    if unknown:
        raise ctx.error(f"{key}.{unknown[0]}", f"unknown key; valid: {', '.join(valid)}")
    sessions = []
    for i, s in enumerate(raw.get("sessions") or []):
        m = _SESSION.match(str(s).replace(" ", ""))
        hm = [int(g) for g in m.groups()] if m else []
        if not m or hm[0] > 24 or hm[2] > 24 or hm[1] > 59 or hm[3] > 59:
            raise ctx.bad(f"{key}.sessions[{i}]", s, "a UTC window like '08:00-16:00' (may wrap midnight)")
        start, end = hm[0] * 60 + hm[1], hm[2] * 60 + hm[3]
        if start == end or start > 1440 or end > 1440:
            raise ctx.bad(f"{key}.sessions[{i}]", s, "start and end must differ and lie within the day")
        sessions.append((start, end))
    days = []
    for i, d in enumerate(raw.get("blocked_weekdays") or []):
        name = str(d).lower()[:3]
        if name not in WEEKDAYS:
            raise ctx.bad(f"{key}.blocked_weekdays[{i}]", d, f"valid: {', '.join(WEEKDAYS)}")
        days.append(WEEKDAYS.index(name))
    blackout = raw.get("funding_blackout_minutes", 0) or 0
    if isinstance(blackout, bool) or not isinstance(blackout, (int, float)) or not 0 <= blackout <= 240:
        raise ctx.bad(f"{key}.funding_blackout_minutes", blackout, "minutes from 0 to 240")
    return TimeFilters(tuple(sessions), tuple(sorted(set(days))), float(blackout))


def parse_strategy(raw: Mapping[str, Any], file: str, primary_timeframe: str) -> StrategySpec:
    """Check a composed ``strategy`` node; raise ConfigError naming file, key, text and what is valid."""
    ctx = _Ctx(file)
    if not isinstance(raw, Mapping):
        raise ctx.error("strategy", "must be a mapping (see conf/strategy/rsi.yaml)")
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise ctx.error(f"strategy.{unknown[0]}", f"unknown key; valid: {', '.join(TOP_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ctx.bad("strategy.name", name, "must be a non-empty name")
    params = _params(ctx, raw.get("params"))
    indicators = _indicators(ctx, raw.get("indicators"), params, primary_timeframe)
    spec = StrategySpec(name, file, params, indicators, {}, [], TimeFilters())
    spec.signals = _signals(ctx, raw.get("signals"), set(params) | set(indicators))
    if spec.signals is not None and raw.get("entry") is None and raw.get("exit") is None:
        raw = _implied_conditions(raw, spec.signals)
    spec.groups = _groups(ctx, raw, spec)
    if not spec.groups[E.G_LONG_ENTRY] and not spec.groups[E.G_SHORT_ENTRY]:
        raise ctx.error("strategy.entry", "no entry conditions; give strategy.entry.long and/or strategy.entry.short")
    spec.stops = _stops(ctx, raw, spec)
    spec.time_filters = _time_filters(ctx, raw.get("time_filters"))
    values: list[Value] = [Value(f"strategy.params.{p.name}", p.values) for p in params.values()]
    for ind in indicators.values():
        values.extend(v for v in ind.params.values() if v.param is None)
    values.extend(s.value for s in spec.stops if s.value.param is None)
    spec.values = values
    return spec


def used_names(spec: StrategySpec) -> set[str]:
    """Indicator names referenced by conditions and stops (and the indicators they read from)."""
    names: set[str] = set()
    for clauses in spec.groups.values():
        for clause in clauses:
            for cond in clause:
                for node in (cond.cmp.lhs, cond.cmp.rhs, cond.cmp.rhs2):
                    if node is not None:
                        names.update(n.split(".")[0] for n in refs(node))
    names.update(s.atr.split(".")[0] for s in spec.stops if s.atr)
    todo = [n for n in names if n in spec.indicators]
    while todo:
        src = spec.indicators[todo.pop()].source.split(".")[0]
        if src in spec.indicators and src not in names:
            names.add(src)
            todo.append(src)
    return {n for n in names if n in spec.indicators}
