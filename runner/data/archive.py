"""The immutable raw archive: every payload exactly as received, content-addressed, indexed in SQLite.

``<data root>/archive/objects/<sha[:2]>/<sha>`` holds the bytes; ``archive/index.sqlite`` (WAL)
holds one row per payload with its source URL, retrieval time, checksums, the period it covers and
whether it passed validation. Rows and objects are only ever added: a payload that failed
validation stays (it is what was received) but is quarantined from the derived files. The
``derivations`` table records which payloads each derived file was built from.
"""

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from runner.data.source.binance import Dataset

SCHEMA = """
CREATE TABLE IF NOT EXISTS payloads (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    url TEXT NOT NULL,
    source TEXT NOT NULL,            -- monthly | daily | rest | info
    kind TEXT NOT NULL,              -- klines | markPriceKlines | fundingRate | exchangeInfo | fundingInfo
    symbol TEXT NOT NULL DEFAULT '',
    interval TEXT NOT NULL DEFAULT '',
    period_start INTEGER NOT NULL,   -- ms: what the request asked for, [start, end)
    period_end INTEGER NOT NULL,
    retrieved_at INTEGER NOT NULL,   -- ms, UTC
    published_sha256 TEXT,           -- the archive's .CHECKSUM
    status TEXT NOT NULL,            -- ok | quarantined
    reason TEXT NOT NULL DEFAULT '',
    rows INTEGER NOT NULL DEFAULT 0,
    holes TEXT NOT NULL DEFAULT '[]' -- [[start, end), ...] of missing bars inside the period
);
CREATE INDEX IF NOT EXISTS payloads_series ON payloads (kind, symbol, interval, status);
CREATE TABLE IF NOT EXISTS derivations (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,              -- relative to the data root
    sha256 TEXT NOT NULL,
    rows INTEGER NOT NULL,
    inputs TEXT NOT NULL,            -- JSON list of payload sha256, in precedence order, or (``EXTENDS``)
                                     -- {"after": id, "depth": n, "added": [sha256, ...]}: row id's list and these
    built_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS derivations_path ON derivations (path, id);
"""
SOURCE_RANK = {"monthly": 0, "daily": 1, "rest": 2}  # which source wins where payloads overlap
# A live feed derives each series again after every bar from one more payload: a derivation whose
# inputs extend the path's previous derivation's stores only the payloads it adds and the previous
# row's id, at most EXTENDS such rows after a full list (reading one walks at most that many rows;
# rows are never deleted). The full lists still grow with the square of the payloads, EXTENDS + 1
# times more slowly than a full list per row.
EXTENDS = 256


@dataclass(frozen=True)
class Payload:
    id: int
    sha256: str
    size: int
    url: str
    source: str
    kind: str
    symbol: str
    interval: str
    period_start: int
    period_end: int
    retrieved_at: int
    published_sha256: str | None
    status: str
    reason: str
    rows: int
    holes: str

    @property
    def dataset(self) -> Dataset:
        return Dataset(self.kind, self.symbol, self.interval)

    def present(self) -> list[tuple[int, int]]:
        """The parts of the period that have rows (the period less its holes)."""
        out, cursor = [], self.period_start
        for a, b in json.loads(self.holes):
            if a > cursor:
                out.append((cursor, a))
            cursor = max(cursor, b)
        if cursor < self.period_end:
            out.append((cursor, self.period_end))
        return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def now_ms() -> int:
    return int(time.time() * 1000)


