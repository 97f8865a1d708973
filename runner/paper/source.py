"""What a paper session trades: the model version behind a registry alias, its one-combination config,
and (with PostgreSQL configured) the strategy's ``active_configs`` row, which must agree with it."""

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from runner.errors import ConfigError
from runner.promote.registry import OLD_STAGE, config_figures, model_name


@dataclass(frozen=True)
class PaperModel:
    name: str
    version: str
    uri: str  # models:/<name>/<version>
    cfg: DictConfig  # the version's own config (exactly one combination)
    run_id: str  # the backtest run it was registered from
    tags: dict[str, str]

    @property
    def digest(self) -> str:
        """Identity of the traded configuration (a session refuses to resume under another)."""
        text = json.dumps(OmegaConf.to_container(self.cfg, resolve=True), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_version(client, strategy: str, alias: str):
    """The version ``alias`` points at (one line naming what exists when there is none)."""
    name = model_name(strategy)
    try:
        model = client.get_registered_model(name)
    except Exception:
        raise ConfigError(f"strategy={strategy}: no registered model {name} (promote a run first)") from None
    try:
        return client.get_model_version_by_alias(name, alias)
    except Exception:
        pass
    if alias in OLD_STAGE:  # a store promoted before aliases: read its stage (deprecated, read only)
        old = client.get_latest_versions(name, stages=[OLD_STAGE[alias]])
        if old:
            return max(old, key=lambda v: int(v.version))
    known = ", ".join(sorted(getattr(model, "aliases", {}) or {})) or "none"
    raise ConfigError(f"paper.alias={alias}: {name} has no version with that alias (aliases: {known})")


def load_model(client, strategy: str, alias: str) -> PaperModel:
    """The version behind ``models:/perplab-<strategy>@<alias>`` with its config artifact."""
    import mlflow

    mv = model_version(client, strategy, alias)
    uri = f"models:/{mv.name}/{mv.version}"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{uri}/artifacts/config.yaml", dst_path=tmp, tracking_uri=client.tracking_uri
            )
        except Exception:
            raise ConfigError(f"paper.alias={alias}: {uri} has no config.yaml artifact (not a perplab model)") from None
        cfg = OmegaConf.load(Path(path))
    return PaperModel(mv.name, str(mv.version), uri, cfg, mv.run_id, dict(mv.tags or {}))


def check_active(model: PaperModel, strategy: str, url: str) -> None:
    """The strategy's ``active_configs`` row must name this version and agree with its config."""
    from runner.promote.active_configs import read_active

    row = read_active(url, strategy)
    if row is None:
        raise ConfigError(f"paper: active_configs has no active row for strategy {strategy} (promote it to champion)")
    fig = config_figures(model.cfg)
    if row.version != int(model.version):
        raise ConfigError(
            f"paper: active_configs names {model.name} version {row.version}, the alias points at {model.version}"
        )
    for key in ("symbols", "leverage", "margin_mode", "max_position_size", "params"):
        if getattr(row, key) != fig[key]:
            raise ConfigError(
                f"paper: active_configs.{key}={getattr(row, key)!r} does not match version {model.version}'s "
                f"{fig[key]!r}"
            )


def check_fingerprints(model: PaperModel, data_fingerprint: str) -> None:
    """A version is traded on the data it was promoted with: its recorded data fingerprint must be the
    panel's (the backtest window read from today's data root)."""
    recorded = model.tags.get("data_fingerprint", "")
    if recorded and recorded != data_fingerprint:
        raise ConfigError(
            f"paper: {model.uri} was promoted with data fingerprint {recorded}; the data root now gives "
            f"{data_fingerprint} for its window (re-run and promote it again)"
        )
