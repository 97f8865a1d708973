"""Table-driven scenarios for margin: tiered maintenance brackets, cross margin, bracket leverage caps.

Every scenario starts with 1000 USDT. Expected trades:
``(asset, side, entry_bar, exit_bar, entry_price, exit_price, qty, fees, funding, net_pnl, reason)``.
Cross margin (kernels/margin.py): stops first, then the account is liquidated when its margin
balance with every position at its worst price of the bar is at or below the summed maintenance
margin; each position fills at its liquidation price with the others at their worst prices
(clamped into its bar; the open on a gap), and the account ends at zero.
"""

import numpy as np
import pytest

from kernels.perp import liquidation_price, maintenance_margin, max_notional
from tests.kernels.harness import Scenario, check_trades, run


def flat(p: float) -> tuple[float, float, float, float]:
    return (p, p, p, p)


# brackets: 1 % up to 5,000 USDT of notional (max 100x), then 5 % (cum 200 = 5,000 x 4 %, max 10x)
TWO_TIERS = [(5000.0, 0.01, 0.0, 100.0), (np.inf, 0.05, 200.0, 10.0)]
CAPPED = [(5000.0, 0.01, 0.0, 20.0), (np.inf, 0.05, 200.0, 5.0)]
UP = [(100, 101, 99, 100), (100, 111, 99, 110), (110, 121, 109, 120), (120, 121, 119, 120), (120, 121, 119, 120)]
STEADY = [flat(100)] * 4
DROP = [flat(100), flat(100), (100, 100, 80, 85), flat(85)]  # asset 1 falls to 80 inside bar 2
GAP = [flat(100), flat(100), (70, 72, 68, 70), flat(70)]
STOPPED = [flat(100), flat(100), (100, 100, 80, 85), flat(85)]
# 10x, 500 USDT margin on each asset: qty 50 at 100; maintenance 0.4 % (one bracket)
CROSS_LP = 4020 / 49.8  # asset 1's price where 1000 + 50 (P - 100) = 0.004 x 50 x (100 + P): asset 0 at 100
ISO_LP = (5000 - 500) / (50 * 0.996)
# the same accounts short: asset 1's price where 1000 - 50 (P - 100) = 0.004 x 50 x (100 + P)
CROSS_SHORT_LP = 5980 / 50.2
RISE = [flat(100), flat(100), (100, 125, 100, 120), flat(120)]  # asset 1 rises to 125 inside bar 2
# isolated 10x long, 1000 margin, qty 100 at 100: funding of 1 % at bar 2 takes 100 from the margin,
# so the liquidation price moves from 9000 / 99.6 = 90.36 up to 9100 / 99.6 = 91.37 (low of bar 2: 91)
FUNDED = [flat(100), flat(100), (100, 100, 91, 95), flat(95)]
# cross exit floor: 2 % slippage, 10x, half the equity as margin: asset 0 enters at 102 with qty
# 5000 / 102, then asset 1 at 102 with half of 1000 + q0 (100 - 102). Asset 1's exit signal fills at
# bar 3's open 83 less 2 % = 81.34, beyond its liquidation price with asset 0 at its open (82.37):
# margin = 1000 + q0 (100 - 102) - 0.004 q0 100, P = (q1 102 - margin) / (0.996 q1)
SLIP_Q = 5000 / 102
SLIP_Q1 = (1000 - 2 * SLIP_Q) * 0.5 * 10 / 102
FLOOR = (SLIP_Q1 * 102 - (1000 - 2.4 * SLIP_Q)) / (0.996 * SLIP_Q1)
SLIDE = [flat(100), flat(100), flat(90), flat(83), flat(83)]
HELD = (0, 1, 1, 4, 102, 117.6, SLIP_Q, 0, 0, SLIP_Q * (117.6 - 102), "end_of_data")  # asset 0 to the end


def sliding(other: list) -> Scenario:
    """Cross 10x, half the equity each, 2 % slippage: asset 0 follows ``other``, asset 1 ``SLIDE`` and
    exits on its bar-2 signal."""
    return Scenario(
        [other, SLIDE], [{0: "LE"}, {0: "LE", 2: "LX"}], leverage=10, fraction=0.5, slippage=0.02, margin_mode="cross"
    )


