"""Compile (or load from the on-disk cache) every kernel entry on a tiny input."""

import numpy as np

from kernels import enums as E
from kernels.program import group_program
from kernels.simulate import signal_flags, signal_targets, simulate_grid, simulate_records


def warmup() -> None:
    n, k = 4, 1
    price = np.full((n, k), 100.0)
    tradable = np.ones((n, k), dtype=np.bool_)
    prog = group_program(np.zeros((E.N_GROUPS, n, k)))
    params = np.zeros((1, E.N_SIM_PARAMS))
    params[0, E.P_LEVERAGE] = 1.0
    params[0, E.P_POSITION_FRACTION] = 1.0
    params[0, E.P_STOP_LOSS : E.P_TRAILING_STOP + 1] = np.nan
    market = (price, price, price, price, tradable, np.zeros((n, k)), price)
    simulate_grid(*market, prog, params, 0, 1, 1000.0, 8760.0, np.zeros(n, np.int64), 1)
    simulate_records(0, 0, *market, prog, params, 1000.0, 8760.0)
    signal_flags(0, *market, prog, params, 1000.0, 8760.0)
    signal_targets(0, *market, prog, params, 1000.0, 8760.0)
