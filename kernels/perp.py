"""Binance USDT-M perpetual arithmetic (isolated margin)."""

from numba import njit


@njit(cache=True)
def liquidation_price(qty: float, entry: float, margin: float, mmr: float, maint_amount: float) -> float:
    """Isolated-margin liquidation price of a one-way position.

    ``qty`` is signed (long > 0). Liquidation happens when the isolated margin balance
    ``margin + qty * (P - entry)`` falls to the maintenance margin ``|qty| * P * mmr - maint_amount``:

        long:  P = (Q*E - margin - cum) / (Q * (1 - mmr))
        short: P = (Q*E + margin + cum) / (Q * (1 + mmr))

    A long whose formula gives P <= 0 can never be liquidated; 0.0 is returned.
    """
    q = abs(qty)
    if q == 0.0:
        return 0.0
    if qty > 0.0:
        p = (q * entry - margin - maint_amount) / (q * (1.0 - mmr))
        return p if p > 0.0 else 0.0
    return (q * entry + margin + maint_amount) / (q * (1.0 + mmr))
