"""Record dtypes, declared once."""

import numpy as np

trade_dt = np.dtype(
    [
        ("combo", np.int64),
        ("asset", np.int64),
        ("side", np.int64),
        ("entry_bar", np.int64),
        ("exit_bar", np.int64),
        ("entry_price", np.float64),
        ("exit_price", np.float64),
        ("qty", np.float64),
        ("leverage", np.float64),
        ("margin", np.float64),
        ("fees", np.float64),
        ("funding", np.float64),
        ("slippage", np.float64),
        ("gross_pnl", np.float64),
        ("net_pnl", np.float64),
        ("ret", np.float64),
        ("exit_reason", np.int64),
    ],
    align=True,
)
