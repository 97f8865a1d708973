"""Compile a parsed strategy and its parameter grid into kernel inputs.

Indicator values are computed once per unique (indicator, parameters, source, timeframe) and
shared by every combination; a combination only picks columns (``term_col``) and numbers
(``term_coef``, ``side_add``). Each condition side is normalised to a linear form
``add + sum(coef_k * series_k)`` where the coefficients may depend on parameters and the
series do not; products or quotients of series (``(ema_fast - ema_slow) / close``) become
derived columns, computed once per unique set of input columns.
"""

from dataclasses import dataclass, fields, replace

import numpy as np
import talib

from kernels import enums as E
from kernels.program import Market, Program, default_params, flat_tiers, no_lots
from runner.data.panel import MarketPanel
from runner.data.timeframes import timeframe_ms
from runner.errors import ConfigError
from runner.spec import PERCENT, Axis, RunSpec
from runner.strategy import timeframe as tfm
from runner.strategy.dsl import CondSpec, IndicatorSpec, StrategySpec, Value, used_names
from runner.strategy.expr import Bin, Neg, Node, Num, Ref, refs
from runner.strategy.indicators import SOURCES, IndicatorType, compute, price_source
from runner.strategy.timefilter import entry_mask

STOP_PARAM = {0: E.P_STOP_LOSS, 1: E.P_TAKE_PROFIT, 2: E.P_TRAILING_STOP}
OP_CODES = {op: i for i, op in enumerate(E.OPERATORS)}


@dataclass
class Compiled:
    ind: np.ndarray  # (n_cols, n_bars, n_assets) float64: every series a combination may read
    cond_op: np.ndarray  # (n_rows,) int64, E.OP_*
    clause_start: np.ndarray  # (n_clauses + 1,) rows of each clause (a clause holds if any row holds)
    group_start: np.ndarray  # (N_GROUPS + 1,) clauses of each group (a group holds if all clauses hold)
    side_start: np.ndarray  # (2 * n_rows + 1,) terms of each side
    term_col: np.ndarray  # (n_combos, n_terms) int64
    term_coef: np.ndarray  # (n_combos, n_terms)
    side_add: np.ndarray  # (n_combos, 2 * n_rows)
    entry_ok: np.ndarray  # (n_bars,) bool: time filters
    warm: np.ndarray  # (n_combos, n_assets) int64: first bar with every referenced series defined
    stop_col: np.ndarray  # (n_combos, 4) int64: ATR column of each stop (-1: percent), then of vol sizing
    params: np.ndarray  # (n_combos, N_SIM_PARAMS + n_strategy_axes)
    axes: list[Axis]
    grid_idx: np.ndarray  # (n_combos, n_axes)
    columns: list[str]  # description of each column of ``ind``
    tiers: np.ndarray  # (n_assets, n_tiers, N_TIER) maintenance brackets
    lots: np.ndarray  # (n_assets, N_LOT) lot filters

    @property
    def n_combos(self) -> int:
        return self.params.shape[0]

    def rows(self, lo: int, hi: int) -> "Compiled":
        """The program of combinations ``lo..hi-1`` alone, every array a writable copy (a Ray task's
        arrive read-only, and the kernels are compiled for writable arrays)."""
        per_combo = ("term_col", "term_coef", "side_add", "warm", "stop_col", "params", "grid_idx")
        arrays = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(
            self,
            **{k: np.array(v[lo:hi] if k in per_combo else v) for k, v in arrays.items() if isinstance(v, np.ndarray)},
        )

    def program(self) -> Program:
        """The signal program as the kernels take it."""
        return Program(
            ind=self.ind,
            cond_op=self.cond_op,
            clause_start=self.clause_start,
            group_start=self.group_start,
            side_start=self.side_start,
            term_col=self.term_col,
            term_coef=self.term_coef,
            side_add=self.side_add,
            entry_ok=self.entry_ok,
            warm=self.warm,
            stop_cols=self.stop_col,
        )

    def market(self, panel: MarketPanel) -> Market:
        """The market panel as the kernels take it (``panel`` is the one compiled over)."""
        return Market(
            open=panel.open,
            high=panel.high,
            low=panel.low,
            close=panel.close,
            volume=panel.volume,
            tradable=panel.tradable,
            funding=panel.funding,
            settle=panel.settle,
            day=panel.days,
            tiers=self.tiers,
            lots=self.lots,
        )


