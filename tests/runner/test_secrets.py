"""No secret anywhere: a real PostgreSQL role with a password (scram-sha-256) used for tracking and
promotion, through the environment and on the command line; then the whole store, every artifact,
Hydra's output folders and everything printed are searched for the password."""

import os
import subprocess
from pathlib import Path

import psycopg

from runner import PROJECT_ROOT
from tests.conftest import SECRET_PASSWORD
from tests.prewarmed import run_module

WINDOW = ["data.start=2024-01-01", "data.end=2024-03-31", "data.symbols=[BTCUSDT]", "filters=none"]


def _run(module: str, tmp: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return run_module(module, *args, cwd=tmp, env={**os.environ, "PERPLAB_CACHE": str(tmp / "cache"), **env})


def _database_text(url: str) -> str:
    """Every row of every table of a database, as text."""
    out = []
    with psycopg.connect(url) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
        for (table,) in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):
                out.append(" ".join(str(v) for v in row))
    return "\n".join(out)


def test_a_password_reaches_no_store_artifact_output_or_message(tmp_path: Path, postgres) -> None:
    store = postgres["secret_mlflow"]
    artifacts = f"tracking.artifact_root={(tmp_path / 'artifacts').as_uri()}"
    printed = []
    # a multirun logging to PostgreSQL through the environment variable of tracking=postgres
    out = _run(
        "runner",
        tmp_path,
        "tracking=postgres",
        artifacts,
        "leverage=1,2",
        "-m",
        *WINDOW,
        env={"PERPLAB_TRACKING_URL": store},
    )
    assert out.returncode == 0, out.stderr
    printed.append(out.stdout + out.stderr)
    # the same store on the command line (Hydra's .hydra files, the command tag and the run name see it)
    out = _run("runner", tmp_path, f"tracking.uri={store}", artifacts, *WINDOW, env={})
    assert out.returncode == 0, out.stderr
    printed.append(out.stdout + out.stderr)
    # promotion with active_configs in PostgreSQL under the password role
    out = _run(
        "runner.promote",
        tmp_path,
        "promote.strategy=rsi",
        "promote.stage=champion",
        f"promote.postgres_url={postgres['secret_url']}",
        f"tracking.uri={store}",
        "promote.gates.min_trades=null",
        "promote.gates.max_drawdown=null",
        "promote.gates.require_survivor=null",
        "promote.gates.no_liquidation=null",
        env={},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    printed.append(out.stdout + out.stderr)
    # a wrong password: refused with one line, the URI shown without it
    wrong = store.replace(SECRET_PASSWORD, "Wr0ng-" + SECRET_PASSWORD)
    out = _run("runner", tmp_path, f"tracking.uri={wrong}", *WINDOW, env={})
    assert out.returncode == 2 and "cannot connect" in out.stderr and out.stderr.count("\n") == 1, out.stderr
    printed.append(out.stdout + out.stderr)

    for text in printed:
        assert SECRET_PASSWORD not in text
    assert SECRET_PASSWORD not in _database_text(store)
    with psycopg.connect(postgres["secret_url"]) as con:
        rows = con.execute("SELECT * FROM active_configs").fetchall()
    assert rows and SECRET_PASSWORD not in str(rows)
    leaks = [p for p in tmp_path.rglob("*") if p.is_file() and SECRET_PASSWORD.encode() in p.read_bytes()]
    assert not leaks, leaks
    assert (tmp_path / "multirun").is_dir() and list((tmp_path / "outputs").rglob(".hydra/overrides.yaml"))
    assert not list(PROJECT_ROOT.glob("mlruns/artifacts/*/" + "x"))  # nothing went to the repository's store