class Archive:
    """Objects and index under ``<root>/archive``; safe to share between threads of one process."""

    def __init__(self, root: Path, create: bool = True):
        self.root = root
        self.base = root / "archive"
        self.objects = self.base / "objects"
        self.index_path = self.base / "index.sqlite"
        if create:
            self.objects.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.index_path, check_same_thread=False, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=60000")
        self._db.executescript(SCHEMA)

    @staticmethod
    def exists(root: Path) -> bool:
        return (root / "archive" / "index.sqlite").is_file()

    def close(self) -> None:
        self._db.close()

    def object_path(self, digest: str) -> Path:
        return self.objects / digest[:2] / digest

    def read(self, payload: Payload) -> bytes:
        return self.object_path(payload.sha256).read_bytes()

    def _store_object(self, data: bytes, digest: str) -> None:
        """Write the bytes once; an object already there is never rewritten."""
        target = self.object_path(digest)
        if target.is_file():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{digest}.{os.getpid()}.{threading.get_ident()}")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)

    def add(
        self,
        data: bytes,
        *,
        url: str,
        source: str,
        dataset: Dataset | None,
        kind: str,
        period: tuple[int, int],
        status: str = "ok",
        reason: str = "",
        rows: int = 0,
        holes: list[tuple[int, int]] | None = None,
        published: str | None = None,
        retrieved_at: int | None = None,
    ) -> Payload:
        """Store a payload and index it (object first, then its row in one transaction)."""
        digest = sha256(data)
        self._store_object(data, digest)
        values = (
            digest,
            len(data),
            url,
            source,
            kind,
            dataset.symbol if dataset else "",
            dataset.interval if dataset else "",
            int(period[0]),
            int(period[1]),
            retrieved_at or now_ms(),
            published,
            status,
            reason,
            rows,
            json.dumps([list(h) for h in holes or []]),
        )
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO payloads (sha256, size, url, source, kind, symbol, interval, period_start, period_end,"
                " retrieved_at, published_sha256, status, reason, rows, holes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                values,
            )
            return Payload(cur.lastrowid, *values)

    def payloads(
        self, dataset: Dataset | None = None, status: str | None = None, kind: str | None = None
    ) -> list[Payload]:
        """Payloads in a deterministic order: by series, then precedence (monthly, daily, REST),
        then retrieval time."""
        sql, args = "SELECT * FROM payloads WHERE 1=1", []
        if dataset is not None:
            sql += " AND kind=? AND symbol=? AND interval=?"
            args += [dataset.kind, dataset.symbol, dataset.interval]
        if kind is not None:
            sql += " AND kind=?"
            args.append(kind)
        if status is not None:
            sql += " AND status=?"
            args.append(status)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        out = [Payload(*r) for r in rows]
        out.sort(key=lambda p: (p.kind, p.symbol, p.interval, SOURCE_RANK.get(p.source, 9), p.retrieved_at, p.id))
        return out

    def datasets(self) -> list[Dataset]:
        """Every series the archive holds payloads of."""
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT kind, symbol, interval FROM payloads WHERE symbol != ''"
            ).fetchall()
        return sorted(Dataset(*r) for r in rows)

    def latest(self, kind: str) -> Payload | None:
        """The newest ok payload of a kind (exchangeInfo, fundingInfo)."""
        found = [p for p in self.payloads(kind=kind, status="ok")]
        return max(found, key=lambda p: (p.retrieved_at, p.id)) if found else None

    def record_derivation(self, path: str, digest: str, rows: int, inputs: list[str]) -> None:
        with self._lock:
            last = self._db.execute(
                "SELECT id, inputs FROM derivations WHERE path=? ORDER BY id DESC LIMIT 1", (path,)
            ).fetchone()
            stored = json.dumps(inputs)
            if last is not None:
                before, depth = self._inputs(last[1])
                if depth < EXTENDS and len(inputs) > len(before) and inputs[: len(before)] == before:
                    added = inputs[len(before) :]
                    stored = json.dumps({"after": last[0], "depth": depth + 1, "added": added})
            self._db.execute(
                "INSERT INTO derivations (path, sha256, rows, inputs, built_at) VALUES (?,?,?,?,?)",
                (path, digest, rows, stored, now_ms()),
            )

    def _inputs(self, stored: str) -> tuple[list[str], int]:
        """A row's inputs as the full list, and how many rows extend one another to make it."""
        value = json.loads(stored)
        depth = value["depth"] if isinstance(value, dict) else 0  # the newest row holds its chain's length
        parts = []
        while isinstance(value, dict):
            parts.append(value["added"])
            (text,) = self._db.execute("SELECT inputs FROM derivations WHERE id=?", (value["after"],)).fetchone()
            value = json.loads(text)
        return [sha for part in [value, *reversed(parts)] for sha in part], depth

    def derivation(self, path: str, digest: str | None = None) -> tuple[str, int, list[str]] | None:
        """The newest derivation of ``path`` (with ``digest``: the one that produced that content)."""
        sql = "SELECT sha256, rows, inputs FROM derivations WHERE path=?"
        args: list = [path]
        if digest is not None:
            sql += " AND sha256=?"
            args.append(digest)
        with self._lock:
            row = self._db.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()
            return (row[0], row[1], self._inputs(row[2])[0]) if row else None

    def derived_paths(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT path FROM derivations ORDER BY path")]


def inputs_digest(root: Path, sources: dict[str, str]) -> str:
    """sha256 over the archive payloads that made the data files a run read (``sources``: path
    relative to the root -> the file's sha256); empty when the root has no archive or none of the
    files was derived from it. With the index, it names exactly which payloads a run used."""
    if not Archive.exists(root):
        return ""
    archive = Archive(root, create=False)
    try:
        made = {path: archive.derivation(path, digest) for path, digest in sorted(sources.items())}
    finally:
        archive.close()
    used = {path: d[2] for path, d in made.items() if d is not None}
    return hashlib.sha256(json.dumps(used, sort_keys=True).encode()).hexdigest() if used else ""


@contextmanager
def writer_lock(root: Path, wait_message=None) -> Iterator[None]:
    """One writing process per store (download, update, rebuild): an advisory lock on
    ``archive/lock``; a second writer waits for the first."""
    import fcntl

    path = root / "archive" / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if wait_message:
                wait_message()
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
