"""Grid values as written in configs: a number, a list, or ``{start, stop, step}`` (stop included)."""

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_RANGE_ITEMS = 1_000_000


def _decimal(value: Any) -> Decimal:
    """A number as the decimal a person wrote (``0.1`` is one tenth, not its binary neighbour)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidOperation
    out = Decimal(str(value))
    if not out.is_finite():
        raise InvalidOperation
    return out


def on_grid(start: float, k: int, step: float) -> float:
    """The ``k``-th point of the grid ``start, start + step, ...`` computed in decimal, so that
    ``40 + 7 x 0.1`` is ``40.7`` exactly as written (no binary drift)."""
    return float(_decimal(start) + k * _decimal(step))


def decimal_range(start: Any, stop: Any, step: Any) -> list[float]:
    """``start, start + step, ...`` up to and including ``stop``, in decimal arithmetic."""
    a, b, d = _decimal(start), _decimal(stop), _decimal(step)
    if d <= 0 or b < a:
        raise ValueError("a range needs step > 0 and stop >= start")
    n = int((b - a) / d) + 1
    if n > MAX_RANGE_ITEMS:
        raise ValueError(f"a range of {n:,} values; at most {MAX_RANGE_ITEMS:,}")
    return [float(a + k * d) for k in range(n)]


def expand(raw: Any) -> Sequence[Any]:
    """The items ``raw`` stands for; raises ValueError naming what a malformed range needs."""
    if isinstance(raw, Mapping):
        try:
            return decimal_range(raw["start"], raw["stop"], raw["step"])
        except (KeyError, InvalidOperation):
            raise ValueError("a range needs numeric start, stop and step") from None
    if isinstance(raw, (list, tuple)):
        return raw
    return [raw]


def is_number(text: str) -> bool:
    """Whether a text reads as a number."""
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True
