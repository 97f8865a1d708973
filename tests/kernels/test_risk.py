"""Table-driven scenarios for the risk circuit breakers.

Every scenario starts with 1000 USDT, all-in at 1x. A breach is read on the equity marked at a bar's
close; it closes every position like a signal (at the next open, exit reason ``risk_halt``) and
signals are ignored until the halt ends (``cooldown`` bars after the breach bar; a daily-loss halt
at least until the next UTC day). Expected trades:
``(asset, side, entry_bar, exit_bar, entry_price, exit_price, qty, fees, funding, net_pnl, reason)``.
"""

import pytest

from tests.kernels.harness import Scenario, check_trades, run


def flat(p: float) -> tuple[float, float, float, float]:
    return (p, p, p, p)


# equity 1000 -> 880 on bar 2's close: a 12 % drawdown
SLIDE = [flat(100), flat(100), (100, 100, 88, 88), flat(88), flat(88), flat(88), flat(90), flat(95)]
# 1000 -> 940 on bar 2's close: a 6 % loss on UTC day 0
DAILY = [flat(100), flat(100), (100, 100, 94, 94), flat(94), flat(94), flat(94), flat(100)]
LOSSES = [flat(100), flat(100), flat(98), flat(98), flat(96), flat(96), flat(96), flat(96), flat(100)]
SCALE = [flat(100), flat(100), flat(88), flat(88), flat(90)]

SCENARIOS = {
    "max drawdown halts, closes at the next open and waits out the cooldown": (
        Scenario([SLIDE], [{0: "LE", 3: "LE", 5: "LE"}], dd_halt=0.10, cooldown=2),
        [
            (0, 1, 1, 3, 100, 88, 10, 0, 0, -120, "risk_halt"),
            (0, 1, 6, 7, 90, 95, 880 / 90, 0, 0, 880 / 90 * 5, "end_of_data"),  # bar 3's entry was ignored
        ],
    ),
    "fill_at=close: the halt closes at the breach bar's close": (
        Scenario([SLIDE], [{0: "LE"}], dd_halt=0.10, fill_at="close"),
        [(0, 1, 0, 2, 100, 88, 10, 0, 0, -120, "risk_halt")],
    ),
    "daily loss limit halts until the next UTC day": (
        Scenario([DAILY], [{0: "LE", 3: "LE", 4: "LE"}], daily_loss=0.05, day=[0, 0, 0, 0, 1, 1, 1]),
        [
            (0, 1, 1, 3, 100, 94, 10, 0, 0, -60, "risk_halt"),
            (0, 1, 5, 6, 94, 100, 10, 0, 0, 60, "end_of_data"),  # bar 3 is still day 0
        ],
    ),
    "consecutive losses halt for the cooldown": (
        Scenario([LOSSES], [{0: "LE", 1: "LX", 2: "LE", 3: "LX", 4: "LE", 5: "LE", 6: "LE"}], max_losses=2, cooldown=1),
        [
            (0, 1, 1, 2, 100, 98, 10, 0, 0, -20, "signal"),
            (0, 1, 3, 4, 98, 96, 10, 0, 0, -20, "signal"),
            (0, 1, 7, 8, 96, 100, 10, 0, 0, 40, "end_of_data"),  # entries on bars 4 and 5 ignored
        ],
    ),
    "a drawdown past the scale level halves new positions": (
        Scenario([SCALE], [{0: "LE", 1: "LX", 2: "LE"}], dd_scale_at=0.10, dd_scale=0.5),
        [(0, 1, 1, 2, 100, 88, 10, 0, 0, -120, "signal"), (0, 1, 3, 4, 88, 90, 5, 0, 0, 10, "end_of_data")],
    ),
    "breakers off: the same slide trades on": (
        Scenario([SLIDE], [{0: "LE"}]),
        [(0, 1, 1, 7, 100, 95, 10, 0, 0, -50, "end_of_data")],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str) -> None:
    scenario, expected = SCENARIOS[name]
    check_trades(scenario, expected)


def test_halts_are_counted() -> None:
    _, _, metrics = run(SCENARIOS["max drawdown halts, closes at the next open and waits out the cooldown"][0])
    assert metrics["n_halts"] == 1
    _, _, metrics = run(SCENARIOS["breakers off: the same slide trades on"][0])
    assert metrics["n_halts"] == 0
