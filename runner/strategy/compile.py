"""Compile a parsed strategy and its parameter grid into kernel inputs.

Indicator values are computed once per unique (indicator, parameters, source, timeframe) and
shared by every combination; a combination only picks columns (``term_col``) and numbers
(``term_coef``, ``side_add``). Each condition side is normalised to a linear form
``add + sum(coef_k * series_k)`` where the coefficients may depend on parameters and the
series do not; products or quotients of series (``(ema_fast - ema_slow) / close``) become
derived columns, computed once per unique set of input columns.
"""

import numpy as np
import talib

from kernels import enums as E
from kernels.program import default_params
from runner.data.panel import MarketPanel
from runner.data.timeframes import timeframe_ms
from runner.errors import ConfigError
from runner.spec import Axis, RunSpec
from runner.strategy import timeframe as tfm
from runner.strategy.assemble import Compiled, ProgramBuilder, Side, assemble, stop_fraction
from runner.strategy.dsl import CondSpec, IndicatorSpec, StrategySpec, Value, used_names
from runner.strategy.expr import Bin, Neg, Node, Num, Ref, refs
from runner.strategy.indicators import SOURCES, IndicatorType, compute, price_source
from runner.strategy.timefilter import entry_mask

STOP_PARAM = {0: E.P_STOP_LOSS, 1: E.P_TAKE_PROFIT, 2: E.P_TRAILING_STOP}
OP_CODES = {op: i for i, op in enumerate(E.OPERATORS)}


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
                params[:, STOP_PARAM[stop.kind]] = stop_fraction(value)
            else:
                params[:, STOP_PARAM[stop.kind]] = np.where(value > 0, value, np.nan)
                stop_col[:, stop.kind] = self.series_column(stop.atr)

        rows = ProgramBuilder(n)
        for g in range(E.N_GROUPS):
            for clause in strat.groups.get(g, []):
                for cond in clause:
                    cmp = cond.cmp
                    lhs = self.lin(cmp.lhs, cond)
                    first = self.side(lhs.plus(self.lin(cmp.rhs, cond), -1.0))
                    second = self.side(self.lin(cmp.rhs2, cond).plus(lhs, -1.0)) if cmp.op == "between" else None
                    rows.row(OP_CODES[cmp.op], first, second)
                rows.end_clause()
            rows.end_group()

        panel = self.panel
        ind = np.stack(self.columns) if self.columns else np.zeros((0, panel.n_bars, panel.n_assets))
        entry_ok = entry_mask(
            panel.times, timeframe_ms(panel.timeframe), strat.time_filters, panel.settlements, panel.n_assets
        )
        return assemble(spec, panel, rows, ind, self.described, params, stop_col, entry_ok, self.axes, self.grid)

    def side(self, lin: _Lin) -> Side:
        """A condition side in the assembler's terms (terms whose coefficient is zero everywhere dropped)."""
        terms = [(self.atom_columns(key, node), coef) for key, (node, coef) in lin.terms.items() if np.any(coef != 0.0)]
        return Side(terms, lin.const)


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
