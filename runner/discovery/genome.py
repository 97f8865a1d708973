"""A strategy genome: per side 1..max_entry entry and 0..max_exit exit conditions, each a gene
(indicator, period, operator, threshold, timeframe), plus direction, stops, sizing and leverage.

nevergrad sees it as one vector of bounded scalars, each gene's choices a scalar cut in equal parts
(its discrete and evolutionary optimizers do the selection, crossover and mutation); the kernels see
every candidate as a fixed-size row of numbers (``Layout.encode``), canonical so that equivalent
genomes compare equal.
"""

from dataclasses import dataclass, field

import numpy as np

from kernels import enums as E
from runner.discovery.catalog import GENES, OPS, DiscoverSpec, Gene

GENE_NAMES = tuple(GENES)
HEADER = ("direction", "leverage", "sizing", "stop_loss", "take_profit", "trailing_stop")
SLOT = ("on", "gene", "period", "op", "threshold", "tf")
GROUP_NAMES = {
    E.G_LONG_ENTRY: "entry.long",
    E.G_LONG_EXIT: "exit.long",
    E.G_SHORT_ENTRY: "entry.short",
    E.G_SHORT_EXIT: "exit.short",
}


@dataclass(frozen=True)
class Cond:
    gene: Gene
    period: int
    op: str
    threshold: float | None  # None: compared with the close
    tf: str | None

    @property
    def indicator(self) -> str:
        """The DSL name of its indicator (one per type, parameters and timeframe)."""
        name = f"{self.gene.type.lower()}_{self.period}"
        return name + (f"_{self.tf}" if self.tf else "")

    @property
    def operand(self) -> str:
        return self.indicator + ("" if self.gene.output == "value" else f".{self.gene.output}")

    def text(self) -> str:
        """The condition in the DSL (thresholds written so that they parse back to the same float)."""
        if self.threshold is None:
            return f"close {self.op} {self.operand}"
        return f"{self.operand} {self.op} {self.threshold!r}"


@dataclass
class Genome:
    direction: str
    leverage: float
    sizing: float
    stop_loss: float  # percent; 0: none
    take_profit: float
    trailing_stop: float
    groups: dict[int, list[Cond]] = field(default_factory=dict)

    @property
    def n_conditions(self) -> int:
        return sum(len(v) for v in self.groups.values())

    def describe(self) -> str:
        parts = []
        for g, conds in self.groups.items():
            if conds:
                parts.append(f"{GROUP_NAMES[g]}: " + " & ".join(c.text() for c in conds))
        stops = [
            f"{k} {v:g}%"
            for k, v in (("sl", self.stop_loss), ("tp", self.take_profit), ("trail", self.trailing_stop))
            if v
        ]
        return "; ".join(parts + stops) + f"; {self.direction} x{self.leverage:g} size {self.sizing:g}"


def _pick(u: float, options: tuple):
    """The option at ``u`` in [0, 1]: ``k`` options cut the interval into ``k`` equal parts."""
    return options[min(int(u * len(options)), len(options) - 1)]


class Layout:
    """Where each gene lives in a candidate's row, and the parametrization nevergrad searches."""

    def __init__(self, d: DiscoverSpec):
        self.d = d
        self.slots = {
            E.G_LONG_ENTRY: d.max_entry,
            E.G_LONG_EXIT: d.max_exit,
            E.G_SHORT_ENTRY: d.max_entry,
            E.G_SHORT_EXIT: d.max_exit,
        }
        self.width = len(HEADER) + len(SLOT) * sum(self.slots.values())

    def parametrization(self, seed: int):
        """The genome as one bounded vector of scalars in [0, 1] (a choice among k options is a
        scalar cut in k equal parts): cheap for nevergrad to copy, mutate and recombine, where a
        dictionary of a few hundred Choice parameters costs 0.2 s per candidate asked."""
        import nevergrad as ng

        param = ng.p.Array(shape=(self.width,), lower=0.0, upper=1.0)
        param.random_state.seed(seed)
        return param

    def encode(self, value: np.ndarray) -> np.ndarray:
        """A candidate's canonical row: off slots and the sides its direction never trades are zeros."""
        d = self.d
        u = np.clip(np.asarray(value, dtype=np.float64), 0.0, 1.0)
        row = np.zeros(self.width)
        direction = _pick(u[0], d.directions)
        row[:6] = (
            E.DIRECTIONS.index(direction),
            _pick(u[1], d.leverage),
            _pick(u[2], d.sizing),
            _pick(u[3], d.stop_loss),
            _pick(u[4], d.take_profit),
            _pick(u[5], d.trailing_stop),
        )
        pos = len(HEADER)
        for g, n in self.slots.items():
            side_used = (g in (E.G_LONG_ENTRY, E.G_LONG_EXIT) and direction != "short") or (
                g in (E.G_SHORT_ENTRY, E.G_SHORT_EXIT) and direction != "long"
            )
            always = g in (E.G_LONG_ENTRY, E.G_SHORT_ENTRY)  # the first entry condition is always on
            for k in range(n):
                on, gu, pu, ou, tu, fu = u[pos : pos + 6]
                if side_used and ((always and k == 0) or on >= 0.5):
                    gene = GENES[_pick(gu, d.genes)]
                    row[pos : pos + 6] = (
                        1.0,
                        GENE_NAMES.index(gene.name),
                        gene.period(pu),
                        OPS.index(_pick(ou, OPS)),
                        gene.threshold(tu) if gene.level else 0.0,
                        d.timeframes.index(_pick(fu, d.timeframes)),
                    )
                pos += len(SLOT)
        return row

    def decode(self, row: np.ndarray) -> Genome:
        d = self.d
        g = Genome(E.DIRECTIONS[int(row[0])], *(float(x) for x in row[1:6]))
        pos = len(HEADER)
        for group, n in self.slots.items():
            conds = []
            for _ in range(n):
                on, gi, period, op, thr, tf = row[pos : pos + 6]
                if on:
                    gene = GENES[GENE_NAMES[int(gi)]]
                    conds.append(
                        Cond(gene, int(period), OPS[int(op)], float(thr) if gene.level else None, d.timeframes[int(tf)])
                    )
                pos += len(SLOT)
            g.groups[group] = conds
        return g
