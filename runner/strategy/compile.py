"""Compile a program and its parameter grid into kernel inputs.

Indicator values are computed once per unique parameter set and shared by every combination
(``combo_ind`` picks the column); the grid itself is only rows of numbers (``params``).
"""

from dataclasses import dataclass

import numpy as np

from kernels import enums as E
from runner.config import Axis, RunSpec
from runner.data.panel import MarketPanel
from runner.errors import ConfigError
from runner.strategy.indicators import compute
from runner.strategy.program import Operand, Program


@dataclass
class Compiled:
    ind: np.ndarray  # (n_cols, n_bars, n_assets)
    conds: np.ndarray  # (n_conds, N_COND_COLS) int64, sorted by group
    group_start: np.ndarray  # (N_GROUPS + 1,) int64
    consts: np.ndarray
    combo_ind: np.ndarray  # (n_combos, n_slots) int64
    params: np.ndarray  # (n_combos, N_SIM_PARAMS + n_strategy_params)
    axes: list[Axis]
    grid_idx: np.ndarray  # (n_combos, n_axes): index into each axis's values
    param_names: list[str]
    indicator_columns: list[tuple[str, dict[str, float]]]

    @property
    def n_combos(self) -> int:
        return self.params.shape[0]


def expand_grid(axes: list[Axis]) -> np.ndarray:
    """Row ``c`` holds the value index of every axis for combination ``c`` (C order)."""
    shape = [len(a.values) for a in axes]
    return np.indices(shape, dtype=np.int64).reshape(len(shape), -1).T.copy()


def compile_strategy(spec: RunSpec, program: Program, panel: MarketPanel) -> Compiled:
    axes = spec.axes
    grid = expand_grid(axes)
    n_combos = grid.shape[0]
    sim_cols = list(spec.sim_axes)
    param_names = list(spec.strategy_params)
    params = np.zeros((n_combos, E.N_SIM_PARAMS + len(param_names)))
    for j, axis in enumerate(axes):
        col = sim_cols[j] if j < len(sim_cols) else E.N_SIM_PARAMS + (j - len(sim_cols))
        params[:, col] = np.asarray(axis.values)[grid[:, j]]

    axis_of = {name: len(sim_cols) + i for i, name in enumerate(param_names)}
    columns: list[np.ndarray] = []
    described: list[tuple[str, dict[str, float]]] = []
    combo_ind = np.zeros((n_combos, len(program.indicators)), dtype=np.int64)
    slot_of: dict[str, int] = {}
    for slot, use in enumerate(program.indicators):
        slot_of[use.name] = slot
        refs = [(k, v) for k, v in use.params.items() if isinstance(v, str)]
        for _, ref in refs:
            if ref not in axis_of:
                raise ConfigError(f"indicator {use.name}: parameter refers to unknown strategy parameter {ref!r}")
        if refs:
            keys = grid[:, [axis_of[r] for _, r in refs]]
            uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        else:
            uniq, inverse = np.zeros((1, 0), np.int64), np.zeros(n_combos, np.int64)
        base = len(columns)
        for row in uniq:
            values = {k: float(v) for k, v in use.params.items() if not isinstance(v, str)}
            for (k, ref), idx in zip(refs, row, strict=True):
                values[k] = float(spec.strategy_params[ref].values[idx])
            columns.append(compute(use.type, panel.close, values))
            described.append((use.name, values))
        combo_ind[:, slot] = base + inverse.reshape(-1)

    consts: list[float] = []

    def operand(op: Operand) -> tuple[int, int]:
        if op.kind == "ind":
            if op.ref not in slot_of:
                raise ConfigError(f"condition refers to unknown indicator {op.ref!r}")
            return E.K_IND, slot_of[op.ref]  # type: ignore[index]
        if op.kind == "param":
            if op.ref not in axis_of:
                raise ConfigError(f"condition refers to unknown parameter {op.ref!r}")
            return E.K_PARAM, E.N_SIM_PARAMS + param_names.index(op.ref)  # type: ignore[arg-type]
        consts.append(float(op.ref))
        return E.K_CONST, len(consts) - 1

    rows = []
    for cond in sorted(program.conditions, key=lambda c: c.group):
        lk, li = operand(cond.lhs)
        rk, ri = operand(cond.rhs)
        rows.append((cond.group, cond.op, lk, li, rk, ri))
    conds = np.array(rows, dtype=np.int64).reshape(-1, E.N_COND_COLS)
    group_start = np.searchsorted(conds[:, E.C_GROUP], np.arange(E.N_GROUPS + 1)).astype(np.int64)
    ind = np.ascontiguousarray(np.stack(columns)) if columns else np.zeros((0, panel.n_bars, panel.n_assets))
    return Compiled(
        ind=ind,
        conds=conds,
        group_start=group_start,
        consts=np.asarray(consts, dtype=np.float64),
        combo_ind=combo_ind,
        params=np.ascontiguousarray(params),
        axes=axes,
        grid_idx=grid,
        param_names=param_names,
        indicator_columns=described,
    )
