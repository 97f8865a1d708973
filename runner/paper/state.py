"""The paper account's state database: SQLite in WAL mode (or PostgreSQL), one transaction per bar.

A session's row holds the kernel state (``kernels.live``: positions, account, pending orders,
breakers, the previous close's equity) as arrays, the last bar processed and the MLflow run. Each
bar commits that row, the bar's equity, its closed trades and its events together, so a process
killed at any instant resumes from the last committed bar: no fill twice, no bar missed.
"""

import json
import os
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from runner.errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session text PRIMARY KEY,
    model_uri text NOT NULL,
    config_digest text NOT NULL,
    symbols text NOT NULL,
    first_bar bigint NOT NULL,
    last_bar bigint NOT NULL,
    last_time bigint NOT NULL,
    prev_equity double precision NOT NULL,
    state text NOT NULL,
    mlflow_run_id text,
    logged_bar bigint NOT NULL DEFAULT -1,
    drift double precision,
    updated_at text
);
CREATE TABLE IF NOT EXISTS equity (
    session text NOT NULL,
    bar bigint NOT NULL,
    time bigint NOT NULL,
    equity double precision NOT NULL,
    exposure double precision NOT NULL,
    PRIMARY KEY (session, bar)
);
CREATE TABLE IF NOT EXISTS trades (
    session text NOT NULL,
    k bigint NOT NULL,
    record text NOT NULL,
    PRIMARY KEY (session, k)
);
CREATE TABLE IF NOT EXISTS events (
    seq SERIAL_KEY,
    session text NOT NULL,
    bar bigint NOT NULL,
    time bigint NOT NULL,
    kind text NOT NULL,
    payload text NOT NULL
);
"""
SERIAL_KEY = {"sqlite": "integer PRIMARY KEY AUTOINCREMENT", "postgresql": "bigserial PRIMARY KEY"}
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


def is_postgres(target: str | Path) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


def check_state(target: str | Path) -> None:
    """The pre-flight: a PostgreSQL state database answers; an existing SQLite one opens and reads; a
    new one's folder accepts files. Writes nothing."""
    from runner.redact import redact

    if is_postgres(target):
        import psycopg

        try:
            psycopg.connect(str(target), connect_timeout=10).close()
        except psycopg.Error as exc:
            reason = redact(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"paper.state={redact(str(target))}: cannot connect ({reason})") from None
        return
    path = Path(target)
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


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class StateStore:
    """The state database: a SQLite file (WAL) at ``target`` (created with its folder), or a
    PostgreSQL URL. The same statements serve both (``?`` placeholders become ``%s``); a bar's
    transaction takes the write lock first (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an exclusive
    lock on ``events``), so event numbers follow commit order for the JSON-lines log."""

    def __init__(self, target: str | Path):
        from runner.redact import redact

        self.postgres = is_postgres(target)
        self.shown = redact(str(target))
        if self.postgres:
            import psycopg

            try:
                self.con = psycopg.connect(str(target), autocommit=True, connect_timeout=10)
                with self.con.transaction():
                    for ddl in SCHEMA.replace("SERIAL_KEY", SERIAL_KEY["postgresql"]).split(";"):
                        if ddl.strip():
                            self.con.execute(ddl)
                    self._migrate()
            except psycopg.Error as exc:
                reason = redact(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
                raise ConfigError(f"paper.state={self.shown}: cannot open the state database ({reason})") from None
            return
        self.path = Path(target)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.con.execute("PRAGMA journal_mode=WAL")
            self.con.execute("PRAGMA synchronous=NORMAL")
            self.con.executescript(SCHEMA.replace("SERIAL_KEY", SERIAL_KEY["sqlite"]))
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"paper.state={self.path}: cannot open the state database ({exc})") from None

    def _migrate(self) -> None:
        """Columns added since a database was made (``drift``)."""
        cur = self.con.execute("SELECT * FROM sessions LIMIT 0")
        if "drift" not in {d[0] for d in cur.description}:
            self.con.execute("ALTER TABLE sessions ADD COLUMN drift double precision")

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self.con.execute(self._sql(sql), params).fetchall()

    @contextmanager
    def _tx(self):
        """One write transaction holding the write lock from its start."""
        if self.postgres:
            with self.con.transaction():
                self.con.execute("LOCK TABLE events IN EXCLUSIVE MODE")
                yield
            return
        with self.con:
            self.con.execute("BEGIN IMMEDIATE")
            yield

    def _write(self, sql: str, params: tuple) -> None:
        self.con.execute(self._sql(sql), params)

    def _write_many(self, sql: str, rows: list[tuple]) -> None:
        if rows:
            if self.postgres:
                with self.con.cursor() as cur:
                    cur.executemany(self._sql(sql), rows)
            else:
                self.con.executemany(sql, rows)

    def close(self) -> None:
        self.con.close()

    def load(self, session: str) -> tuple[dict, Account] | None:
        """The session's identity (model, config digest, symbols) and account, or None."""
        rows = self._rows(
            "SELECT model_uri, config_digest, symbols, first_bar, last_bar, last_time, prev_equity, state, "
            "mlflow_run_id, logged_bar FROM sessions WHERE session = ?",
            (session,),
        )
        if not rows:
            return None
        uri, digest, symbols, first, last, last_time, prev, state, run_id, logged = rows[0]
        arrays = Account.decode(state)
        account = Account(**arrays, prev_equity=prev, first_bar=first, last_bar=last, last_time=last_time)
        account.mlflow_run_id, account.logged_bar = run_id, logged
        return {"model_uri": uri, "config_digest": digest, "symbols": json.loads(symbols)}, account

    def create(self, session: str, model_uri: str, digest: str, symbols: list[str], account: Account) -> None:
        with self._tx():
            self._write(
                "INSERT INTO sessions (session, model_uri, config_digest, symbols, first_bar, last_bar, last_time, "
                "prev_equity, state, mlflow_run_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    _now(),
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
        with self._tx():
            self._write(
                "UPDATE sessions SET last_bar = ?, last_time = ?, prev_equity = ?, state = ?, updated_at = ? "
                "WHERE session = ?",
                (bar, time, account.prev_equity, account.encode(), _now(), session),
            )
            self._write(
                "INSERT INTO equity (session, bar, time, equity, exposure) VALUES (?, ?, ?, ?, ?)",
                (session, bar, time, equity, exposure),
            )
            self._write_many(
                "INSERT INTO trades (session, k, record) VALUES (?, ?, ?)",
                [(session, k, json.dumps(rec)) for k, rec in trades],
            )
            self._write_many(
                "INSERT INTO events (session, bar, time, kind, payload) VALUES (?, ?, ?, ?, ?)",
                [(session, bar, time, kind, json.dumps(payload)) for kind, payload in events],
            )

    def set_run(self, session: str, run_id: str) -> None:
        with self._tx():
            self._write("UPDATE sessions SET mlflow_run_id = ? WHERE session = ?", (run_id, session))

    def set_logged(self, session: str, bar: int) -> None:
        with self._tx():
            self._write("UPDATE sessions SET logged_bar = ? WHERE session = ?", (bar, session))

    def add_event(self, session: str, bar: int, time: int, kind: str, payload: dict) -> None:
        """An event outside a bar's transaction (a start, a reconnect, an error)."""
        with self._tx():
            self._write(
                "INSERT INTO events (session, bar, time, kind, payload) VALUES (?, ?, ?, ?, ?)",
                (session, bar, time, kind, json.dumps(payload)),
            )

    def set_drift(self, session: str, drift: float) -> None:
        with self._tx():
            self._write("UPDATE sessions SET drift = ? WHERE session = ?", (drift, session))

    def alert_counts(self) -> dict[str, int]:
        """Per session: events of the kinds that alert, and failed deliveries."""
        kinds = ("breaker", "liquidation", "error", "drift", "alert_failed")
        marks = ", ".join("?" for _ in kinds)
        rows = self._rows(f"SELECT session, count(*) FROM events WHERE kind IN ({marks}) GROUP BY session", kinds)
        return {r[0]: int(r[1]) for r in rows}

    def last_time(self, session: str) -> int:
        rows = self._rows("SELECT last_time FROM sessions WHERE session = ?", (session,))
        return max(int(rows[0][0]), 0) if rows else 0

    def equity_since(self, session: str, after_bar: int) -> list[tuple[int, int, float, float]]:
        return self._rows(
            "SELECT bar, time, equity, exposure FROM equity WHERE session = ? AND bar > ? ORDER BY bar",
            (session, after_bar),
        )

    def trades(self, session: str) -> list[dict]:
        rows = self._rows("SELECT record FROM trades WHERE session = ? ORDER BY k", (session,))
        return [json.loads(r[0]) for r in rows]

    def events_after(self, seq: int) -> list[tuple[int, str, int, int, str, str]]:
        return self._rows(
            "SELECT seq, session, bar, time, kind, payload FROM events WHERE seq > ? ORDER BY seq", (seq,)
        )

    def latest_events(self, n: int) -> list[tuple[str, int, str, str]]:
        rows = self._rows("SELECT session, time, kind, payload FROM events ORDER BY seq DESC LIMIT ?", (n,))
        return rows[::-1]

    def sessions(self) -> list[dict]:
        cols = ("session", "model_uri", "symbols", "first_bar", "last_bar", "last_time", "prev_equity", "state")
        cols += ("mlflow_run_id", "drift")
        rows = self._rows(f"SELECT {', '.join(cols)} FROM sessions ORDER BY session")
        return [dict(zip(cols, r, strict=True)) for r in rows]
