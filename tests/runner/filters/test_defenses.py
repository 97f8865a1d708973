"""Known answers on synthetic return series: pure noise over a large grid is rejected by the DSR and
shows a high PBO; a planted edge survives walk-forward, purged k-fold and every other defense."""

import numpy as np
import pytest
from scipy.stats import kurtosis, skew

from kernels import enums as E
from runner.filters.outcome import Context
from runner.filters.pipeline import evaluate, plan
from runner.filters.spec import (
    Constraints,
    Deflated,
    FiltersSpec,
    Pareto,
    Pbo,
    PurgedKFold,
    WalkForward,
)
from runner.filters.splits import Span
from runner.spec import Axis, ObjectiveSpec
from tests.runner.filters import reference as ref

HOUR = 3_600_000
T0 = 1_640_995_200_000  # 2022-01-01
BPY = 8760.0
ALL = FiltersSpec(
    constraints=Constraints(min_trades=50, max_drawdown=0.9, min_profit_factor=None, no_liquidation=True),
    dsr=Deflated(0.95),
    walk_forward=WalkForward(Span(270, "d"), Span(90, "d"), Span(90, "d")),
    purged_kfold=PurgedKFold(folds=5, purge=None, embargo=0.01),
    pbo=Pbo(blocks=16, max_pbo=0.5),
    pareto=Pareto(max_rank=1),
)


def context(r: np.ndarray, spec: FiltersSpec, lookback: int = 48):
    """Filters plan and context for per-bar returns ``(n_combos, n_bars)`` as if a grid had made them."""
    n_combos, n_bars = r.shape
    times = T0 + HOUR * np.arange(n_bars, dtype=np.int64)
    schedule = plan(spec, times, HOUR, lookback)
    equity = 1000.0 * np.cumprod(1.0 + r, axis=1)
    blocks = ref.block_stats(equity, schedule.partition.blk, schedule.partition.n_blocks, 1000.0)
    m = np.zeros((n_combos, E.N_METRICS))
    m[:, E.M_SHARPE] = r.mean(axis=1) / r.std(axis=1, ddof=1) * np.sqrt(BPY)
    m[:, E.M_SKEW] = skew(r, axis=1)
    m[:, E.M_KURTOSIS] = kurtosis(r, axis=1, fisher=False)
    m[:, E.M_N_TRADES] = 500
    m[:, E.M_PROFIT_FACTOR] = 1.0
    m[:, E.M_MAX_DRAWDOWN] = [ref.max_drawdown(np.concatenate([[1000.0], e])) for e in equity]
    axes = [Axis("strategy.params.k", tuple(float(i) for i in range(n_combos)))]
    ctx = Context(
        m,
        blocks,
        schedule.partition,
        times,
        BPY,
        np.ones(n_combos),
        ObjectiveSpec("sharpe", True, True),
        axes,
        np.arange(n_combos)[:, None],
    )
    return schedule, ctx


def outcome(report, name):
    return next(o for o in report.outcomes if o.name == name)


def test_pure_noise_over_a_large_grid_is_rejected_by_dsr_and_shows_high_pbo() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(0.0, 0.01, size=(400, 2 * 8760))
    schedule, ctx = context(r, ALL)
    report = evaluate(schedule, ctx)
    best = int(np.argmax(ctx.metrics[:, E.M_SHARPE]))
    assert ctx.metrics[best, E.M_SHARPE] > 1.0  # the luckiest noise looks good in-sample
    dsr = outcome(report, "dsr")
    assert not dsr.passed[best] and dsr.passed.mean() <= 0.01
    assert dsr.columns["psr"][best] > 0.95  # undeflated, it would have passed
    pbo = outcome(report, "pbo")
    assert pbo.metrics["pbo"] > 0.3
    assert report.survivors.sum() == 0
    assert report.no_survivor_reason().startswith("dsr removed the last")


def test_pbo_of_noise_is_one_half_on_average() -> None:
    """With no skill the in-sample best ranks uniformly out of sample: PBO 0.5 in expectation (a
    single data set's estimate varies, so eight are averaged)."""
    from runner.filters import stats

    values = []
    for seed in range(8):
        r = np.random.default_rng(100 + seed).normal(0.0, 0.01, size=(100, 16, 250))
        values.append(stats.pbo(r.sum(axis=2), (r**2).sum(axis=2), np.full(16, 250.0))[0])
    assert 0.4 < np.mean(values) < 0.65


def test_a_planted_edge_survives_walk_forward_and_purged_kfold() -> None:
    rng = np.random.default_rng(5)
    n_bars = 2 * 8760
    r = rng.normal(0.0, 0.002, size=(60, n_bars))  # about 19% annualised volatility
    edge = np.array([20, 21, 22])
    r[edge] += 0.00012  # about 5.6 annualised Sharpe on top of the noise, in 3 of 60 combinations
    schedule, ctx = context(r, ALL)
    report = evaluate(schedule, ctx)
    wf = outcome(report, "walk_forward")
    assert wf.metrics["wf_windows"] == 5
    assert wf.passed.all() and wf.metrics["wfe"] > 0.5 and wf.metrics["wf_profitable_share"] == 1.0
    chosen = wf.tables["walk_forward.parquet"]["combo"].to_list()
    assert set(chosen) <= set(edge.tolist())
    assert wf.metrics["oos_sharpe"] > 2.0
    pk = outcome(report, "purged_kfold")
    assert pk.metrics["pkfold_sharpe_mean"] > 2.0 and pk.metrics["pkfold_purge_bars"] == 48
    assert pk.passed[edge].all()
    assert outcome(report, "pbo").metrics["pbo"] < 0.1
    assert outcome(report, "dsr").passed[edge].all()
    survivors = np.flatnonzero(report.survivors)
    assert len(survivors) >= 1 and set(survivors) <= set(edge.tolist())
    assert report.run_metrics(int(survivors[0]))["pareto"] == 1.0


def test_windows_that_do_not_fit_are_a_config_error() -> None:
    from runner.errors import ConfigError

    with pytest.raises(ConfigError, match="filters.walk_forward: train \\+ test do not fit"):
        context(
            np.zeros((2, 24 * 100)), FiltersSpec(walk_forward=WalkForward(Span(270, "d"), Span(90, "d"), Span(90, "d")))
        )
    with pytest.raises(ConfigError, match="filters.purged_kfold: 5 folds with a purge of 500 bars"):
        context(np.zeros((2, 1000)), FiltersSpec(purged_kfold=PurgedKFold(purge=Span(500))))
