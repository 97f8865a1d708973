"""Perpetual-futures simulation: one loop per combination, metrics streamed.

The loop (``run_bars``) calls one concept module per event, in this order inside bar ``t`` (per
asset, assets in column order):

1. funding settles at the bar's open instant on positions held into the bar
   (``qty * settle_price * rate``; positive rate: longs pay), taken from the isolated margin
   (cross margin: from the shared wallet)  -- ``kernels.margin``;
2. liquidation at the open: an isolated position whose liquidation price the bar *opens* beyond
   is liquidated at the open; in cross margin, the whole account when its margin balance at the
   opens is at or below the summed maintenance margin (every position at its open)
   -- ``kernels.margin``;
3. orders from bar ``t-1``'s signals fill at ``open[t]`` (``fill_at=next_open``), taker fee
   plus slippage against the trader  -- ``kernels.orders``;
4. exits inside the bar, in a pessimistic order: the stop (the nearer of stop-loss and
   trailing stop) when it lies before the liquidation price; else liquidation when ``low``
   (long) / ``high`` (short) touches it; then take-profit (a resting limit order). A stop-loss
   therefore wins over a take-profit touched in the same bar. Then the trailing stop's best
   price moves to the bar's high (long) / low (short), so it acts from the next bar. In cross
   margin every position's stops come first, then the account is liquidated when its margin
   balance with every position at its bar's worst price is at or below the summed maintenance
   margin, then take-profits  -- ``kernels.exits``, ``kernels.margin``;
5. risk circuit breakers read the equity marked at ``close[t]``; a breach closes every position
   (``risk_halt``, filled like a signal) and ignores signals until the halt ends  -- ``kernels.risk``;
6. conditions are evaluated on bar ``t``'s values and, with ``fill_at=close``, filled at
   ``close[t]`` at once. Entries need the bar's time filter to allow them and every referenced
   series to be defined (warm-up); a reversal whose entry is not allowed only exits
   -- ``kernels.conditions``, ``kernels.signals``;
7. mark to market at ``close[t]``; on the last bar every open position is closed at the close
   (``end_of_data``); the bar's return feeds the streamed metrics  -- ``kernels.metrics``.

Trades close into the account and its records in ``kernels.book``. Sizing, caps, slippage and
lot filters are documented in ``kernels.orders``; isolated and cross liquidation (fills, the
insurance fund, the exit floor) in ``kernels.margin``. A market fill's slippage reads the volume of
the bar whose close decided the order (a stop: the bar before; ``end_of_data``: the last bar), so
no fill reads a volume it could not know.
Equity reconciles exactly: ``initial + realized_pnl - fees - funding = final``.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np
from numba import njit

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)
from kernels.book import new_account
from kernels.conditions import SIGNAL_BLOCK, eval_block
from kernels.enums import (
    A_OPEN,
    A_WALLET,
    FILL_CLOSE,
    N_BLOCK,
    N_GROUPS,
    N_METRICS,
    N_STATE,
    P_FILL_AT,
    P_LEVERAGE,
    REASON_END_OF_DATA,
    S_ENTRY,
    S_QTY,
)
from kernels.exits import bar_exits
from kernels.jit import inner
from kernels.margin import liquidate_at_open, rebracket
from kernels.metrics import advance, bar_return, block_update, finish, remember, start_curve
from kernels.orders import Pending, exit_all, fill_pending, market_exit, no_pending, wanted_sides
from kernels.program import Orders
from kernels.records import trade_dt
from kernels.risk import breach, breakers_on, halted, new_state
from kernels.signals import act_on_signals

GRID_CHUNK = 64  # combinations per queued chunk of a grid
NO_BLK = np.zeros(0, np.int64)  # no block statistics


class RecordArrays(NamedTuple):
    """What a one-combination run writes besides its metrics row; zero-length arrays write nothing
    (a grid passes ``no_records()``)."""

    trades: np.ndarray  # (n,) kernels.records.trade_dt: the trades, in closing order
    equity: np.ndarray  # (n_bars,) the equity at each close
    flags: np.ndarray  # (N_GROUPS, n_bars, n_assets) where each condition group holds
    targets: np.ndarray  # (n_bars, n_assets) the side wanted after each close


def no_records() -> RecordArrays:
    """Arrays of nothing: the grid's."""
    return RecordArrays(np.zeros(0, trade_dt), np.zeros(0), np.zeros((0, 0, 0), dtype=np.bool_), np.zeros((0, 0)))


