"""Binance USDT-M perpetual arithmetic: tiered maintenance margin and liquidation prices.

A symbol's brackets are rows ``(cap, mmr, cum, max_leverage)`` in ascending notional (see
``kernels.enums`` ``T_*``). Binance's maintenance amounts ``cum`` make the maintenance margin a
continuous convex function of the position notional ``N``, the upper envelope of the tier lines:

    MM(N) = max_k (N * mmr_k - cum_k)

so the exact liquidation price (where the margin balance meets MM at that very price) is the
highest single-tier price for a long and the lowest for a short.
"""

import numpy as np
from numba import njit

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)
from kernels.enums import T_CAP, T_CUM, T_MAX_LEV, T_MMR


@njit(cache=True)
def maintenance_margin(notional: float, tiers: np.ndarray) -> float:
    """Maintenance margin of a position of ``notional`` USDT (``>= 0``)."""
    mm = 0.0
    for k in range(tiers.shape[0]):
        v = notional * tiers[k, T_MMR] - tiers[k, T_CUM]
        if v > mm:
            mm = v
    return mm


@njit(cache=True)
def liquidation_price(qty: float, entry: float, margin: float, tiers: np.ndarray) -> float:
    """Liquidation price of a one-way position with ``margin`` behind it (isolated: its margin;
    cross: the wallet plus the other positions' PnL less their maintenance margin).

    ``qty`` is signed (long > 0). The margin balance ``margin + qty * (P - entry)`` meets the
    maintenance margin ``|qty| * P * mmr - cum`` of a tier at

        long:  P = (Q*E - margin - cum) / (Q * (1 - mmr))
        short: P = (Q*E + margin + cum) / (Q * (1 + mmr))

    and the answer is the highest of these over the tiers for a long, the lowest for a short. A long
    whose price is <= 0 can never be liquidated; 0.0 is returned.
    """
    q = abs(qty)
    if q == 0.0:
        return 0.0
    if qty > 0.0:
        best = 0.0
        for k in range(tiers.shape[0]):
            p = (q * entry - margin - tiers[k, T_CUM]) / (q * (1.0 - tiers[k, T_MMR]))
            if p > best:
                best = p
        return best
    best = np.inf
    for k in range(tiers.shape[0]):
        p = (q * entry + margin + tiers[k, T_CUM]) / (q * (1.0 + tiers[k, T_MMR]))
        if p < best:
            best = p
    return best


@njit(cache=True)
def max_notional(leverage: float, tiers: np.ndarray) -> float:
    """The largest position notional Binance allows at ``leverage`` (the cap of the last tier whose
    maximum leverage is at least it; 0.0 when even the first tier's is lower)."""
    cap = 0.0
    for k in range(tiers.shape[0]):
        if tiers[k, T_MAX_LEV] >= leverage and tiers[k, T_CAP] > cap:
            cap = tiers[k, T_CAP]
    return cap
