"""Heartbeats of RUNNING runs, and reaping the runs whose process died (kill -9, OOM, a lost node).

A run carries ``perplab.heartbeat`` (epoch ms, refreshed every ``tracking.heartbeat_s`` by a daemon
thread) and ``perplab.process`` (``host:pid:start``). A RUNNING run is dead when its process is
gone from this host, or when its heartbeat is older than ``tracking.heartbeat_timeout_s`` (the
process may be on another machine); reaping marks it KILLED with the reason as a tag.
"""

import atexit
import os
import socket
import threading
import time
from dataclasses import dataclass

import psutil

HEARTBEAT_TAG = "perplab.heartbeat"
PROCESS_TAG = "perplab.process"
KILLED_TAG = "perplab.killed_reason"


def process_id() -> str:
    """``host:pid:start`` of this process (the start time tells a reused pid apart)."""
    me = psutil.Process()
    return f"{socket.gethostname()}:{me.pid}:{int(me.create_time() * 1000)}"


def heartbeat_tags() -> dict[str, str]:
    """The tags a run is created with: its first heartbeat and its process."""
    return {HEARTBEAT_TAG: str(int(time.time() * 1000)), PROCESS_TAG: process_id()}


def process_gone(process: str) -> bool:
    """Whether a ``host:pid:start`` process of this host no longer runs (False for another host's)."""
    host, _, rest = process.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        started = int(psutil.Process(int(pid)).create_time() * 1000)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return True
    except psutil.Error:
        return False
    return not start.isdigit() or abs(started - int(start)) > 1000


class Heartbeat:
    """Refreshes a run's heartbeat tag in a daemon thread until ``stop``; at interpreter exit (an
    uncaught exception, SystemExit, SIGTERM turned into SystemExit) a run still beating is KILLED."""

    def __init__(self, client, run_id: str, interval_s: float):
        self.client, self.run_id, self.interval_s = client, run_id, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id[:8]}", daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.client.set_tag(self.run_id, HEARTBEAT_TAG, str(int(time.time() * 1000)))
            except Exception:  # a store hiccup: the next beat tries again
                continue

    def stop(self) -> None:
        self._stop.set()
        atexit.unregister(self._at_exit)

    def _at_exit(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        try:
            self.client.set_tag(self.run_id, KILLED_TAG, f"process {os.getpid()} exited while the run was RUNNING")
            self.client.set_terminated(self.run_id, "KILLED")
        except Exception:
            pass


@dataclass
class Reaped:
    run_id: str
    experiment_id: str
    name: str
    last_beat_ms: int
    reason: str


def dead_reason(run, timeout_s: float, now_ms: int | None = None) -> str:
    """Why a RUNNING run is dead ('' when it may be alive or carries no heartbeat)."""
    tags = run.data.tags
    beat = tags.get(HEARTBEAT_TAG, "")
    if not beat.isdigit():
        return ""
    process = tags.get(PROCESS_TAG, "")
    if process and process_gone(process):
        return f"its process ({process.rsplit(':', 1)[0]}) is gone"
    age = ((now_ms or int(time.time() * 1000)) - int(beat)) / 1000
    if age > timeout_s:
        return f"no heartbeat for {age:.0f} s (tracking.heartbeat_timeout_s={timeout_s:g})"
    return ""


def reap(client, timeout_s: float, experiment_ids: list[str] | None = None, dry_run: bool = False) -> list[Reaped]:
    """Mark KILLED every RUNNING run (of the given experiments, default all) whose process died."""
    ids = experiment_ids or [e.experiment_id for e in client.search_experiments()]
    if not ids:
        return []
    found = client.search_runs(ids, "attributes.status = 'RUNNING'", max_results=10_000)
    now = int(time.time() * 1000)
    out = []
    for run in found:
        reason = dead_reason(run, timeout_s, now)
        if not reason:
            continue
        beat = int(run.data.tags[HEARTBEAT_TAG])
        if not dry_run:
            client.set_tag(run.info.run_id, KILLED_TAG, reason)
            client.set_terminated(run.info.run_id, "KILLED", end_time=beat)
        out.append(Reaped(run.info.run_id, run.info.experiment_id, run.info.run_name or "", beat, reason))
    return out
