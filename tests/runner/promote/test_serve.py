"""``mlflow models serve -m models:/perplab-rsi@champion`` (local env) answers POST /invocations on
localhost with exactly the signals, target positions and exposures of the same model loaded in
process, on real BTCUSDT+ETHUSDT bars sent as MLflow's ``dataframe_split`` JSON."""

import os
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import polars as pl
import pytest

from runner.config import validate
from runner.data.panel import build_panel
from runner.model import SIGNALS

MODEL = "models:/perplab-rsi@champion"
WINDOW = (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 21, tzinfo=UTC))  # 480 hourly bars


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bars(model) -> pd.DataFrame:
    """The model's symbols' real bars in ``WINDOW``, long format, time as epoch milliseconds."""
    spec = validate(model.unwrap_python_model().cfg)
    panel = build_panel(spec.data)
    bars = pl.concat(
        panel.frame(s)
        .filter(pl.col("time").is_between(*WINDOW, closed="left"))
        .with_columns(pl.lit(s).alias("symbol"), pl.col("funding").alias("funding_rate"))
        for s in panel.symbols
    )
    bars = bars.with_columns(pl.col("time").dt.epoch("ms")).drop("tradable", "funding")
    return bars.to_pandas()


def _serve(db: Path, port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "PERPLAB_POSTGRES_URL"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{db}"
    cmd = ["mlflow", "models", "serve", "-m", MODEL, "--env-manager", "local", "--host", "127.0.0.1"]
    cmd += ["--timeout", "600"]  # the first request compiles the kernels (~45 s; MLflow's default: 60 s)
    with open(log, "w") as out:  # the server's own group, so that stopping it stops uvicorn too
        return subprocess.Popen(
            [*cmd, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_healthy(server: subprocess.Popen, url: str, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow models serve exited {server.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"mlflow models serve not healthy after {timeout:.0f} s:\n{log.read_text()}")


def _stop(server: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def test_served_champion_matches_the_in_process_model(promoted_store, tmp_path, monkeypatch) -> None:
    db, _ = promoted_store
    monkeypatch.setenv("PERPLAB_CACHE", str(db.parent / "cache"))
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    model = mlflow.pyfunc.load_model(MODEL)
    bars = _bars(model)
    assert set(bars["symbol"]) == {"BTCUSDT", "ETHUSDT"} and len(bars) == 2 * 480
    expected = model.predict(bars)

    port, log = _free_port(), tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"
    server = _serve(db, port, log)
    try:
        _wait_healthy(server, url, log)
        body = {"dataframe_split": bars.to_dict(orient="split")}
        reply = httpx.post(f"{url}/invocations", json=body, timeout=600)
    finally:
        _stop(server)
    assert reply.status_code == 200, f"{reply.text}\n{log.read_text()}"
    got = pd.DataFrame(reply.json()["predictions"])

    assert list(got.columns) == list(expected.columns) and len(got) == len(expected) == len(bars)
    pd.testing.assert_series_equal(pd.to_datetime(got["time"], utc=True), expected["time"], check_dtype=False)
    assert got["symbol"].tolist() == expected["symbol"].tolist()
    for name in (*SIGNALS, "target_position"):
        np.testing.assert_array_equal(got[name].to_numpy(), expected[name].to_numpy(), err_msg=name)
    np.testing.assert_array_equal(got["target_exposure"].to_numpy(float), expected["target_exposure"].to_numpy())
    assert all(expected[name].any() for name in SIGNALS) and (expected["target_position"] != 0).any()