def expand_grid(axes: list[Axis]) -> np.ndarray:
    """Row ``c`` holds the value index of every axis for combination ``c`` (C order)."""
    shape = [len(a.values) for a in axes]
    return np.indices(shape, dtype=np.int64).reshape(len(shape), -1).T.copy()


class Frames:
    """A panel's market data on its own and on higher timeframes (resampled once each)."""

    def __init__(self, panel: MarketPanel):
        self.panel = panel
        self.frames: dict[str | None, tuple] = {}

    def frame(self, tf: str | None) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """Bars of timeframe ``tf`` (None: the panel's) and, for a higher one, which of its bars
        each panel bar may see (only completed ones)."""
        if tf not in self.frames:
            p = self.panel
            raw = {"open": p.open, "high": p.high, "low": p.low, "close": p.close, "volume": p.volume}
            if tf is None:
                self.frames[tf] = (raw, None)
            else:
                starts, visible = tfm.buckets(p.times, timeframe_ms(p.timeframe), timeframe_ms(tf))
                self.frames[tf] = (tfm.resample(raw, starts), visible)
        return self.frames[tf]

    def price(self, name: str, tf: str | None = None) -> np.ndarray:
        raw, _ = self.frame(tf)
        return price_source(name, raw["open"], raw["high"], raw["low"], raw["close"], raw["volume"])


