"""Table-driven kernel scenarios (freqtrade backtest-detail style): hand-made candles, exact trades.

Every scenario starts with 1000 USDT. Expected trade tuples:
``(asset, side, entry_bar, exit_bar, entry_price, exit_price, qty, fees, funding, net_pnl, reason)``.
"""

import numpy as np
import pytest

from kernels import enums as E
from kernels.metrics import risk_score
from kernels.perp import liquidation_price
from kernels.program import flat_tiers
from kernels.simulate import simulate_grid
from tests.kernels.harness import Scenario, arrays, check_trades, run


def flat(p: float) -> tuple[float, float, float, float]:
    return (p, p, p, p)


# a rising market: opens 100, 100, 110, 120, 120
UP = [(100, 101, 99, 100), (100, 111, 99, 110), (110, 121, 109, 120), (120, 121, 119, 120), (120, 121, 119, 120)]
CRASH = [flat(100), (100, 101, 99, 100), (100, 101, 90, 95), flat(95)]
GAP = [flat(100), (100, 101, 99, 100), (85, 86, 84, 85), flat(85)]
SQUEEZE = [flat(100), (100, 101, 99, 100), (100, 111, 99, 105), flat(105)]

LIQ_LONG_10X = (100 * 100 - 1000) / (100 * (1 - 0.004))  # 90.3614457831...
LIQ_SHORT_10X = (100 * 100 + 1000) / (100 * (1 + 0.004))  # 109.5617529880...
_m = 1000 / 1.0004  # margin capped so that margin + entry fee fits the wallet
_q = _m / 100.1  # entry at 100 * (1 + 10 bps)
_fees = _m * 0.0004 + _q * 119.88 * 0.0004

