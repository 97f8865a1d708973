"""The kernel's block statistics on real data equal the bar-by-bar reference, and window metrics over
any set of blocks equal the metrics of the equity path those bars make."""

import numpy as np
import pytest

from kernels import enums as E
from runner.backtest import records, run_grid
from runner.config import validate
from runner.data.panel import build_panel
from runner.filters.splits import Partition
from runner.filters.windows import window_metrics
from runner.strategy.compile import compile_strategy
from tests.runner.filters import reference as ref
from tests.runner.strategy.test_compile import FAST, cfg_for


@pytest.fixture(scope="module")
def grid():
    """RSI with stops over a small grid, two assets, 2024H1 hourly; 1x and 20x (liquidations)."""
    spec = validate(cfg_for(*FAST, "leverage=[1,20]", "strategy.params.lower=[25,35]", "+strategy.stop_loss.percent=8"))
    panel = build_panel(spec.data)
    compiled = compile_strategy(spec, panel)
    rng = np.random.default_rng(7)
    cuts = sorted(rng.choice(np.arange(1, panel.n_bars), size=9, replace=False).tolist())
    ranges = list(zip([0, *cuts], [*cuts, panel.n_bars], strict=True))
    part = Partition(panel.n_bars, ranges)
    metrics, blocks = run_grid(panel, compiled, spec.initial_capital, False, part.blk, part.n_blocks)
    plain, _ = run_grid(panel, compiled, spec.initial_capital, False)
    recs = [
        records(panel, compiled, spec.initial_capital, c, int(metrics[c, E.M_N_TRADES]))
        for c in range(compiled.n_combos)
    ]
    return spec, panel, compiled, part, metrics, blocks, plain, recs


def test_blocks_do_not_change_the_metrics(grid) -> None:
    _, _, _, _, metrics, _, plain, _ = grid
    np.testing.assert_array_equal(np.nan_to_num(metrics, nan=-9), np.nan_to_num(plain, nan=-9))


def test_kernel_blocks_equal_the_reference_from_the_equity_curves(grid) -> None:
    spec, panel, compiled, part, metrics, blocks, _, recs = grid
    equity = np.stack([r.equity["equity"].to_numpy() for r in recs])
    want = ref.block_stats(equity, part.blk, part.n_blocks, spec.initial_capital)
    equity_fields = [E.B_BARS, E.B_SUM, E.B_SUMSQ, E.B_DOWNSQ, E.B_START, E.B_END, E.B_PEAK, E.B_TROUGH, E.B_MAXDD]
    np.testing.assert_allclose(blocks[:, :, equity_fields], want[:, :, equity_fields], rtol=1e-9, atol=1e-12)
    assert metrics[:, E.M_N_LIQUIDATIONS].max() > 0, "the grid should include liquidations"
    for c, r in enumerate(recs):
        exit_block = part.blk[r.trades["exit_bar"].to_numpy()]
        net = r.trades["net_pnl"].to_numpy()
        liq = (r.trades["exit_reason"] == "liquidation").to_numpy()
        for b in range(part.n_blocks):
            inside = exit_block == b
            got = blocks[c, b]
            assert got[E.B_TRADES] == inside.sum()
            assert got[E.B_LIQ] == (inside & liq).sum()
            assert got[E.B_GROSS_WIN] == pytest.approx(net[inside & (net > 0)].sum(), abs=1e-6)
            assert got[E.B_GROSS_LOSS] == pytest.approx(-net[inside & (net <= 0)].sum(), abs=1e-6)


@pytest.mark.parametrize("pick", [[0, 1, 2], [3], [1, 4, 7], list(range(10))])
def test_window_metrics_equal_the_chained_equity_path(grid, pick) -> None:
    spec, panel, compiled, part, metrics, blocks, _, recs = grid
    lev = compiled.params[:, E.P_LEVERAGE]
    got = window_metrics(blocks, np.array(pick), panel.bars_per_year, lev)
    pieces = [(int(part.edges[b]), int(part.edges[b + 1])) for b in pick]
    for c, r in enumerate(recs):
        eq = r.equity["equity"].to_numpy()
        path = ref.chained(eq, pieces, spec.initial_capital)
        rets = np.concatenate([ref.returns(eq, spec.initial_capital)[lo:hi] for lo, hi in pieces])
        assert got["total_return"][c] == pytest.approx(path[-1] - 1.0, rel=1e-9, abs=1e-12)
        assert got["max_drawdown"][c] == pytest.approx(ref.max_drawdown(path), rel=1e-9, abs=1e-12)
        if rets.std() > 0:
            sharpe = rets.mean() / rets.std(ddof=1) * np.sqrt(panel.bars_per_year)
            assert got["sharpe"][c] == pytest.approx(sharpe, rel=1e-7)
        assert got["n_bars"][c] == len(rets)
    whole = window_metrics(blocks, np.arange(part.n_blocks), panel.bars_per_year, lev)
    for name in ("total_return", "apr", "sharpe", "sortino", "max_drawdown", "calmar", "score", "n_trades"):
        k = E.METRIC_NAMES.index(name)
        np.testing.assert_allclose(whole[name], metrics[:, k], rtol=1e-7, err_msg=name)
