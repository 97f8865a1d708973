"""A killed multirun: its interrupted run is KILLED, and ``resume=`` runs only the jobs that did not
finish, under the same sweep-level run."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
from mlflow.tracking import MlflowClient

from runner.heartbeat import KILLED_TAG
from tests.runner.test_cli import cli

WINDOW = ["data.start=2024-01-01", "data.end=2024-03-31", "tracking.report=none", "tracking.log_trades=false"]
SLOW = ["data.start=2020-01-01", "data.end=2025-12-31", "strategy.params.period=[10,14,21]"]  # jobs of seconds
SWEEP = ["leverage=1,2,3,4,5,6", "-m", *WINDOW, *SLOW]


def runs_of(store: Path, kind: str) -> list:
    client = MlflowClient(f"sqlite:///{store}")
    ids = [e.experiment_id for e in client.search_experiments()]
    return [r for r in client.search_runs(ids, max_results=1000) if r.data.tags.get("perplab.kind") == kind]


def job_states(store: Path) -> list[str]:
    """The job runs' states, read without MLflow (a client would race the sweep's schema migrations)."""
    if not store.exists():
        return []
    query = (
        "select r.status from runs r join tags t on t.run_uuid = r.run_uuid "
        "where t.key = 'perplab.kind' and t.value = 'job'"
    )
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as con:
            return [row[0] for row in con.execute(query)]
    except sqlite3.Error:  # not created yet
        return []


def kill_after(proc: subprocess.Popen, store: Path, finished: int, timeout: float = 400) -> None:
    """kill -9 the sweep once ``finished`` jobs FINISHED and the next one is RUNNING."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the sweep ended before it was killed: {proc.stderr.read()}")
        states = job_states(store)
        if states:
            if states.count("FINISHED") >= finished and "RUNNING" in states:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
                return
        time.sleep(0.2)
    raise AssertionError("the sweep did not reach the point to kill it")


def check_resumed(store: Path, out: subprocess.CompletedProcess, n_jobs: int, done_before: int) -> None:
    assert out.returncode in (0, 3), out.stderr
    jobs = runs_of(store, "job")
    finished = [r for r in jobs if r.info.status == "FINISHED"]
    assert len(finished) == n_jobs
    assert len({r.data.tags["config_hash"] for r in finished}) == n_jobs  # no job ran twice
    assert sorted(r.data.params["leverage.value"] for r in finished) == [str(v) for v in range(1, n_jobs + 1)]
    killed = [r for r in jobs if r.info.status == "KILLED"]
    assert killed and all("process" in r.data.tags[KILLED_TAG] for r in killed)
    assert {r.data.tags["config_hash"] for r in killed} <= {r.data.tags["config_hash"] for r in finished}
    assert not [r for r in jobs if r.info.status == "RUNNING"]
    (sweep,) = runs_of(store, "sweep")  # one sweep-level run, resumed and finished
    assert sweep.info.status == "FINISHED" and sweep.data.metrics["n_jobs"] == n_jobs
    assert sweep.data.metrics["n_failed"] == 0
    assert {r.data.tags["sweep_id"] for r in jobs} == {sweep.data.tags["sweep_dir"]}
    client = MlflowClient(f"sqlite:///{store}")
    table = pl.read_parquet(client.download_artifacts(sweep.info.run_id, "sweep_summary.parquet"))
    assert table.height == n_jobs and set(table["status"]) == {"FINISHED"}
    assert set(table["run_id"]) == {r.info.run_id for r in finished}
    assert f"resuming sweep {sweep.data.tags['sweep_dir']}" in out.stderr
    assert (
        " ".join(out.stderr.split()).count("not run again") == done_before
    )  # the finished jobs returned their recorded result


def test_killed_multirun_resumes_only_unfinished_jobs(tmp_path: Path) -> None:
    store = tmp_path / "mlruns" / "mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}", "PERPLAB_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", *SWEEP],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    kill_after(proc, store, finished=2)
    (sweep,) = runs_of(store, "sweep")
    assert sweep.info.status == "RUNNING"  # left RUNNING by kill -9 until someone looks
    done_before = job_states(store).count("FINISHED")
    out = cli(tmp_path, "-m", "resume=last", store=store)
    check_resumed(store, out, 6, done_before)
    assert len(list((tmp_path / "multirun").glob("*/*"))) == 1  # the same output folder


def test_resume_refuses_unknown_sweeps_and_other_arguments(tmp_path: Path) -> None:
    store = tmp_path / "mlruns" / "mlflow.db"
    done = cli(tmp_path, "leverage=1,2", "-m", *WINDOW, store=store)
    assert done.returncode in (0, 3), done.stderr
    (sweep,) = runs_of(store, "sweep")
    sweep_id = sweep.data.tags["sweep_dir"]
    cases = [
        (
            ["-m", "+resume=nosuchsweep"],
            f"error: resume=nosuchsweep: no such sweep in the tracking store; recent sweep ids: {sweep_id}",
        ),
        (
            ["leverage=9", "-m", f"resume={sweep_id}"],
            f"error: resume={sweep_id}: leverage.value=9 is not an argument of that sweep",
        ),
    ]
    for args, line in cases:
        out = cli(tmp_path, *args, store=store)
        assert out.returncode == 2, out.stderr
        assert out.stderr.startswith(line), out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    again = cli(tmp_path, f"resume={sweep_id}", store=store)
    assert again.returncode in (0, 3), again.stderr
    assert " ".join(again.stderr.split()).count("not run again") == 2  # a finished sweep: nothing runs again
    assert len(runs_of(store, "job")) == 2 and len(runs_of(store, "sweep")) == 1
