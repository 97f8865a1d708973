"""One program assembler: condition rows into the kernels' tables, and a whole ``Compiled`` program.

Both ways a program is written use it: ``runner.strategy.compile`` (a strategy's grid, which the
model and search also use) and ``runner.discovery.batch`` (many genomes in one program). A builder
takes rows clause by clause and group by group (``kernels.program`` explains the tables); ``assemble``
adds what every program derives the same way: each combination's warm-up bar per asset, and the
symbols' brackets and lot filters.
"""

from dataclasses import dataclass, field, fields, replace

import numpy as np

from kernels import enums as E
from kernels.program import Market, Program, flat_tiers, no_lots
from runner.data.panel import MarketPanel
from runner.spec import PERCENT, Axis, RunSpec


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
    entry_ok: np.ndarray  # (n_bars, n_assets) bool: time filters
    warm: np.ndarray  # (n_combos, n_assets) int64: first bar with every referenced series defined
    stop_col: np.ndarray  # (n_combos, 4) int64: ATR column of each stop (-1: percent), then of vol sizing
    params: np.ndarray  # (n_combos, N_SIM_PARAMS + n_strategy_axes)
    axes: list[Axis]
    grid_idx: np.ndarray  # (n_combos, n_axes)
    columns: list[str]  # description of each column of ``ind``
    tiers: np.ndarray  # (n_eras * n_assets, n_tiers, N_TIER) maintenance brackets, era by era
    lots: np.ndarray  # (n_eras * n_assets, N_LOT) lot filters, era by era
    rule_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # eras 1.. start (ms)

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
            liq_open=panel.liq_open,
            liq_high=panel.liq_high,
            liq_low=panel.liq_low,
            stop_open=panel.stop_open,
            stop_high=panel.stop_high,
            stop_low=panel.stop_low,
            day=panel.days,
            tiers=self.tiers,
            lots=self.lots,
            rules_row=self.rules_rows(panel.times, panel.n_assets),
        )

    def rules_rows(self, times: np.ndarray, n_assets: int) -> np.ndarray:
        """The first row of ``tiers``/``lots`` in force at each bar's open (era x n_assets)."""
        era = np.searchsorted(self.rule_starts, times, side="right")
        return np.ascontiguousarray(era * n_assets, dtype=np.int64)


@dataclass
class Side:
    """One side of a condition row: ``add + sum(coef * ind[col])``, each a value per combination."""

    terms: list[tuple[np.ndarray, np.ndarray]]  # (column (n,) int, coefficient (n,)) in summation order
    add: np.ndarray  # (n,)


class ProgramBuilder:
    """Condition rows of ``n`` combinations, added clause by clause and group by group in group order
    (``E.G_*``); ``tables`` returns the kernels' condition tables."""

    def __init__(self, n: int):
        self.n = n
        self.ops: list[int] = []
        self.clause_start = [0]
        self.group_start = [0]
        self.sides: list[Side] = []

    def row(self, op: int, first: Side, second: Side | None = None) -> None:
        """A row ``first op 0`` (``between``: ``first >= 0`` and ``second >= 0``) in the open clause."""
        self.ops.append(op)
        self.sides += [first, second if second is not None else Side([], np.zeros(self.n))]

    def end_clause(self) -> None:
        self.clause_start.append(len(self.ops))

    def end_group(self) -> None:
        self.group_start.append(len(self.clause_start) - 1)

    def tables(self) -> dict[str, np.ndarray]:
        """``cond_op``, ``clause_start``, ``group_start``, ``side_start``, ``term_col``, ``term_coef``
        and ``side_add`` as ``Compiled`` holds them."""
        n = self.n
        if len(self.group_start) != E.N_GROUPS + 1:
            raise ValueError(f"{len(self.group_start) - 1} groups ended; a program has {E.N_GROUPS}")
        side_start = [0]
        cols: list[np.ndarray] = []
        coefs: list[np.ndarray] = []
        side_add = np.zeros((n, len(self.sides)))
        for s, side in enumerate(self.sides):
            for col, coef in side.terms:
                cols.append(col)
                coefs.append(coef)
            side_start.append(len(cols))
            side_add[:, s] = side.add
        term_col = np.column_stack(cols).astype(np.int64) if cols else np.zeros((n, 0), np.int64)
        term_coef = np.column_stack(coefs).astype(np.float64) if coefs else np.zeros((n, 0))
        return {
            "cond_op": np.asarray(self.ops, dtype=np.int64),
            "clause_start": np.asarray(self.clause_start, dtype=np.int64),
            "group_start": np.asarray(self.group_start, dtype=np.int64),
            "side_start": np.asarray(side_start, dtype=np.int64),
            "term_col": np.ascontiguousarray(term_col),
            "term_coef": np.ascontiguousarray(term_coef),
            "side_add": np.ascontiguousarray(side_add),
        }


def first_valid(values: np.ndarray) -> np.ndarray:
    """The first bar with a value along axis -2 (the number of bars where there is none)."""
    defined = ~np.isnan(values)
    return np.where(defined.any(axis=-2), defined.argmax(axis=-2), values.shape[-2])


def warm_bars(ind: np.ndarray, term_col: np.ndarray, stop_col: np.ndarray) -> np.ndarray:
    """``(n_combos, n_assets)``: each combination's first bar with every series it reads defined."""
    first = first_valid(ind)  # (n_cols, n_assets)
    used = np.column_stack([term_col, stop_col])
    warm = np.zeros((used.shape[0], ind.shape[2]), dtype=np.int64)
    for j in range(used.shape[1]):  # a handful of columns; vectorised over combinations
        cols = used[:, j]
        valid = cols >= 0
        warm[valid] = np.maximum(warm[valid], first[cols[valid]])
    return warm


def stop_fraction(percent: np.ndarray) -> np.ndarray:
    """Stop distances the kernels take from percents of the fill price (0 or less: no stop, NaN)."""
    return np.where(percent > 0, percent / PERCENT, np.nan)


def assemble(
    spec: RunSpec,
    panel: MarketPanel,
    rows: ProgramBuilder,
    ind: np.ndarray,
    columns: list[str],
    params: np.ndarray,
    stop_col: np.ndarray,
    entry_ok: np.ndarray,
    axes: list[Axis],
    grid_idx: np.ndarray,
) -> Compiled:
    """The whole program: ``rows``' tables over the series ``ind`` (described by ``columns``), the
    warm-up bars they and the stops need, and the brackets and lot filters of ``spec``'s symbols."""
    tables = rows.tables()
    ind = np.ascontiguousarray(ind)
    starts = np.zeros(0, np.int64)
    if spec.instruments is not None:
        tiers, lots = spec.instruments.era_tiers, spec.instruments.era_lots
        starts = np.asarray(spec.instruments.era_starts, dtype=np.int64)
    else:
        tiers, lots = flat_tiers(panel.n_assets), no_lots(panel.n_assets)
    return Compiled(
        ind=ind,
        **tables,
        entry_ok=entry_ok,
        warm=warm_bars(ind, tables["term_col"], stop_col),
        stop_col=stop_col,
        params=np.ascontiguousarray(params),
        axes=axes,
        grid_idx=grid_idx,
        columns=columns,
        tiers=tiers,
        lots=lots,
        rule_starts=starts,
    )