@njit(cache=True, inline="always")
def simulate_combo(c, mkt, prog, params, initial, bars_per_year, slots, rec, metrics, m_row, blk, blocks):
    """Simulate combination ``c``; write its metrics to ``metrics[m_row]`` and, where ``rec``'s
    arrays are not empty, its trades, equity curve, signal flags and targets there.

    ``mkt`` is a ``kernels.program.Market`` and ``prog`` a ``kernels.program.Program`` (named inputs).
    With non-empty ``rec.flags`` every group is evaluated on every tradable bar but the last and
    written there (how tests and other consumers read the signals). With a non-empty ``blk`` (a block
    id per bar, -1: none; each block one contiguous range) the block statistics of this combination
    accumulate in ``blocks[m_row]`` ``(n_blocks, N_BLOCK)``. ``rec.targets`` receives the side wanted
    after each bar's close: the pending order's side, else the side held (what a live bot should hold
    next). Inlined into its one caller, ``simulate_rows``: one compiled chain serves every entry.
    """
    n_bars, n_assets = mkt.close.shape
    p = params[c]
    record = rec.equity.shape[0] > 0
    work = Work(
        pos=np.zeros((n_assets, N_STATE)),
        acc=new_account(initial),
        pending=no_pending(n_assets),
        px=np.zeros(n_assets),
        sig=np.zeros((N_GROUPS + 1, SIGNAL_BLOCK * n_assets), np.bool_),
        scratch=np.zeros((2, (SIGNAL_BLOCK + 1) * n_assets)),
        ind_flat=prog.ind.reshape(prog.ind.size),
        rs=new_state(initial, mkt.day[0] if n_bars > 0 else 0),
        seen=np.zeros(4),
    )
    orders = Orders(prog.ind, prog.stop_cols[c], mkt.volume, mkt.tiers, mkt.lots)  # what an order reads
    curve, held = run_bars(
        c,
        mkt,
        prog,
        p,
        work,
        orders,
        record,
        rec.trades,
        rec.equity,
        m_row,
        rec.flags,
        blk,
        blocks,
        rec.targets,
        start_curve(initial),
        0,
        n_bars,
        True,
    )
    exposure = held / slots if slots > 0.0 else 0.0
    finish(metrics[m_row], work.acc, curve, initial, n_bars, bars_per_year, exposure, p[P_LEVERAGE])


class Work(NamedTuple):
    """One combination's state and scratch arrays while its bars run."""

    pos: np.ndarray  # (n_assets, N_STATE) positions (kernels.book)
    acc: np.ndarray  # (N_ACC,) the account
    pending: Pending  # orders for the next open
    px: np.ndarray  # (n_assets,) fill prices of a cross liquidation
    sig: np.ndarray  # (N_GROUPS + 1, SIGNAL_BLOCK * n_assets) each group on the current block
    scratch: np.ndarray  # (2, (SIGNAL_BLOCK + 1) * n_assets) condition sides
    ind_flat: np.ndarray  # the program's series, flattened
    rs: np.ndarray  # (N_RISK,) circuit breakers (kernels.risk)
    seen: np.ndarray  # (4,) trades, gross win, gross loss, liquidations up to the previous bar


