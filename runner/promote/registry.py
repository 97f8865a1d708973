"""The registry side of a promotion: pick the run, log and register its pyfunc model, move stages
and aliases, tag versions."""

import importlib.metadata
import json
import logging
import math
import shutil
import tempfile
import warnings
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from kernels.cache import sources_digest
from runner import PROJECT_ROOT
from runner.children import KIND_TAG
from runner.errors import ConfigError
from runner.redact import redact

# MLflow deprecated model stages: the lifecycle is aliases (challenger, champion) and a version tag;
# stages are only read, from stores promoted before (runner.paper falls back to them)
warnings.filterwarnings("ignore", message=".*[Ss]tages.*", category=FutureWarning)
STAGES = ("challenger", "champion", "archived", "none")
LEGACY_STAGES = {"staging": "challenger", "production": "champion"}  # old names, still accepted
ALIASES = ("challenger", "champion")
OLD_STAGE = {"challenger": "Staging", "champion": "Production"}  # what an old store called them
STAGE_TAG = "perplab.stage"


def model_name(strategy: str) -> str:
    return f"perplab-{strategy}"


def select_run(client, experiment: str, run_id: str | None, objective: str, maximize: bool):
    """The given run, or the best FINISHED job run of the experiment by ``objective`` (defined values
    only)."""
    if run_id:
        try:
            return client.get_run(run_id)
        except Exception:
            raise ConfigError(f"promote.run_id={run_id}: no such run in the tracking store") from None
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise ConfigError(f"tracking.experiment={experiment}: no such experiment (run the strategy first)")
    found = client.search_runs(
        [exp.experiment_id], f"attributes.status = 'FINISHED' and tags.`{KIND_TAG}` = 'job'", max_results=10_000
    )
    scored = [(r.data.metrics.get(objective, math.nan), r) for r in found]
    scored = [(v, r) for v, r in scored if not math.isnan(v)]
    if not scored:
        raise ConfigError(
            f"promote.objective={objective}: no finished run of {experiment} has a defined value (a run whose "
            "filters left no survivor has none); name one with promote.run_id=..."
        )
    return max(scored, key=lambda vr: vr[0] if maximize else -vr[0])[1]


def study_run(client, study: str, storage_url: str):
    """The FINISHED MLflow run behind an Optuna study's best trial: the trial's own run when the study
    came from ``hydra/sweeper=optuna`` (a run per trial), else the newest job run that searched the
    study in-job (``search=optuna``: its best combination is the search's choice)."""
    import optuna

    from runner.search import study as st

    try:
        best = optuna.load_study(study_name=study, storage=st.storage(storage_url)).best_trial
    except KeyError:
        raise ConfigError(f"promote.study={study}: no such study in {redact(storage_url)}") from None
    except (ValueError, RuntimeError) as exc:  # no complete trial, or several objectives
        raise ConfigError(f"promote.study={study}: {str(exc).splitlines()[0]}") from None
    ids = [e.experiment_id for e in client.search_experiments()]
    query = f"tags.optuna_study = '{study}' and attributes.status = 'FINISHED'"
    found = client.search_runs(ids, query, order_by=["attributes.start_time DESC"])
    own = [r for r in found if r.data.tags.get("optuna_trial") == str(best.number)]
    if own:
        return own[0]
    jobs = [r for r in found if "optuna_trial" not in r.data.tags]
    if not jobs:
        raise ConfigError(f"promote.study={study}: no finished run holds its best trial ({best.number})")
    return jobs[0]


def model_config(client, run) -> DictConfig:
    """The run's resolved config with its best combination fixed (what the model trades)."""
    from runner.model import fixed_config

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run.info.run_id, "config.yaml", tmp)
        except Exception:
            raise ConfigError(f"promote.run_id={run.info.run_id}: the run has no config.yaml artifact") from None
        cfg = OmegaConf.load(path)
    best = {k[5:]: v for k, v in run.data.tags.items() if k.startswith("best.")}
    return fixed_config(cfg, best)


def _code_copy(tmp: Path) -> list[str]:
    """The packages the model imports, sources only (no caches)."""
    out = []
    for pkg in ("runner", "kernels"):
        dst = tmp / "code" / pkg
        shutil.copytree(PROJECT_ROOT / pkg, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        out.append(str(dst))
    return out


def _requirements() -> list[str]:
    try:
        reqs = importlib.metadata.requires("perplab") or []
    except importlib.metadata.PackageNotFoundError:
        reqs = []
    return [r for r in reqs if "extra ==" not in r]


def register(client, run, name: str, cfg: DictConfig, tags: dict[str, str]):
    """Log the pyfunc model into the run and register it as a new version of ``name``."""
    import mlflow

    from runner.model import PerplabModel

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(OmegaConf.to_yaml(cfg))
        quiet = logging.getLogger("mlflow.pyfunc")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # the class is pickled on purpose: its code ships with the model
        with mlflow.start_run(run_id=run.info.run_id):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=PerplabModel(),
                artifacts={"config": str(config)},
                code_paths=_code_copy(Path(tmp)),
                pip_requirements=_requirements(),
            )
        quiet.setLevel(level)
    try:
        client.get_registered_model(name)
    except Exception:
        client.create_registered_model(name, description=f"perplab strategy {name[8:]}: signals and target positions")
    return client.create_model_version(name, info.model_uri, run_id=run.info.run_id, tags=tags)


