"""A strategy as data: indicators plus condition groups, the form the kernels evaluate."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Operand:
    """``kind`` is ``ind`` (indicator name), ``param`` (strategy parameter) or ``const``."""

    kind: str
    ref: str | float


@dataclass(frozen=True)
class Condition:
    group: int  # kernels.enums.G_*
    op: int  # kernels.enums.OP_*
    lhs: Operand
    rhs: Operand


@dataclass(frozen=True)
class IndicatorUse:
    """An indicator instance; a parameter given as a string names a strategy parameter."""

    name: str
    type: str
    params: dict[str, str | float] = field(default_factory=dict)


@dataclass(frozen=True)
class Program:
    indicators: tuple[IndicatorUse, ...]
    conditions: tuple[Condition, ...]


def ind(name: str) -> Operand:
    return Operand("ind", name)


def param(name: str) -> Operand:
    return Operand("param", name)


def const(value: float) -> Operand:
    return Operand("const", float(value))