SCENARIOS = {
    "long fills at next open, exits on signal": (
        Scenario([UP], [{0: "LE", 2: "LX"}]),
        [(0, 1, 1, 3, 100, 120, 10, 0, 0, 200, "signal")],
    ),
    "short fills at next open, exits on signal": (
        Scenario([UP], [{0: "SE", 2: "SX"}]),
        [(0, -1, 1, 3, 100, 120, 10, 0, 0, -200, "signal")],
    ),
    "taker fee and slippage on both fills": (
        Scenario([UP], [{0: "LE", 2: "LX"}], taker=0.0004, slippage=0.001),
        [(0, 1, 1, 3, 100.1, 119.88, _q, _fees, 0, _q * (119.88 - 100.1) - _fees, "signal")],
    ),
    "5x leverage multiplies quantity": (
        Scenario([UP], [{0: "LE", 2: "LX"}], leverage=5),
        [(0, 1, 1, 3, 100, 120, 50, 0, 0, 1000, "signal")],
    ),
    "10x long liquidated intrabar at the liquidation price": (
        Scenario([CRASH], [{0: "LE"}], leverage=10),
        [(0, 1, 1, 2, 100, LIQ_LONG_10X, 100, 0, 0, -1000, "liquidation")],
    ),
    "bar gapping through the liquidation price fills at the open": (
        Scenario([GAP], [{0: "LE"}], leverage=10),
        [(0, 1, 1, 2, 100, 85, 100, 0, 0, -1000, "liquidation")],
    ),
    "10x short liquidated when high reaches the liquidation price": (
        Scenario([SQUEEZE], [{0: "SE"}], leverage=10),
        [(0, -1, 1, 2, 100, LIQ_SHORT_10X, 100, 0, 0, -1000, "liquidation")],
    ),
    "1x long is never liquidated, even near zero": (
        Scenario([[flat(100), flat(100), (100, 100, 1, 1), flat(1)]], [{0: "LE"}]),
        [(0, 1, 1, 3, 100, 1, 10, 0, 0, -990, "end_of_data")],
    ),
    "positive funding: long pays qty x settle price x rate": (
        Scenario([UP], [{0: "LE", 2: "LX"}], funding=[{2: 0.001}]),
        [(0, 1, 1, 3, 100, 120, 10, 0, 10 * 110 * 0.001, 200 - 1.1, "signal")],
    ),
    "positive funding: short receives": (
        Scenario([UP], [{0: "SE", 2: "SX"}], funding=[{2: 0.001}]),
        [(0, -1, 1, 3, 100, 120, 10, 0, -1.1, -200 + 1.1, "signal")],
    ),
    "negative funding: long receives": (
        Scenario([UP], [{0: "LE", 2: "LX"}], funding=[{2: -0.001}]),
        [(0, 1, 1, 3, 100, 120, 10, 0, -1.1, 200 + 1.1, "signal")],
    ),
    "funding settles before fills: not on the entry bar, yes on the exit bar": (
        Scenario([UP], [{0: "LE", 2: "LX"}], funding=[{1: 0.01, 3: 0.002}]),
        [(0, 1, 1, 3, 100, 120, 10, 0, 10 * 120 * 0.002, 200 - 2.4, "signal")],
    ),
    "opposite entry reverses at the same open": (
        Scenario([UP], [{0: "LE", 2: "SE"}]),
        [
            (0, 1, 1, 3, 100, 120, 10, 0, 0, 200, "signal"),
            (0, -1, 3, 4, 120, 120, 10, 0, 0, 0, "end_of_data"),
        ],
    ),
    "open position closes at the last close": (
        Scenario([UP], [{0: "LE"}]),
        [(0, 1, 1, 4, 100, 120, 10, 0, 0, 200, "end_of_data")],
    ),
    "fill_at=close fills on the signal bar's close": (
        Scenario([UP], [{0: "LE", 2: "LX"}], fill_at="close"),
        [(0, 1, 0, 2, 100, 120, 10, 0, 0, 200, "signal")],
    ),
    "direction=long ignores short entries": (Scenario([UP], [{0: "SE"}], direction="long"), []),
    "direction=short ignores long entries": (Scenario([UP], [{0: "LE"}], direction="short"), []),
    "a signal on the last bar never fills": (Scenario([UP], [{4: "LE"}]), []),
    "conflicting entries on one bar stay flat": (Scenario([UP], [{0: "LE,SE"}]), []),
    "an order waits for the next tradable bar": (
        Scenario([UP], [{0: "LE"}], tradable=[{1}]),
        [(0, 1, 2, 4, 110, 120, 1000 / 110, 0, 0, 1000 / 110 * 10, "end_of_data")],
    ),
    "isolated: a liquidation loses only that position's margin": (
        Scenario([CRASH, [flat(50)] * 4], [{0: "LE"}, {0: "LE"}], leverage=10, fraction=0.5),
        [
            (0, 1, 1, 2, 100, (50 * 100 - 500) / (50 * 0.996), 50, 0, 0, -500, "liquidation"),
            (1, 1, 1, 3, 50, 50, 100, 0, 0, 0, "end_of_data"),
        ],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str) -> None:
    scenario, expected = SCENARIOS[name]
    check_trades(scenario, expected)


def test_equity_curve_marks_to_close() -> None:
    _, equity, metrics = run(Scenario([UP], [{0: "LE", 2: "LX"}]))
    np.testing.assert_allclose(equity, [1000, 1100, 1200, 1200, 1200])
    assert metrics["max_drawdown"] == 0.0
    assert metrics["total_return"] == pytest.approx(0.2)
    assert metrics["exposure"] == pytest.approx(2 / 5)  # held over the closes of bars 1 and 2
    assert metrics["win_rate"] == 1.0


def test_drawdown_and_score() -> None:
    candles = [flat(100), flat(100), flat(80), flat(120), flat(120)]
    _, equity, metrics = run(Scenario([candles], [{0: "LE"}], leverage=2))
    # qty 20: closes 100, 80, 120 -> equity 1000, 600, 1400
    np.testing.assert_allclose(equity, [1000, 1000, 600, 1400, 1400])
    assert metrics["max_drawdown"] == pytest.approx(0.4)
    assert metrics["score"] == pytest.approx(0.4 / (0.4 * 2))


# (total_return, max_drawdown, leverage, score): R / (DD x L) when R >= 0, R x DD x L when R < 0
SCORES = [
    (0.4, 0.4, 2.0, 0.5),
    (0.4, 0.2, 2.0, 1.0),
    (0.4, 0.4, 4.0, 0.25),
    (0.0, 0.3, 1.0, 0.0),
    (0.0, 0.0, 1.0, np.nan),  # flat: 0/0
    (-0.88, 0.9, 1.0, -0.792),
    (-1.0, 1.0, 10.0, -10.0),
    (-0.2, 0.5, 3.0, -0.3),
]


@pytest.mark.parametrize("r, dd, lev, expected", SCORES)
def test_score_table(r, dd, lev, expected) -> None:
    np.testing.assert_allclose(risk_score(r, dd, lev), expected, rtol=1e-12)


@pytest.mark.parametrize("r", [0.5, 0.01, 0.0, -0.01, -0.5, -1.0])
def test_score_never_rewards_more_risk(r) -> None:
    """All else equal, more leverage or more drawdown never ranks higher (10x at -100 % used to
    outrank 1x at -88 %)."""
    levels = [0.05, 0.2, 0.5, 1.0]
    for lo, hi in zip(levels, levels[1:], strict=False):
        assert not risk_score(r, hi, 2.0) > risk_score(r, lo, 2.0)
    for lo, hi in [(1.0, 2.0), (2.0, 10.0), (10.0, 125.0)]:
        assert not risk_score(r, 0.3, hi) > risk_score(r, 0.3, lo)
    assert risk_score(-1.0, 1.0, 10.0) < risk_score(-0.88, 0.9, 1.0)


def test_score_of_a_losing_leveraged_run() -> None:
    candles = [flat(100), flat(100), flat(90), flat(95), flat(95)]
    _, equity, metrics = run(Scenario([candles], [{0: "LE"}], leverage=2))
    # qty 20: closes 100, 90, 95 -> equity 1000, 800, 900: R -0.1, DD 0.2, L 2
    np.testing.assert_allclose(equity, [1000, 1000, 800, 900, 900])
    assert metrics["score"] == pytest.approx(-0.1 * 0.2 * 2)


@pytest.mark.parametrize(
    "qty, entry, margin, mmr, cum, expected",
    [
        (10, 100, 1000, 0.004, 0, 0.0),  # 1x long: never
        (20, 100, 1000, 0.004, 0, (2000 - 1000) / (20 * 0.996)),  # 2x long
        (100, 100, 1000, 0.004, 0, 9000 / 99.6),  # 10x long
        (-10, 100, 1000, 0.004, 0, 2000 / 10.04),  # 1x short
        (-200, 100, 1000, 0.005, 50, (20000 + 1000 + 50) / (200 * 1.005)),  # 20x short, bracket amount
        (200, 100, 1000, 0.005, 50, (20000 - 1000 - 50) / (200 * 0.995)),  # 20x long, bracket amount
    ],
)
def test_liquidation_price(qty, entry, margin, mmr, cum, expected) -> None:
    assert liquidation_price(qty, entry, margin, flat_tiers(1, mmr, cum)[0]) == pytest.approx(expected, rel=1e-12)


def test_liquidation_price_brackets_long_below_entry_short_above() -> None:
    for lev in range(2, 21):
        q = lev * 1000 / 100
        assert 0 < liquidation_price(q, 100.0, 1000.0, flat_tiers(1)[0]) < 100
        assert liquidation_price(-q, 100.0, 1000.0, flat_tiers(1)[0]) > 100


def test_an_empty_range_of_combinations_gives_empty_tables() -> None:
    args = arrays(Scenario([[(100.0, 101.0, 99.0, 100.0)] * 3], [{}]))
    metrics, blocks = simulate_grid(*args, 0, 0, 1000.0, 8760.0, np.array([0, 0, 1], dtype=np.int64), 2)
    assert metrics.shape == (0, E.N_METRICS) and blocks.shape == (0, 2, E.N_BLOCK)
