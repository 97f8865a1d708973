"""The searched dimensions of a run as a nevergrad parametrization, and candidates as grid rows.

By default every strategy parameter is searched over its declared ``low``/``high`` (and ``step``);
``search.space`` adds other dimensions of the in-job grid (leverage, sizing fraction, direction,
any indicator number) or narrows a parameter. Every other dimension keeps its single value.
"""

from dataclasses import dataclass

import numpy as np

from kernels import enums as E
from runner.errors import ConfigError
from runner.search.spec import Dim, SearchSpec
from runner.spec import MAX_LEVERAGE, Axis, RunSpec
from runner.values import on_grid

LABELS = {"strategy.direction": E.DIRECTIONS, "execution.fill_at": E.FILL_AT}
LIMITS = {"leverage.value": (1.0, float(MAX_LEVERAGE), True), "sizing.fraction": (1e-9, 1.0, False)}


@dataclass(frozen=True)
class Space:
    """Dimensions in the order of the run's axes (``slot[k]`` is the axis of dimension ``k``)."""

    axes: list[Axis]
    dims: tuple[Dim, ...]
    slot: tuple[int, ...]

    def parametrization(self, seed: int):
        import nevergrad as ng

        params = {}
        for d in self.dims:
            if d.choices:
                params[d.key] = ng.p.Choice(list(d.choices))
            elif d.log:
                params[d.key] = ng.p.Log(lower=d.low, upper=d.high)
            else:
                params[d.key] = ng.p.Scalar(lower=d.low, upper=d.high)
            if d.integer and not d.choices:
                params[d.key].set_integer_casting()
        param = ng.p.Dict(**params)
        param.random_state.seed(seed)
        return param

    def row(self, value: dict) -> np.ndarray:
        """One grid row of axis values in the user's units (label codes for labelled axes) for a
        candidate's value; the axes' divisors convert them when the kernel's matrix is filled."""
        out = np.array([a.values[0] for a in self.axes], dtype=np.float64)
        for d, j in zip(self.dims, self.slot, strict=True):
            out[j] = snap(d, value[d.key])
        return out


def snap(d: Dim, v) -> float:
    """A candidate's number on its dimension's grid (integer, step), or a choice's label code."""
    if d.choices:
        labels = LABELS.get(d.key)
        return float(labels.index(v)) if labels else float(v)
    v = float(np.clip(float(v), d.low, d.high))
    if d.integer:
        return float(round(v))
    if d.step:
        v = min(d.high, on_grid(d.low, round((v - d.low) / d.step), d.step))
    return round(v, 12)


def build_space(spec: RunSpec, search: SearchSpec) -> Space:
    """The searched dimensions: strategy parameters by their bounds, then ``search.space``."""
    axes = spec.axes
    keys = [a.key for a in axes]
    dims: dict[str, Dim] = {}
    for p in spec.strategy.params.values():
        key = f"strategy.params.{p.name}"
        if p.low < p.high and key in keys:
            dims[key] = Dim(key, p.low, p.high, p.integer, p.step)
    for d in search.space:
        if d.key not in keys:
            raise ConfigError(f"search.space.{d.key}: not a number of this run; valid: {', '.join(keys)}")
        _check(spec, d)
        dims[d.key] = d
    if not dims:
        raise ConfigError("search.space: nothing to search; declare strategy params with low < high or add keys")
    for a in axes:
        if a.key not in dims and len(a.values) > 1:
            raise ConfigError(
                f"{a.key}={[a.display(i) for i in range(len(a.values))]}: a search takes one value for every "
                f"dimension it does not search; give one value or add it to search.space"
            )
    ordered = tuple(dims[k] for k in keys if k in dims)
    base = [_full_axis(a, dims.get(a.key)) for a in axes]
    return Space(base, ordered, tuple(keys.index(d.key) for d in ordered))


def _check(spec: RunSpec, d: Dim) -> None:
    where = f"search.space.{d.key}"
    if d.key in LABELS:
        bad = [c for c in d.choices if c not in LABELS[d.key]] if d.choices else ["(a number)"]
        if bad:
            raise ConfigError(f"{where}: {bad[0]}: valid choices: {', '.join(LABELS[d.key])}")
        return
    if d.choices:
        try:
            [float(c) for c in d.choices]
        except ValueError:
            raise ConfigError(f"{where}.choices: {d.choices}: must be numbers") from None
        return
    lo, hi, integer = LIMITS.get(d.key, (-np.inf, np.inf, False))
    if d.key.startswith("strategy.params."):
        p = spec.strategy.params[d.key.split(".", 2)[2]]
        lo, hi, integer = p.low, p.high, p.integer
    if d.low < lo or d.high > hi or (integer and not d.integer):
        kind = "integers" if integer else "numbers"
        raise ConfigError(f"{where}: [{d.low:g}, {d.high:g}]: must be {kind} within [{lo:g}, {hi:g}]")


def _full_axis(a: Axis, d: Dim | None) -> Axis:
    if d is not None and d.key in LABELS:
        labels = LABELS[d.key]
        return Axis(a.key, tuple(float(i) for i in range(len(labels))), tuple(labels), a.divisor)
    return a


def grid_of(space_axes: list[Axis], rows: np.ndarray) -> tuple[list[Axis], np.ndarray]:
    """Axes holding the distinct values of ``rows`` (user units, one column per axis) and each row's
    value indices: what ``compile_strategy`` takes as an explicit grid."""
    axes, idx = [], np.empty(rows.shape, dtype=np.int64)
    for j, a in enumerate(space_axes):
        values, inverse = np.unique(rows[:, j], return_inverse=True)
        labels = tuple(LABELS[a.key][int(v)] for v in values) if a.key in LABELS else None
        axes.append(Axis(a.key, tuple(float(v) for v in values), labels, a.divisor))
        idx[:, j] = inverse.reshape(-1)
    return axes, idx
