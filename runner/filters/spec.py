"""The ``filters`` config group as typed settings; every error names the key and what is valid."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.errors import ConfigError
from runner.filters.splits import Span, parse_span


@dataclass(frozen=True)
class Constraints:
    min_trades: int = 50
    max_drawdown: float | None = 0.5
    min_profit_factor: float | None = 1.0
    no_liquidation: bool = True


@dataclass(frozen=True)
class Deflated:
    threshold: float = 0.95


@dataclass(frozen=True)
class WalkForward:
    train: Span
    test: Span
    step: Span
    anchored: bool = False
    min_wfe: float = 0.5
    min_profitable: float = 0.5


@dataclass(frozen=True)
class PurgedKFold:
    folds: int = 5
    purge: Span | None = None
    embargo: float = 0.01
    min_sharpe: float = 0.0


@dataclass(frozen=True)
class Pbo:
    blocks: int = 16
    max_pbo: float = 0.5


@dataclass(frozen=True)
class Pareto:
    max_rank: int = 1


@dataclass(frozen=True)
class FiltersSpec:
    constraints: Constraints | None = None
    dsr: Deflated | None = None
    walk_forward: WalkForward | None = None
    purged_kfold: PurgedKFold | None = None
    pbo: Pbo | None = None
    pareto: Pareto | None = None

    @property
    def enabled(self) -> list[str]:
        return [name for name in DEFENSES if getattr(self, name) is not None]


DEFENSES = ("constraints", "dsr", "walk_forward", "purged_kfold", "pbo", "pareto")
FIELDS = {
    "constraints": ("min_trades", "max_drawdown", "min_profit_factor", "no_liquidation"),
    "dsr": ("threshold",),
    "walk_forward": ("mode", "train", "test", "step", "min_wfe", "min_profitable"),
    "purged_kfold": ("folds", "purge", "embargo", "min_sharpe"),
    "pbo": ("blocks", "max_pbo"),
    "pareto": ("max_rank",),
}


def _number(raw: Mapping, name: str, key: str, lo: float, hi: float, *, integer=False, optional=False):
    value = raw.get(key)
    full = f"filters.{name}.{key}"
    if value is None and optional:
        return None
    kind = "an integer" if integer else "a number"
    rule = f"{kind} from {lo:g} to {hi:g}" + (" or null" if optional else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{full}={value!r}: must be {rule}")
    if integer and not float(value).is_integer():
        raise ConfigError(f"{full}={value!r}: must be {rule}")
    if not lo <= value <= hi:
        raise ConfigError(f"{full}={value!r}: must be {rule}")
    return int(value) if integer else float(value)


def _flag(raw: Mapping, name: str, key: str) -> bool:
    value = raw.get(key)
    if not isinstance(value, bool):
        raise ConfigError(f"filters.{name}.{key}={value!r}: must be true or false")
    return value


def filters_spec(raw: Any) -> FiltersSpec:
    """Parse the composed ``filters`` node (``None`` or ``{}``: no defense)."""
    if raw is None:
        return FiltersSpec()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"filters={raw!r}: choose configs of the filters group, e.g. filters=[dsr,walk_forward]")
    found: dict[str, Any] = {}
    for name, body in raw.items():
        if name not in DEFENSES:
            raise ConfigError(f"filters.{name}: unknown defense; valid: {', '.join(DEFENSES)}")
        body = body or {}
        if not isinstance(body, Mapping):
            raise ConfigError(f"filters.{name}={body!r}: must be a mapping of {', '.join(FIELDS[name])}")
        for key in body:
            if key not in FIELDS[name]:
                raise ConfigError(f"filters.{name}.{key}: unknown setting; valid: {', '.join(FIELDS[name])}")
        found[name] = _parse(name, body)
    return FiltersSpec(**found)


def _parse(name: str, b: Mapping) -> Any:
    if name == "constraints":
        return Constraints(
            min_trades=_number(b, name, "min_trades", 0, 1e9, integer=True),
            max_drawdown=_number(b, name, "max_drawdown", 0.0, 1.0, optional=True),
            min_profit_factor=_number(b, name, "min_profit_factor", 0.0, 1e9, optional=True),
            no_liquidation=_flag(b, name, "no_liquidation"),
        )
    if name == "dsr":
        return Deflated(threshold=_number(b, name, "threshold", 0.0, 1.0))
    if name == "walk_forward":
        mode = b.get("mode")
        if mode not in ("rolling", "anchored"):
            raise ConfigError(f"filters.walk_forward.mode={mode!r}: valid: rolling, anchored")
        test = parse_span(b.get("test"), "filters.walk_forward.test")
        step = b.get("step")
        return WalkForward(
            train=parse_span(b.get("train"), "filters.walk_forward.train"),
            test=test,
            step=test if step is None else parse_span(step, "filters.walk_forward.step"),
            anchored=mode == "anchored",
            min_wfe=_number(b, name, "min_wfe", -1e9, 1e9),
            min_profitable=_number(b, name, "min_profitable", 0.0, 1.0),
        )
    if name == "purged_kfold":
        purge = b.get("purge")
        return PurgedKFold(
            folds=_number(b, name, "folds", 2, 100, integer=True),
            purge=None if purge is None else parse_span(purge, "filters.purged_kfold.purge"),
            embargo=_number(b, name, "embargo", 0.0, 0.5),
            min_sharpe=_number(b, name, "min_sharpe", -1e9, 1e9),
        )
    if name == "pbo":
        blocks = _number(b, name, "blocks", 4, 24, integer=True)
        if blocks % 2:
            raise ConfigError(f"filters.pbo.blocks={blocks}: must be an even integer from 4 to 24")
        return Pbo(blocks=blocks, max_pbo=_number(b, name, "max_pbo", 0.0, 1.0))
    return Pareto(max_rank=_number(b, name, "max_rank", 1, 1000, integer=True))
