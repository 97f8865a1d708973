"""report.html of a real run: self-contained, every figure drawn with data (read back, and rendered
by headless Chromium where it is installed)."""

import json
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from tests.runner.report_html import figures, points
from tests.runner.test_cli import FAST, cli, runs

FIGURES = ("fig-equity", "fig-monthly", "fig-pnl", "fig-exposure", "fig-metrics", "fig-costs")


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> tuple[Path, object, object]:
    """One tracked job: a 4-combination grid, a child run each, records of combination 2 as well."""
    tmp = tmp_path_factory.mktemp("report")
    args = ("strategy.params.period=[7,14]", "leverage=[1,3]", "tracking.child_runs=all", "tracking.combos=[2]")
    out = cli(tmp, *args, *FAST)
    assert out.returncode == 0, out.stderr
    client, found = runs(tmp / "mlruns" / "mlflow.db", kind=None)
    (parent,) = [r for r in found if r.data.tags.get("perplab.kind") == "job"]
    return tmp, client, parent


def _artifact(job, name: str) -> Path:
    tmp, client, parent = job
    return Path(client.download_artifacts(parent.info.run_id, name, str(tmp / "dl")))


def test_report_is_self_contained_and_every_figure_has_data(job) -> None:
    page = _artifact(job, "report.html").read_text()
    assert "<script src=" not in page and page.count("plotly.js v") == 1  # plotly.js inlined once, nothing fetched
    figs = figures(page)
    assert tuple(figs) == FIGURES
    for name, traces in figs.items():
        assert traces and all(points(t) > 0 for t in traces), name
    equity = figs["fig-equity"]
    assert [t["name"] for t in equity] == ["equity", "drawdown"]
    assert len(equity[0]["y"]) == len(equity[1]["y"]) > 1000  # half a year of hours, every bar drawn
    assert {t["name"] for t in figs["fig-exposure"]} == {"BTCUSDT", "ETHUSDT", "XRPUSDT", "LTCUSDT"}
    assert figs["fig-costs"][0]["x"][-1] == "total"


def test_report_renders_in_headless_chromium(job, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium); the structure test covers the page")
    page = _artifact(job, "report.html")
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000", "--dump-dom"]
        + [page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
    ).stdout
    for name in FIGURES:
        start = dom.index(f'id="{name}"')
        section = dom[start : dom.find("</section>", start)]
        assert "main-svg" in section, f"{name} was not drawn"
        drawn = section.count('class="trace') + section.count('class="hm"') + section.count('class="cell')
        assert drawn > 0, f"{name} has no drawn data"


def test_trades_json_and_series_of_best_and_requested_combination(job) -> None:
    tmp, client, parent = job
    best = int(parent.data.tags["best_combo"])
    assert best != 2  # combination 2 (period 14, leverage 3) loses to leverage 1 on this window
    for prefix, combo in (("", best), ("combos/2/", 2)):
        trades = json.loads(_artifact(job, f"{prefix}trades.json").read_text())
        assert trades and {t["combo"] for t in trades} == {combo}
        assert trades[0]["entry_time"].endswith("Z") and "exit_reason" in trades[0] and "funding" in trades[0]
        series = pl.read_parquet(_artifact(job, f"{prefix}equity.parquet"))
        assert {"time", "equity", "drawdown", "exposure.BTCUSDT", "position.BTCUSDT"} <= set(series.columns)
        assert (series["position.ETHUSDT"] != 0).sum() > 100  # held over many closes
        grid = pl.read_parquet(_artifact(job, "grid.parquet"))
        assert series["equity"][-1] == pytest.approx(grid["final_equity"][combo], rel=1e-12)
        assert series["drawdown"].max() == pytest.approx(grid["max_drawdown"][combo], rel=1e-9)
    names = {a.path for a in client.list_artifacts(parent.info.run_id, "combos/2")}
    assert names >= {f"combos/2/{n}" for n in ("trades.json", "trades.parquet", "equity.parquet", "report.html")}


def test_report_of_a_combination_without_trades() -> None:
    """No trade: the page still builds; equity, monthly returns, metrics and costs have data."""
    import numpy as np

    from kernels import enums as E
    from runner import artifacts
    from runner.html_report import combination_report
    from tests.runner.strategy.test_compile import synthetic

    panel = synthetic(np.linspace(100.0, 120.0, 24 * 70), n_assets=2)
    times = pl.Series(panel.times).cast(pl.Datetime("ms", "UTC"))
    equity = pl.DataFrame({"time": times, "equity": np.full(panel.n_bars, 1000.0), "drawdown": 0.0})
    trades = pl.DataFrame(
        schema={"qty": pl.Float64, "side": pl.String, "asset": pl.Int64, "entry_bar": pl.Int64}
        | {"exit_bar": pl.Int64, "symbol": pl.String, "net_pnl": pl.Float64}
        | {c: pl.Float64 for c in artifacts.COSTS}
    )
    series = artifacts.series(panel, equity, trades)
    row = np.zeros(E.N_METRICS)
    page = combination_report("t", "m", series, trades, row, {"sharpe": 0.0}, {"leverage.value": 1}, 1000.0)
    figs = figures(page)
    assert figs["fig-pnl"] == []  # no trade, no histogram trace
    for name in ("fig-equity", "fig-monthly", "fig-metrics", "fig-costs", "fig-exposure"):
        assert figs[name] and all(points(t) > 0 for t in figs[name]), name
    assert len(figs["fig-monthly"][0]["z"]) == 1  # one year row: Jan..Mar of 2024 filled
