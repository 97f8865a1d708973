"""A strategy genome: per side 1..max_entry entry and 0..max_exit exit conditions, each a gene
(indicator, period, operator, threshold, timeframe), plus direction, stops, sizing and leverage.

nevergrad sees it as a parametrization of choices and scalars (its discrete and evolutionary
optimizers do the selection, crossover and mutation); the kernels see every candidate as a fixed-size
row of numbers (``Layout.encode``), canonical so that equivalent genomes compare equal.
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
        import nevergrad as ng

        d = self.d
        p: dict = {
            "direction": ng.p.Choice(list(d.directions)),
            "leverage": ng.p.TransitionChoice(list(d.leverage)),
            "sizing": ng.p.TransitionChoice(list(d.sizing)),
            "stop_loss": ng.p.TransitionChoice(list(d.stop_loss)),
            "take_profit": ng.p.TransitionChoice(list(d.take_profit)),
            "trailing_stop": ng.p.TransitionChoice(list(d.trailing_stop)),
        }
        for g, n in self.slots.items():
            for k in range(n):
                key = f"{GROUP_NAMES[g]}.{k}"
                if k > 0 or g in (E.G_LONG_EXIT, E.G_SHORT_EXIT):
                    p[f"{key}.on"] = ng.p.Choice([False, True])
                p[f"{key}.gene"] = ng.p.Choice(list(d.genes))
                p[f"{key}.period"] = ng.p.Scalar(lower=0.0, upper=1.0)
                p[f"{key}.op"] = ng.p.Choice(list(OPS))
                p[f"{key}.threshold"] = ng.p.Scalar(lower=0.0, upper=1.0)
                p[f"{key}.tf"] = ng.p.Choice(list(d.timeframes))
        param = ng.p.Dict(**p)
        param.random_state.seed(seed)
        return param

    def encode(self, value: dict) -> np.ndarray:
        """A candidate's canonical row: off slots and the sides its direction never trades are zeros."""
        d = self.d
        row = np.zeros(self.width)
        direction = value["direction"]
        row[:6] = (
            E.DIRECTIONS.index(direction),
            value["leverage"],
            value["sizing"],
            value["stop_loss"],
            value["take_profit"],
            value["trailing_stop"],
        )
        pos = len(HEADER)
        for g, n in self.slots.items():
            side_used = (g in (E.G_LONG_ENTRY, E.G_LONG_EXIT) and direction != "short") or (
                g in (E.G_SHORT_ENTRY, E.G_SHORT_EXIT) and direction != "long"
            )
            for k in range(n):
                key = f"{GROUP_NAMES[g]}.{k}"
                if side_used and value.get(f"{key}.on", True):
                    gene = GENES[value[f"{key}.gene"]]
                    thr = gene.threshold(value[f"{key}.threshold"]) if gene.level else 0.0
                    row[pos : pos + 6] = (
                        1.0,
                        GENE_NAMES.index(gene.name),
                        gene.period(value[f"{key}.period"]),
                        OPS.index(value[f"{key}.op"]),
                        thr,
                        d.timeframes.index(value[f"{key}.tf"]),
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
