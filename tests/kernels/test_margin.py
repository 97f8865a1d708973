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


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str) -> None:
    scenario, expected = SCENARIOS[name]
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
