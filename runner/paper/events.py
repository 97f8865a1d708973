"""The event log: every decision, order, fill, funding payment, liquidation, breaker trip and error
as one JSON line (``polars.read_ndjson``, DuckDB's ``read_json``).

Events are committed to the state database with their bar; the JSON-lines file follows the
database after each commit (by sequence number), so a process killed between the two writes
neither loses nor repeats a line: the next start appends what the file lacks and drops a torn
last line.
"""

import json
import os
from pathlib import Path

from runner.data.source.binance import iso_ms
from runner.paper.state import StateStore


class EventLog:
    """The JSON-lines file at ``path``, kept in step with the database's events."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.seq = self._repair()

    def _repair(self) -> int:
        """The last complete line's sequence number (0: none); a torn last line is cut off."""
        if not self.path.exists():
            return 0
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(end)
        if end == 0:
            return 0
        start = data.rfind(b"\n", 0, end - 1) + 1
        return int(json.loads(data[start:end])["seq"])

    def sync(self, store: StateStore) -> list[dict]:
        """Append the database's events the file lacks; return them."""
        rows = store.events_after(self.seq)
        if not rows:
            return []
        out = []
        for seq, session, bar, time, kind, payload in rows:
            out.append(
                {"seq": seq, "session": session, "bar": bar, "time": iso_ms(time), "kind": kind, **json.loads(payload)}
            )
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write("".join(json.dumps(e) + "\n" for e in out))
            fh.flush()
            os.fsync(fh.fileno())
        self.seq = rows[-1][0]
        return out
