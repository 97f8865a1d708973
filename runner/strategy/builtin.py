"""Built-in strategies: a parameter schema and a program each."""

from dataclasses import dataclass

from kernels import enums as E
from runner.errors import ConfigError
from runner.strategy.program import Condition, IndicatorUse, Program, ind, param


@dataclass(frozen=True)
class StrategyDef:
    schema: dict[str, tuple[float, float, bool]]  # name -> (low, high, integer)
    program: Program


RSI = StrategyDef(
    schema={
        "period": (2, 1000, True),
        "lower": (0, 100, False),
        "upper": (0, 100, False),
        "exit_level": (0, 100, False),
    },
    program=Program(
        indicators=(IndicatorUse("rsi", "RSI", {"timeperiod": "period"}),),
        conditions=(
            Condition(E.G_LONG_ENTRY, E.OP_LT, ind("rsi"), param("lower")),
            Condition(E.G_LONG_EXIT, E.OP_GT, ind("rsi"), param("exit_level")),
            Condition(E.G_SHORT_ENTRY, E.OP_GT, ind("rsi"), param("upper")),
            Condition(E.G_SHORT_EXIT, E.OP_LT, ind("rsi"), param("exit_level")),
        ),
    ),
)

STRATEGIES = {"rsi": RSI}


def strategy_def(name: object) -> StrategyDef:
    if name not in STRATEGIES:
        raise ConfigError(f"strategy.name={name!r}: unknown strategy; valid: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]  # type: ignore[index]
