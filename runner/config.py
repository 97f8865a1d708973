"""Validation of a composed config into typed specs; every error is one line naming the key."""

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, ListConfig, OmegaConf

from kernels import enums as E
from runner import PROJECT_ROOT
from runner.data.panel import TRIGGERS, DataSpec
from runner.data.paths import resolve_data_root
from runner.data.timeframes import TIMEFRAME_MS, parse_utc
from runner.errors import ConfigError
from runner.filters.spec import filters_spec
from runner.instruments import instruments
from runner.search.spec import search_spec
from runner.spec import (
    BACKENDS,
    BPS,
    CHILD_RUNS,
    IN_SAMPLE,
    MAX_GRID,
    MAX_LEVERAGE,
    METRICS,
    MONTECARLO_ON,
    RAY_INSTALL,
    Axis,
    ComputeSpec,
    MonteCarloSpec,
    ObjectiveSpec,
    RunSpec,
    TrackingSpec,
)
from runner.strategy.dsl import parse_strategy
from runner.values import expand


def compute_spec(cfg: DictConfig) -> ComputeSpec:
    """The compute settings (defaults where the config has no ``compute`` block)."""
    if OmegaConf.select(cfg, "compute") is None:
        return ComputeSpec()
    (backend,) = _choice(cfg, "compute.backend", BACKENDS)
    chunk = _get(cfg, "compute.chunk_combos")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
        raise ConfigError(
            f"compute.chunk_combos={chunk!r}: must be a positive integer (combinations per kernel call) "
            "or null (sized from compute.max_memory_gb)"
        )
    budget = _get(cfg, "compute.max_memory_gb")
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget < float("inf")
    ):
        raise ConfigError(
            f"compute.max_memory_gb={budget!r}: must be a positive number of GB or null (the memory available)"
        )
    address = _get(cfg, "compute.ray_address")
    if address is not None and (not isinstance(address, str) or not address.strip() or " " in address.strip()):
        raise ConfigError(
            f"compute.ray_address={address!r}: must be a Ray address like 10.0.0.5:6379 or ray://head:10001, "
            "or null ($RAY_ADDRESS, else a local Ray)"
        )
    if backend == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ConfigError(f"compute.backend=ray: Ray is not installed; {RAY_INSTALL} (valid: local, ray)")
    return ComputeSpec(
        backend=backend,
        chunk_combos=chunk,
        max_memory_gb=None if budget is None else float(budget),
        ray_address=address.strip() if address else None,
    )


def _get(cfg: DictConfig, key: str) -> Any:
    try:
        value = OmegaConf.select(cfg, key, throw_on_missing=True)
    except Exception as exc:
        raise ConfigError(f"{key}: {str(exc).splitlines()[0]}") from None
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _numbers(
    cfg: DictConfig,
    key: str,
    lo: float,
    hi: float,
    *,
    integer: bool = False,
    lo_open: bool = False,
    what: str | None = None,
) -> tuple[float, ...]:
    """A number, a list of numbers, or ``{start, stop, step}`` (stop included), each in range."""
    raw = _get(cfg, key)
    try:
        items = expand(raw)
    except ValueError as exc:
        raise ConfigError(f"{key}={raw}: {exc}") from None
    if not items:
        raise ConfigError(f"{key}=[]: needs at least one value")
    kind = "an integer" if integer else "a number"
    lo_s = f"> {lo:g}" if lo_open else f">= {lo:g}"
    rule = what or f"{kind} {lo_s} and <= {hi:g}"
    out: list[float] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float, np.floating)):
            raise ConfigError(f"{key}={item!r}: must be {rule}")
        v = float(item)
        if not np.isfinite(v) or (integer and not v.is_integer()):
            raise ConfigError(f"{key}={item!r}: must be {rule}")
        if v < lo or v > hi or (lo_open and v == lo):
            raise ConfigError(f"{key}={item!r}: must be {rule}")
        out.append(v)
    if len(set(out)) != len(out):
        raise ConfigError(f"{key}={raw}: values repeat")
    return tuple(out)


def _scalar(cfg: DictConfig, key: str, lo: float, hi: float, **kw) -> float:
    """One number (this field is not a grid axis)."""
    values = _numbers(cfg, key, lo, hi, **kw)
    if len(values) != 1:
        raise ConfigError(f"{key}={list(values)}: must be a single number, not a grid")
    return values[0]


