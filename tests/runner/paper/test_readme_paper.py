"""The README's "Paper trading" commands, in order, on one store: the job, its promotion to champion,
the replay (to the end of June 2024: a short window) and the status table."""

from pathlib import Path

from tests.readme import commands
from tests.runner.paper.conftest import paper
from tests.runner.promote.test_promote import promote
from tests.runner.test_cli import cli

FOUND = commands("Paper trading")


def test_the_paper_trading_commands_run_as_written(tmp_path: Path) -> None:
    assert [w[:3] for w in FOUND] == [
        ["python", "-m", "runner"],
        ["python", "-m", "runner.promote"],
        ["python", "-m", "runner.paper"],
        ["python", "-m", "runner.paper.status"],
    ]
    job, promotion, replay, status = (w[3:] for w in FOUND)
    out = cli(tmp_path, *job)
    assert out.returncode == 0, out.stderr
    db = tmp_path / "mlruns" / "mlflow.db"
    out = promote(db, *promotion)
    assert out.returncode == 0, out.stdout + out.stderr
    out = paper(db, *replay, "feed.end=2024-06-30")
    assert out.returncode == 0, out.stderr
    assert "paper sessions" in out.stdout and "rsi@champion" in out.stdout
    out = paper(db, *status, module="runner.paper.status")
    assert out.returncode == 0, out.stderr
    assert "rsi@champion" in out.stdout and "2024-06-30 23:00" in out.stdout
