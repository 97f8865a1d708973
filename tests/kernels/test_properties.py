"""Property tests: reconciliation, finiteness, no lookahead, non-negative costs."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.kernels.harness import Scenario, run


@st.composite
def scenarios(draw):
    n = draw(st.integers(5, 40))
    n_assets = draw(st.integers(1, 3))
    candles, signals, funding, volume = [], [], [], []
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
        volume.append(draw(st.lists(st.sampled_from([0.0, 1e-3, 1e3, 1e6]), min_size=n, max_size=n)))
    sizing = draw(st.sampled_from(["fixed_fraction", "fixed_notional", "risk_per_trade", "kelly"]))
    size = {"fixed_fraction": None, "fixed_notional": 2000.0, "risk_per_trade": 0.02, "kelly": 0.5}[sizing]
    tiers = [(500.0, 0.01, 0.0, 50.0), (5000.0, 0.02, 5.0, 20.0), (float("inf"), 0.05, 155.0, 5.0)]
    return Scenario(
        candles,
        signals,
        leverage=draw(st.integers(1, 20)),
        taker=draw(st.sampled_from([0.0, 0.0004])),
        slippage=draw(st.sampled_from([0.0, 0.0005])),
        fraction=size if size is not None else draw(st.sampled_from([1.0 / n_assets, 0.5, 1.0])),
        funding=funding,
        maker=draw(st.sampled_from([0.0, 0.0002])),
        stop_loss=draw(st.sampled_from([float("nan"), 0.02, 0.1])),
        take_profit=draw(st.sampled_from([float("nan"), 0.03, 0.2])),
        trailing_stop=draw(st.sampled_from([float("nan"), 0.05])),
        margin_mode=draw(st.sampled_from(["isolated", "cross"])),
        tiers=draw(st.sampled_from([None, [tiers] * n_assets])),
        lots=draw(st.sampled_from([None, [(0.01, 0.01, 5.0)] * n_assets])),
        volume=volume,
        impact=draw(st.sampled_from([0.0, 0.1])),
        sizing=sizing,
        max_position=draw(st.sampled_from([1.0, 0.3])),
        max_exposure=draw(st.sampled_from([float("nan"), 2.0])),
        kelly_min_trades=3.0,
        kelly_fallback=0.2,
        dd_scale_at=draw(st.sampled_from([float("nan"), 0.1])),
        dd_halt=draw(st.sampled_from([float("nan"), 0.3])),
        daily_loss=draw(st.sampled_from([float("nan"), 0.05])),
        max_losses=draw(st.sampled_from([float("nan"), 2.0])),
        cooldown=draw(st.sampled_from([float("nan"), 3.0])),
        day=[t // 6 for t in range(n)],
    )


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_equity_reconciles_and_costs_are_sane(s: Scenario) -> None:
    trades, equity, m = run(s)
    final = s.initial + trades["gross_pnl"].sum() - trades["fees"].sum() - trades["funding"].sum()
    assert np.isclose(m["final_equity"], final, rtol=1e-9, atol=1e-9)
    assert np.isfinite(equity).all()
    assert (equity >= -1e-9).all()  # losses never exceed what was posted (a cross account ends at 0)
    assert (trades["fees"] >= 0).all() and (trades["slippage"] >= 0).all()
    assert m["fees_paid"] >= 0
    for t in trades:
        if t["side"] > 0 and t["exit_reason"] == 4 and s.margin_mode == "isolated":
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
    altered.volume = [v[: t + 1] + [1.0] * (n - t - 1) for v in s.volume]
    trades2, _, _ = run(altered)
    before = [(x["entry_bar"], x["entry_price"], x["exit_bar"], x["exit_price"]) for x in trades if x["exit_bar"] <= t]
    before2 = [
        (x["entry_bar"], x["entry_price"], x["exit_bar"], x["exit_price"]) for x in trades2 if x["exit_bar"] <= t
    ]
    assert before == before2
    opened = sorted((x["asset"], x["entry_bar"], x["entry_price"]) for x in trades if x["entry_bar"] <= t)
    opened2 = sorted((x["asset"], x["entry_bar"], x["entry_price"]) for x in trades2 if x["entry_bar"] <= t)
    assert opened == opened2