def _choice(cfg: DictConfig, key: str, valid: Sequence[str], many: bool = False) -> tuple[str, ...]:
    raw = _get(cfg, key)
    items = raw if (many and isinstance(raw, (list, tuple))) else [raw]
    for item in items:
        if item not in valid:
            raise ConfigError(f"{key}={item!r}: valid: {', '.join(valid)}")
    return tuple(items)


def _time(cfg: DictConfig, key: str, end: bool) -> int:
    return parse_utc(_get(cfg, key), key, end)


def data_spec(cfg: DictConfig, resolve_root: bool = True) -> DataSpec:
    """Validated data settings (resolves the data root unless told not to: a model gets its bars
    from the caller; symbols are checked when loading)."""
    symbols = _get(cfg, "data.symbols")
    if isinstance(symbols, str):
        symbols = [symbols]
    if not symbols or not all(isinstance(s, str) and s for s in symbols):
        raise ConfigError(f"data.symbols={symbols!r}: must be a non-empty list of symbols like BTCUSDT")
    if len(set(symbols)) != len(symbols):
        raise ConfigError(f"data.symbols={symbols!r}: symbols repeat")
    tfs = list(TIMEFRAME_MS)
    (source,) = _choice(cfg, "data.source_interval", tfs)
    (timeframe,) = _choice(cfg, "data.timeframe", tfs)
    (market,) = _choice(cfg, "data.market", ["futures_um", "spot"])
    start = _time(cfg, "data.start", end=False)
    end = _time(cfg, "data.end", end=True)
    if start >= end:
        raise ConfigError(f"data.start={_get(cfg, 'data.start')!s} is not before data.end={_get(cfg, 'data.end')!s}")
    (gap_policy,) = _choice(cfg, "data.gap_policy", ["warn", "error", "ignore"])
    (funding_missing,) = _choice(cfg, "data.funding_missing", ["warn", "error"])
    (liq_trigger,) = _choice(cfg, "execution.liquidation_trigger", TRIGGERS)
    (stop_trigger,) = _choice(cfg, "execution.stop_trigger", TRIGGERS)
    cache_dir = None
    if _get(cfg, "data.cache"):
        configured = _get(cfg, "data.cache_dir") or os.environ.get("PERPLAB_CACHE")
        cache_dir = Path(configured).expanduser() if configured else PROJECT_ROOT / ".cache" / "perplab"
    return DataSpec(
        root=resolve_data_root(_get(cfg, "data.root")) if resolve_root else Path(_get(cfg, "data.root") or "."),
        market=market,
        symbols=tuple(symbols),
        source_interval=source,
        timeframe=timeframe,
        start_ms=start,
        end_ms=end,
        gap_policy=gap_policy,
        funding=bool(_get(cfg, "data.funding")) and market == "futures_um",
        funding_missing=funding_missing,
        cache_dir=cache_dir,
        mark_price=bool(_get(cfg, "data.mark_price")) and market == "futures_um",
        liquidation_trigger=liq_trigger,
        stop_trigger=stop_trigger,
    )


def tracking_spec(cfg: DictConfig) -> TrackingSpec:
    uri = _get(cfg, "tracking.uri") or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        uri = f"sqlite:///{PROJECT_ROOT / 'mlruns' / 'mlflow.db'}"
    name = _get(cfg, "tracking.experiment")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"tracking.experiment={name!r}: must be a non-empty name")
    (child_runs,) = _choice(cfg, "tracking.child_runs", CHILD_RUNS) if _get(cfg, "tracking.child_runs") else ("none",)
    combos = _get(cfg, "tracking.combos") or []
    combos = combos if isinstance(combos, list) else [combos]
    for c in combos:
        if isinstance(c, bool) or not isinstance(c, int) or c < 0:
            raise ConfigError(f"tracking.combos={combos}: must be grid row numbers (integers >= 0, the 'combo' column)")
    return TrackingSpec(
        uri=str(uri),
        experiment=name,
        artifact_root=_get(cfg, "tracking.artifact_root"),
        log_trades=bool(_get(cfg, "tracking.log_trades")),
        child_runs=child_runs,
        combos=tuple(dict.fromkeys(combos)),
        report=_choice(cfg, "tracking.report", REPORTS)[0],
        trades_json=_flag(cfg, "tracking.trades_json"),
        **_heartbeat(cfg),
    )


