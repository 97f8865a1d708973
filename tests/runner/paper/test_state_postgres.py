"""The paper state in PostgreSQL (``paper.state=postgresql://...``, password authentication): a replay
killed with SIGKILL and resumed ends equal to the SQLite replay of the same bars; the password
appears in no output, event or MLflow record; an unreachable state database is one line, exit 2."""

import json
import signal
import time

import numpy as np
from mlflow.tracking import MlflowClient

from runner.paper.state import StateStore
from tests.conftest import SECRET_PASSWORD
from tests.runner.paper.conftest import REPLAY, paper
from tests.runner.paper.test_paper import last_bar_of, session_equity, session_trades


def test_a_killed_session_resumes_from_postgresql(store, postgres) -> None:
    db, _ = store
    url = postgres["secret_url"]
    proc = paper(db, "strategy=rsi", f"paper.state={url}", "paper.session=pg-state", *REPLAY, wait=False)
    pg = StateStore(url)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        loaded = pg.load("pg-state")
        if loaded is not None and loaded[1].last_bar >= 1500:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    out = paper(db, "strategy=rsi", f"paper.state={url}", "paper.session=pg-state", *REPLAY)
    assert out.returncode == 0, out.stderr
    if last_bar_of(db.parent / "paper.db", "parity-isolated") is None:
        assert paper(db, "strategy=rsi", "paper.session=parity-isolated", *REPLAY).returncode == 0
    assert pg.trades("pg-state") == session_trades(db, "parity-isolated")
    rows = pg.equity_since("pg-state", -1)
    assert [r[0] for r in rows] == list(range(len(rows)))  # every bar once, none missed
    assert np.array_equal(np.array([r[2] for r in rows]), session_equity(db, "parity-isolated"))
    pg.close()
    assert SECRET_PASSWORD not in out.stdout + out.stderr
    assert SECRET_PASSWORD not in (db.parent / "paper-events.jsonl").read_text()
    client = MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("perplab-rsi").experiment_id
    (run,) = client.search_runs([exp], "tags.session = 'pg-state'")
    assert SECRET_PASSWORD not in json.dumps([run.data.params, run.data.tags])


def test_an_unreachable_state_database_is_one_line(store) -> None:
    db, _ = store
    out = paper(db, "strategy=rsi", "paper.state=postgresql://u:hunter2@127.0.0.1:9/x", "paper.session=x", *REPLAY)
    assert out.returncode == 2
    assert out.stderr.startswith("error: paper.state=postgresql://u:***@127.0.0.1:9/x: cannot connect")
    assert "hunter2" not in out.stderr and out.stderr.count("\n") == 1
