"""Selection that cannot be fooled: a ruined account is never chosen, flat windows are exactly flat,
purging covers positions still open, every metric name means one thing, and statistics with
nothing to measure say so."""

import numpy as np
import pytest

from kernels import enums as E
from runner.backtest import records, run_grid
from runner.config import validate
from runner.data.panel import build_panel
from runner.filters.outcome import Context
from runner.filters.pipeline import evaluate, lookback, plan
from runner.filters.spec import FiltersSpec, Pbo, PurgedKFold, WalkForward
from runner.filters.splits import Partition, Span
from runner.filters.windows import best_of, objective_of, window_metrics
from runner.spec import Axis, ObjectiveSpec
from runner.strategy.compile import compile_strategy
from tests.runner.filters import reference as ref
from tests.runner.filters.test_defenses import ALL, context, outcome
from tests.runner.strategy.test_compile import cfg_for

BPY = 8760.0


def block(bars, start, end, peak=None, trough=None, maxdd=0.0, liq=0, s1=0.0, s2=0.0):
    b = np.zeros(E.N_BLOCK)
    b[[E.B_BARS, E.B_START, E.B_END, E.B_MAXDD, E.B_LIQ, E.B_SUM, E.B_SUMSQ]] = bars, start, end, maxdd, liq, s1, s2
    b[E.B_PEAK] = max(start, end) if peak is None else peak
    b[E.B_TROUGH] = min(start, end) if trough is None else trough
    return b


# three accounts over two blocks (a training window, then a later one):
#   dead:    20x, liquidated in block 0 down to 0.91 USDT, flat afterwards (0.91 * (1 / 0.91) is not 1 in
#            floating point: the residue that once made a dead account look like a small loss)
#   losing:  1x, loses 10 % in block 0 and 5 % more in block 1 (drawdown 5 % inside block 1)
#   winning: 1x, +4 % in block 0, +2 % in block 1 after a 1 % dip
ACCOUNTS = {
    "dead": [block(100, 1000.0, 0.91, 1000.0, 0.91, 0.99909, liq=1), block(100, 0.91, 0.91)],
    "losing": [block(100, 1000.0, 900.0, maxdd=0.1), block(100, 900.0, 855.0, maxdd=0.05)],
    "winning": [
        block(100, 1000.0, 1040.0, trough=990.0, maxdd=0.01),
        block(100, 1040.0, 1060.8, trough=1029.6, maxdd=0.01),
    ],
}
LEVERAGE = {"dead": 20.0, "losing": 1.0, "winning": 1.0}


def test_a_flat_window_is_exactly_flat_and_its_score_undefined() -> None:
    blocks = np.stack([np.stack(ACCOUNTS["dead"])])
    got = window_metrics(blocks, np.array([1]), BPY, np.array([20.0]))
    assert got["total_return"][0] == 0.0 and got["max_drawdown"][0] == 0.0  # exactly: no x * (1/x) residue
    for name in ("score", "calmar", "sharpe", "sortino"):
        assert np.isnan(got[name][0]), name  # 0/0: undefined, never chosen


@pytest.mark.parametrize(
    "names, train_blocks, expected",
    [
        # hand-computed: block 1 alone. winning +2 %, dd 1 % -> score 0.02 / 0.01 = 2.0; losing -5 %,
        # dd 5 % -> -0.05 x 0.05 = -0.0025;
        # dead: flat (NaN) and liquidated before the window
        (["dead", "losing", "winning"], [1], "winning"),
        # without the winner the losing account is chosen, never the flat dead one
        (["dead", "losing"], [1], "losing"),
        (["losing", "dead"], [1], "losing"),
        # liquidated inside the window: not eligible either
        (["dead", "losing"], [0, 1], "losing"),
        # nothing eligible: no choice at all
        (["dead"], [1], None),
    ],
)
def test_the_choice_never_falls_on_a_ruined_account(names, train_blocks, expected) -> None:
    blocks = np.stack([np.stack(ACCOUNTS[n]) for n in names])
    lev = np.array([LEVERAGE[n] for n in names])
    idx = np.array(train_blocks)
    got = window_metrics(blocks, idx, BPY, lev)
    if train_blocks == [1]:
        want = {"dead": np.nan, "losing": -0.0025, "winning": 2.0}
        np.testing.assert_allclose(got["score"], [want[n] for n in names], rtol=1e-12)
    liquidated = np.cumsum(blocks[:, :, E.B_LIQ], axis=1)[:, idx.max()]
    c = best_of(objective_of(got["score"], liquidated, ObjectiveSpec("score", True, True)))
    assert (names[c] if c >= 0 else None) == expected


def _ctx_of(names: list[str], metric: str = "score") -> tuple[Context, list]:
    blocks = np.stack([np.stack(ACCOUNTS[n] * 3) for n in names])  # 6 blocks of 100 bars
    n_bars = 600
    part = Partition(n_bars, [(i * 100, (i + 1) * 100) for i in range(6)])
    m = np.zeros((len(names), E.N_METRICS))
    times = 1_640_995_200_000 + 3_600_000 * np.arange(n_bars, dtype=np.int64)
    axes = [Axis("k", tuple(float(i) for i in range(len(names))))]
    ctx = Context(
        m,
        blocks,
        part,
        times,
        BPY,
        np.array([LEVERAGE[n] for n in names]),
        ObjectiveSpec(metric, True, True),
        axes,
        np.arange(len(names))[:, None],
    )
    return ctx, [WalkForward(Span(100), Span(100), Span(100))]