def detail_interval(cfg: DictConfig, timeframe: str) -> str | None:
    """``execution.detail``: None, or an interval that divides the strategy's timeframe."""
    detail = _get(cfg, "execution.detail")
    if detail is None:
        return None
    (detail,) = _choice(cfg, "execution.detail", list(TIMEFRAME_MS))
    fine, step = TIMEFRAME_MS[detail], TIMEFRAME_MS[timeframe]
    if fine >= step or step % fine:
        raise ConfigError(
            f"execution.detail={detail}: must be finer than data.timeframe={timeframe} and divide it (e.g. 1m)"
        )
    return detail


def latency(cfg: DictConfig, timeframe: str) -> float:
    """``latency.ms``: 0, or a delay below one bar that ``execution.detail`` can place orders by."""
    ms = _scalar(cfg, "latency.ms", 0.0, float(TIMEFRAME_MS[timeframe] - 1))
    if ms > 0 and _get(cfg, "execution.detail") is None:
        raise ConfigError(
            f"latency.ms={ms:g}: delays market orders between sub-bars, so it needs execution.detail "
            "(e.g. execution.detail=1m); or latency=none"
        )
    return float(ms)


def montecarlo_spec(cfg: DictConfig) -> MonteCarloSpec:
    """``montecarlo.*`` (README: Monte Carlo risk)."""
    (combos,) = _choice(cfg, "montecarlo.combos", MONTECARLO_ON)
    paths = int(_scalar(cfg, "montecarlo.paths", 100, 1_000_000, integer=True))
    block = _get(cfg, "montecarlo.block_bars")
    block = None if block is None else int(_scalar(cfg, "montecarlo.block_bars", 1, 1_000_000, integer=True))
    seed = int(_scalar(cfg, "montecarlo.seed", 0, 2**31 - 1, integer=True))
    return MonteCarloSpec(paths=paths, block_bars=block, seed=seed, combos=combos)


def _heartbeat(cfg: DictConfig) -> dict[str, float]:
    """``tracking.heartbeat_s`` and ``tracking.heartbeat_timeout_s`` (defaults where a config lacks them)."""
    out = {}
    for key, default in (("heartbeat_s", 30.0), ("heartbeat_timeout_s", 300.0)):
        value = _get(cfg, f"tracking.{key}")
        value = default if value is None else value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e9:
            raise ConfigError(f"tracking.{key}={value!r}: must be a positive number of seconds")
        out[key] = float(value)
    if out["heartbeat_timeout_s"] < 2 * out["heartbeat_s"]:
        raise ConfigError(
            f"tracking.heartbeat_timeout_s={out['heartbeat_timeout_s']:g}: must be at least twice "
            f"tracking.heartbeat_s={out['heartbeat_s']:g} (a live run would be taken for dead)"
        )
    return out


REPORTS = ("best", "all", "none")


def _flag(cfg: DictConfig, key: str) -> bool:
    value = _get(cfg, key)
    if not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r}: must be true or false")
    return value


def strategy_file(name: object) -> str:
    """Where a strategy's YAML lives (for error messages), relative to the project."""
    path = PROJECT_ROOT / "conf" / "strategy" / f"{name}.yaml"
    return str(path.relative_to(PROJECT_ROOT)) if path.is_file() else "strategy"


def strategy_spec(cfg: DictConfig, data_timeframe: object = "1h"):
    """The parsed strategy of a composed config."""
    raw = _get(cfg, "strategy")
    name = raw.get("name") if isinstance(raw, Mapping) else None
    primary = data_timeframe if data_timeframe in TIMEFRAME_MS else "1h"
    return parse_strategy(raw, strategy_file(name), primary)


SIZE_KEYS = {  # method -> the key of its number, (lo, hi, lo_open)
    "fixed_fraction": ("sizing.fraction", (0.0, 1.0, True)),
    "fixed_notional": ("sizing.notional", (0.0, 1e12, True)),
    "risk_per_trade": ("sizing.risk", (0.0, 1.0, True)),
    "volatility_target": ("sizing.target", (0.0, 10.0, True)),
    "kelly": ("sizing.kelly_fraction", (0.0, 1.0, True)),
}
RISK_KEYS = {  # key -> (param column, lo, hi, integer)
    "risk.drawdown_scale_at": (E.P_DD_SCALE_AT, 0.0, 1.0, False),
    "risk.max_drawdown": (E.P_DD_HALT, 0.0, 1.0, False),
    "risk.daily_loss_limit": (E.P_DAILY_LOSS, 0.0, 1.0, False),
    "risk.max_consecutive_losses": (E.P_MAX_LOSSES, 1.0, 1e6, True),
}