SCENARIOS = {
    "tiered brackets: a 10x long is liquidated on its bracket's line": (
        Scenario([[flat(100), flat(100), (100, 100, 92, 93), flat(93)]], [{0: "LE"}], leverage=10, tiers=[TWO_TIERS]),
        [(0, 1, 1, 2, 100, 8800 / 95, 100, 0, 0, -1000, "liquidation")],  # (10000 - 1000 - 200) / (100 x 0.95)
    ),
    "tiered brackets: above the first bracket's price the position survives": (
        Scenario([[flat(100), flat(100), (100, 100, 92.7, 93), flat(93)]], [{0: "LE"}], leverage=10, tiers=[TWO_TIERS]),
        [(0, 1, 1, 3, 100, 93, 100, 0, 0, -700, "end_of_data")],
    ),
    "a bracket's max leverage caps the notional": (
        Scenario([UP], [{0: "LE", 2: "LX"}], leverage=10, tiers=[CAPPED]),  # 10x allowed up to 5,000 only
        [(0, 1, 1, 3, 100, 120, 50, 0, 0, 1000, "signal")],
    ),
    "isolated: one asset's crash liquidates only its own position": (
        Scenario([STEADY, DROP], [{0: "LE"}, {0: "LE"}], leverage=10, fraction=0.5),
        [
            (0, 1, 1, 3, 100, 100, 50, 0, 0, 0, "end_of_data"),
            (1, 1, 1, 2, 100, ISO_LP, 50, 0, 0, -500, "liquidation"),
        ],
    ),
    "cross: another asset's loss liquidates the whole account": (
        Scenario([STEADY, DROP], [{0: "LE"}, {0: "LE"}], leverage=10, fraction=0.5, margin_mode="cross"),
        [
            (0, 1, 1, 2, 100, 100, 50, 0, 0, -20, "liquidation"),  # its maintenance margin goes to the fund
            (1, 1, 1, 2, 100, CROSS_LP, 50, 0, 0, -980, "liquidation"),
        ],
    ),
    "cross: the shared wallet outlasts isolated margin": (
        Scenario(
            [STEADY, [flat(100), flat(100), (100, 100, 85, 85), flat(85)]],
            [{0: "LE"}, {0: "LE"}],
            leverage=10,
            fraction=0.5,
            margin_mode="cross",
        ),
        [(0, 1, 1, 3, 100, 100, 50, 0, 0, 0, "end_of_data"), (1, 1, 1, 3, 100, 85, 50, 0, 0, -750, "end_of_data")],
    ),
    "cross: a gap through the account's liquidation fills every position at its open": (
        Scenario([STEADY, GAP], [{0: "LE"}, {0: "LE"}], leverage=10, fraction=0.5, margin_mode="cross"),
        [
            (0, 1, 1, 2, 100, 100, 50, 0, 0, 0, "liquidation"),  # no loss of its own: none of the deficit
            (1, 1, 1, 2, 100, 70, 50, 0, 0, -1000, "liquidation"),  # -1500, the fund absorbs 500
        ],
    ),
    "cross: stops act before the account's liquidation test": (
        Scenario(
            [STEADY, STOPPED], [{0: "LE"}, {0: "LE"}], leverage=10, fraction=0.5, margin_mode="cross", stop_loss=0.05
        ),
        [(0, 1, 1, 3, 100, 100, 50, 0, 0, 0, "end_of_data"), (1, 1, 1, 2, 100, 95, 50, 0, 0, -250, "stop_loss")],
    ),
    "cross: a short's rise liquidates the whole account": (
        Scenario([STEADY, RISE], [{0: "SE"}, {0: "SE"}], leverage=10, fraction=0.5, margin_mode="cross"),
        [
            (0, -1, 1, 2, 100, 100, 50, 0, 0, -20, "liquidation"),  # its maintenance margin goes to the fund
            (1, -1, 1, 2, 100, CROSS_SHORT_LP, 50, 0, 0, -980, "liquidation"),
        ],
    ),
    "isolated: funding paid from the margin moves the liquidation price": (
        Scenario([FUNDED], [{0: "LE"}], leverage=10, funding=[{2: 0.01}]),
        [(0, 1, 1, 2, 100, 9100 / 99.6, 100, 0, 100, -1000, "liquidation")],  # the whole margin: 100 + 900
    ),
    "isolated: without the funding the same bar is survived": (
        Scenario([FUNDED], [{0: "LE"}], leverage=10),
        [(0, 1, 1, 3, 100, 95, 100, 0, 0, -500, "end_of_data")],
    ),
    "cross: a market exit is capped at the liquidation price (the others at their opens)": (
        sliding([*STEADY, flat(120)]),
        [
            HELD,
            (1, 1, 1, 3, 102, FLOOR, SLIP_Q1, 0, 0, SLIP_Q1 * (FLOOR - 102), "signal"),
        ],
    ),
    "cross: with the other asset up at the open the floor is lower and the exit fills": (
        sliding([flat(100), flat(100), flat(100), flat(110), flat(120)]),
        [
            HELD,
            (1, 1, 1, 3, 102, 83 * 0.98, SLIP_Q1, 0, 0, SLIP_Q1 * (83 * 0.98 - 102), "signal"),
        ],
    ),
    "cross: funding settles against the shared wallet": (
        Scenario([STEADY], [{0: "SE"}], leverage=10, margin_mode="cross", funding=[{2: 0.01}]),
        [(0, -1, 1, 3, 100, 100, 100, 0, -100, 100, "end_of_data")],  # the short receives 100 x 100 x 1 %
    ),
}

