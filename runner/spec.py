"""The run's types: what a validated config becomes (``runner.config`` builds them) and the limits
the validation enforces. Imports only leaf modules, so any module may use these types."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kernels import enums as E
from runner.data.panel import DataSpec
from runner.filters.spec import FiltersSpec
from runner.instruments import Instruments
from runner.search.spec import SearchSpec

MAX_LEVERAGE = 20
MAX_GRID = 1_000_000
# units: configs, tags, grid tables and child runs hold the user's; the kernel takes fractions
BPS = 1e4  # fees and slippage: kernel value = bps / BPS
PERCENT = 100.0  # percent stops and discovery's stops: kernel value = percent / PERCENT
METRICS = E.METRIC_NAMES
CHILD_RUNS = ("none", "best", "pareto", "all")
# objectives a discovery search may rank by: in-sample figures of every candidate
IN_SAMPLE = ("total_return", "apr", "sharpe", "sortino", "calmar", "max_drawdown", "score", "profit_factor")


@dataclass(frozen=True)
class Axis:
    """One in-job grid dimension: a config key and its values (numbers, or labels mapped to codes)."""

    key: str
    values: tuple[float, ...]  # in the user's units (fees: bps); labels' codes for a label axis
    labels: tuple[str, ...] | None = None
    divisor: float = 1.0  # the one declared scale: kernel value = user value / divisor (fees: 1e4)

    def display(self, i: int) -> Any:
        """Value ``i`` as the user gives it: a label, or a number in the key's own units."""
        if self.labels is not None:
            return self.labels[i]
        v = self.values[i]
        return int(v) if float(v).is_integer() else v

    def kernel_values(self) -> tuple[float, ...]:
        """The values as the kernel's parameter matrix takes them (the only place units convert)."""
        return self.values if self.divisor == 1.0 else tuple(v / self.divisor for v in self.values)


@dataclass(frozen=True)
class MonteCarloSpec:
    """``montecarlo.*``: paths per estimate, the bootstrap's mean block length in bars (None: one
    day of bars), the seed, and which combinations get it (best; best and the Pareto front; none)."""

    paths: int = 1000
    block_bars: int | None = None
    seed: int = 0
    combos: str = "best"


MONTECARLO_ON = ("best", "pareto", "none")


@dataclass(frozen=True)
class ObjectiveSpec:
    metric: str
    maximize: bool
    discard_liquidated: bool


@dataclass(frozen=True)
class TrackingSpec:
    uri: str
    experiment: str
    artifact_root: str | None
    log_trades: bool
    child_runs: str = "none"
    combos: tuple[int, ...] = ()
    report: str = "best"  # best: the best combination's report.html; all: also the tracking.combos rows; none
    trades_json: bool = False  # trades.json beside trades.parquet
    heartbeat_s: float = 30.0  # a RUNNING run's heartbeat tag is refreshed this often
    heartbeat_timeout_s: float = 300.0  # a RUNNING run with an older heartbeat is dead (marked KILLED)


@dataclass(frozen=True)
class ComputeSpec:
    """Where and in what pieces a grid runs (``runner/compute.py``): chunks of ``chunk_combos``
    combinations (None: sized from the budget) within ``max_memory_gb`` (None: the memory available),
    in this process or as Ray tasks at ``ray_address`` (None: $RAY_ADDRESS, else a local Ray)."""

    backend: str = "local"
    chunk_combos: int | None = None
    max_memory_gb: float | None = None
    ray_address: str | None = None


BACKENDS = ("local", "ray")
RAY_INSTALL = "pip install -e '.[ray]'"


@dataclass
class RunSpec:
    data: DataSpec
    strategy: Any  # runner.strategy.dsl.StrategySpec
    strategy_axes: dict[str, Axis]
    sim_axes: dict[int, Axis]
    initial_capital: float
    objective: ObjectiveSpec
    tracking: TrackingSpec
    top: int = 10
    filters: FiltersSpec = field(default_factory=FiltersSpec)
    search: SearchSpec = field(default_factory=SearchSpec)
    extras: dict[str, Any] = field(default_factory=dict)
    instruments: Instruments | None = None
    vol_period: int = 0  # ATR period of volatility-target sizing (0: not used)
    compute: ComputeSpec = field(default_factory=ComputeSpec)
    montecarlo: MonteCarloSpec = field(default_factory=MonteCarloSpec)
    detail: str | None = None  # execution.detail: the fine bars' interval (runner.detail)
    detail_combos: str = "best"  # execution.detail_combos: best (and tracking.combos) | pareto (also the front)
    latency_ms: float = 0.0  # latency.ms: how late a market order reaches the exchange (with detail)

    @property
    def axes(self) -> list[Axis]:
        return [*self.sim_axes.values(), *self.strategy_axes.values()]

    @property
    def n_combos(self) -> int:
        return int(np.prod([len(a.values) for a in self.axes]))
