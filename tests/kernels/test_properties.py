"""Property tests: reconciliation, finiteness, no lookahead, non-negative costs."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.kernels.harness import Scenario, run


@st.composite
def scenarios(draw):
    n = draw(st.integers(5, 40))
    n_assets = draw(st.integers(1, 3))
    candles, signals, funding = [], [], []
    for _ in range(n_assets):
        rets = draw(st.lists(st.floats(-0.15, 0.15), min_size=n, max_size=n))
        close = 100 * np.exp(np.cumsum(rets))
        open_ = np.concatenate([[100.0], close[:-1]])
        wig = draw(st.lists(st.floats(0, 0.1), min_size=n, max_size=n))
        high = np.maximum(open_, close) * (1 + np.asarray(wig))
        low = np.minimum(open_, close) * (1 - np.asarray(wig))
        candles.append(list(zip(open_, high, low, close, strict=True)))
        signals.append(draw(st.dictionaries(st.integers(0, n - 1), st.sampled_from(["LE", "LX", "SE", "SX"]))))
        funding.append(draw(st.dictionaries(st.integers(0, n - 1), st.floats(-0.003, 0.003))))
    return Scenario(
        candles,
        signals,
        leverage=draw(st.integers(1, 20)),
        taker=draw(st.sampled_from([0.0, 0.0004])),
        slippage=draw(st.sampled_from([0.0, 0.0005])),
        fraction=draw(st.sampled_from([1.0 / n_assets, 0.5, 1.0])),
        funding=funding,
        maker=draw(st.sampled_from([0.0, 0.0002])),
        stop_loss=draw(st.sampled_from([float("nan"), 0.02, 0.1])),
        take_profit=draw(st.sampled_from([float("nan"), 0.03, 0.2])),
        trailing_stop=draw(st.sampled_from([float("nan"), 0.05])),
    )


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_equity_reconciles_and_costs_are_sane(s: Scenario) -> None:
    trades, equity, m = run(s)
    final = s.initial + trades["gross_pnl"].sum() - trades["fees"].sum() - trades["funding"].sum()
    assert np.isclose(m["final_equity"], final, rtol=1e-9, atol=1e-9)
    assert np.isfinite(equity).all()
    assert (equity >= -1e-9).all()  # isolated margin: losses never exceed what was posted
    assert (trades["fees"] >= 0).all() and (trades["slippage"] >= 0).all()
    assert m["fees_paid"] >= 0
    for t in trades:
        if t["side"] > 0 and t["exit_reason"] == 4:
            assert 0 < t["exit_price"] < t["entry_price"]
        if t["exit_reason"] == 1:  # a stop-loss never fills better than its level
            level = t["entry_price"] * (1 - t["side"] * s.stop_loss)
            assert t["side"] * (t["exit_price"] - level) <= 1e-9 * level


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.data())
def test_no_lookahead(s: Scenario, data) -> None:
    """Rewriting every bar after t leaves all fills up to t unchanged."""
    n = len(s.candles[0])
    t = data.draw(st.integers(1, n - 2))
    trades, _, _ = run(s)
    altered = Scenario(**{**s.__dict__})
    altered.candles = [
        c[: t + 1] + [(p * 3, p * 4, p * 0.5, p * 2) for p in [c[t][3]] * (n - t - 1)] for c in s.candles
    ]
    altered.signals = [{k: v for k, v in sig.items() if k <= t} for sig in s.signals]
    trades2, _, _ = run(altered)
    before = [(x["entry_bar"], x["entry_price"], x["exit_bar"], x["exit_price"]) for x in trades if x["exit_bar"] <= t]
    before2 = [
        (x["entry_bar"], x["entry_price"], x["exit_bar"], x["exit_price"]) for x in trades2 if x["exit_bar"] <= t
    ]
    assert before == before2
    opened = sorted((x["asset"], x["entry_bar"], x["entry_price"]) for x in trades if x["entry_bar"] <= t)
    opened2 = sorted((x["asset"], x["entry_bar"], x["entry_price"]) for x in trades2 if x["entry_bar"] <= t)
    assert opened == opened2
