"""The ``search`` config group as typed settings; every error names the key and what is valid."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.errors import ConfigError

METHODS = ("none", "nevergrad", "optuna", "discover")
SAMPLERS = ("tpe", "cmaes", "nsga2", "nsga3", "gp", "random", "grid")
PRUNERS = ("none", "liquidated", "median")
OPTIMIZERS = (
    "NGOpt",
    "TwoPointsDE",
    "DE",
    "CMA",
    "OnePlusOne",
    "DiscreteOnePlusOne",
    "PortfolioDiscreteOnePlusOne",
    "RandomSearch",
)
FIELDS = ("method", "optimizer", "budget", "num_workers", "seed", "pareto", "resume", "space", "discover", "experiment")
OPTUNA_FIELDS = (
    "method",
    "sampler",
    "sampler_options",
    "budget",
    "batch",
    "seed",
    "pareto",
    "resume",
    "storage",
    "study_name",
    "workers",
    "pruner",
    "space",
    "experiment",
)


@dataclass(frozen=True)
class Dim:
    """One searched dimension: a number in [low, high] (integer, on a step grid, or log-scaled) or
    one of ``choices``."""

    key: str
    low: float = 0.0
    high: float = 0.0
    integer: bool = False
    step: float | None = None
    log: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchSpec:
    method: str = "none"
    optimizer: str = "TwoPointsDE"
    budget: int = 200
    num_workers: int = 20
    seed: int = 0
    pareto: bool = False
    resume: str | None = None
    space: tuple[Dim, ...] = ()
    discover: dict[str, Any] = field(default_factory=dict)
    optuna: "OptunaSpec | None" = None

    @property
    def active(self) -> bool:
        return self.method != "none"


@dataclass(frozen=True)
class OptunaSpec:
    """``search=optuna``: ``batch`` trials asked at once and evaluated in one kernel call, in a study
    persisted in ``storage`` (None: SQLite beside the MLflow store) shared by ``workers`` processes."""

    sampler: str = "tpe"
    sampler_options: dict[str, Any] = field(default_factory=dict)
    batch: int = 20
    storage: str | None = None
    study_name: str | None = None
    workers: int = 1
    pruner: str = "none"


def _int(raw: Mapping, key: str, lo: int, hi: int) -> int:
    v = raw.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ConfigError(f"search.{key}={v!r}: must be an integer from {lo} to {hi:,}")
    return v


def _dim(key: str, body: Any) -> Dim:
    where = f"search.space.{key}"
    if not isinstance(body, Mapping):
        raise ConfigError(f"{where}={body!r}: must be {{type: int|float, low, high}} or {{choices: [...]}}")
    if "choices" in body:
        choices = body["choices"]
        if not isinstance(choices, (list, tuple)) or not choices:
            raise ConfigError(f"{where}.choices={choices!r}: must be a non-empty list")
        return Dim(key, choices=tuple(str(c) for c in choices))
    kind = body.get("type", "float")
    if kind not in ("int", "float"):
        raise ConfigError(f"{where}.type={kind!r}: valid: int, float")
    bounds = []
    for b in ("low", "high"):
        v = body.get(b)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{where}.{b}={v!r}: must be a number")
        bounds.append(float(v))
    if bounds[0] >= bounds[1]:
        raise ConfigError(f"{where}: low={bounds[0]:g} must be below high={bounds[1]:g}")
    step = body.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0):
        raise ConfigError(f"{where}.step={step!r}: must be a number > 0 or null")
    log = bool(body.get("log", False))
    if log and bounds[0] <= 0:
        raise ConfigError(f"{where}: a log-scaled dimension needs low > 0")
    unknown = sorted(set(body) - {"type", "low", "high", "step", "log"})
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; valid: type, low, high, step, log, choices")
    return Dim(key, bounds[0], bounds[1], kind == "int", None if step is None else float(step), log)


DIM_KEYS = {"type", "low", "high", "step", "log", "choices"}


def _flat(space: Mapping, prefix: str = "") -> dict[str, Any]:
    """``{leverage: {value: {low: 1, ...}}}`` (as a command line makes it) -> ``{"leverage.value": {...}}``."""
    out: dict[str, Any] = {}
    for k, v in space.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v and not set(v) & DIM_KEYS:
            out.update(_flat(v, f"{key}."))
        else:
            out[key] = v
    return out


def search_spec(raw: Any) -> SearchSpec:
    """Parse the composed ``search`` node (``None``: no search)."""
    if raw is None:
        return SearchSpec()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"search={raw!r}: choose a config of the search group: none, nevergrad, discover")
    valid = OPTUNA_FIELDS if raw.get("method") == "optuna" else FIELDS
    unknown = sorted(set(raw) - set(valid))
    if unknown:
        raise ConfigError(f"search.{unknown[0]}: unknown setting; valid: {', '.join(valid)}")
    method = raw.get("method", "none")
    if method not in METHODS:
        raise ConfigError(f"search.method={method!r}: valid: {', '.join(METHODS)}")
    if method == "none":
        return SearchSpec()
    if method == "optuna":
        return _optuna_spec(raw)
    optimizer = raw.get("optimizer", "TwoPointsDE")
    import nevergrad as ng

    if optimizer not in ng.optimizers.registry:
        raise ConfigError(f"search.optimizer={optimizer!r}: not a nevergrad optimizer; e.g. {', '.join(OPTIMIZERS)}")
    budget, seed, pareto, resume, dims = _common(raw)
    workers = _int(raw, "num_workers", 1, 100_000)
    discover = raw.get("discover") or {}
    if not isinstance(discover, Mapping):
        raise ConfigError(f"search.discover={discover!r}: must be a mapping")
    return SearchSpec(method, optimizer, budget, workers, seed, pareto, resume, dims, dict(discover))


def _common(raw: Mapping) -> tuple[int, int, bool, str | None, tuple[Dim, ...]]:
    """budget, seed, pareto, resume and the space: what every search takes."""
    budget = _int(raw, "budget", 1, 10_000_000)
    seed = _int(raw, "seed", 0, 2**31 - 1)
    pareto = raw.get("pareto", False)
    if not isinstance(pareto, bool):
        raise ConfigError(f"search.pareto={pareto!r}: must be true or false")
    resume = raw.get("resume")
    if resume is not None and (not isinstance(resume, str) or not resume.strip()):
        raise ConfigError(f"search.resume={resume!r}: a run id, 'last', or null")
    space = raw.get("space") or {}
    if not isinstance(space, Mapping):
        raise ConfigError(f"search.space={space!r}: must map config keys to {{type, low, high}} or {{choices}}")
    return budget, seed, pareto, resume, tuple(_dim(k, v) for k, v in _flat(space).items())


def _optuna_spec(raw: Mapping) -> SearchSpec:
    budget, seed, pareto, resume, dims = _common(raw)
    sampler = raw.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        raise ConfigError(f"search.sampler={sampler!r}: valid: {', '.join(SAMPLERS)}")
    if pareto and sampler not in ("nsga2", "nsga3", "tpe", "random", "gp"):
        raise ConfigError(f"search.sampler={sampler}: a Pareto search needs nsga2, nsga3, tpe, gp or random")
    options = raw.get("sampler_options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"search.sampler_options={options!r}: must be a mapping of the sampler's arguments")
    storage = raw.get("storage")
    if storage is not None:
        scheme = str(storage).split(":", 1)[0].split("+", 1)[0]
        if not isinstance(storage, str) or scheme not in ("sqlite", "postgresql", "mysql"):
            from runner.redact import redact

            raise ConfigError(
                f"search.storage={redact(str(storage))!r}: an RDB URL (sqlite:///<file>, "
                "postgresql://user:password@host/db) or null (SQLite beside the MLflow store)"
            )
    name = raw.get("study_name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"search.study_name={name!r}: a name, or null (derived from the strategy and config)")
    pruner = raw.get("pruner", "none")
    if pruner not in PRUNERS:
        raise ConfigError(f"search.pruner={pruner!r}: valid: {', '.join(PRUNERS)}")
    spec = OptunaSpec(
        sampler,
        dict(options),
        _int(raw, "batch", 1, 100_000),
        storage,
        name,
        _int(raw, "workers", 1, 64),
        pruner,
    )
    return SearchSpec("optuna", sampler, budget, spec.batch, seed, pareto, resume, dims, {}, spec)
