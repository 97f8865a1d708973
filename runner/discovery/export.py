"""Discovered genomes as strategy YAML (valid input to ``strategy=``), and the command line that
re-runs one with everything its result depends on."""

import shlex
from pathlib import Path

import yaml

from kernels import enums as E
from runner.discovery.genome import Genome
from runner.redact import redact_override

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
    return [f"leverage={int(genome.leverage)}", "sizing=fixed_fraction", f"sizing.fraction={genome.sizing!r}"]


# overrides of the discovery job a re-run does not replay: the search itself, the strategy, leverage
# and sizing (the genome's own), where it is tracked and Hydra's own settings
NOT_REPLAYED = ("search", "strategy", "leverage", "sizing", "tracking", "hydra")


def rerun_base(job_overrides: list[str], data: dict) -> list[str]:
    """The discovery job's overrides that shape its result (data preset, fees, filters, objective,
    execution, ...) with the search switched off and the data window stated explicitly (``data``:
    the job's resolved ``symbols``, ``timeframe``, ``start`` and ``end``)."""
    stated = {f"data.{k}" for k in data}
    kept = [
        redact_override(o)
        for o in job_overrides
        if (key := o.lstrip("+~").split("=")[0]).split(".")[0] not in NOT_REPLAYED and key not in stated
    ]
    symbols = ",".join(data["symbols"])
    window = [f"data.symbols=[{symbols}]", f"data.timeframe={data['timeframe']}"]
    window += [f"data.start={data['start']}", f"data.end={data['end']}"]
    return [*kept, "search=none", *window]


def strategy_option(path: Path, conf: Path) -> tuple[str, list[str]]:
    """``strategy=`` option naming the YAML at ``path`` and the overrides that let Hydra find it: none
    under the project's ``conf/strategy``, else a search path to the folder above its ``strategy``."""
    parts = path.with_suffix("").parts
    if "strategy" not in parts:
        return str(path.with_suffix("")), []
    k = len(parts) - 1 - parts[::-1].index("strategy")
    option = "/".join(parts[k + 1 :])
    root = Path(*parts[:k])
    return option, ([] if root == conf else [f"hydra.searchpath=[file://{root}]"])


def rerun_command(option: str, extra: list[str], genome: Genome, base: list[str]) -> str:
    """``python -m runner`` with the strategy, the genome's leverage and sizing and the job's settings."""
    args = [f"strategy={option}", *extra, *base, *run_overrides(genome)]
    return "python -m runner " + " ".join(shlex.quote(a) for a in args)


def write_yaml(raw: dict, path: Path, header: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(raw, sort_keys=False, width=200)
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    path.write_text(comment + text)