def sizing_axes(cfg: DictConfig) -> dict[int, Axis]:
    """The sizing group: method, its number, and the caps (null caps stay off)."""
    (method,) = _choice(cfg, "sizing.method", E.SIZING_METHODS)
    axes = {E.P_SIZING: Axis("sizing.method", (float(E.SIZING_METHODS.index(method)),), (method,))}
    key, (lo, hi, lo_open) = SIZE_KEYS[method]
    if method == "fixed_fraction" and _get(cfg, key) is None:
        n_symbols = len(_get(cfg, "data.symbols") or [1])
        axes[E.P_SIZE] = Axis(key, (1.0 / max(n_symbols, 1),))
    else:
        axes[E.P_SIZE] = Axis(key, _numbers(cfg, key, lo, hi, lo_open=lo_open))
    if method == "kelly":
        axes[E.P_KELLY_MIN_TRADES] = Axis(
            "sizing.min_trades", (_scalar(cfg, "sizing.min_trades", 1, 1e6, integer=True),)
        )
        axes[E.P_KELLY_FALLBACK] = Axis(
            "sizing.fallback_fraction", (_scalar(cfg, "sizing.fallback_fraction", 0.0, 1.0, lo_open=True),)
        )
    if _get(cfg, "sizing.max_position_size") is not None:
        axes[E.P_MAX_POSITION] = Axis(
            "sizing.max_position_size", _numbers(cfg, "sizing.max_position_size", 0.0, 1.0, lo_open=True)
        )
    if _get(cfg, "sizing.max_exposure") is not None:
        axes[E.P_MAX_EXPOSURE] = Axis(
            "sizing.max_exposure", _numbers(cfg, "sizing.max_exposure", 0.0, 1000.0, lo_open=True)
        )
    return axes


def risk_axes(cfg: DictConfig) -> dict[int, Axis]:
    """The risk group's circuit breakers that are set (null: off)."""
    axes: dict[int, Axis] = {}
    for key, (col, lo, hi, integer) in RISK_KEYS.items():
        if _get(cfg, key) is not None:
            axes[col] = Axis(key, _numbers(cfg, key, lo, hi, integer=integer, lo_open=not integer))
    if E.P_DD_SCALE_AT in axes:
        axes[E.P_DD_SCALE] = Axis("risk.drawdown_scale", _numbers(cfg, "risk.drawdown_scale", 0.0, 1.0))
    if _get(cfg, "risk.cooldown_bars"):
        axes[E.P_COOLDOWN] = Axis("risk.cooldown_bars", _numbers(cfg, "risk.cooldown_bars", 0, 1e6, integer=True))
    return axes


