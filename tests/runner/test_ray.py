"""Scale-out on a real two-node Ray cluster and a real MLflow tracking server (PostgreSQL backend
store, proxied artifacts): a multirun through hydra/launcher=ray_cluster, and a killed one resumed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import psutil
import pytest
from mlflow.tracking import MlflowClient

from runner.heartbeat import KILLED_TAG, PROCESS_TAG
from tests.conftest import DATA_ROOT, KLINE_HEADER, kline_rows, write_gz

SYMBOLS = ("BTCUSDT", "ETHUSDT", "XRPUSDT", "LTCUSDT")
WINDOW = ["data.start=2024-01-01", "data.end=2024-03-31", "tracking.report=none"]


def data_root(tmp: Path) -> Path:
    """The real 1h klines and funding of four symbols (linked, read only) and SOLUSDT's real funding
    with a klines file that has an unparsable row: its job fails when it loads the data, after the
    pre-flight."""
    root = tmp / "data"
    for sub, suffix in (("klines_1h", "-1h.csv.gz"), ("funding", "-funding.csv.gz")):
        folder = root / "binance" / "futures_um" / sub
        folder.mkdir(parents=True)
        for sym in SYMBOLS:
            (folder / f"{sym}{suffix}").symlink_to(DATA_ROOT / "binance" / "futures_um" / sub / f"{sym}{suffix}")
    (root / "binance/futures_um/funding/SOLUSDT-funding.csv.gz").symlink_to(
        DATA_ROOT / "binance/futures_um/funding/SOLUSDT-funding.csv.gz"
    )
    rows = kline_rows(1_704_067_200_000, [100.0, 101.0, 102.0])
    rows[1] = rows[1].replace(",10.0", ",oops")
    write_gz(root / "binance/futures_um/klines_1h/SOLUSDT-1h.csv.gz", KLINE_HEADER, rows)
    return root


def ray_args(cluster: dict, server: str, root: Path, experiment: str) -> list[str]:
    return [
        "hydra/launcher=ray_cluster",
        f"hydra.launcher.ray.init.address={cluster['address']}",
        "tracking=server",
        f"tracking.uri={server}",
        f"tracking.experiment={experiment}",
        f"data.root={root}",
        *WINDOW,
    ]


def job_runs(client: MlflowClient, experiment: str, kind: str = "job") -> list:
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    found = client.search_runs([exp.experiment_id], max_results=1000)
    return [r for r in found if r.data.tags.get("perplab.kind") == kind]


def test_multirun_on_two_ray_nodes_into_one_tracking_server(tmp_path: Path, ray_cluster, mlflow_server) -> None:
    root = data_root(tmp_path)
    symbols = ",".join(f"[{s}]" for s in (*SYMBOLS, "BTCUSDT,ETHUSDT", "SOLUSDT"))
    args = [*ray_args(ray_cluster, mlflow_server, root, "ray-sweep"), f"data.symbols={symbols}", "-m"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    out = subprocess.run(
        [sys.executable, "-m", "runner", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 1, out.stderr  # one job failed; the sweep went on
    assert "1 of 6 jobs FAILED" in out.stderr
    client = MlflowClient(mlflow_server)
    jobs = job_runs(client, "ray-sweep")
    assert len(jobs) == 6
    by_symbol = {r.data.params["data.symbols"]: r for r in jobs}
    failed = by_symbol['["SOLUSDT"]']
    assert failed.info.status == "FAILED" and "unparsable value 'oops'" in failed.data.tags["error"]
    finished = [r for r in jobs if r is not failed]
    assert {r.info.status for r in finished} == {"FINISHED"}
    assert len({r.data.tags["ray_node_id"] for r in jobs}) == 2  # both nodes ran jobs
    assert {r.data.tags["ray_cpus"] for r in jobs} == {"1"}
    for r in finished:  # artifacts went through the server into its artifact store
        names = {a.path for a in client.list_artifacts(r.info.run_id)}
        assert {"config.yaml", "grid.parquet", "trades.parquet"} <= names
    (sweep,) = job_runs(client, "ray-sweep", "sweep")
    assert sweep.info.status == "FINISHED" and sweep.data.metrics["n_jobs"] == 6
    table = pl.read_parquet(client.download_artifacts(sweep.info.run_id, "sweep_summary.parquet", str(tmp_path)))
    assert table.height == 6 and table.filter(pl.col("status") == "FAILED").height == 1
    assert {r.data.tags["sweep_id"] for r in jobs} == {sweep.data.tags["sweep_dir"]}


def _wait_gone(processes: list[str], timeout: float = 60) -> None:
    """Ray stops a dead driver's workers; wait for the processes of this host to be gone."""
    pids = [int(p.split(":")[1]) for p in processes]
    deadline = time.monotonic() + timeout
    while any(psutil.pid_exists(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.5)


def test_killed_ray_multirun_resumes(tmp_path: Path, ray_cluster, mlflow_server) -> None:
    root = data_root(tmp_path)
    slow = ["data.start=2020-01-01", "data.end=2025-12-31", "strategy.params.period=[10,14,21]"]
    base = [a for a in ray_args(ray_cluster, mlflow_server, root, "ray-resume") if not a.startswith("data.")]
    args = [*base, f"data.root={root}", "leverage=1,2,3,4,5,6", "-m", *slow]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    log = tmp_path / "sweep.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runner", *args],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = MlflowClient(mlflow_server)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the sweep ended before it was killed:\n{log.read_text()[-3000:]}"
        states = [r.info.status for r in job_runs(client, "ray-resume")]
        if states.count("FINISHED") >= 2 and "RUNNING" in states:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the sweep did not reach two finished jobs")
    os.killpg(proc.pid, signal.SIGKILL)  # the driver; Ray then stops its tasks on both nodes
    proc.wait(timeout=60)
    running = [r for r in job_runs(client, "ray-resume") if r.info.status == "RUNNING"]
    _wait_gone([r.data.tags[PROCESS_TAG] for r in running])
    done_before = {r.info.run_id for r in job_runs(client, "ray-resume") if r.info.status == "FINISHED"}
    out = subprocess.run(
        [sys.executable, "-m", "runner", f"tracking.uri={mlflow_server}", "-m", "resume=last"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode in (0, 3), out.stderr
    jobs = job_runs(client, "ray-resume")
    finished = [r for r in jobs if r.info.status == "FINISHED"]
    assert len(finished) == 6 and len({r.data.tags["config_hash"] for r in finished}) == 6
    killed = [r for r in jobs if r.info.status == "KILLED"]
    assert {r.info.run_id for r in killed} == {r.info.run_id for r in running}
    assert all("is gone" in r.data.tags[KILLED_TAG] for r in killed)
    assert not [r for r in jobs if r.info.status == "RUNNING"]
    (sweep,) = job_runs(client, "ray-resume", "sweep")
    assert sweep.info.status == "FINISHED" and sweep.data.metrics["n_jobs"] == 6
    assert done_before <= {r.info.run_id for r in finished}  # finished jobs were not run again


def test_readme_scale_out_commands(tmp_path: Path, ray_cluster, mlflow_server) -> None:
    """The README's "Scale out" perplab commands, as written, against the README's cluster and server
    (the fixtures start them from the README's own ``ray start`` and ``mlflow server`` lines), the
    sweep on a short window."""
    from tests.readme import commands
    from tests.runner.test_cli import expected_exit

    lines = [w for w in commands("Scale out") if w[:2] == ["python", "-m"]]
    assert [w[2] for w in lines] == ["runner", "runner", "runner.gc"]
    mapping = {"<head-ip>:6379": ray_cluster["address"], "http://<tracking-host>:5000": mlflow_server}
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    client = MlflowClient(mlflow_server)
    outs = []
    for i, words in enumerate(lines):
        args = [_fill(word, mapping) for word in words]
        if i == 0:
            args += [*WINDOW, "tracking.experiment=readme-scale-out"]
        outs.append(
            subprocess.run(
                [sys.executable, *args[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
            )
        )
        assert "<" not in " ".join(args)
    sweep_out, resume_out, gc_out = outs
    jobs = job_runs(client, "readme-scale-out")
    errors = [r.data.tags.get("error") for r in jobs if r.info.status != "FINISHED"]
    assert len(jobs) == 3 and not errors, f"{errors}: {sweep_out.stderr}"
    assert sweep_out.returncode == expected_exit(jobs), sweep_out.stderr
    assert all(r.data.tags.get("ray_node_id") for r in jobs)
    assert resume_out.returncode == expected_exit(jobs), resume_out.stderr
    assert "resuming sweep" in resume_out.stderr and len(job_runs(client, "readme-scale-out")) == 3
    assert gc_out.returncode == 0 and "no dead RUNNING runs" in gc_out.stdout, gc_out.stderr


def _fill(word: str, mapping: dict[str, str]) -> str:
    for old, new in mapping.items():
        word = word.replace(old, new)
    return word
