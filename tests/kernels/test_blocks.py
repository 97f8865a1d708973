"""Per-block statistics (what the overfitting defenses read): hand-computed tables.

Every scenario starts with 1000 USDT, all-in at the leverage given, no fees. A block's ``start`` is
the equity at the close before its first bar; trades count in the block of their exit bar.
"""

import numpy as np
import pytest

from kernels import enums as E
from tests.kernels.harness import Scenario, block_stats


def flat(p: float) -> tuple[float, float, float, float]:
    return (p, p, p, p)


UP_DOWN_UP = [flat(100), (100, 110, 100, 110), (110, 110, 99, 99), (99, 121, 99, 121)]
CRASH = [flat(100), (100, 101, 99, 100), (100, 101, 90, 95), flat(95)]
R2 = 990 / 1100 - 1
R3 = 1210 / 990 - 1

SCENARIOS = {
    "two blocks around a winning long (equity 1000, 1100, 990, 1210)": (
        Scenario([UP_DOWN_UP], [{0: "LE"}]),
        [0, 0, 1, 1],
        [
            dict(bars=2, sum=0.1, sumsq=0.01, downsq=0, start=1000, end=1100, peak=1100, trough=1000, maxdd=0),
            dict(
                bars=2,
                sum=R2 + R3,
                sumsq=R2**2 + R3**2,
                downsq=R2**2,
                start=1100,
                end=1210,
                peak=1210,
                trough=990,
                maxdd=0.1,
                trades=1,
                gross_win=210,
            ),
        ],
    ),
    "a liquidation at 10x: the block loses everything; a bar outside every block is skipped": (
        Scenario([CRASH], [{0: "LE"}], leverage=10.0),
        [-1, 0, 0, 1],
        [
            dict(bars=2, sum=-1, sumsq=1, downsq=1, start=1000, end=0, peak=1000, trough=0, maxdd=1)
            | dict(trades=1, gross_loss=1000, liquidations=1),
            dict(bars=1, sum=0, sumsq=0, downsq=0, start=0, end=0, peak=0, trough=0, maxdd=1, trades=0),
        ],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_block_statistics(name: str) -> None:
    scenario, blk, expected = SCENARIOS[name]
    got = block_stats(scenario, blk, len(expected))
    for b, row in enumerate(expected):
        want = np.zeros(E.N_BLOCK)
        for field, value in row.items():
            want[E.BLOCK_FIELDS.index(field)] = value
        np.testing.assert_allclose(got[b], want, rtol=1e-12, atol=1e-9, err_msg=f"block {b}: {E.BLOCK_FIELDS}")


def test_skew_and_kurtosis_stream_exactly() -> None:
    """The streaming third and fourth moments equal the batch formulas on the equity returns."""
    from scipy.stats import kurtosis, skew

    from tests.kernels.harness import run

    trades, equity, m = run(Scenario([UP_DOWN_UP], [{0: "LE"}]))
    r = np.diff(np.concatenate([[1000.0], equity])) / np.concatenate([[1000.0], equity[:-1]])
    assert m["skew"] == pytest.approx(skew(r), rel=1e-12)
    assert m["kurtosis"] == pytest.approx(kurtosis(r, fisher=False), rel=1e-12)
