"""``python -m runner.paper [overrides]``: pre-flight checks, then a paper session (``runner.paper.session``)."""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from runner.errors import run_reporting


@hydra.main(version_base="1.3", config_path=str(Path(__file__).resolve().parents[2] / "conf"), config_name="paper")
def app(cfg: DictConfig) -> None:
    from runner.paper.session import run_session

    run_reporting(lambda: run_session(cfg), interrupted="paper session stopped; it resumes from its last bar")


def main() -> None:
    import signal

    from runner import preflight
    from runner.paper.session import settings

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    preflight.check_or_exit(sys.argv[1:], settings, config_name="paper")
    app()


if __name__ == "__main__":
    from runner import short_lived

    short_lived.run(main)