@inner(_nrt=False)
def run_bars(
    c, mkt, prog, p, work, orders, record, trades, eq_out, m_row, flags, blk, blocks, tgt_out, curve, t0, t1, close_out
):
    """The bar loop of combination ``c`` over bars ``t0..t1-1``, in the module docstring's event order,
    from the state in ``work`` and ``curve``; returns the equity curve's statistics and the asset-bars
    held. With ``close_out`` the panel's last bar closes every position (a backtest); without, it is
    a bar like any other (a live account advancing). Compiled without reference counting (it
    allocates nothing), so that reading the named inputs costs nothing in the loop."""
    n_bars, n_assets = mkt.close.shape
    pos, acc, pending, px, rs = work.pos, work.acc, work.pending, work.px, work.rs
    fill_close = int(p[P_FILL_AT]) == FILL_CLOSE
    col, coef, add = prog.term_col[c], prog.term_coef[c], prog.side_add[c]
    risk_on = breakers_on(p)
    blk_t0 = t0 - SIGNAL_BLOCK  # first bar of the evaluated block
    use_blocks = blk.shape[0] > 0
    held = 0.0  # asset-bars held over the close
    is_halted = halted(rs)
    row = mkt.rules_row[max(t0 - 1, 0)] if n_bars > 0 else 0  # the exchange rules in force: rows of tiers / lots
    orders = Orders(
        orders.ind, orders.stop_col, orders.volume, mkt.tiers[row : row + n_assets], mkt.lots[row : row + n_assets]
    )
    for t in range(t0, t1):
        last = close_out and t == n_bars - 1
        if mkt.rules_row[t] != row:  # new brackets and lot filters from this bar on
            row = mkt.rules_row[t]
            orders = Orders(
                orders.ind,
                orders.stop_col,
                orders.volume,
                mkt.tiers[row : row + n_assets],
                mkt.lots[row : row + n_assets],
            )
            rebracket(pos, p, orders.tiers)
        # 1-2. funding at the settlement instant, then liquidation at the open
        liquidate_at_open(c, t, mkt, pos, acc, p, px, record, trades, orders.tiers)
        # 3. orders from the previous bar fill at this open
        fill_pending(c, t, mkt, pos, acc, p, pending, record, trades, orders)
        # 4. stops, liquidation and take-profit inside the bar
        bar_exits(c, t, mkt, pos, acc, p, px, record, trades, orders)
        # 5. risk circuit breakers on the equity marked at this close
        if risk_on and not last:
            if breach(t, mkt.day[t], mkt.close, pos, acc, p, rs, curve.prev):
                exit_all(c, t, mkt, pos, acc, p, pending, fill_close, record, trades, orders)
            is_halted = halted(rs)
        # 6. signals on this bar's close
        if not last and not is_halted:
            if t >= blk_t0 + SIGNAL_BLOCK:
                blk_t0 = t
                eval_block(
                    t, min(SIGNAL_BLOCK, n_bars - t), prog, col, coef, add, work.ind_flat, work.sig, work.scratch
                )
            i0 = (t - blk_t0) * n_assets
            act_on_signals(
                c, t, mkt, prog, pos, acc, p, work.sig, i0, pending, fill_close, record, trades, orders, flags
            )
        if tgt_out.shape[0] > 0:
            wanted_sides(t, pos, pending, tgt_out)
        # 7. mark to market at the close (the last bar closes every position)
        equity, n_held = mark_to_market(c, t, last, mkt, pos, acc, p, record, trades, orders)
        held += n_held
        r = bar_return(equity, curve)
        if use_blocks and blk[t] >= 0:
            block_update(blocks[m_row, blk[t]], r, curve.prev, equity, acc, work.seen)
        if use_blocks:
            remember(work.seen, acc)
        curve = advance(curve, r, equity)
        if record:
            eq_out[t - t0] = equity
    return curve, held


@njit(cache=True, inline="always")
def mark_to_market(c, t, last, mkt, pos, acc, p, record, trades, orders):
    """Event 7: the equity at bar ``t``'s close and the number of positions held over it; on the last
    bar every position closes at the close instead (``end_of_data``, a market order)."""
    equity = acc[A_WALLET]
    n_held = 0.0
    if acc[A_OPEN] == 0.0:
        return equity, n_held
    close = mkt.close
    for a in range(pos.shape[0]):
        qty = pos[a, S_QTY]
        if qty != 0.0:
            n_held += 1.0
            if last:
                market_exit(c, a, t, t, close[t, a], close, t, pos, acc, p, record, trades, orders, REASON_END_OF_DATA)
            else:
                equity += qty * (close[t, a] - pos[a, S_ENTRY])
    return (acc[A_WALLET] if last else equity), n_held


@njit(cache=True, nogil=True)
def simulate_rows(mkt, prog, params, combos, rows, initial, bars_per_year, blk, metrics, blocks, rec):
    """Combination ``combos[k]`` into row ``rows[k]`` of ``metrics`` (and of ``blocks`` with a
    non-empty ``blk``), with ``rec`` (a ``RecordArrays``, one combination) or ``no_records()``. The only compiled entry
    of the backtest: grids, records, flags and targets all call it with the same argument types, so
    a run compiles the bar loop once. Releases the GIL, so threads run chunks side by side."""
    slots = float(mkt.tradable.sum())  # asset-bars that could be held
    for k in range(combos.shape[0]):
        simulate_combo(combos[k], mkt, prog, params, initial, bars_per_year, slots, rec, metrics, rows[k], blk, blocks)


