"""Promotion gates, table-driven: which pass, fail or are skipped for given run metrics."""

import math

import pytest

from runner.errors import ConfigError
from runner.promote.gates import check_gates, gate_settings

DEFAULT = {
    "no_liquidation": True,
    "min_trades": 30,
    "max_drawdown": 0.5,
    "min_dsr": 0.9,
    "min_wfe": 0.5,
    "require_survivor": True,
}
GOOD = {"n_liquidations": 0.0, "n_trades": 40.0, "max_drawdown": 0.2}


@pytest.mark.parametrize(
    "metrics, tags, settings, verdicts",
    [
        # no filter ran: DSR and WFE gates are skipped, the rest pass
        (GOOD, {}, {}, {"min_dsr": "skipped", "min_wfe": "skipped", "min_trades": "pass"}),
        # one liquidation fails no_liquidation
        ({**GOOD, "n_liquidations": 1.0}, {}, {}, {"no_liquidation": "FAIL"}),
        # 30 trades is enough, 29 is not
        ({**GOOD, "n_trades": 30.0}, {}, {}, {"min_trades": "pass"}),
        ({**GOOD, "n_trades": 29.0}, {}, {}, {"min_trades": "FAIL"}),
        # the drawdown cap is inclusive
        ({**GOOD, "max_drawdown": 0.5}, {}, {}, {"max_drawdown": "pass"}),
        ({**GOOD, "max_drawdown": 0.51}, {}, {}, {"max_drawdown": "FAIL"}),
        # recorded DSR / WFE are checked against their thresholds
        ({**GOOD, "dsr": 0.95, "wfe": 0.4}, {}, {}, {"min_dsr": "pass", "min_wfe": "FAIL"}),
        ({**GOOD, "dsr": 0.5, "wfe": 0.8}, {}, {}, {"min_dsr": "FAIL", "min_wfe": "pass"}),
        # a NaN figure counts as not recorded
        ({**GOOD, "dsr": math.nan}, {}, {}, {"min_dsr": "skipped"}),
        # no survivor of the run's filters
        (GOOD, {"no_survivor": "true"}, {}, {"require_survivor": "FAIL"}),
        # gates turned off never fail
        ({**GOOD, "n_liquidations": 3.0}, {}, {"no_liquidation": False, "min_trades": None}, {"no_liquidation": "off"}),
        ({**GOOD, "n_trades": 1.0}, {}, {"min_trades": None}, {"min_trades": "off"}),
    ],
)
def test_gates(metrics, tags, settings, verdicts) -> None:
    gates = {g.name: g for g in check_gates(metrics, tags, gate_settings({**DEFAULT, **settings}))}
    assert gates["min_paper_days"].verdict == gates["max_drift"].verdict == "off"  # not a move to champion
    for name, verdict in verdicts.items():
        assert gates[name].verdict == verdict, gates[name].describe()
    failing = {g.name for g in gates.values() if g.verdict == "FAIL"}
    assert failing == {n for n, v in verdicts.items() if v == "FAIL"}


PAPER = {"min_paper_days": 30, "max_drift": 0.2}


@pytest.mark.parametrize(
    "paper, settings, verdicts",
    [
        # the longest paper session: 45 days, drift 0.1
        ({"paper_days": 45.0, "drift": 0.1}, PAPER, {"min_paper_days": "pass", "max_drift": "pass"}),
        # the bounds are inclusive
        ({"paper_days": 30.0, "drift": 0.2}, PAPER, {"min_paper_days": "pass", "max_drift": "pass"}),
        ({"paper_days": 29.9, "drift": 0.21}, PAPER, {"min_paper_days": "FAIL", "max_drift": "FAIL"}),
        # no paper session of the version: both fail
        ({}, PAPER, {"min_paper_days": "FAIL", "max_drift": "FAIL"}),
        # off by default, each on its own
        ({}, {}, {"min_paper_days": "off", "max_drift": "off"}),
        ({"paper_days": 45.0, "drift": 0.1}, {"min_paper_days": 30}, {"min_paper_days": "pass", "max_drift": "off"}),
        ({"paper_days": 45.0, "drift": 0.9}, {"max_drift": 0.2}, {"min_paper_days": "off", "max_drift": "FAIL"}),
    ],
)
def test_paper_gates_on_the_way_to_champion(paper, settings, verdicts) -> None:
    gates = {g.name: g for g in check_gates(GOOD, {}, gate_settings({**DEFAULT, **settings}), paper)}
    assert {name: gates[name].verdict for name in verdicts} == verdicts


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"min_sharpe": 1}, "promote.gates.min_sharpe: no such gate; valid: no_liquidation"),
        ({"min_trades": -1}, "promote.gates.min_trades=-1: must be a number >= 0, or null (off)"),
        ({"max_drawdown": "half"}, "promote.gates.max_drawdown='half'"),
        ({"no_liquidation": "yes"}, "promote.gates.no_liquidation='yes': must be true or false"),
    ],
)
def test_bad_gate_settings(raw, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        gate_settings(raw)
