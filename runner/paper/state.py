"""The paper account's state database: SQLite in WAL mode, one transaction per bar.

A session's row holds the kernel state (``kernels.live``: positions, account, pending orders,
breakers, the previous close's equity) as arrays, the last bar processed and the MLflow run. Each
bar commits that row, the bar's equity, its closed trades and its events together, so a process
killed at any instant resumes from the last committed bar: no fill twice, no bar missed.
"""

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runner.errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session text PRIMARY KEY,
    model_uri text NOT NULL,
    config_digest text NOT NULL,
    symbols text NOT NULL,
    first_bar integer NOT NULL,
    last_bar integer NOT NULL,
    last_time integer NOT NULL,
    prev_equity real NOT NULL,
    state text NOT NULL,
    mlflow_run_id text,
    logged_bar integer NOT NULL DEFAULT -1,
    updated_at text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS equity (
    session text NOT NULL,
    bar integer NOT NULL,
    time integer NOT NULL,
    equity real NOT NULL,
    exposure real NOT NULL,
    PRIMARY KEY (session, bar)
);
CREATE TABLE IF NOT EXISTS trades (
    session text NOT NULL,
    k integer NOT NULL,
    record text NOT NULL,
    PRIMARY KEY (session, k)
);
CREATE TABLE IF NOT EXISTS events (
    seq integer PRIMARY KEY AUTOINCREMENT,
    session text NOT NULL,
    bar integer NOT NULL,
    time integer NOT NULL,
    kind text NOT NULL,
    payload text NOT NULL
);
"""
STATE_ARRAYS = ("pos", "acc", "side", "active", "reason", "rs")


@dataclass
class Account:
    """One session's kernel state between bars (``kernels.live.advance`` updates the arrays)."""

    pos: np.ndarray
    acc: np.ndarray
    side: np.ndarray
    active: np.ndarray
    reason: np.ndarray
    rs: np.ndarray
    prev_equity: float
    first_bar: int  # the first bar traded (bars before it are the indicators' history)
    last_bar: int  # the last bar committed (first_bar - 1: none yet)
    last_time: int = -1  # its open time (ms)
    mlflow_run_id: str | None = None
    logged_bar: int = -1  # the last bar whose metrics reached MLflow
    extra: dict = field(default_factory=dict)

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(getattr(self, k) for k in STATE_ARRAYS)

    def encode(self) -> str:
        return json.dumps(
            {
                k: [str(v.dtype), list(v.shape), v.ravel().tolist()]
                for k, v in zip(STATE_ARRAYS, self.arrays(), strict=True)
            }
        )

    @staticmethod
    def decode(text: str) -> dict[str, np.ndarray]:
        raw = json.loads(text)
        return {k: np.array(vals, dtype=dtype).reshape(shape) for k, (dtype, shape, vals) in raw.items()}


def check_state(path: Path) -> None:
    """The pre-flight: an existing database opens and reads; a new one's folder accepts files. Writes
    nothing."""
    path = Path(path)
    try:
        if path.exists():
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as con:
                con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return
        probe = path.parent
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir() or not os.access(probe, os.W_OK):
            raise OSError(f"{probe} is not a writable folder")
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"paper.state={path}: cannot open the state database ({exc})") from None