def indicator_series(
    frames: Frames, itype: IndicatorType, params: dict[str, float], source, tf: str | None, shift: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every output of one indicator as (values on its own timeframe, values aligned to the panel's
    bars); ``source`` is a price field's name or an array on the indicator's timeframe."""
    _, visible = frames.frame(tf)
    inputs = []
    for name in itype.inputs:
        if name != "src":
            inputs.append(frames.price(name, tf))
        elif isinstance(source, str):
            inputs.append(frames.price(source, tf))
        else:
            inputs.append(source)
    out = []
    for values in compute(itype, inputs, params):
        if shift:
            values = np.concatenate([np.full((shift, values.shape[1]), np.nan), values[:-shift]])
        out.append((values, values if visible is None else tfm.align(values, visible)))
    return out


class _Lin:
    """``const + sum(coef * series)``; ``terms`` maps a series key to (expression, coefficients)."""

    def __init__(self, terms: dict[str, tuple[Node, np.ndarray]], const: np.ndarray):
        self.terms = terms
        self.const = const

    def scaled(self, k: np.ndarray) -> "_Lin":
        return _Lin({key: (node, coef * k) for key, (node, coef) in self.terms.items()}, self.const * k)

    def plus(self, other: "_Lin", sign: float = 1.0) -> "_Lin":
        terms = dict(self.terms)
        for key, (node, coef) in other.terms.items():
            terms[key] = (node, terms[key][1] + sign * coef) if key in terms else (node, sign * coef)
        return _Lin(terms, self.const + sign * other.const)


class _Compiler:
    def __init__(self, spec: RunSpec, panel: MarketPanel, grid: np.ndarray | None = None):
        self.spec = spec
        self.strat: StrategySpec = spec.strategy
        self.panel = panel
        self.axes = spec.axes
        self.grid = expand_grid(self.axes) if grid is None else np.ascontiguousarray(grid, dtype=np.int64)
        self.n = self.grid.shape[0]
        self.columns: list[np.ndarray] = []
        self.described: list[str] = []
        self.native: dict[int, np.ndarray] = {}
        self.series: dict[str, np.ndarray] = {}  # name -> column per combination
        self.derived: dict[tuple, int] = {}
        self.frames = Frames(panel)
        self.values: dict[str, np.ndarray] = {}
        for j, axis in enumerate(self.axes):
            self.values[axis.key] = np.asarray(axis.kernel_values(), dtype=np.float64)[self.grid[:, j]]

    def per_combo(self, v: Value) -> np.ndarray:
        return self.values[f"strategy.params.{v.param}" if v.param else v.key]

    def add_column(self, values: np.ndarray, what: str) -> int:
        values = np.where(np.isfinite(values), values, np.nan)
        self.columns.append(np.ascontiguousarray(values, dtype=np.float64))
        self.described.append(what)
        return len(self.columns) - 1

    def atr_column(self, period: int) -> int:
        """A TA-Lib ATR(``period``) column of every asset (volatility-target sizing)."""
        p = self.panel
        values = np.full((p.n_bars, p.n_assets), np.nan)
        for a in range(p.n_assets):  # once per job, not per combination
            values[:, a] = talib.ATR(p.high[:, a], p.low[:, a], p.close[:, a], timeperiod=period)
        return self.add_column(values, f"ATR({period}) for sizing")

    def price_column(self, name: str) -> np.ndarray:
        if name not in self.series:
            self.series[name] = np.full(self.n, self.add_column(self.frames.price(name), name), dtype=np.int64)
        return self.series[name]

    # -- indicators --------------------------------------------------------------------------
    def indicators(self) -> None:
        used = used_names(self.strat)
        todo = [ind for name, ind in self.strat.indicators.items() if name in used]
        done: set[str] = set()
        while todo:
            ready = [i for i in todo if i.source in SOURCES or i.source.split(".")[0] in done]
            for ind in ready:
                self.indicator(ind)
                done.add(ind.name)
            todo = [i for i in todo if i.name not in done]

    def indicator(self, ind: IndicatorSpec) -> None:
        keys = [self.per_combo(v) for v in ind.params.values()]
        from_ind = ind.source not in SOURCES
        if from_ind:
            keys.append(self.series[ind.source].astype(np.float64))
        if keys:
            uniq, inverse = np.unique(np.column_stack(keys), axis=0, return_inverse=True)
        else:
            uniq, inverse = np.zeros((1, 0)), np.zeros(self.n, dtype=np.int64)
        outputs = ind.type.outputs
        base = len(self.columns)
        for row in uniq:
            params = dict(zip(ind.params, (float(v) for v in row), strict=False))
            src = self.native[int(row[-1])] if from_ind else ind.source
            label = ", ".join(f"{k}={v:g}" for k, v in params.items())
            for o, (native, aligned) in zip(
                outputs, indicator_series(self.frames, ind.type, params, src, ind.timeframe, ind.shift), strict=True
            ):
                col = self.add_column(
                    aligned, f"{ind.name}.{o}({label})" + (f"@{ind.timeframe}" if ind.timeframe else "")
                )
                self.native[col] = native
        inverse = inverse.reshape(-1).astype(np.int64)
        for k, o in enumerate(outputs):
            self.series[f"{ind.name}.{o}"] = base + inverse * len(outputs) + k
        self.series[ind.name] = self.series[f"{ind.name}.{outputs[0]}"]

    def series_column(self, name: str) -> np.ndarray:
        if name in SOURCES:
            return self.price_column(name)
        if name not in self.series and self.strat.signals is not None and name in self.strat.signals.columns:
            self.signal_columns()
        return self.series[name]

    def signal_columns(self) -> None:
        """Every column of the signals file, read once."""
        from runner.strategy.signals_file import load_signals

        for name, values in load_signals(self.strat.signals, self.panel).items():
            self.series[name] = np.full(self.n, self.add_column(values, f"signals.{name}"), dtype=np.int64)

    # -- linear forms ------------------------------------------------------------------------
    def param_free(self, node: Node) -> bool:
        return not any(n in self.strat.params for n in refs(node))

    def lin(self, node: Node, cond: CondSpec) -> _Lin:
        zero = np.zeros(self.n)
        if isinstance(node, Num):
            return _Lin({}, np.full(self.n, node.value))
        if isinstance(node, Ref):
            if node.name in self.strat.params:
                return _Lin({}, self.values[f"strategy.params.{node.name}"].copy())
            return _Lin({node.name: (node, np.ones(self.n))}, zero)
        if isinstance(node, Neg):
            return self.lin(node.operand, cond).scaled(np.full(self.n, -1.0))
        a, b = self.lin(node.left, cond), self.lin(node.right, cond)
        if node.op == "+":
            return a.plus(b)
        if node.op == "-":
            return a.plus(b, -1.0)
        if not b.terms:
            if node.op == "/":
                self.check_divisor(node.right, b.const, cond)
            return a.scaled(b.const if node.op == "*" else 1.0 / b.const)
        if node.op == "*" and not a.terms:
            return b.scaled(a.const)
        if self.param_free(node.right):
            return self.distribute(a, node.op, node.right)
        if node.op == "*" and self.param_free(node.left):
            return self.distribute(b, "*", node.left)
        raise ConfigError(
            f"{self.strat.file}: {cond.where}: {cond.text!r}: {node} multiplies or divides series by an "
            "expression mixing series and parameters; write it as a sum of parameter x series terms"
        )

    def check_divisor(self, divisor: Node, value: np.ndarray, cond: CondSpec) -> None:
        """Refuse a division by parameters that are zero for some combination (a search can reach
        values the strategy's defaults do not), naming that combination."""
        bad = ~np.isfinite(value) | (value == 0.0)
        if bad.any():
            i = int(np.argmax(bad))
            at = ", ".join(f"{k}={v[i]:g}" for k, v in self.values.items() if k.startswith("strategy.params."))
            raise ConfigError(
                f"{self.strat.file}: {cond.where}={cond.text!r}: divides by {divisor} = {value[i]:g} for {at}"
            )

    def distribute(self, a: _Lin, op: str, factor: Node) -> _Lin:
        terms: dict[str, tuple[Node, np.ndarray]] = {}
        out = _Lin(terms, np.zeros(self.n))
        for node, coef in a.terms.values():
            out = out.plus(_Lin({str(Bin(op, node, factor)): (Bin(op, node, factor), coef)}, np.zeros(self.n)))
        if np.any(a.const != 0.0):
            node = Bin(op, Num(1.0), factor) if op == "/" else factor
            out = out.plus(_Lin({str(node): (node, a.const.copy())}, np.zeros(self.n)))
        return out

    def atom_columns(self, key: str, node: Node) -> np.ndarray:
        """Column per combination of a series expression (derived columns computed once per input set)."""
        if isinstance(node, Ref):
            return self.series_column(node.name)
        names = sorted(set(refs(node)))
        inputs = np.column_stack([self.series_column(n) for n in names])
        uniq, inverse = np.unique(inputs, axis=0, return_inverse=True)
        cols = np.empty(uniq.shape[0], dtype=np.int64)
        for i, row in enumerate(uniq):
            dkey = (key, tuple(int(v) for v in row))
            if dkey not in self.derived:
                env = dict(zip(names, (self.columns[int(v)] for v in row), strict=True))
                with np.errstate(all="ignore"):
                    values = _evaluate(node, env)
                self.derived[dkey] = self.add_column(values, key)
            cols[i] = self.derived[dkey]
        return cols[inverse.reshape(-1)]

    # -- everything ---------------------------------------------------------------------------
    def compile(self) -> Compiled:
        spec, strat, n = self.spec, self.strat, self.n
        params = default_params(n, len(strat.values))
        sim_cols = list(spec.sim_axes)
        for j, axis in enumerate(self.axes):
            col = sim_cols[j] if j < len(sim_cols) else E.N_SIM_PARAMS + (j - len(sim_cols))
            params[:, col] = self.values[axis.key]
        self.indicators()

        stop_col = np.full((n, 4), -1, dtype=np.int64)
        if spec.vol_period:
            stop_col[:, 3] = self.atr_column(spec.vol_period)
        for p in STOP_PARAM.values():
            params[:, p] = np.nan
        for stop in strat.stops:
            value = self.per_combo(stop.value)
            if stop.unit == "percent":
                params[:, STOP_PARAM[stop.kind]] = value / PERCENT
            else:
                params[:, STOP_PARAM[stop.kind]] = value
                stop_col[:, stop.kind] = self.series_column(stop.atr)
            params[:, STOP_PARAM[stop.kind]] = np.where(value > 0, params[:, STOP_PARAM[stop.kind]], np.nan)

        ops, clause_start, group_start = [], [0], [0]
        sides: list[_Lin] = []
        for g in range(E.N_GROUPS):
            for clause in strat.groups.get(g, []):
                for cond in clause:
                    cmp = cond.cmp
                    lhs = self.lin(cmp.lhs, cond)
                    if cmp.op == "between":
                        sides.append(lhs.plus(self.lin(cmp.rhs, cond), -1.0))
                        sides.append(self.lin(cmp.rhs2, cond).plus(lhs, -1.0))  # type: ignore[arg-type]
                    else:
                        sides.append(lhs.plus(self.lin(cmp.rhs, cond), -1.0))
                        sides.append(_Lin({}, np.zeros(n)))
                    ops.append(OP_CODES[cmp.op])
                clause_start.append(len(ops))
            group_start.append(len(clause_start) - 1)

        side_start = [0]
        term_cols, term_coefs = [], []
        side_add = np.zeros((n, len(sides)))
        for s, side in enumerate(sides):
            for key, (node, coef) in side.terms.items():
                if np.all(coef == 0.0):
                    continue
                term_cols.append(self.atom_columns(key, node))
                term_coefs.append(coef)
            side_start.append(len(term_cols))
            side_add[:, s] = side.const
        term_col = np.column_stack(term_cols).astype(np.int64) if term_cols else np.zeros((n, 0), np.int64)
        term_coef = np.column_stack(term_coefs) if term_coefs else np.zeros((n, 0))

        panel = self.panel
        ind = np.stack(self.columns) if self.columns else np.zeros((0, panel.n_bars, panel.n_assets))
        ind = np.ascontiguousarray(ind)
        defined = ~np.isnan(ind)
        first_valid = np.where(defined.any(axis=1), defined.argmax(axis=1), panel.n_bars)  # (n_cols, n_assets)
        used = np.column_stack([term_col, stop_col])
        warm = np.zeros((n, panel.n_assets), dtype=np.int64)
        for j in range(used.shape[1]):  # a handful of columns; vectorised over combinations
            cols = used[:, j]
            valid = cols >= 0
            warm[valid] = np.maximum(warm[valid], first_valid[cols[valid]])
        entry_ok = entry_mask(panel.times, timeframe_ms(panel.timeframe), strat.time_filters)
        if spec.instruments is not None:
            tiers, lots = spec.instruments.tiers, spec.instruments.lots
        else:
            tiers, lots = flat_tiers(panel.n_assets), no_lots(panel.n_assets)
        return Compiled(
            ind=ind,
            cond_op=np.asarray(ops, dtype=np.int64),
            clause_start=np.asarray(clause_start, dtype=np.int64),
            group_start=np.asarray(group_start, dtype=np.int64),
            side_start=np.asarray(side_start, dtype=np.int64),
            term_col=np.ascontiguousarray(term_col),
            term_coef=np.ascontiguousarray(term_coef, dtype=np.float64),
            side_add=np.ascontiguousarray(side_add),
            entry_ok=entry_ok,
            warm=warm,
            stop_col=stop_col,
            params=np.ascontiguousarray(params),
            axes=self.axes,
            grid_idx=self.grid,
            columns=self.described,
            tiers=tiers,
            lots=lots,
        )


def _evaluate(node: Node, env: dict[str, np.ndarray]) -> np.ndarray | float:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Ref):
        return env[node.name]
    if isinstance(node, Neg):
        return -_evaluate(node.operand, env)
    a, b = _evaluate(node.left, env), _evaluate(node.right, env)
    if node.op == "+":
        return a + b
    if node.op == "-":
        return a - b
    if node.op == "*":
        return a * b
    return a / b


def compile_strategy(spec: RunSpec, panel: MarketPanel, grid: np.ndarray | None = None) -> Compiled:
    """Kernel inputs for every combination of ``spec``'s grid over ``panel``, or only for the rows of
    ``grid`` (value indices into each axis, as ``expand_grid`` makes them) when given."""
    return _Compiler(spec, panel, grid).compile()
