"""Compile (or load from the on-disk cache) every backtest entry on a tiny input (all of them reach
one compiled ``simulate_rows``)."""

import numpy as np

from kernels import enums as E
from kernels.program import Market, default_params, flat_tiers, group_program, no_lots
from kernels.simulate import signal_flags, signal_targets, simulate_grid, simulate_records


def warmup() -> None:
    n, k = 4, 1
    price = np.full((n, k), 100.0)
    tradable = np.ones((n, k), dtype=np.bool_)
    prog = group_program(np.zeros((E.N_GROUPS, n, k)))
    params = default_params(1)
    day = np.zeros(n, np.int64)
    mkt = Market(
        open=price,
        high=price,
        low=price,
        close=price,
        volume=price,
        tradable=tradable,
        funding=np.zeros((n, k)),
        settle=price,
        liq_open=price,
        liq_high=price,
        liq_low=price,
        stop_open=price,
        stop_high=price,
        stop_low=price,
        day=day,
        tiers=flat_tiers(k),
        lots=no_lots(k),
        rules_row=np.zeros(n, np.int64),
    )
    simulate_grid(mkt, prog, params, 0, 1, 1000.0, 8760.0, np.zeros(n, np.int64), 1)
    simulate_records(0, 0, mkt, prog, params, 1000.0, 8760.0)
    signal_flags(0, mkt, prog, params, 1000.0, 8760.0)
    signal_targets(0, mkt, prog, params, 1000.0, 8760.0)