def validate(cfg: DictConfig, resolve_data: bool = True) -> RunSpec:
    """Check every field of a composed config; raise ConfigError naming the first bad one."""
    sim: dict[int, Axis] = {}
    sim[E.P_LEVERAGE] = Axis(
        "leverage.value",
        _numbers(
            cfg,
            "leverage.value",
            1,
            MAX_LEVERAGE,
            integer=True,
            what=f"an integer from 1 to {MAX_LEVERAGE} (valid: 1..{MAX_LEVERAGE})",
        ),
    )
    modes = _choice(cfg, "margin.mode", E.MARGIN_MODES, many=True)
    sim[E.P_MARGIN_MODE] = Axis("margin.mode", tuple(float(E.MARGIN_MODES.index(m)) for m in modes), modes)
    for col, key in (
        (E.P_TAKER_FEE, "fees.taker_bps"),
        (E.P_MAKER_FEE, "fees.maker_bps"),
        (E.P_SLIPPAGE, "fees.slippage_bps"),
    ):
        lo = -10.0 if key == "fees.maker_bps" else 0.0
        bps = _numbers(cfg, key, lo, 1000.0)
        sim[col] = Axis(key, bps, divisor=BPS)
    if _get(cfg, "fees.slippage_impact"):
        sim[E.P_IMPACT] = Axis("fees.slippage_impact", _numbers(cfg, "fees.slippage_impact", 0.0, 10.0))
    sim.update(sizing_axes(cfg))
    method = sim[E.P_SIZING].display(0)  # validated by sizing_axes
    sim.update(risk_axes(cfg))
    (fill_at,) = _choice(cfg, "execution.fill_at", E.FILL_AT)
    sim[E.P_FILL_AT] = Axis("execution.fill_at", (float(E.FILL_AT.index(fill_at)),), (fill_at,))
    directions = _choice(cfg, "strategy.direction", E.DIRECTIONS, many=True)
    sim[E.P_DIRECTION] = Axis("strategy.direction", tuple(float(E.DIRECTIONS.index(d)) for d in directions), directions)

    strategy = strategy_spec(cfg, data_timeframe=_get(cfg, "data.timeframe"))
    strategy_axes = {v.key: Axis(v.key, v.values) for v in strategy.values}

    capital = _scalar(cfg, "account.initial_capital", 0.0, 1e12, lo_open=True)
    data = data_spec(cfg, resolve_data)
    if resolve_data:  # a symbol without data is "unknown" before it is "without exchange rules"
        from runner.data.panel import check_symbols

        check_symbols(data)
    metric = _get(cfg, "objective.metric")
    if metric not in METRICS:
        raise ConfigError(f"objective.metric={metric!r}: valid: {', '.join(METRICS)}")
    top = _scalar(cfg, "report.top", 1, 1000, integer=True)
    spec = RunSpec(
        data=data,
        strategy=strategy,
        strategy_axes=strategy_axes,
        sim_axes=sim,
        initial_capital=capital,
        objective=ObjectiveSpec(
            metric, bool(_get(cfg, "objective.maximize")), bool(_get(cfg, "objective.discard_liquidated"))
        ),
        tracking=tracking_spec(cfg),
        top=int(top),
        filters=filters_spec(_get(cfg, "filters")),
        search=search_spec(_get(cfg, "search")),
        extras={"margin_mode": modes[0], "sizing_method": method},
        instruments=instruments(_get(cfg, "exchange"), data.symbols, data.root if resolve_data else None),
        vol_period=int(_scalar(cfg, "sizing.atr_period", 2, 1000, integer=True))
        if method == "volatility_target"
        else 0,
        compute=compute_spec(cfg),
        montecarlo=montecarlo_spec(cfg),
        detail=detail_interval(cfg, data.timeframe),
        detail_combos=_choice(cfg, "execution.detail_combos", ("best", "pareto"))[0],
        latency_ms=latency(cfg, data.timeframe),
    )
    if method == "risk_per_trade" and not any(st.kind == 0 for st in strategy.stops):
        raise ConfigError(
            "sizing.method=risk_per_trade: the strategy has no stop-loss to size by; add strategy.stop_loss "
            "({percent: 2} or {atr: <indicator>, multiple: 3}) or pick another sizing method"
        )
    if spec.search.method == "optuna" and spec.search.optuna.pruner != "none":
        if spec.filters.walk_forward is None or spec.search.pareto:
            raise ConfigError(
                f"search.pruner={spec.search.optuna.pruner}: prunes on the first walk-forward window's in-sample "
                "objective; it needs filters=walk_forward (or all) and a single objective (search.pareto=false)"
            )
    if spec.search.method in ("nevergrad", "optuna"):  # checked before anything runs
        from runner.search.space import build_space

        build_space(spec, spec.search)
    if spec.search.method == "discover":
        from runner.discovery.catalog import discover_spec

        discover_spec(spec.search.discover, spec.data.timeframe)
        if metric not in IN_SAMPLE:
            valid = ", ".join(IN_SAMPLE)
            raise ConfigError(f"objective.metric={metric!r}: discovery's in-sample fitness takes {valid}")
    if spec.n_combos > MAX_GRID and not spec.search.active:
        raise ConfigError(f"the in-job grid has {spec.n_combos:,} combinations; at most {MAX_GRID:,} per job")
    if spec.tracking.combos and not spec.search.active and max(spec.tracking.combos) >= spec.n_combos:
        raise ConfigError(
            f"tracking.combos={list(spec.tracking.combos)}: the grid has {spec.n_combos} combinations "
            f"(valid: 0..{spec.n_combos - 1})"
        )
    if not spec.search.active:  # the grid's own arrays against compute.max_memory_gb (blocks: once the data is known)
        from runner import compute

        per_combo, per_chunk = compute.job_bytes(0, compute.partial_bytes(spec.filters), len(spec.axes))
        compute.budget(spec.compute, spec.n_combos, per_combo, per_chunk)
    return spec
