"""Funding rates beyond the cap and floor Binance applies: +-75 % of the first bracket's maintenance
margin rate (Binance's rule for USDT-M perpetuals: 0.3 % for BTCUSDT's 0.4 %), from the run's
brackets (today's table unless a symbol's config says otherwise). A rate beyond it is reported, not
changed: it is what the exchange charged, and usually means the brackets were different then."""

import numpy as np

from kernels import enums as E
from runner.data.panel import MarketPanel, iso

CAP_SHARE = 0.75  # of the first bracket's maintenance margin rate


def caps(tiers: np.ndarray) -> np.ndarray:
    """Each asset's funding cap (and, negated, floor) from its brackets ``(n_assets, n_tiers, N_TIER)``."""
    return CAP_SHARE * tiers[:, 0, E.T_MMR]


def beyond_caps(panel: MarketPanel, tiers: np.ndarray) -> tuple[dict[str, int], list[str]]:
    """Per symbol, how many charged rates of the window lie beyond its cap or floor; a warning for each
    symbol with any (the count, the first and the largest)."""
    counts: dict[str, int] = {}
    warnings: list[str] = []
    limit = caps(tiers)
    for a, events in enumerate(panel.funding_events):
        symbol = panel.symbols[a]
        rates = events[:, 1]
        over = np.abs(rates) > limit[a] * (1 + 1e-9)
        counts[symbol] = int(over.sum())
        if counts[symbol]:
            first = int(np.argmax(over))
            worst = int(np.argmax(np.abs(rates)))
            warnings.append(
                f"{symbol}: {counts[symbol]} funding rates beyond the cap of +-{limit[a]:.3%} (75 % of the first "
                f"bracket's maintenance rate), first {iso(int(events[first, 0]))} at {rates[first]:.4%}, largest "
                f"{rates[worst]:.4%}; charged as recorded (the brackets were likely different then)"
            )
    return counts, warnings
