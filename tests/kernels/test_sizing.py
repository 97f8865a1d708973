"""Table-driven scenarios for position sizing, its caps, lot filters and volume-impact slippage.

Every scenario starts with 1000 USDT, 1x, long on bar 0's close, filled at bar 1's open (100) and
closed by a signal at bar 3's open (120) unless stated. Expected trades:
``(asset, side, entry_bar, exit_bar, entry_price, exit_price, qty, fees, funding, net_pnl, reason)``.
"""

import numpy as np
import pytest

from tests.kernels.harness import Scenario, check_trades


def flat(p: float) -> tuple[float, float, float, float]:
    return (p, p, p, p)


UP = [(100, 101, 99, 100), (100, 111, 99, 110), (110, 121, 109, 120), (120, 121, 119, 120), (120, 121, 119, 120)]
TRADE = [{0: "LE", 2: "LX"}]
# Kelly: a +20 % and a -10 % trade on margin, then W = 1/2, avg win 0.2, avg loss 0.1:
# f* = W / 0.1 - (1 - W) / 0.2 = 2.5; x 0.2 -> half the equity (1009.8) as margin
KELLY = [flat(100), flat(100), flat(120), flat(120), flat(108), flat(108), flat(120), flat(120)]
KELLY_SIGNALS = [{0: "LE", 1: "LX", 2: "LE", 3: "LX", 4: "LE", 5: "LX"}]
EVEN = [flat(100), flat(100), flat(110), flat(110), flat(99), flat(99), flat(120), flat(120)]
LOW = [flat(30), flat(30), flat(36), flat(36)]
# impact 0.1 x sqrt(qty / volume of the deciding bar): entry decided on bar 0 (volume 1,000), exit on
# bar 2 (250); the fill bars' volumes (4,000 and 9) are never read
VOLUME = [[1000.0, 4000.0, 250.0, 9.0, 9.0]]
_entry = 100 * (1 + 0.1 * np.sqrt(10 / 1000))
_q = 1000 / _entry
_exit = 120 * (1 - 0.1 * np.sqrt(_q / 250))
_Q_FEE = 1000 / 1.001 / 100  # all-in at 1x with a 0.1 % taker fee set aside

SCENARIOS = {
    "fixed notional: 500 USDT at 1x": (
        Scenario([UP], TRADE, sizing="fixed_notional", fraction=500),
        [(0, 1, 1, 3, 100, 120, 5, 0, 0, 100, "signal")],
    ),
    "fixed notional: 500 USDT at 5x uses a fifth of the margin": (
        Scenario([UP], TRADE, sizing="fixed_notional", fraction=500, leverage=5),
        [(0, 1, 1, 3, 100, 120, 5, 0, 0, 100, "signal")],
    ),
    "risk per trade: 2 % of equity over a 5 % stop is 400 USDT": (
        Scenario([UP], TRADE, sizing="risk_per_trade", fraction=0.02, stop_loss=0.05),
        [(0, 1, 1, 3, 100, 120, 4, 0, 0, 80, "signal")],
    ),
    "risk per trade with an ATR stop: 2 x ATR 5 is a 10 % distance": (
        Scenario([UP], TRADE, sizing="risk_per_trade", fraction=0.02, stop_loss=2.0, atr=[[5.0, 5.0, 5.0, 5.0, 5.0]]),
        [(0, 1, 1, 3, 100, 120, 2, 0, 0, 40, "signal")],
    ),
    "volatility target: 1 % of equity per ATR (2 % of price) is 500 USDT": (
        Scenario([UP], TRADE, sizing="volatility_target", fraction=0.01, atr=[[2.0, 9.0, 9.0, 9.0, 9.0]], vol_col=True),
        [(0, 1, 1, 3, 100, 120, 5, 0, 0, 100, "signal")],
    ),
    "kelly: the fallback fraction until min_trades, then the Kelly fraction": (
        Scenario([KELLY], KELLY_SIGNALS, sizing="kelly", fraction=0.2, kelly_min_trades=2, kelly_fallback=0.1),
        [
            (0, 1, 1, 2, 100, 120, 1, 0, 0, 20, "signal"),
            (0, 1, 3, 4, 120, 108, 0.85, 0, 0, -10.2, "signal"),
            (0, 1, 5, 6, 108, 120, 504.9 / 108, 0, 0, 504.9 / 108 * 12, "signal"),
        ],
    ),
    "kelly: no edge (f* <= 0) places no order": (
        Scenario([EVEN], KELLY_SIGNALS, sizing="kelly", fraction=0.5, kelly_min_trades=2, kelly_fallback=0.1),
        [
            (0, 1, 1, 2, 100, 110, 1, 0, 0, 10, "signal"),
            (0, 1, 3, 4, 110, 99, 101 / 110, 0, 0, -10.1, "signal"),
        ],
    ),
    "max_position_size caps the margin": (
        Scenario([UP], TRADE, max_position=0.25),
        [(0, 1, 1, 3, 100, 120, 2.5, 0, 0, 50, "signal")],
    ),
    "the portfolio exposure cap leaves the second asset what is left": (
        Scenario([UP, UP], TRADE * 2, leverage=5, fraction=0.5, max_exposure=3.0),
        [(0, 1, 1, 3, 100, 120, 25, 0, 0, 500, "signal"), (1, 1, 1, 3, 100, 120, 5, 0, 0, 100, "signal")],
    ),
    "the quantity rounds down to the symbol's step": (
        Scenario([LOW], TRADE, lots=[(0.1, 0.1, 5.0)]),
        [(0, 1, 1, 3, 30, 36, 33.3, 0, 0, 33.3 * 6, "signal")],
    ),
    "an order below the minimum notional is not placed": (Scenario([LOW], TRADE, lots=[(0.1, 0.1, 2000.0)]), []),
    "an order below the minimum quantity is not placed": (Scenario([LOW], TRADE, lots=[(1.0, 50.0, 0.0)]), []),
    "an order of exactly the minimum notional is placed (the whole wallet, its fee set aside)": (
        Scenario([UP], TRADE, taker=0.001, lots=[(0.0, 0.0, 1000 / 1.001)]),
        [(0, 1, 1, 3, 100, 120, _Q_FEE, 0.22 * _Q_FEE, 0, 20 * _Q_FEE - 0.22 * _Q_FEE, "signal")],
    ),
    "half the equity at exactly the minimum notional is placed": (
        Scenario([UP], TRADE, fraction=0.5, lots=[(0.0, 0.0, 500.0)]),
        [(0, 1, 1, 3, 100, 120, 5, 0, 0, 100, "signal")],
    ),
    "half the equity under the minimum notional is not placed, though the wallet would do": (
        Scenario([UP], TRADE, fraction=0.5, lots=[(0.0, 0.0, 500.01)]),
        [],
    ),
    "square-root impact reads the deciding bar's volume": (
        Scenario([UP], TRADE, impact=0.1, volume=VOLUME),
        [(0, 1, 1, 3, _entry, _exit, _q, 0, 0, _q * (_exit - _entry), "signal")],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str) -> None:
    scenario, expected = SCENARIOS[name]
    check_trades(scenario, expected)
