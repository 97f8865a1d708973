"""Compile (or load from the on-disk cache) every kernel entry on a tiny input."""

import numpy as np

from kernels import enums as E
from kernels.simulate import simulate_grid, simulate_records


def warmup() -> None:
    n, k = 4, 1
    price = np.full((n, k), 100.0)
    tradable = np.ones((n, k), dtype=np.bool_)
    ind = np.zeros((1, n, k))
    conds = np.array([[E.G_LONG_ENTRY, E.OP_GT, E.K_IND, 0, E.K_CONST, 0]], dtype=np.int64)
    group_start = np.array([0, 1, 1, 1, 1], dtype=np.int64)
    params = np.zeros((1, E.N_SIM_PARAMS))
    params[0, E.P_LEVERAGE] = 1.0
    params[0, E.P_POSITION_FRACTION] = 1.0
    args = (
        price,
        price,
        price,
        price,
        tradable,
        np.zeros((n, k)),
        price,
        ind,
        conds,
        group_start,
        np.zeros(1),
        np.zeros((1, 1), dtype=np.int64),
        params,
    )
    simulate_grid(*args, 1000.0, 8760.0)
    simulate_records(0, 0, *args, 1000.0, 8760.0)
