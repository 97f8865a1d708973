"""``python -m runner.paper`` against a real SQLite MLflow store and the real data: promoted RSI runs
(2024H1, BTC+ETH, leverage 3, isolated and cross margin) replayed trade for trade, a session killed
with SIGKILL at random bars and resumed, the event log, the status table and bad input."""

import json
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from mlflow.tracking import MlflowClient

from tests.runner.paper.conftest import REPLAY, paper
from tests.runner.promote.test_promote import promote


def session_trades(db: Path, session: str) -> list[dict]:
    with sqlite3.connect(db.parent / "paper.db") as con:
        return [
            json.loads(r[0]) for r in con.execute("SELECT record FROM trades WHERE session = ? ORDER BY k", (session,))
        ]


def session_equity(db: Path, session: str, first: int = 0) -> np.ndarray:
    """The session's equity at each bar's close, from bar ``first`` on (every bar once, none missed)."""
    with sqlite3.connect(db.parent / "paper.db") as con:
        rows = con.execute("SELECT bar, equity FROM equity WHERE session = ? ORDER BY bar", (session,)).fetchall()
    assert [r[0] for r in rows] == list(range(first, first + len(rows)))
    return np.array([r[1] for r in rows])


@pytest.mark.parametrize("alias, mode", [("champion", "isolated"), ("challenger", "cross")])
def test_a_replay_of_the_backtest_bars_is_the_backtest(store, alias: str, mode: str) -> None:
    db, ids = store
    out = paper(db, "strategy=rsi", f"paper.alias={alias}", f"paper.session=parity-{mode}", *REPLAY)
    assert out.returncode == 0, out.stderr
    client = MlflowClient(f"sqlite:///{db}")
    tmp = db.parent / f"dl-{mode}"
    backtest = json.loads(Path(client.download_artifacts(ids[mode], "trades.json", str(tmp))).read_text())
    got = session_trades(db, f"parity-{mode}")
    *closed, last = backtest
    assert last["exit_reason"] == "end_of_data" and len(closed) > 100
    assert [{k: v for k, v in t.items() if k != "combo"} for t in got] == [
        {k: v for k, v in t.items() if k != "combo"} for t in closed
    ]
    equity = pl.read_parquet(client.download_artifacts(ids[mode], "equity.parquet", str(tmp)))["equity"].to_numpy()
    mine = session_equity(db, f"parity-{mode}")
    assert len(mine) == len(equity)
    assert np.array_equal(mine[:-1], equity[:-1])  # every bar's equity at its close, to the bit
    # the backtest's last bar closes the open position: its equity is the paper's less that exit's costs
    exit_cost = last["qty"] * (last["exit_price"] * 0.0004 + abs(last["exit_price"] - _last_close(db, last)))
    assert equity[-1] == pytest.approx(mine[-1] - exit_cost, rel=1e-12)
    run = client.search_runs(
        [client.get_experiment_by_name("perplab-rsi").experiment_id], f"tags.session = 'parity-{mode}'"
    )[0]
    assert run.info.status == "FINISHED" and run.data.tags["perplab.kind"] == "paper"
    assert run.data.tags["model_uri"] == f"models:/perplab-rsi/{1 if mode == 'isolated' else 2}"
    assert len(client.get_metric_history(run.info.run_id, "equity")) == len(mine)
    assert run.data.metrics["n_trades"] == len(closed)
    assert run.data.metrics["drift_equity"] == 0.0  # the account is its own backtest re-run, to the bit
    assert abs(run.data.metrics["drift_trade_rate"]) < 0.02  # the backtest's bars: its trade rate (less the last)
    assert run.data.metrics["drift_pnl_ks"] < 0.02  # and its return distribution
    assert run.data.metrics["paper_days"] == pytest.approx(len(mine) / 24)
    assert (
        json.loads(Path(client.download_artifacts(run.info.run_id, "trades.json", str(tmp / "p"))).read_text()) == got
    )


def _last_close(db: Path, trade: dict) -> float:
    """The close of the backtest's last bar for the trade's symbol (the unslipped exit reference)."""
    from omegaconf import OmegaConf

    from runner.config import validate
    from runner.data.panel import build_panel

    client = MlflowClient(f"sqlite:///{db}")
    cfg = OmegaConf.load(
        client.download_artifacts(
            client.get_model_version("perplab-rsi", "1").run_id, "config.yaml", str(db.parent / "cfg")
        )
    )
    panel = build_panel(validate(cfg).data)
    return float(panel.close[-1, panel.symbols.index(trade["symbol"])])