# Liquidation on the mark price (execution.liquidation_trigger=mark, the default): isolated 10x long,
# qty 100 at 100 with 1000 margin, liquidation price 9000 / 99.6 = 90.36; the last price's wick and
# the mark's differ inside bar 2.
LAST_WICK = [flat(100), flat(100), (100, 100, 88, 95), flat(95)]  # last reaches 88
MARK_HOLDS = [flat(100), flat(100), (100, 100, 92, 95), flat(95)]  # mark stays above 90.36
LAST_HOLDS = [flat(100), flat(100), (100, 100, 93, 95), flat(95)]
MARK_WICK = [flat(100), flat(100), (100, 100, 90, 95), flat(95)]
LAST_OPENS_ABOVE = [flat(100), flat(100), (92, 95, 91, 94), flat(94)]
MARK_GAPS = [flat(100), flat(100), (89, 95, 88, 94), flat(94)]
ISO_LIQ = 9000 / 99.6
SURVIVED = [(0, 1, 1, 3, 100, 95, 100, 0, 0, -500, "end_of_data")]
LIQUIDATED = [(0, 1, 1, 2, 100, ISO_LIQ, 100, 0, 0, -1000, "liquidation")]
# cross, the accounts above: asset 1's last price falls to 80 (beyond CROSS_LP = 80.72), its mark to 85
MARK_DIPS = [flat(100), flat(100), (100, 100, 85, 86), flat(85)]
LAST_DIPS = [flat(100), flat(100), (100, 100, 85, 85), flat(85)]
# stops on the mark (execution.stop_trigger=mark): a 5 % stop at 95
LAST_STOPS = [flat(100), flat(100), (100, 100, 94, 96), flat(96)]
MARK_ABOVE_STOP = [flat(100), flat(100), (100, 100, 95.5, 96), flat(96)]
MARK_STOPS = [flat(100), flat(100), (100, 100, 94.5, 96), flat(96)]
LAST_ABOVE_STOP = [flat(100), flat(100), (100, 100, 95.5, 96), flat(96)]
LAST_OPEN_94_5 = [flat(100), flat(100), (94.5, 96, 94.5, 96), flat(96)]
MARK_OPEN_94 = [flat(100), flat(100), (94, 96, 94, 96), flat(96)]
STOPPED_AT = [(0, 1, 1, 2, 100, 95, 10, 0, 0, -50, "stop_loss")]  # 1x: qty 10
ISO10 = {"leverage": 10}

