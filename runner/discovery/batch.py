"""Many genomes as one signal program, so that a generation is one kernel call.

The program's shape is shared by every candidate: each group holds ``max_entry`` (or ``max_exit``)
slot clauses of two rows, a threshold row (``>``) and a crossing row (``crosses_above``), each
with one side of two terms; exit groups also hold a gate row. A candidate chooses the numbers:
its active row reads ``sign * (lhs - rhs)`` (``<`` and ``crosses_below`` are the negation, which is
exact in floating point), its other row never holds (``-1 > 0``), an unused slot always holds
(``1 > 0``), and an exit group without conditions never fires (its gate is ``-1 > 0``), as an
absent group of the DSL. Terms an inactive row reads are the all-zero column.
"""

import numpy as np

from kernels import enums as E
from kernels.program import default_params
from runner.data.panel import MarketPanel
from runner.discovery.catalog import Gene
from runner.discovery.genome import Cond, Genome
from runner.spec import RunSpec
from runner.strategy.assemble import Compiled, ProgramBuilder, Side, assemble, stop_fraction
from runner.strategy.compile import Frames, indicator_series
from runner.strategy.indicators import INDICATORS

ZERO, CLOSE = 0, 1
STOPS = (E.P_STOP_LOSS, E.P_TAKE_PROFIT, E.P_TRAILING_STOP)


class Columns:
    """Indicator columns aligned to the panel, computed once per (type, period, timeframe) and kept
    for the whole search; ``first`` is each column's first defined bar per asset."""

    def __init__(self, panel: MarketPanel):
        self.panel = panel
        self.frames = Frames(panel)
        zero = np.zeros((panel.n_bars, panel.n_assets))
        close = np.where(np.isfinite(panel.close), panel.close, np.nan)
        self.values: dict[tuple, np.ndarray] = {("zero",): zero, ("close",): close}

    @staticmethod
    def key_of(gene: Gene, period: int, tf: str | None) -> tuple:
        return (gene.type, period, gene.fixed, tf, gene.output)

    def key(self, c: Cond) -> tuple:
        return self.key_of(c.gene, c.period, c.tf)

    def get(self, key: tuple) -> np.ndarray:
        if key not in self.values:
            type_, period, fixed, tf, _ = key
            itype = INDICATORS[type_]
            params = {"period": float(period), **dict(fixed)}
            for o, (_, aligned) in zip(
                itype.outputs, indicator_series(self.frames, itype, params, "close", tf, 0), strict=True
            ):
                self.values[(type_, period, fixed, tf, o)] = np.where(np.isfinite(aligned), aligned, np.nan)
        return self.values[key]


def build(spec: RunSpec, panel: MarketPanel, genomes: list[Genome], slots: dict[int, int], cols: Columns) -> Compiled:
    """One program for every genome (a candidate per combination)."""
    n = len(genomes)
    # the shared shape: rows per group, two terms on each row's first side
    shape: list[list[list[int]]] = []  # each group's clauses, each a list of row numbers
    ops: list[int] = []
    for g in range(E.N_GROUPS):
        clauses = []
        for _ in range(slots[g]):
            clauses.append([len(ops), len(ops) + 1])
            ops += [E.OP_GT, E.OP_CROSS_ABOVE]
        if g in (E.G_LONG_EXIT, E.G_SHORT_EXIT):
            clauses.append([len(ops)])
            ops.append(E.OP_GT)
        shape.append(clauses)
    n_rows = len(ops)

    keys: dict[tuple, int] = {("zero",): ZERO, ("close",): CLOSE}
    term_col = np.zeros((n, 2 * n_rows), dtype=np.int64)
    term_coef = np.zeros((n, 2 * n_rows))
    side_add = np.zeros((n, 2 * n_rows))
    for c, genome in enumerate(genomes):
        r = 0
        for g in range(E.N_GROUPS):
            conds = genome.groups.get(g, [])
            for k in range(slots[g]):
                if k >= len(conds):
                    side_add[c, 2 * r] = 1.0  # an unused slot holds
                    side_add[c, 2 * r + 2] = -1.0
                else:
                    cond = conds[k]
                    col = keys.setdefault(cols.key(cond), len(keys))
                    sign = 1.0 if cond.op in (">", "crosses_above") else -1.0
                    active = r if cond.op in (">", "<") else r + 1
                    other = r + 1 if active == r else r
                    side_add[c, 2 * other] = -1.0
                    if cond.threshold is None:  # sign * (close - indicator)
                        term_col[c, 2 * active : 2 * active + 2] = (CLOSE, col)
                        term_coef[c, 2 * active : 2 * active + 2] = (sign, -sign)
                    else:  # sign * (indicator - threshold)
                        term_col[c, 2 * active] = col
                        term_coef[c, 2 * active] = sign
                        side_add[c, 2 * active] = -sign * cond.threshold
                r += 2
            if g in (E.G_LONG_EXIT, E.G_SHORT_EXIT):
                side_add[c, 2 * r] = 1.0 if conds else -1.0
                r += 1

    ordered = sorted(keys, key=keys.get)
    ind = np.stack([cols.get(k) for k in ordered])
    params = default_params(n)
    for col, axis in spec.sim_axes.items():
        params[:, col] = axis.kernel_values()[0]
    params[:, E.P_SIZING] = E.SIZE_FRACTION  # a genome's sizing is a fraction of equity
    params[:, E.P_DIRECTION] = [E.DIRECTIONS.index(g.direction) for g in genomes]
    params[:, E.P_LEVERAGE] = [g.leverage for g in genomes]
    params[:, E.P_SIZE] = [g.sizing for g in genomes]
    for p, key in zip(STOPS, ("stop_loss", "take_profit", "trailing_stop"), strict=True):
        params[:, p] = stop_fraction(np.array([getattr(g, key) for g in genomes], dtype=np.float64))
    rows = ProgramBuilder(n)
    for clauses in shape:
        for clause in clauses:
            for r in clause:
                terms = [(term_col[:, 2 * r], term_coef[:, 2 * r]), (term_col[:, 2 * r + 1], term_coef[:, 2 * r + 1])]
                rows.row(ops[r], Side(terms, side_add[:, 2 * r]), Side([], side_add[:, 2 * r + 1]))
            rows.end_clause()
        rows.end_group()
    no_stops = np.full((n, 4), -1, dtype=np.int64)
    everywhere = np.ones((panel.n_bars, panel.n_assets), dtype=np.bool_)
    columns = [" ".join(map(str, k)) for k in ordered]
    no_axes = np.zeros((n, 0), dtype=np.int64)
    return assemble(spec, panel, rows, ind, columns, params, no_stops, everywhere, [], no_axes)