def test_a_session_killed_at_random_bars_resumes_exactly(store) -> None:
    """SIGKILL at three random bars of a replay, restart after each: the account, trades and equity
    equal an uninterrupted replay's; the event log has every event once."""
    db, _ = store
    state = db.parent / "paper.db"
    rng = np.random.default_rng(5)
    targets = sorted(rng.choice(np.arange(200, 4000), 3, replace=False))
    kills = 0
    for target in targets:
        proc = paper(db, "strategy=rsi", "paper.session=killed", *REPLAY, wait=False)
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            last = last_bar_of(state, "killed")
            if last is not None and last >= target:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.02)
        proc.wait(timeout=60)
    assert kills == 3
    out = paper(db, "strategy=rsi", "paper.session=killed", *REPLAY)
    assert out.returncode == 0, out.stderr
    if last_bar_of(state, "parity-isolated") is None:
        assert paper(db, "strategy=rsi", "paper.session=parity-isolated", *REPLAY).returncode == 0
    assert session_trades(db, "killed") == session_trades(db, "parity-isolated")
    assert np.array_equal(session_equity(db, "killed"), session_equity(db, "parity-isolated"))
    with sqlite3.connect(state) as con:
        a, b = (
            con.execute("SELECT state, prev_equity FROM sessions WHERE session = ?", (s,)).fetchone()
            for s in ("killed", "parity-isolated")
        )
    assert a == b
    events = pl.read_ndjson(db.parent / "paper-events.jsonl", infer_schema_length=None)
    assert events["seq"].is_unique().all() and events["seq"].is_sorted()
    mine = events.filter(pl.col("session") == "killed")
    assert mine.filter(pl.col("kind") == "resume").height == 3
    fills = mine.filter(pl.col("kind") == "fill").height
    assert fills == len(session_trades(db, "killed")) + 1  # one fill per trade, the last still open
    assert {"order", "fill", "exit", "funding", "start"} <= set(mine["kind"].to_list())
    runs_ = MlflowClient(f"sqlite:///{db}").search_runs(
        [MlflowClient(f"sqlite:///{db}").get_experiment_by_name("perplab-rsi").experiment_id], "tags.session = 'killed'"
    )
    assert len(runs_) == 1 and runs_[0].info.status == "FINISHED"  # one run, resumed each time


def last_bar_of(state: Path, session: str) -> int | None:
    if not state.exists():
        return None
    try:
        with sqlite3.connect(state, timeout=1) as con:
            row = con.execute("SELECT last_bar FROM sessions WHERE session = ?", (session,)).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else row[0]


def test_drift_beyond_the_threshold_is_an_event(store) -> None:
    """A session on bars the backtest never saw (2024H2) drifts from its expectations: past a small
    ``paper.max_drift`` each check is a ``drift`` event with the measures."""
    db, _ = store
    out = paper(db, "strategy=rsi", "paper.session=drifting", "paper.max_drift=0.01", "feed.end=2024-09-30")
    assert out.returncode == 0, out.stderr
    events = pl.read_ndjson(db.parent / "paper-events.jsonl", infer_schema_length=None).filter(
        (pl.col("session") == "drifting") & (pl.col("kind") == "drift")
    )
    assert events.height >= 1
    last = events.row(-1, named=True)
    assert last["drift"] > 0.01 and last["max_drift"] == 0.01 and last["drift_equity"] == 0.0


def test_status_lists_sessions(store) -> None:
    db, _ = store
    if last_bar_of(db.parent / "paper.db", "parity-isolated") is None:
        assert paper(db, "strategy=rsi", "paper.session=parity-isolated", *REPLAY).returncode == 0
    out = paper(db, module="runner.paper.status")
    assert out.returncode == 0, out.stderr
    assert "parity-isolated" in out.stdout and "2024-06-30" in out.stdout
    assert max(len(line) for line in out.stdout.splitlines()) <= 80


def test_a_resumed_session_must_trade_the_same_version(store) -> None:
    db, _ = store
    out = paper(db, "strategy=rsi", "paper.alias=challenger", "paper.session=parity-isolated", *REPLAY)
    assert out.returncode == 2
    assert out.stderr.startswith("error: paper.session=parity-isolated: trades models:/perplab-rsi/1, not")


