"""Hard constraints before ranking: minimum trades, maximum drawdown, minimum profit factor, no
liquidation."""

import numpy as np

from kernels import enums as E
from runner.filters.outcome import Context, Outcome
from runner.filters.spec import Constraints


def verdict(spec: Constraints, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per combination of metrics ``m``: passes every rule, the first rule it breaks ("" if none);
    and how many break each rule."""
    reason = np.full(m.shape[0], "", dtype=object)
    rules = [
        ("no_liquidation", spec.no_liquidation, m[:, E.M_N_LIQUIDATIONS] == 0),
        ("min_trades", True, m[:, E.M_N_TRADES] >= spec.min_trades),
        ("max_drawdown", spec.max_drawdown is not None, m[:, E.M_MAX_DRAWDOWN] <= (spec.max_drawdown or 0.0)),
        (
            "min_profit_factor",
            spec.min_profit_factor is not None,
            m[:, E.M_PROFIT_FACTOR] >= (spec.min_profit_factor or 0.0),
        ),
    ]
    passed = np.ones(m.shape[0], dtype=bool)
    counts = []
    for name, active, ok in rules:
        if not active:
            continue
        reason[passed & ~ok] = name
        counts.append(f"{name} {int((~ok).sum())}")
        passed &= ok
    return passed, reason, counts


def run(spec: Constraints, ctx: Context) -> Outcome:
    passed, reason, counts = verdict(spec, ctx.metrics)
    return Outcome(
        "constraints",
        passed,
        columns={"constraints_pass": passed, "constraints_failed": reason.astype(str)},
        summary="failing: " + ", ".join(counts),
    )