def test_walk_forward_and_kfold_skip_accounts_liquidated_before_the_training_window() -> None:
    from runner.filters import purged_kfold, walk_forward
    from runner.filters.splits import purged_kfold as kfold_splits
    from runner.filters.splits import walk_forward_windows

    ctx, (wf,) = _ctx_of(["dead", "losing"])
    windows = walk_forward_windows(ctx.times, 3_600_000, wf.train, wf.test, wf.step, False)
    o = walk_forward.run(wf, ctx, windows)
    assert o.tables["walk_forward.parquet"]["combo"].to_list() == [1] * 5  # the losing one, every window
    folds = kfold_splits(600, 3, 0, 0)
    o = purged_kfold.run(PurgedKFold(3, None, 0.0), ctx, folds, 0, 0)
    assert o.tables["purged_kfold.parquet"]["combo"].to_list() == [1, 1, 1]

    ctx, (wf,) = _ctx_of(["dead", "dead"])  # nothing selectable anywhere
    o = walk_forward.run(wf, ctx, windows)
    assert o.tables["walk_forward.parquet"]["combo"].to_list() == [-1] * 5 and np.isnan(o.metrics["oos_sharpe"])
    assert not o.passed.any() and "5 with no eligible combination" in o.summary
    o = purged_kfold.run(PurgedKFold(3, None, 0.0), ctx, folds, 0, 0)
    assert np.isnan(o.metrics["pkfold_sharpe_mean"]) and "no fold had an eligible combination" in o.summary


def test_pbo_never_chooses_an_account_liquidated_before_or_inside_its_in_sample_blocks() -> None:
    rng = np.random.default_rng(3)
    r = rng.normal(-0.002, 0.01, size=(8, 16 * 200))  # every live combination loses in every half...
    r[0] = 0.0  # ...so the dead, flat account (liquidated in its first CSCV block below) would look best
    with np.errstate(invalid="ignore"):  # the flat account's Sharpe is 0/0
        schedule, ctx = context(r, FiltersSpec(pbo=Pbo(blocks=16, max_pbo=0.5)))
    first = schedule.partition.blocks(schedule.cscv[0])
    ctx.blocks[0, first[0], E.B_LIQ] = 1
    o = outcome(evaluate(schedule, ctx), "pbo")
    best = o.tables["pbo_logits.parquet"]["best"].to_numpy()
    assert len(best) == 12870 and 0 not in best
    ctx.objective = ObjectiveSpec("sharpe", True, False)  # liquidated trials kept: then it is chosen
    assert 0 in outcome(evaluate(schedule, ctx), "pbo").tables["pbo_logits.parquet"]["best"].to_numpy()


def test_purging_covers_positions_open_across_a_test_fold() -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0.0, 0.01, size=(4, 8760))
    spec = FiltersSpec(purged_kfold=PurgedKFold(folds=5, purge=None, embargo=0.01))
    schedule, ctx = context(r, spec, lookback=48)
    ctx.metrics[:, E.M_MAX_HOLDING_BARS] = [12, 1171, 30, 0]  # one position lasted 1,171 bars
    o = outcome(evaluate(schedule, ctx), "purged_kfold")
    assert o.params["pkfold_longest_hold_bars"] == 1171 and o.params["pkfold_hold_embargo_bars"] == 2048
    folds, extra = schedule.folds_covering(1171)
    assert extra == 2048
    for f in folds:
        after = [lo for lo, _ in f.train if lo >= f.test[1]]
        # a position opened on the fold's last bar closes within 1,171 bars: training resumes later
        assert all(lo >= f.test[1] - 1 + 1171 + 1 for lo in after)
        assert sum(hi - lo for lo, hi in f.train) == o.tables["purged_kfold.parquet"]["train_bars"][folds.index(f)]


@pytest.fixture(scope="module")
def ema_grid():
    """The reproduction: ema_cross fast [5,10,20] x slow [50,100] x leverage [1,20], 10 % stop,
    2022-2024, every defense (k-fold without its embargo, so the lookback purge alone separates)."""
    cfg = cfg_for(
        "strategy=ema_cross",
        "strategy.indicators.ema_fast.period=[5,10,20]",
        "strategy.indicators.ema_slow.period=[50,100]",
        "leverage=[1,20]",
        "strategy.stop_loss.percent=10",
        "filters=all",
        "filters.purged_kfold.embargo=0",  # the purge alone (the lookback) was what let positions through
        "data.start=2022-01-01",
        "data.end=2024-12-31",
    )
    spec = validate(cfg)
    panel = build_panel(spec.data)
    compiled = compile_strategy(spec, panel)
    schedule = plan(spec.filters, panel.times, 3_600_000, lookback(compiled.warm, panel.tradable))
    metrics, blocks = run_grid(
        panel, compiled, spec.initial_capital, False, schedule.partition.blk, schedule.partition.n_blocks
    )
    ctx = Context(
        metrics,
        blocks,
        schedule.partition,
        panel.times,
        panel.bars_per_year,
        compiled.params[:, E.P_LEVERAGE],
        spec.objective,
        compiled.axes,
        compiled.grid_idx,
    )
    report = evaluate(schedule, ctx)
    recs = {
        c: records(panel, compiled, spec.initial_capital, c, int(metrics[c, E.M_N_TRADES]))
        for c in range(compiled.n_combos)
    }
    return spec, panel, schedule, ctx, report, recs