def existing_version(client, name: str, run_id: str):
    """A version already registered from this run (promotion reuses it)."""
    try:
        found = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    except Exception:
        return None
    return max(found, key=lambda v: int(v.version)) if found else None


def config_figures(cfg: DictConfig) -> dict:
    """What a trading bot needs from a one-combination config: leverage, margin mode, the largest
    position as a fraction of equity (``sizing.max_position_size``, or the fixed fraction when
    smaller), symbols, timeframe and the strategy's parameter values."""
    symbols = list(OmegaConf.select(cfg, "data.symbols"))
    size = OmegaConf.select(cfg, "sizing.max_position_size", default=None)
    size = 1.0 if size is None else size
    if OmegaConf.select(cfg, "sizing.method", default="fixed_fraction") == "fixed_fraction":
        fraction = OmegaConf.select(cfg, "sizing.fraction", default=None)
        size = min(size, fraction if fraction is not None else 1.0 / len(symbols))
    raw = OmegaConf.to_container(cfg.strategy.params, resolve=True) if "params" in cfg.strategy else {}
    params = {k: v["default"] if isinstance(v, dict) else v for k, v in (raw or {}).items()}
    return {
        "leverage": float(OmegaConf.select(cfg, "leverage.value")),
        "margin_mode": str(OmegaConf.select(cfg, "margin.mode")),
        "max_position_size": float(size),
        "symbols": symbols,
        "timeframe": str(OmegaConf.select(cfg, "data.timeframe")),
        "params": {**params, "direction": OmegaConf.select(cfg, "strategy.direction")},
    }


def version_tags(run, cfg: DictConfig, objective: str, gates) -> dict[str, str]:
    fig = config_figures(cfg)
    tags = {
        "leverage": str(fig["leverage"]),
        "margin_mode": fig["margin_mode"],
        "max_position_size": str(fig["max_position_size"]),
        "objective": objective,
        "objective_value": str(run.data.metrics.get(objective, math.nan)),
        "data_fingerprint": run.data.tags.get("data_fingerprint", ""),
        "code_fingerprint": sources_digest()[:16],  # the kernels' sources (a paper session checks it)
        "source_run_id": run.info.run_id,
        "symbols": json.dumps(fig["symbols"]),
        "timeframe": fig["timeframe"],
        "params": json.dumps(fig["params"], sort_keys=True),
    }
    tags.update({f"gate.{g.name}": g.describe() for g in gates})
    return tags


def paper_results(client, name: str, mv) -> dict[str, float]:
    """The longest paper session of version ``mv`` (``perplab.kind=paper`` runs of its model URI):
    its ``paper_days`` and latest ``drift``; empty without a version or a session."""
    if mv is None:
        return {}
    uri = f"models:/{name}/{mv.version}"
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        f"tags.`{KIND_TAG}` = 'paper' and tags.model_uri = '{uri}'",
        max_results=1000,
    )
    done = [r for r in runs if "paper_days" in r.data.metrics]
    if not done:
        return {}
    best = max(done, key=lambda r: r.data.metrics["paper_days"])
    return {k: best.data.metrics[k] for k in ("paper_days", "drift") if k in best.data.metrics}


def alias_version(client, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception:
        return None


def transition(client, name: str, version: str, stage: str) -> list[str]:
    """Move a version to ``stage`` (challenger, champion or archived): the stage's alias points at it
    (an alias names one version, so the previous champion loses it and is tagged archived), it keeps
    no alias of a stage it left, and its ``perplab.stage`` tag says where it is. Returns the versions
    that stopped being champion."""
    before = alias_version(client, name, "champion")
    if stage == "champion" and before not in (None, version):
        client.set_model_version_tag(name, before, STAGE_TAG, "archived")
    held = client.get_model_version(name, version).aliases or []
    for alias in ALIASES:
        if alias != stage and alias in held:
            client.delete_registered_model_alias(name, alias)
    if stage in ALIASES:
        client.set_registered_model_alias(name, stage, version)
    client.set_model_version_tag(name, version, STAGE_TAG, stage)
    after = alias_version(client, name, "champion")
    return [before] if before is not None and before != after else []
