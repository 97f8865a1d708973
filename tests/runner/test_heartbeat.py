"""Heartbeats and reaping: a RUNNING run whose process died is marked KILLED, a live one is not."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from runner.heartbeat import HEARTBEAT_TAG, KILLED_TAG, PROCESS_TAG, dead_reason, process_id, reap


def _now() -> int:
    return int(time.time() * 1000)


def _dead_pid_process() -> str:
    """``host:pid:start`` of a process of this host that has exited."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import psutil; print(__import__('runner.heartbeat').heartbeat.process_id())"],
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = proc.communicate(timeout=60)
    return out.strip()


# (name, tags, timeout_s, dead?)
CASES = [
    ("this live process, fresh beat", lambda: {HEARTBEAT_TAG: str(_now()), PROCESS_TAG: process_id()}, 60, False),
    (
        "this live process, old beat",
        lambda: {HEARTBEAT_TAG: str(_now() - 600_000), PROCESS_TAG: process_id()},
        60,
        True,
    ),
    ("exited process of this host", lambda: {HEARTBEAT_TAG: str(_now()), PROCESS_TAG: _dead_pid_process()}, 60, True),
    ("other host, fresh beat", lambda: {HEARTBEAT_TAG: str(_now() - 5_000), PROCESS_TAG: "elsewhere:12:34"}, 60, False),
    ("other host, stale beat", lambda: {HEARTBEAT_TAG: str(_now() - 61_000), PROCESS_TAG: "elsewhere:12:34"}, 60, True),
    (
        "reused pid (start differs)",
        lambda: {HEARTBEAT_TAG: str(_now()), PROCESS_TAG: process_id().rsplit(":", 1)[0] + ":5"},
        60,
        True,
    ),
    ("no heartbeat (not perplab's)", lambda: {}, 60, False),
]


@pytest.mark.parametrize(("name", "tags", "timeout", "dead"), CASES, ids=[c[0] for c in CASES])
def test_reap_marks_only_dead_runs_killed(tmp_path: Path, name, tags, timeout, dead) -> None:
    client = MlflowClient(f"sqlite:///{tmp_path / 'm.db'}")
    exp = client.create_experiment("e")
    run = client.create_run(exp, tags=tags(), run_name=name)
    reaped = reap(client, timeout)
    after = client.get_run(run.info.run_id)
    assert [r.run_id for r in reaped] == ([run.info.run_id] if dead else [])
    assert after.info.status == ("KILLED" if dead else "RUNNING")
    assert (KILLED_TAG in after.data.tags) is dead
    if dead:
        assert after.info.end_time == int(after.data.tags[HEARTBEAT_TAG])  # ended at its last sign of life


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    client = MlflowClient(f"sqlite:///{tmp_path / 'm.db'}")
    run = client.create_run(client.create_experiment("e"), tags={HEARTBEAT_TAG: "1", PROCESS_TAG: "x:1:1"})
    assert len(reap(client, 60, dry_run=True)) == 1
    assert client.get_run(run.info.run_id).info.status == "RUNNING"
    assert "no heartbeat for" in dead_reason(client.get_run(run.info.run_id), 60)


def test_gc_command_marks_and_lists(tmp_path: Path) -> None:
    store = tmp_path / "m.db"
    client = MlflowClient(f"sqlite:///{store}")
    exp = client.create_experiment("e")
    dead = client.create_run(exp, tags={HEARTBEAT_TAG: "1000", PROCESS_TAG: "far:7:1"}, run_name="dead one")
    alive = client.create_run(exp, tags={HEARTBEAT_TAG: str(int(time.time() * 1000)), PROCESS_TAG: "far:8:1"})
    env_uri = f"tracking.uri=sqlite:///{store}"
    cmd = [sys.executable, "-m", "runner.gc", env_uri]
    dry = subprocess.run([*cmd, "gc.dry_run=true"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would mark KILLED: 1 run(s)" in dry.stdout and dead.info.run_id[:12] in dry.stdout
    assert client.get_run(dead.info.run_id).info.status == "RUNNING"
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0 and "marked KILLED: 1 run(s)" in out.stdout
    assert client.get_run(dead.info.run_id).info.status == "KILLED"
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"
    assert {p.name for p in tmp_path.iterdir()} <= {"m.db", "m.db-shm", "m.db-wal", "m.db.lock"}  # no output folder
    bad = subprocess.run([*cmd, "gc.timeout_s=-3"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert (
        bad.returncode == 2
        and bad.stderr.strip() == "error: gc.timeout_s=-3: must be a positive number of seconds (or null)"
    )
