"""Discovered genomes as strategy YAML (valid input to ``strategy=``)."""

from pathlib import Path

import yaml

from kernels import enums as E
from runner.discovery.genome import Genome

SIDES = {"long": (E.G_LONG_ENTRY, E.G_LONG_EXIT), "short": (E.G_SHORT_ENTRY, E.G_SHORT_EXIT)}


def strategy_dict(genome: Genome, name: str, description: str = "") -> dict:
    """The DSL mapping of a genome: one indicator per (type, period, timeframe) it reads."""
    sides = [s for s in ("long", "short") if genome.direction in (s, "both")]
    indicators: dict[str, dict] = {}
    entry: dict[str, list[str]] = {}
    exit_: dict[str, list[str]] = {}
    for side in sides:
        g_entry, g_exit = SIDES[side]
        for group, out in ((g_entry, entry), (g_exit, exit_)):
            conds = genome.groups.get(group, [])
            for c in conds:
                body: dict = {"type": c.gene.type, "period": c.period, **dict(c.gene.fixed)}
                if c.tf:
                    body["timeframe"] = c.tf
                indicators[c.indicator] = body
            if conds:
                out[side] = [c.text() for c in conds]
    raw: dict = {"name": name}
    if description:
        raw["description"] = description
    raw["direction"] = genome.direction
    raw["indicators"] = indicators
    raw["entry"] = entry
    if exit_:
        raw["exit"] = exit_
    for key in ("stop_loss", "take_profit", "trailing_stop"):
        value = getattr(genome, key)
        if value > 0:
            raw[key] = {"percent": value}
    return raw


def run_overrides(genome: Genome) -> list[str]:
    """The run settings the genome chose besides its strategy."""
    return [f"leverage={int(genome.leverage)}", f"sizing.fraction={genome.sizing!r}"]


def write_yaml(raw: dict, path: Path, header: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(raw, sort_keys=False, width=200)
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    path.write_text(comment + text)
