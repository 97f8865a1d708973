"""Promotion gates: checks on a run's recorded metrics that a version must pass to be promoted."""

import math
from collections.abc import Mapping
from dataclasses import dataclass

from runner.errors import ConfigError

GATES = (
    "no_liquidation",
    "min_trades",
    "max_drawdown",
    "min_dsr",
    "min_wfe",
    "require_survivor",
    "min_paper_days",
    "max_drift",
)
PAPER_GATES = ("min_paper_days", "max_drift")  # read the version's paper sessions; applied on the way to champion


@dataclass(frozen=True)
class Gate:
    name: str
    value: float | None  # the run's figure (None: not recorded)
    threshold: object
    passed: bool
    applied: bool  # False: off, or the run did not record the figure (a filter that did not run)

    @property
    def verdict(self) -> str:
        if not self.applied:
            return "off" if self.threshold is None or self.threshold is False else "skipped"
        return "pass" if self.passed else "FAIL"

    def describe(self) -> str:
        shown = "-" if self.value is None or math.isnan(self.value) else f"{self.value:.4g}"
        return f"{self.verdict}: {self.name} {shown} (threshold {self.threshold})"


def gate_settings(raw: Mapping | None) -> dict[str, object]:
    """Validated ``promote.gates`` (every key known, numbers where numbers go)."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(GATES))
    if unknown:
        raise ConfigError(f"promote.gates.{unknown[0]}: no such gate; valid: {', '.join(GATES)}")
    for key in ("min_trades", "max_drawdown", "min_dsr", "min_wfe", *PAPER_GATES):
        v = raw.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
            raise ConfigError(f"promote.gates.{key}={v!r}: must be a number >= 0, or null (off)")
    for key in ("no_liquidation", "require_survivor"):
        if raw.get(key) not in (None, True, False):
            raise ConfigError(f"promote.gates.{key}={raw.get(key)!r}: must be true or false")
    return {k: raw.get(k) for k in GATES}


def check_gates(
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    settings: Mapping[str, object],
    paper: Mapping[str, float] | None = None,
) -> list[Gate]:
    """Every gate against a run's metrics and tags; the paper gates against ``paper`` (the version's
    longest paper session: ``paper_days``, ``drift``), only when given (a move to champion)."""

    def metric(name: str) -> float | None:
        v = metrics.get(name)
        return None if v is None or math.isnan(v) else float(v)

    out = []
    for name in GATES:
        threshold = settings.get(name)
        if name in PAPER_GATES:
            value = None if paper is None else paper.get("paper_days" if name == "min_paper_days" else "drift")
            on = threshold is not None and paper is not None
            low = name == "min_paper_days"
            passed = on and value is not None and (value >= threshold if low else value <= threshold)  # type: ignore[operator]
        elif name == "no_liquidation":
            value = metric("n_liquidations")
            on = bool(threshold)
            passed = value is not None and value == 0
        elif name == "require_survivor":
            value = 0.0 if tags.get("no_survivor") == "true" else 1.0
            on = bool(threshold)
            passed = value == 1.0
        else:
            key = {"min_trades": "n_trades", "max_drawdown": "max_drawdown", "min_dsr": "dsr", "min_wfe": "wfe"}[name]
            value = metric(key)
            on = threshold is not None and (value is not None or name in ("min_trades", "max_drawdown"))
            if not on:  # null turns a gate off (as does a statistic the run did not record, for DSR/WFE)
                passed = True
            elif value is None:
                passed = False
            elif name == "max_drawdown":
                passed = value <= float(threshold)  # type: ignore[arg-type]
            else:
                passed = value >= float(threshold)  # type: ignore[arg-type]
        out.append(Gate(name, value, threshold, passed if on else True, on))
    return out
