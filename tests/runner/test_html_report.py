"""report.html of a real run: small (plotly.js loaded from the store's one shared copy), every figure
drawn with data (read back, and rendered by headless Chromium from the artifact store)."""

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import polars as pl
import pytest

from runner.html_report import MAX_POINTS
from tests.chromium import dump_dom
from tests.runner.report_html import figures, points
from tests.runner.test_cli import FAST, cli, runs

FIGURES = ("fig-equity", "fig-monthly", "fig-pnl", "fig-exposure", "fig-metrics", "fig-costs")


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> tuple[Path, object, object]:
    """One tracked job: a 4-combination grid, a child run each, records of combination 2 as well (with
    trades as JSON and a report for every recorded combination, on request)."""
    tmp = tmp_path_factory.mktemp("report")
    args = (
        "strategy.params.period=[7,14]",
        "leverage=[1,3]",
        "tracking.child_runs=all",
        "tracking.combos=[2]",
        "tracking.trades_json=true",
        "tracking.report=all",
    )
    out = cli(tmp, *args, *FAST)
    assert out.returncode == 0, out.stderr
    client, found = runs(tmp / "mlruns" / "mlflow.db", kind=None)
    (parent,) = [r for r in found if r.data.tags.get("perplab.kind") == "job"]
    return tmp, client, parent


def _artifact(job, name: str) -> Path:
    tmp, client, parent = job
    return Path(client.download_artifacts(parent.info.run_id, name, str(tmp / "dl")))


def _in_store(job, name: str) -> Path:
    """The artifact's file in the run's own (local) artifact folder, where the UI and a user find it."""
    _, _, parent = job
    return Path(unquote(urlparse(parent.info.artifact_uri).path)) / name


def test_report_is_small_and_every_figure_has_data(job) -> None:
    page = _in_store(job, "report.html").read_text()
    assert "plotly.js v" not in page and len(page) < 400_000  # plotly.js is not embedded again
    figs = figures(page)
    assert tuple(figs) == (*FIGURES, "fig-risk")  # the best combination's page has the Monte Carlo panel
    assert tuple(figures(_in_store(job, "combos/2/report.html").read_text())) == FIGURES
    hist = [t for t in figs["fig-risk"] if t["type"] == "histogram"]
    assert [t["name"] for t in hist] == ["bootstrapped bar returns", "reshuffled trades"]
    for name, traces in figs.items():
        assert traces and all(points(t) > 0 for t in traces), name
    equity = figs["fig-equity"]
    assert [t["name"] for t in equity] == ["equity", "drawdown"]
    assert 1000 < len(equity[0]["y"]) == len(equity[1]["y"]) <= MAX_POINTS  # half a year of hours, thinned
    assert {t["name"] for t in figs["fig-exposure"]} == {"BTCUSDT", "ETHUSDT", "XRPUSDT", "LTCUSDT"}
    assert figs["fig-costs"][0]["x"][-1] == "total"


def test_one_shared_plotly_per_store(job) -> None:
    """Both reports load the same plotly.js: the tracking server's URL first, then the relative path
    to the assets run's copy, which exists."""
    tmp, client, parent = job
    (assets,) = client.search_runs([client.get_experiment_by_name("perplab-assets").experiment_id])
    assert assets.data.tags["perplab.kind"] == "assets"
    for name in ("report.html", "combos/2/report.html"):
        page = _in_store(job, name)
        urls = json.loads(page.read_text().split("})(", 1)[1].split(");", 1)[0])
        assert urls[0] == f"/get-artifact?path=plotly.min.mjs&run_uuid={assets.info.run_id}"
        shared = (page.parent / urls[1]).resolve()
        assert shared.is_file() and shared.stat().st_size > 3_000_000 and "plotly.js v" in shared.read_text()[:600]


@pytest.mark.parametrize("name", ["report.html", "combos/2/report.html"])
def test_report_renders_in_headless_chromium(job, name: str) -> None:
    """Opened from the artifact store as a user (or the MLflow UI) would, every figure is drawn."""
    drawn_figures = (*FIGURES, "fig-risk") if name == "report.html" else FIGURES
    dom = dump_dom(_in_store(job, name).as_uri(), ready=lambda d: d.count("main-svg") >= len(drawn_figures))
    for fig in drawn_figures:
        start = dom.index(f'id="{fig}"')
        section = dom[start : dom.find("</section>", start)]
        assert "main-svg" in section, f"{fig} was not drawn: {dom[dom.find('<!-- chromium console') :]}"
        drawn = section.count('class="trace') + section.count('class="hm"') + section.count('class="cell')
        assert drawn > 0, f"{fig} has no drawn data"
    assert 'id="no-plotly" class="meta" hidden' in dom


def test_a_page_away_from_the_store_says_what_it_needs(job, tmp_path: Path) -> None:
    """Copied out of the store, with no server: the page says where plotly.js lives, not a blank page."""
    lone = tmp_path / "report.html"
    lone.write_text(_in_store(job, "report.html").read_text())
    dom = dump_dom(lone.as_uri(), budget_ms=5_000)
    assert 'id="no-plotly" class="meta">' in dom and "main-svg" not in dom


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


def test_monte_carlo_risk_of_the_best_combination(job) -> None:
    _, _, parent = job
    table = pl.read_parquet(_artifact(job, "montecarlo.parquet"))
    assert table["combo"].to_list() == [int(parent.data.tags["best_combo"])] and table["best"].all()
    for name in ("var_95", "cvar_95", "var_99", "cvar_99", "mdd_p95", "sharpe_ci_low", "sharpe_ci_high"):
        assert parent.data.metrics[name] == pytest.approx(table[name][0], rel=1e-12), name
    assert parent.data.metrics["cvar_99"] >= parent.data.metrics["var_99"] > 0


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


def test_report_none_writes_no_page_and_no_assets(tmp_path: Path) -> None:
    """tracking.report=none: records without pages, and no plotly.js copied into the store."""
    out = cli(tmp_path, "tracking.report=none", "search=optuna", "search.budget=4", "filters=none", *FAST)
    assert out.returncode == 0, out.stderr
    client, (run,) = runs(tmp_path / "mlruns" / "mlflow.db")
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"trades.parquet", "equity.parquet", "search_history.parquet"} <= names
    assert not {n for n in names if n.endswith(".html")}
    assert client.get_experiment_by_name("perplab-assets") is None
