"""Funding rates beyond Binance's cap and floor (75 % of the first bracket's maintenance rate) are
reported from the real history, never altered."""

import numpy as np

from kernels.program import flat_tiers
from runner.config import validate
from runner.data.panel import build_panel
from runner.funding_caps import beyond_caps, caps
from tests.runner.strategy.test_compile import cfg_for, synthetic


def test_cap_is_three_quarters_of_the_first_maintenance_rate() -> None:
    spec = validate(cfg_for("data.start=2021-01-01", "data.end=2021-01-31"))
    np.testing.assert_allclose(caps(spec.instruments.tiers), [0.003, 0.003, 0.00375, 0.00375])  # BTC ETH XRP LTC


def test_rates_beyond_the_cap_by_hand() -> None:
    panel = synthetic([100.0] * 4)
    events = np.array([[0.0, 0.001], [1.0, 0.003], [2.0, 0.0031], [3.0, -0.0035]])
    panel.funding_events = (events,)
    counts, warnings = beyond_caps(panel, flat_tiers(1, mmr=0.004))  # cap 0.3 %: exactly at it is not beyond
    assert counts == {"A0USDT": 2}
    assert warnings == [
        "A0USDT: 2 funding rates beyond the cap of +-0.300% (75 % of the first bracket's maintenance rate), "
        "first 1970-01-01T00:00Z at 0.3100%, largest -0.3500%; charged as recorded (the brackets were likely "
        "different then)"
    ]


def test_real_2021_history_against_todays_brackets() -> None:
    """BTCUSDT touched its 0.3 % cap and never passed it; ETHUSDT was charged 0.375 % on 2021-01-04
    08:00, beyond today's 0.3 % (its first bracket's rate was higher then)."""
    spec = validate(cfg_for("data.start=2021-01-01", "data.end=2021-01-31"))
    panel = build_panel(spec.data)
    counts, warnings = beyond_caps(panel, spec.instruments.tiers)
    assert counts["BTCUSDT"] == 0 and counts["ETHUSDT"] >= 1
    (eth,) = [w for w in warnings if w.startswith("ETHUSDT")]
    assert "first 2021-01-04T08:00Z at 0.3750%" in eth
    charged = panel.funding_events[1]
    assert charged[:, 1].max() == 0.00375 and charged.shape[0] == 31 * 3 - 1  # no event rewritten or lost