@pytest.mark.parametrize(
    "args, message",
    [
        (["paper.alias=nosuch"], "error: paper.alias=nosuch: perplab-rsi has no version with that alias (aliases: "),
        (["strategy=macd"], "error: strategy=macd: no registered model perplab-macd (promote a run first)"),
        (["strategy=nosuch"], "error: strategy=nosuch: no such option in conf/strategy; valid:"),
        (["feed.speed=-1"], "error: feed.speed=-1: must be a number >= 0"),
        (["feed.start=yesterday"], "error: feed.start='yesterday': not a date"),
        (["paper.retries=3"], "error: override 'paper.retries': no such key"),
        (
            ["paper.postgres_url=postgresql://u:hunter2@127.0.0.1:9/x"],
            "error: paper.postgres_url=postgresql://u:***@127",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(store, args, message, tmp_path: Path) -> None:
    db, _ = store
    before = _snapshot(db)
    if any("DATA" in a or "REST" in a for a in args):  # a live feed: a runner.data store and a REST endpoint
        from tests.conftest import DATA_ROOT
        from tests.runner.data.binance_server import BinanceServer, market_from_shared
        from tests.runner.data.conftest import fetch, spec_for

        market = market_from_shared(DATA_ROOT, ["BTCUSDT"], "2024-06-01", "2024-06-03")
        with BinanceServer(market, now="2024-06-02T00:00") as srv:
            fetch(spec_for(tmp_path / "store", srv, "symbols=[BTCUSDT]", "start=2024-06-01"))
            args = [a.replace("DATA", str(tmp_path / "store")).replace("REST", srv.url) for a in args]
            out = paper(db, *args, "paper.session=bad", *REPLAY)
    else:
        out = paper(db, *args, "paper.session=bad", *REPLAY)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(message.replace("DATA", str(tmp_path / "store"))), out.stderr
    assert out.stderr.count("\n") == 1, out.stderr
    assert "hunter2" not in out.stderr
    assert _snapshot(db) == before


def _snapshot(db: Path):
    client = MlflowClient(f"sqlite:///{db}")
    n_runs = len(client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000))
    state = db.parent / "paper.db"
    if not state.exists():
        return n_runs, None
    with sqlite3.connect(state) as con:
        sessions = con.execute("SELECT session, last_bar FROM sessions ORDER BY session").fetchall()
    return n_runs, sessions


def test_active_configs_must_agree(store, postgres) -> None:
    """With PostgreSQL: no row -> refused; the champion's row -> trades; a row with other symbols ->
    refused (one line, exit 2)."""
    import psycopg

    db, ids = store
    url = postgres["url"]
    with psycopg.connect(url) as con:
        con.execute("DROP TABLE IF EXISTS active_configs")
    env = {"PERPLAB_POSTGRES_URL": url}
    try:
        _active_configs_must_agree(db, ids, url, env)
    finally:  # the cluster is shared by the session's tests: the promotion tests expect no table
        with psycopg.connect(url) as con:
            con.execute("DROP TABLE IF EXISTS active_configs")


def _active_configs_must_agree(db: Path, ids: dict, url: str, env: dict) -> None:
    import psycopg

    out = paper(db, "strategy=rsi", "paper.session=pg", *REPLAY, env=env)
    assert out.returncode == 2 and out.stderr.startswith(
        "error: paper: active_configs has no active row for strategy rsi"
    )
    off = ("promote.gates.max_drawdown=null", "promote.gates.min_trades=null")
    assert promote(db, f"promote.run_id={ids['isolated']}", "promote.stage=champion", *off, env=env).returncode == 0
    with psycopg.connect(url) as con:
        con.execute("UPDATE active_configs SET symbols = ARRAY['BTCUSDT','XRPUSDT']")
    out = paper(db, "strategy=rsi", "paper.session=pg", *REPLAY, env=env)
    assert out.returncode == 2
    assert out.stderr.startswith("error: paper: active_configs.symbols=['BTCUSDT', 'XRPUSDT'] does not match"), (
        out.stderr
    )
    with psycopg.connect(url) as con:
        con.execute("UPDATE active_configs SET symbols = ARRAY['BTCUSDT','ETHUSDT']")
    out = paper(db, "strategy=rsi", "paper.session=pg", "feed.end=2024-01-15", env=env)
    assert out.returncode == 0, out.stderr


def test_the_paper_gates_read_the_versions_paper_sessions(store) -> None:
    """Before champion: ``min_paper_days`` and ``max_drift`` read the version's longest paper session
    (tests/runner/promote/test_gates.py: a version without one fails them)."""
    db, ids = store
    if last_bar_of(db.parent / "paper.db", "parity-isolated") is None:
        assert paper(db, "strategy=rsi", "paper.session=parity-isolated", *REPLAY).returncode == 0
    client = MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("perplab-rsi").experiment_id
    sessions = client.search_runs([exp], "tags.model_uri = 'models:/perplab-rsi/1' and tags.`perplab.kind` = 'paper'")
    longest = max((r for r in sessions if "paper_days" in r.data.metrics), key=lambda r: r.data.metrics["paper_days"])
    days, drift = longest.data.metrics["paper_days"], longest.data.metrics["drift"]
    base = (f"promote.run_id={ids['isolated']}", "promote.stage=champion", "promote.gates.max_drawdown=null")
    ok = promote(db, *base, f"promote.gates.min_paper_days={int(days)}", f"promote.gates.max_drift={drift + 0.01}")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "min_paper_days" in ok.stdout and "max_drift" in ok.stdout
    too_long = promote(db, *base, f"promote.gates.min_paper_days={int(days) + 1}")
    assert too_long.returncode == 1 and "FAIL: min_paper_days" in too_long.stdout
    assert client.get_model_version("perplab-rsi", "1").aliases == ["champion"]


@pytest.mark.parametrize("tag", ["code_fingerprint", "data_fingerprint"])
def test_a_version_promoted_on_other_code_or_data_is_refused(store, tag: str) -> None:
    db, _ = store
    client = MlflowClient(f"sqlite:///{db}")
    kept = client.get_model_version("perplab-rsi", "1").tags[tag]
    client.set_model_version_tag("perplab-rsi", "1", tag, "0123456789abcdef")
    try:
        out = paper(db, "strategy=rsi", "paper.session=fingerprint", *REPLAY)
    finally:
        client.set_model_version_tag("perplab-rsi", "1", tag, kept)
    assert out.returncode == 2, out.stderr
    what = "kernel code" if tag == "code_fingerprint" else "data fingerprint"
    assert out.stderr.startswith(f"error: paper: models:/perplab-rsi/1 was promoted with {what} 0123456789abcdef")
    assert out.stderr.count("\n") == 1


def test_a_paced_replay_trades_like_a_fast_one(store) -> None:
    """``feed.speed`` > 0 releases one bar at a time (indicators recomputed on each grown panel): from
    ``feed.start`` on, the same trades and equity as a replay released in large batches."""
    db, _ = store
    window = ("feed.start=2024-06-20", "feed.end=2024-06-30")
    assert paper(db, "strategy=rsi", "paper.session=paced", "feed.speed=360000", *window).returncode == 0
    assert paper(db, "strategy=rsi", "paper.session=batched", "feed.speed=0", *window).returncode == 0
    first = (31 + 29 + 31 + 30 + 31 + 19) * 24  # 2024-06-20 00:00 is row 4,104 from 2024-01-01
    assert session_trades(db, "paced") == session_trades(db, "batched")
    paced = session_equity(db, "paced", first=first)
    assert len(paced) == 11 * 24 and np.array_equal(paced, session_equity(db, "batched", first=first))


def test_a_store_promoted_with_stages_is_read(store) -> None:
    """A registry written before aliases (the version in stage Production, no champion alias): the
    paper trader trades that version as champion."""
    db, _ = store
    client = MlflowClient(f"sqlite:///{db}")
    client.delete_registered_model_alias("perplab-rsi", "champion")
    client.transition_model_version_stage("perplab-rsi", "1", "Production")
    try:
        out = paper(db, "strategy=rsi", "paper.session=legacy", "feed.end=2024-01-31")
    finally:
        client.transition_model_version_stage("perplab-rsi", "1", "None")
        client.set_registered_model_alias("perplab-rsi", "champion", "1")
    assert out.returncode == 0, out.stderr
    assert "models:/perplab-rsi/1" in out.stdout.replace("\n", "")