MARK_SCENARIOS = {
    "mark: a last-price wick through the liquidation price that the mark does not reach is survived": (
        Scenario([LAST_WICK], [{0: "LE"}], mark=[MARK_HOLDS], **ISO10),
        [(0, 1, 1, 3, 100, 95, 100, 0, 0, -500, "end_of_data")],
    ),
    "last: the same wick liquidates when the last price triggers": (
        Scenario([LAST_WICK], [{0: "LE"}], mark=[MARK_HOLDS], liquidation_trigger="last", **ISO10),
        LIQUIDATED,
    ),
    "mark: the mark's wick liquidates while the last price stays above": (
        Scenario([LAST_HOLDS], [{0: "LE"}], mark=[MARK_WICK], **ISO10),
        LIQUIDATED,
    ),
    "last: the same bar is survived when the last price triggers": (
        Scenario([LAST_HOLDS], [{0: "LE"}], mark=[MARK_WICK], liquidation_trigger="last", **ISO10),
        SURVIVED,
    ),
    "mark: a gap through the liquidation price on the mark's open fills at the mark's open": (
        Scenario([LAST_OPENS_ABOVE], [{0: "LE"}], mark=[MARK_GAPS], **ISO10),
        [(0, 1, 1, 2, 100, 89, 100, 0, 0, -1000, "liquidation")],
    ),
    "mark: a stop beyond the liquidation price fills when only the last price reaches it (at the floor)": (
        Scenario([LAST_WICK], [{0: "LE"}], mark=[MARK_HOLDS], stop_loss=0.12, **ISO10),  # stop at 88
        [(0, 1, 1, 2, 100, ISO_LIQ, 100, 0, 0, 100 * (ISO_LIQ - 100), "stop_loss")],
    ),
    "last: that stop is never reached before the liquidation": (
        Scenario([LAST_WICK], [{0: "LE"}], mark=[MARK_HOLDS], stop_loss=0.12, liquidation_trigger="last", **ISO10),
        LIQUIDATED,
    ),
    "cross on the mark: the last price falls through the account's liquidation price, the mark does not": (
        Scenario(
            [STEADY, DROP], [{0: "LE"}, {0: "LE"}], mark=[STEADY, MARK_DIPS], leverage=10, fraction=0.5,
            margin_mode="cross",
        ),
        [(0, 1, 1, 3, 100, 100, 50, 0, 0, 0, "end_of_data"), (1, 1, 1, 3, 100, 85, 50, 0, 0, -750, "end_of_data")],
    ),
    "cross on the mark: the mark falls through it, the last price does not": (
        Scenario(
            [STEADY, LAST_DIPS], [{0: "LE"}, {0: "LE"}], mark=[STEADY, DROP], leverage=10, fraction=0.5,
            margin_mode="cross",
        ),
        [
            (0, 1, 1, 2, 100, 100, 50, 0, 0, -20, "liquidation"),
            (1, 1, 1, 2, 100, CROSS_LP, 50, 0, 0, -980, "liquidation"),
        ],
    ),
    "cross on the mark: a gap on the mark's open fills every position at its mark open": (
        Scenario(
            [STEADY, [flat(100), flat(100), (75, 76, 74, 75), flat(75)]], [{0: "LE"}, {0: "LE"}],
            mark=[STEADY, GAP], leverage=10, fraction=0.5, margin_mode="cross",
        ),
        [
            (0, 1, 1, 2, 100, 100, 50, 0, 0, 0, "liquidation"),
            (1, 1, 1, 2, 100, 70, 50, 0, 0, -1000, "liquidation"),
        ],
    ),
    "stop on the last price (default): the last price reaches the stop, the mark does not": (
        Scenario([LAST_STOPS], [{0: "LE"}], mark=[MARK_ABOVE_STOP], stop_loss=0.05),
        STOPPED_AT,
    ),
    "stop on the mark: the same bar does not stop": (
        Scenario([LAST_STOPS], [{0: "LE"}], mark=[MARK_ABOVE_STOP], stop_loss=0.05, stop_trigger="mark"),
        [(0, 1, 1, 3, 100, 96, 10, 0, 0, -40, "end_of_data")],
    ),
    "stop on the mark: the mark reaches the stop, the last price does not; it fills at the stop": (
        Scenario([LAST_ABOVE_STOP], [{0: "LE"}], mark=[MARK_STOPS], stop_loss=0.05, stop_trigger="mark"),
        STOPPED_AT,
    ),
    "stop on the mark: the mark opens beyond the stop; it fills at the last price's open": (
        Scenario([LAST_OPEN_94_5], [{0: "LE"}], mark=[MARK_OPEN_94], stop_loss=0.05, stop_trigger="mark"),
        [(0, 1, 1, 2, 100, 94.5, 10, 0, 0, -55, "stop_loss")],
    ),
}  # fmt: skip

