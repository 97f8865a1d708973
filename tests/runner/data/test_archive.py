"""The ``derivations`` records of the archive index: each derivation reads back with exactly the
inputs it was recorded with, the newest and any earlier one by its digest, however its row is
stored (a full list, or the payloads it adds to the path's previous derivation), and a live feed's
derivation per bar grows the table with the payloads, not with their square."""

import json
import sqlite3
from pathlib import Path

import pytest

from runner.data.archive import EXTENDS, Archive


def sha(i: int) -> str:
    return f"{i:064x}"


# each scenario: the derivations recorded, in order, as (path, inputs as payload numbers)
SCENARIOS = {
    "grown by a payload each time": [("k", list(range(n))) for n in range(1, 8)],
    "grown by several, then one ranking first": [
        ("k", [1, 2]),
        ("k", [1, 2, 3, 4]),
        ("k", [0, 1, 2, 3, 4]),
        ("k", [0, 1, 2, 3, 4, 5]),
    ],
    "a payload dropped": [("k", [1, 2, 3]), ("k", [1, 3]), ("k", [1, 3, 4])],
    "the same inputs again (a rebuild)": [("k", [1, 2]), ("k", [1, 2]), ("k", [1, 2, 3])],
    "fewer inputs, then grown": [("k", [1, 2, 3]), ("k", [1]), ("k", [1, 5])],
    "two paths interleaved": [
        ("k", [1]),
        ("m", [7]),
        ("k", [1, 2]),
        ("m", [7, 8]),
        ("k", [1, 2, 3]),
        ("m", [9]),
        ("m", [9, 10]),
    ],
    "past a full list's limit": [("k", list(range(n))) for n in range(1, EXTENDS + 40)],
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_derivation_reads_back_its_inputs(tmp_path: Path, scenario: str) -> None:
    archive = Archive(tmp_path)
    recorded = []
    for k, (path, numbers) in enumerate(SCENARIOS[scenario]):
        inputs = [sha(i) for i in numbers]
        archive.record_derivation(path, f"digest-{k}", len(numbers), inputs)
        recorded.append((path, f"digest-{k}", inputs))
        assert archive.derivation(path) == (f"digest-{k}", len(numbers), inputs), f"step {k}"
    for path, digest, inputs in recorded:
        assert archive.derivation(path, digest) == (digest, len(inputs), inputs), digest
    archive.close()


def test_a_derivation_per_bar_stores_its_payload_and_a_full_list_every_257_rows(tmp_path: Path) -> None:
    """600 derivations, each with one payload more (a live session's bars): full lists at rows 1,
    258 and 515 only, every other row one payload and at most ``EXTENDS`` rows from a full list; the
    stored inputs take under 300 kB, where a full list per row would take 600 x 601 / 2 x 67 bytes
    (12 MB)."""
    archive = Archive(tmp_path)
    for n in range(1, 601):
        archive.record_derivation("k", f"digest-{n}", n, [sha(i) for i in range(n)])
    assert archive.derivation("k", "digest-300")[2] == [sha(i) for i in range(300)]
    archive.close()
    with sqlite3.connect(archive.index_path) as db:
        rows = [json.loads(text) for (text,) in db.execute("SELECT inputs FROM derivations ORDER BY id")]
        (stored,) = db.execute("SELECT SUM(LENGTH(inputs)) FROM derivations").fetchone()
    assert [k + 1 for k, r in enumerate(rows) if isinstance(r, list)] == [1, 258, 515]
    deltas = [r for r in rows if isinstance(r, dict)]
    assert all(len(r["added"]) == 1 for r in deltas)
    assert [r["depth"] for r in deltas] == [*range(1, 258)][:EXTENDS] * 2 + [*range(1, 86)]
    assert stored < 300_000, stored
