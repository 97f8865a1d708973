"""``python -m runner.promote [overrides]``: gates, then the registry move (and active_configs)."""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from runner.errors import ConfigError, run_reporting
from runner.report import make_console

console = make_console()
REJECTED = 1  # a gate failed: nothing changed


def settings(cfg: DictConfig) -> dict:
    """Validated ``promote.*`` and tracking settings."""
    from runner.config import tracking_spec
    from runner.promote.gates import gate_settings
    from runner.promote.registry import LEGACY_STAGES, STAGES

    p = OmegaConf.to_container(cfg.promote, resolve=True)
    stage = str(p.get("stage")).lower()
    stage = LEGACY_STAGES.get(stage, stage)
    if stage not in STAGES:
        raise ConfigError(
            f"promote.stage={p.get('stage')!r}: valid: {', '.join(STAGES)} (staging and production mean "
            "challenger and champion)"
        )
    version = p.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise ConfigError(f"promote.version={version!r}: must be a registered version number (1, 2, ...)")
    if stage == "archived" and version is None:
        raise ConfigError("promote.stage=archived: needs promote.version=N (the version to archive)")
    study = p.get("study")
    if study is not None and (not isinstance(study, str) or not study.strip() or "'" in study):
        raise ConfigError(f"promote.study={study!r}: the name of an Optuna study, or null")
    if study and p.get("run_id"):
        raise ConfigError("promote.study and promote.run_id: give one of them")
    if not isinstance(p.get("strategy"), str) or not p["strategy"]:
        raise ConfigError(f"promote.strategy={p.get('strategy')!r}: must name a strategy, e.g. rsi")
    from runner.promote.active_configs import postgres_url, probe
    from runner.tracking import check_store

    tracking = tracking_spec(cfg)
    check_store(tracking.uri)
    probe(postgres_url(p.get("postgres_url")))
    return {
        **p,
        "stage": stage,
        "gates": gate_settings(p.get("gates")),
        "tracking": tracking,
    }


def _print_gates(gates, title: str) -> None:
    out = Table(title=title)
    for col in ("gate", "value", "threshold", "verdict"):
        out.add_column(col, justify="left" if col == "gate" else "right")
    for g in gates:
        shown = "-" if g.value is None else f"{g.value:.4g}"
        style = {"FAIL": "[red]FAIL[/red]", "pass": "[green]pass[/green]"}.get(g.verdict, g.verdict)
        out.add_row(g.name, shown, str(g.threshold), style)
    console.print(out)


def promote(cfg: DictConfig) -> int:
    from runner.promote import active_configs as ac
    from runner.promote import registry as reg
    from runner.promote.gates import check_gates
    from runner.tracking import client_for

    s = settings(cfg)
    client = client_for(s["tracking"])
    strategy = s["strategy"]
    name = reg.model_name(strategy)
    if s["version"] is not None:
        try:
            mv = client.get_model_version(name, str(s["version"]))
        except Exception:
            raise ConfigError(f"promote.version={s['version']}: {name} has no such version") from None
        run = client.get_run(mv.run_id)
    elif s.get("study"):
        from runner.search.study import default_storage

        mv = None
        run = reg.study_run(client, s["study"], s.get("study_storage") or default_storage(s["tracking"].uri))
    else:
        mv = None
        run = reg.select_run(client, s["tracking"].experiment, s["run_id"], s["objective"], s["maximize"])
        tagged = run.data.tags.get("strategy")
        if tagged and tagged != strategy:
            raise ConfigError(f"promote.strategy={strategy}: run {run.info.run_id} is of strategy {tagged}")
    known = mv or reg.existing_version(client, name, run.info.run_id)
    paper = reg.paper_results(client, name, known) if s["stage"] == "champion" else None
    gates = check_gates(run.data.metrics, run.data.tags, s["gates"], paper)
    entering = s["stage"] in ("challenger", "champion") or mv is None
    if entering:
        _print_gates(gates, f"promotion gates of run {run.info.run_id}")
        failed = [g for g in gates if g.verdict == "FAIL"]
        if failed:
            console.print(f"[red]rejected[/red]: {'; '.join(g.describe() for g in failed)}; nothing changed")
            return REJECTED
    model_cfg = reg.model_config(client, run)
    url = ac.postgres_url(s.get("postgres_url"))
    # PostgreSQL first: a promotion that cannot write active_configs changes nothing, not even the registry
    with ac.transaction(url) as cur:
        if mv is None:
            mv = reg.existing_version(client, name, run.info.run_id)
            if mv is None:
                with console.status(f"registering {name} from run {run.info.run_id}"):
                    tags = reg.version_tags(run, model_cfg, s["objective"], gates)
                    mv = reg.register(client, run, name, model_cfg, tags)
        version = str(mv.version)
        uri = f"models:/{name}/{version}"
        if cur is not None and s["stage"] == "champion":
            ac.upsert(cur, _row(strategy, model_cfg, uri, int(version)))
        left = reg.transition(client, name, version, s["stage"]) if s["stage"] != "none" else []
        demoted = ac.deactivate(cur, strategy, [int(v) for v in left]) if cur is not None and left else 0
    mv = client.get_model_version(name, version)
    line = f"{name} version {version}: {mv.tags.get(reg.STAGE_TAG, 'none')}, aliases {', '.join(mv.aliases) or '-'}"
    if s["stage"] in reg.ALIASES:
        line += f"; load it with models:/{name}@{s['stage']}"
    console.print(line, highlight=False)
    if left:
        console.print(f"no longer champion: version(s) {', '.join(left)}", highlight=False)
    if url:
        console.print(
            f"active_configs: {'upserted' if s['stage'] == 'champion' else f'{demoted} row(s) marked inactive'}"
        )
    return 0


def _row(strategy: str, cfg: DictConfig, uri: str, version: int):
    from runner.promote.active_configs import ActiveConfig
    from runner.promote.registry import config_figures

    fig = config_figures(cfg)
    return ActiveConfig(
        strategy=strategy,
        symbols=fig["symbols"],
        params=fig["params"],
        leverage=fig["leverage"],
        margin_mode=fig["margin_mode"],
        max_position_size=fig["max_position_size"],
        model_uri=uri,
        version=version,
    )


@hydra.main(version_base="1.3", config_path=str(Path(__file__).resolve().parents[2] / "conf"), config_name="promote")
def app(cfg: DictConfig) -> None:
    run_reporting(lambda: promote(cfg))


def main() -> None:
    from runner import preflight

    preflight.check_or_exit(sys.argv[1:], settings, config_name="promote")
    app()


if __name__ == "__main__":
    from runner import short_lived

    short_lived.run(main)
