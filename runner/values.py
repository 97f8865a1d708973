"""Grid values as written in configs: a number, a list, or ``{start, stop, step}`` (stop included)."""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def expand(raw: Any) -> Sequence[Any]:
    """The items ``raw`` stands for; raises ValueError naming what a malformed range needs."""
    if isinstance(raw, Mapping):
        try:
            start, stop, step = (float(raw[k]) for k in ("start", "stop", "step"))
        except (KeyError, TypeError, ValueError):
            raise ValueError("a range needs numeric start, stop and step") from None
        if step <= 0 or stop < start:
            raise ValueError("a range needs step > 0 and stop >= start")
        return [float(v) for v in np.arange(start, stop + step * 1e-9, step)]
    if isinstance(raw, (list, tuple)):
        return raw
    return [raw]