def simulate_grid(mkt, prog, params, lo, hi, initial, bars_per_year, blk, n_blocks):
    """Metrics ``(hi - lo, N_METRICS)`` of combinations ``lo..hi-1``, no records, on numba's thread
    count (``numba.get_num_threads()``); and their block statistics ``(hi - lo, n_blocks, N_BLOCK)``
    (``blk``: a block id per bar, or empty).

    Threads take small chunks of combinations from a shared queue. Neighbouring combinations cost
    alike (a grid's first axis varies slowest), so chunks follow a low-discrepancy order and each is a
    sample of the grid. Threads calling one compiled serial kernel, rather than numba's
    ``parallel=True``, spare a first run the parallel loop's compilation (about 20 s on 2 cores)."""
    n = hi - lo
    metrics = np.full((n, N_METRICS), np.nan)
    blocks = np.zeros((n if blk.shape[0] > 0 else 0, n_blocks, N_BLOCK))
    if n == 0:
        return metrics, blocks
    rows = np.argsort((np.arange(n) * 0.6180339887498949) % 1.0, kind="stable").astype(np.int64)
    threads = max(1, min(numba.get_num_threads(), n))
    chunks, i = [], 0
    while i < n:  # shrinking chunks (a quarter of each thread's share left): the threads end together
        size = max(1, min(GRID_CHUNK, (n - i) // (threads * 4)))
        chunks.append(rows[i : i + size])
        i += size
    records = no_records()
    initial, bars_per_year = float(initial), float(bars_per_year)  # every caller: one specialisation

    def run(chunk: np.ndarray) -> None:
        simulate_rows(mkt, prog, params, chunk + lo, chunk, initial, bars_per_year, blk, metrics, blocks, records)

    run(rows[:0])  # compiles or loads the kernel once, in this thread, on no combination
    if threads == 1:
        for chunk in chunks:
            run(chunk)
    else:
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(run, chunks):
                pass
    return metrics, blocks


def _simulate_one(c, mkt, prog, params, initial, bars_per_year, rec):
    """Metrics row of combination ``c`` alone, writing ``rec`` where its arrays are not empty."""
    metrics = np.full((1, N_METRICS), np.nan)
    one = np.array([c], np.int64)
    no_blocks = np.zeros((0, 0, N_BLOCK))
    args = (float(initial), float(bars_per_year), NO_BLK, metrics, no_blocks, rec)
    simulate_rows(mkt, prog, params, one, np.zeros(1, np.int64), *args)
    return metrics[0]


def simulate_records(c, n_trades, mkt, prog, params, initial, bars_per_year):
    """Trades, equity curve and metrics row of one combination (``n_trades`` from its metrics)."""
    rec = no_records()._replace(trades=np.zeros(int(n_trades), trade_dt), equity=np.zeros(mkt.close.shape[0]))
    row = _simulate_one(c, mkt, prog, params, initial, bars_per_year, rec)
    return rec.trades, rec.equity, row


def signal_targets(c, mkt, prog, params, initial, bars_per_year):
    """Signal flags ``(N_GROUPS, n_bars, n_assets)`` of combination ``c`` and the side ``(n_bars,
    n_assets)`` it wants after each bar's close (-1, 0, 1): what a registered model returns."""
    shape = mkt.close.shape
    rec = no_records()._replace(flags=np.zeros((N_GROUPS, *shape), dtype=np.bool_), targets=np.zeros(shape))
    _simulate_one(c, mkt, prog, params, initial, bars_per_year, rec)
    return rec.flags, rec.targets


def signal_flags(c, mkt, prog, params, initial, bars_per_year):
    """``(N_GROUPS, n_bars, n_assets)``: where each condition group of combination ``c`` holds, as the
    simulation evaluates it (raw conditions: time filters and warm-up gate entries separately)."""
    return signal_targets(c, mkt, prog, params, initial, bars_per_year)[0]
