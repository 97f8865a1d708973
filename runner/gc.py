"""``python -m runner.gc [overrides]``: mark KILLED the RUNNING runs whose process died."""

import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from runner.errors import ConfigError, run_reporting
from runner.report import make_console

console = make_console()


def settings(cfg: DictConfig) -> dict:
    """Validated ``gc.*`` and tracking settings."""
    from runner.config import tracking_spec
    from runner.tracking import check_store

    tracking = tracking_spec(cfg)
    dry_run = OmegaConf.select(cfg, "gc.dry_run")
    if not isinstance(dry_run, bool):
        raise ConfigError(f"gc.dry_run={dry_run!r}: must be true or false")
    timeout = OmegaConf.select(cfg, "gc.timeout_s")
    timeout = tracking.heartbeat_timeout_s if timeout is None else timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigError(f"gc.timeout_s={timeout!r}: must be a positive number of seconds (or null)")
    check_store(tracking.uri)
    return {"tracking": tracking, "dry_run": dry_run, "timeout_s": float(timeout)}


def collect(cfg: DictConfig) -> int:
    from runner.heartbeat import reap
    from runner.tracking import client_for

    s = settings(cfg)
    found = reap(client_for(s["tracking"]), s["timeout_s"], dry_run=s["dry_run"])
    verb = "would mark" if s["dry_run"] else "marked"
    if not found:
        console.print("no dead RUNNING runs", highlight=False)
        return 0
    table = Table(title=f"{verb} KILLED: {len(found)} run(s)")
    for col in ("run", "name", "last heartbeat", "why"):
        table.add_column(col, overflow="fold")
    for r in found:
        beat = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.last_beat_ms / 1000))
        table.add_row(r.run_id[:12], r.name[:24], beat, r.reason)
    console.print(table)
    return 0


@hydra.main(version_base="1.3", config_path=str(Path(__file__).resolve().parent.parent / "conf"), config_name="gc")
def app(cfg: DictConfig) -> None:
    run_reporting(lambda: collect(cfg))


def main() -> None:
    from runner import preflight

    preflight.check_or_exit(sys.argv[1:], settings, config_name="gc")
    app()


if __name__ == "__main__":
    from runner import short_lived

    short_lived.run(main)