def test_real_data_the_dead_combination_is_never_chosen_and_stitched_figures_recompute(ema_grid) -> None:
    spec, panel, schedule, ctx, report, recs = ema_grid
    liq_bar = {c: r.trades.filter(r.trades["exit_reason"] == "liquidation")["exit_bar"].min() for c, r in recs.items()}
    assert any(v is not None for v in liq_bar.values()), "the 20x combinations should be liquidated"
    wf = outcome(report, "walk_forward").tables["walk_forward.parquet"]
    for w, c in zip(schedule.windows, wf["combo"].to_list(), strict=True):
        assert c >= 0 and (liq_bar[c] is None or liq_bar[c] >= w.train[1]), (w, c)
    kf = outcome(report, "purged_kfold").tables["purged_kfold.parquet"]
    assert all(c >= 0 and liq_bar[c] is None for c in kf["combo"].to_list())
    # stitched out of sample: each window's choice over its test span, chained, from the equity curves
    pieces = []
    for w, (win, c) in enumerate(zip(schedule.windows, wf["combo"].to_list(), strict=True)):
        end = schedule.windows[w + 1].test[0] if w + 1 < len(schedule.windows) else win.test[1]
        pieces.append((c, win.test[0], min(end, win.test[1])))
    path = [1.0]
    for c, lo, hi in pieces:
        eq = recs[c].equity["equity"].to_numpy()
        seg = ref.chained(eq, [(lo, hi)], spec.initial_capital)
        path.extend(path[-1] * seg[1:])
    path = np.array(path)
    o = outcome(report, "walk_forward")
    assert o.metrics["wf_oos_return"] == pytest.approx(path[-1] - 1.0, rel=1e-9)
    assert o.metrics["wf_oos_max_drawdown"] == pytest.approx(ref.max_drawdown(path), rel=1e-9)


def test_real_data_no_training_return_comes_from_a_position_opened_on_test_bars(ema_grid) -> None:
    _, _, schedule, ctx, report, recs = ema_grid
    o = outcome(report, "purged_kfold")
    folds, _ = schedule.folds_covering(int(o.params["pkfold_longest_hold_bars"]))
    spanning = 0  # positions opened in a test fold still open where the lookback purge alone would resume
    for f in folds:
        resume = min((lo for lo, _ in f.train if lo >= f.test[1]), default=None)
        if resume is None:
            continue
        for r in recs.values():
            t = r.trades
            opened = t.filter((t["entry_bar"] >= f.test[0]) & (t["entry_bar"] < f.test[1]))
            assert (opened["exit_bar"] < resume).all()
            spanning += int((opened["exit_bar"] >= f.test[1] + schedule.purge + schedule.embargo).sum())
    assert spanning > 0, "this grid should hold positions past the plain purge and embargo"


def test_no_metric_name_is_both_a_run_figure_and_a_stepped_series(ema_grid) -> None:
    *_, report, _ = ema_grid
    figures = set(E.METRIC_NAMES) | set(report.run_metrics(0)) | {"objective", "n_combos"}
    series = {k for o in report.outcomes for k in o.steps}
    assert series and not figures & series, figures & series
    from runner.search.loop import HISTORY_METRICS

    assert not figures & set(HISTORY_METRICS)


def test_one_combination_statistics_are_not_applicable() -> None:
    rng = np.random.default_rng(2)
    r = rng.normal(0.0005, 0.01, size=(1, 2 * 8760))
    schedule, ctx = context(r, ALL)
    report = evaluate(schedule, ctx)
    assert set(report.not_applicable) == {"dsr", "walk_forward", "pbo"}
    for name in report.not_applicable:
        o = outcome(report, name)
        assert o.passed.all() and o.summary.startswith("not applicable") and not o.metrics
    assert "pbo" not in report.run_metrics(0) and "dsr" not in report.run_metrics(0)


def test_one_combination_output_says_selection_statistics_need_a_grid() -> None:
    from rich.console import Console

    from runner.report import print_filters

    rng = np.random.default_rng(2)
    schedule, ctx = context(rng.normal(0.0005, 0.01, size=(1, 2 * 8760)), ALL)
    console = Console(record=True, width=120)
    print_filters(evaluate(schedule, ctx), console=console)
    text = console.export_text()
    assert "not applicable: dsr, walk_forward, pbo (selection statistics need a grid" in text
    assert [line.split("│")[2].strip() for line in text.splitlines() if line.startswith("│ pbo")] == ["n/a"]
