"""The README's MLflow UI command and comparison view, in a real browser: ``mlflow ui`` on a fresh
store of a small multirun, loaded by headless Chromium (skipped only where Chromium is missing)."""

import re
import shlex
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from mlflow.tracking import MlflowClient

from tests.chromium import browser, dump_dom
from tests.readme import commands, section
from tests.runner.test_cli import FAST, cli

HEADING = "Comparing runs in MLflow"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """A two-job leverage sweep into ``mlruns/mlflow.db`` of a fresh folder, and the README's
    ``mlflow ui`` command serving it on a free loopback port: (base URL, client, job runs)."""
    browser()
    tmp = tmp_path_factory.mktemp("ui")
    out = cli(tmp, "leverage=1,2", "filters=none", "-m", *FAST)
    assert out.returncode == 0, out.stderr
    (command,) = commands(HEADING)
    assert command[:2] == ["mlflow", "ui"]
    port = _free_port()
    # one worker (mlflow ui starts four, each importing MLflow's server): /health in 10 s, not 24 s
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--workers=1"],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("mlflow ui did not answer /health in 120 s")
        client = MlflowClient(f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}")
        exp = client.get_experiment_by_name("perplab-rsi")
        jobs = client.search_runs([exp.experiment_id], "tags.`perplab.kind` = 'job'")
        yield base, client, exp, jobs
    finally:
        server.terminate()
        server.wait(timeout=30)


def _view_url(base: str, experiment_id: str) -> str:
    (url,) = re.findall(r"`(http://127\.0\.0\.1:5000/#/experiments/<id>/runs\?[^`]+)`", section(HEADING))
    return url.replace("http://127.0.0.1:5000", base).replace("<id>", experiment_id)


def test_experiment_is_model_development(ui) -> None:
    _, _, exp, jobs = ui
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert len(jobs) == 2


def test_documented_view_shows_our_runs_best_first_with_their_dataset(ui) -> None:
    base, _, exp, jobs = ui
    names = [r.info.run_name for r in jobs]
    dom = dump_dom(_view_url(base, exp.experiment_id), budget_ms=40_000, ready=lambda d: all(n in d for n in names))
    assert "<title>Runs - Experiment" in dom, dom[:500]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
    best_first = sorted(jobs, key=lambda r: -r.data.metrics["objective"])
    names = [r.info.run_name for r in best_first]
    assert names[0].startswith("#") and "rsi 1h 2024-01-01..2024-06-30 leverage=" in names[0]
    positions = [text.find(n) for n in names]
    assert -1 not in positions and positions == sorted(positions), (names, positions)
    assert "sweep " not in text  # the view lists jobs, not the sweep-level run
    assert "binance futures_um 1h BTCUSDT,ETHUSDT,XRPUSDT,LTCUSDT" in text  # the Dataset column


def test_pages_load_the_shared_plotly_from_the_server(ui) -> None:
    """What a report or sweep summary viewed in the UI fetches first: plotly.js, as a script."""
    base, client, _, jobs = ui
    page = Path(client.download_artifacts(jobs[0].info.run_id, "report.html")).read_text()
    first = re.search(r'\}\)\(\["([^"]+)"', page).group(1)
    reply = httpx.get(base + first, timeout=30)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/javascript")
    assert len(reply.content) > 3_000_000


def test_readme_command_is_what_the_test_runs() -> None:
    assert commands(HEADING) == [shlex.split("mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db")]