# Point-in-time exchange rules: brackets (and lot filters) in force from bar ``rules_from``. Isolated
# 10x long, qty 100 at 100 with 1000 margin: liquidation at 9000 / 99.6 = 90.36 under a 0.4 % bracket,
# 9000 / 99 = 90.91 under a 1 % one; the bar's low of 90.5 lies between the two.
TIER_04 = [(np.inf, 0.004, 0.0, 125.0)]
TIER_1 = [(np.inf, 0.01, 0.0, 125.0)]
TWICE = [flat(100), flat(100), flat(100), flat(100), flat(100), (100, 100, 90.5, 95), flat(95)]
DIPS_NOW = [flat(100), flat(100), (100, 100, 90.5, 95), flat(95)]
BRACKET_SCENARIOS = {
    "the first entry under the old bracket survives, the second under the new one is liquidated": (
        Scenario(
            [TWICE], [{0: "LE", 2: "LX", 3: "LE"}], leverage=10, tiers=[TIER_04], later_tiers=[TIER_1], rules_from=4
        ),
        [(0, 1, 1, 3, 100, 100, 100, 0, 0, 0, "signal"), (0, 1, 4, 5, 100, 9000 / 99, 100, 0, 0, -1000, "liquidation")],
    ),
    "without the change the second entry survives the same bar": (
        Scenario([TWICE], [{0: "LE", 2: "LX", 3: "LE"}], leverage=10, tiers=[TIER_04]),
        [(0, 1, 1, 3, 100, 100, 100, 0, 0, 0, "signal"), (0, 1, 4, 6, 100, 95, 100, 0, 0, -500, "end_of_data")],
    ),
    "a change while the position is open moves its liquidation price from that bar on": (
        Scenario([DIPS_NOW], [{0: "LE"}], leverage=10, tiers=[TIER_04], later_tiers=[TIER_1], rules_from=2),
        [(0, 1, 1, 2, 100, 9000 / 99, 100, 0, 0, -1000, "liquidation")],
    ),
    "a larger minimum notional from bar 4 on: the second entry is not placed": (
        Scenario([TWICE], [{0: "LE", 2: "LX", 3: "LE"}], later_lots=[(0.0, 0.0, 20_000.0)], rules_from=4),
        [(0, 1, 1, 3, 100, 100, 10, 0, 0, 0, "signal")],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(BRACKET_SCENARIOS))
def test_point_in_time_rules_scenario(name: str) -> None:
    scenario, expected = BRACKET_SCENARIOS[name]
    check_trades(scenario, expected)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str) -> None:
    scenario, expected = SCENARIOS[name]
    check_trades(scenario, expected)


@pytest.mark.parametrize("name", list(MARK_SCENARIOS))
def test_mark_price_scenario(name: str) -> None:
    scenario, expected = MARK_SCENARIOS[name]
    check_trades(scenario, expected)


def test_cross_liquidation_leaves_nothing() -> None:
    _, equity, metrics = run(SCENARIOS["cross: another asset's loss liquidates the whole account"][0])
    assert metrics["final_equity"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["n_liquidations"] == 2 and metrics["liquidated"] == 1.0
    assert equity[-1] == pytest.approx(0.0, abs=1e-9)


BTC = np.array(
    [
        (300000, 0.004, 0, 150),
        (800000, 0.005, 300, 100),
        (3000000, 0.0065, 1500, 75),
        (12000000, 0.01, 12000, 50),
        (70000000, 0.02, 132000, 25),
        (np.inf, 0.025, 482000, 20),
    ],
    dtype=np.float64,
)[:, [0, 1, 2, 3]]


@pytest.mark.parametrize(
    "notional, expected",
    [(0.0, 0.0), (100_000, 400.0), (300_000, 1200.0), (500_000, 500_000 * 0.005 - 300), (5e6, 5e6 * 0.01 - 12000)],
)
def test_maintenance_margin_follows_the_bracket(notional: float, expected: float) -> None:
    assert maintenance_margin(notional, BTC) == pytest.approx(expected, rel=1e-12)


def test_tiered_liquidation_price_is_consistent_with_its_bracket() -> None:
    # 1,000,000 USDT of BTC at 50,000 with 100,000 margin (10x): the answer lies in the third bracket
    q, entry, margin = 20.0, 50_000.0, 100_000.0
    lp = liquidation_price(q, entry, margin, BTC)
    assert lp == pytest.approx((q * entry - margin - 1500) / (q * (1 - 0.0065)), rel=1e-12)
    balance = margin + q * (lp - entry)
    assert balance == pytest.approx(maintenance_margin(q * lp, BTC), rel=1e-9)
    short = liquidation_price(-q, entry, margin, BTC)
    assert -q * (short - entry) + margin == pytest.approx(maintenance_margin(q * short, BTC), rel=1e-9)


def test_max_notional_per_leverage() -> None:
    assert max_notional(20.0, BTC) == np.inf
    assert max_notional(50.0, BTC) == 12_000_000
    assert max_notional(150.0, BTC) == 300_000
    assert max_notional(200.0, BTC) == 0.0