class StateStore:
    """The state database at ``path`` (created with its folder)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.con.execute("PRAGMA journal_mode=WAL")
            self.con.execute("PRAGMA synchronous=NORMAL")
            self.con.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"paper.state={self.path}: cannot open the state database ({exc})") from None

    def close(self) -> None:
        self.con.close()

    def load(self, session: str) -> tuple[dict, Account] | None:
        """The session's identity (model, config digest, symbols) and account, or None."""
        row = self.con.execute(
            "SELECT model_uri, config_digest, symbols, first_bar, last_bar, last_time, prev_equity, state, "
            "mlflow_run_id, logged_bar FROM sessions WHERE session = ?",
            (session,),
        ).fetchone()
        if row is None:
            return None
        uri, digest, symbols, first, last, last_time, prev, state, run_id, logged = row
        arrays = Account.decode(state)
        account = Account(**arrays, prev_equity=prev, first_bar=first, last_bar=last, last_time=last_time)
        account.mlflow_run_id, account.logged_bar = run_id, logged
        return {"model_uri": uri, "config_digest": digest, "symbols": json.loads(symbols)}, account

    def create(self, session: str, model_uri: str, digest: str, symbols: list[str], account: Account) -> None:
        with self.con:
            self.con.execute("BEGIN IMMEDIATE")
            self.con.execute(
                "INSERT INTO sessions (session, model_uri, config_digest, symbols, first_bar, last_bar, last_time, "
                "prev_equity, state, mlflow_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session,
                    model_uri,
                    digest,
                    json.dumps(symbols),
                    account.first_bar,
                    account.last_bar,
                    account.last_time,
                    account.prev_equity,
                    account.encode(),
                    account.mlflow_run_id,
                ),
            )

    def commit_bar(
        self,
        session: str,
        account: Account,
        equity: float,
        exposure: float,
        trades: list[tuple[int, dict]],
        events: list[tuple[str, dict]],
    ) -> None:
        """Bar ``account.last_bar`` in one transaction: the state, its equity, trades and events."""
        bar, time = account.last_bar, account.last_time
        with self.con:
            self.con.execute("BEGIN IMMEDIATE")
            self.con.execute(
                "UPDATE sessions SET last_bar = ?, last_time = ?, prev_equity = ?, state = ?, "
                "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE session = ?",
                (bar, time, account.prev_equity, account.encode(), session),
            )
            self.con.execute(
                "INSERT INTO equity (session, bar, time, equity, exposure) VALUES (?, ?, ?, ?, ?)",
                (session, bar, time, equity, exposure),
            )
            self.con.executemany(
                "INSERT INTO trades (session, k, record) VALUES (?, ?, ?)",
                [(session, k, json.dumps(rec)) for k, rec in trades],
            )
            self.con.executemany(
                "INSERT INTO events (session, bar, time, kind, payload) VALUES (?, ?, ?, ?, ?)",
                [(session, bar, time, kind, json.dumps(payload)) for kind, payload in events],
            )

    def set_run(self, session: str, run_id: str) -> None:
        with self.con:
            self.con.execute("UPDATE sessions SET mlflow_run_id = ? WHERE session = ?", (run_id, session))

    def set_logged(self, session: str, bar: int) -> None:
        with self.con:
            self.con.execute("UPDATE sessions SET logged_bar = ? WHERE session = ?", (bar, session))

    def add_event(self, session: str, bar: int, time: int, kind: str, payload: dict) -> None:
        """An event outside a bar's transaction (a start, a reconnect, an error)."""
        with self.con:
            self.con.execute(
                "INSERT INTO events (session, bar, time, kind, payload) VALUES (?, ?, ?, ?, ?)",
                (session, bar, time, kind, json.dumps(payload)),
            )

    def equity_since(self, session: str, after_bar: int) -> list[tuple[int, int, float, float]]:
        return self.con.execute(
            "SELECT bar, time, equity, exposure FROM equity WHERE session = ? AND bar > ? ORDER BY bar",
            (session, after_bar),
        ).fetchall()

    def trades(self, session: str) -> list[dict]:
        rows = self.con.execute("SELECT record FROM trades WHERE session = ? ORDER BY k", (session,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def events_after(self, seq: int) -> list[tuple[int, str, int, int, str, str]]:
        return self.con.execute(
            "SELECT seq, session, bar, time, kind, payload FROM events WHERE seq > ? ORDER BY seq", (seq,)
        ).fetchall()

    def sessions(self) -> list[dict]:
        cols = (
            "session",
            "model_uri",
            "symbols",
            "first_bar",
            "last_bar",
            "last_time",
            "prev_equity",
            "state",
            "mlflow_run_id",
        )
        rows = self.con.execute(f"SELECT {', '.join(cols)} FROM sessions ORDER BY session").fetchall()
        return [dict(zip(cols, r, strict=True)) for r in rows]
