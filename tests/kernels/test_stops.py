"""Table-driven scenarios for stops, take-profits, trailing stops, time filters and warm-up gates.

Every scenario starts with 1000 USDT, long/short all-in at 1x unless stated. Expected trades:
``(asset, side, entry_bar, exit_bar, entry_price, exit_price, qty, fees, funding, net_pnl, reason)``.
Intrabar order (documented in kernels/exits.py): stop (when nearer than liquidation) ->
liquidation -> take-profit; the trailing stop's best price moves after the bar's checks.
"""

import pytest

from tests.kernels.harness import Scenario, check_trades


def flat(p: float) -> tuple[float, float, float, float]:
    return (p, p, p, p)


BASE = [flat(100), (100, 101, 99, 100)]
CRASH = [flat(100), (100, 101, 99, 100), (100, 101, 90, 95), flat(95)]
UP = [(100, 101, 99, 100), (100, 111, 99, 110), (110, 121, 109, 120), (120, 121, 119, 120), (120, 121, 119, 120)]
LIQ_LONG_10X = (100 * 100 - 1000) / (100 * (1 - 0.004))
_m = 1000 / 1.0004
_q = _m / 100.1
_stop = 100.1 * 0.95
_px = _stop * (1 - 0.001)
_fees = _m * 0.0004 + _q * _px * 0.0004

SCENARIOS = {
    "stop-loss fills at its price inside the bar": (
        Scenario([[*BASE, (100, 101, 94, 96), flat(96)]], [{0: "LE"}], stop_loss=0.05),
        [(0, 1, 1, 2, 100, 95, 10, 0, 0, -50, "stop_loss")],
    ),
    "a bar gapping through the stop fills at the open": (
        Scenario([[*BASE, (90, 91, 89, 90), flat(90)]], [{0: "LE"}], stop_loss=0.05),
        [(0, 1, 1, 2, 100, 90, 10, 0, 0, -100, "stop_loss")],
    ),
    "stop-loss and take-profit touched in one bar: the stop-loss wins": (
        Scenario([[*BASE, (100, 106, 94, 100), flat(100)]], [{0: "LE"}], stop_loss=0.05, take_profit=0.05),
        [(0, 1, 1, 2, 100, 95, 10, 0, 0, -50, "stop_loss")],
    ),
    "take-profit fills at its price and pays the maker fee": (
        Scenario([[*BASE, (100, 106, 99, 105), flat(105)]], [{0: "LE"}], take_profit=0.05, maker=0.0002),
        [(0, 1, 1, 2, 100, 105, 10, 10 * 105 * 0.0002, 0, 50 - 0.21, "take_profit")],
    ),
    "a bar gapping through the take-profit fills at the better open": (
        Scenario([[*BASE, (110, 111, 109, 110), flat(110)]], [{0: "LE"}], take_profit=0.05),
        [(0, 1, 1, 2, 100, 110, 10, 0, 0, 100, "take_profit")],
    ),
    "stop-loss pays the taker fee and slippage": (
        Scenario([[*BASE, (100, 101, 94, 96), flat(96)]], [{0: "LE"}], stop_loss=0.05, taker=0.0004, slippage=0.001),
        [(0, 1, 1, 2, 100.1, _px, _q, _fees, 0, _q * (_px - 100.1) - _fees, "stop_loss")],
    ),
    "the stop acts on the entry bar itself": (
        Scenario([[flat(100), (100, 101, 94, 96), flat(96)]], [{0: "LE"}], stop_loss=0.05),
        [(0, 1, 1, 1, 100, 95, 10, 0, 0, -50, "stop_loss")],
    ),
    "trailing stop follows the high and acts from the next bar": (
        Scenario([[*BASE, (100, 120, 100, 118), (118, 119, 105, 106), flat(106)]], [{0: "LE"}], trailing_stop=0.10),
        [(0, 1, 1, 3, 100, 110, 10, 0, 0, 100, "trailing_stop")],
    ),
    "trailing stop of a short follows the low": (
        Scenario([[*BASE, (100, 100, 80, 82), (82, 95, 81, 94), flat(94)]], [{0: "SE"}], trailing_stop=0.10),
        [(0, -1, 1, 3, 100, 90, 10, 0, 0, 100, "trailing_stop")],
    ),
    "ATR stop: multiple x the ATR on the signal bar": (
        Scenario(
            [[*BASE, (100, 101, 95, 97), flat(97)]],
            [{0: "LE"}],
            stop_loss=2.0,
            atr=[[2.0, 50.0, 50.0, 50.0]],
        ),
        [(0, 1, 1, 2, 100, 96, 10, 0, 0, -40, "stop_loss")],
    ),
    "a stop beyond the liquidation price: liquidation comes first": (
        Scenario([CRASH], [{0: "LE"}], leverage=10, stop_loss=0.20),
        [(0, 1, 1, 2, 100, LIQ_LONG_10X, 100, 0, 0, -1000, "liquidation")],
    ),
    "a stop before the liquidation price wins over it": (
        Scenario([CRASH], [{0: "LE"}], leverage=10, stop_loss=0.05),
        [(0, 1, 1, 2, 100, 95, 100, 0, 0, -500, "stop_loss")],
    ),
    "short stop-loss sits above the entry": (
        Scenario([[*BASE, (100, 106, 99, 100), flat(100)]], [{0: "SE"}], stop_loss=0.05),
        [(0, -1, 1, 2, 100, 105, 10, 0, 0, -50, "stop_loss")],
    ),
    "short take-profit sits below the entry": (
        Scenario([[*BASE, (100, 101, 94, 96), flat(96)]], [{0: "SE"}], take_profit=0.05),
        [(0, -1, 1, 2, 100, 95, 10, 0, 0, 50, "take_profit")],
    ),
    "after a stop, a later signal enters again": (
        Scenario([[*BASE, (100, 101, 94, 96), flat(96), flat(96), flat(96)]], [{0: "LE", 3: "LE"}], stop_loss=0.05),
        [
            (0, 1, 1, 2, 100, 95, 10, 0, 0, -50, "stop_loss"),
            (0, 1, 4, 5, 96, 96, 950 / 96, 0, 0, 0, "end_of_data"),
        ],
    ),
    "entries decided outside the time filter are skipped": (
        Scenario([UP], [{0: "LE", 2: "LE"}], entry_ok={2}),
        [(0, 1, 3, 4, 120, 120, 1000 / 120, 0, 0, 0, "end_of_data")],
    ),
    "a reversal whose entry is not allowed only exits": (
        Scenario([UP], [{0: "LE", 2: "SE"}], entry_ok={0}),
        [(0, 1, 1, 3, 100, 120, 10, 0, 0, 200, "signal")],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str) -> None:
    scenario, expected = SCENARIOS[name]
    check_trades(scenario, expected)
