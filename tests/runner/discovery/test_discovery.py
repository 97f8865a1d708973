"""Strategy discovery: the batched program equals the DSL compile of the exported YAML (metrics
identical), a planted rule is recovered, the end-to-end run exports re-runnable strategies."""

import shlex

import numpy as np
import pytest
import yaml

from kernels import enums as E
from runner.backtest import run_grid
from runner.config import validate
from runner.discovery.batch import Columns, build
from runner.discovery.catalog import discover_spec
from runner.discovery.export import strategy_dict
from runner.discovery.genome import Layout
from runner.discovery.job import discover, genome_spec
from runner.errors import ConfigError
from runner.strategy.compile import compile_strategy
from runner.tracking import TrackedRun
from tests.runner.search.planted import panel_of, planted_closes
from tests.runner.strategy.test_compile import FAST, cfg_for
from tests.runner.test_cli import cli, runs

SMALL = {
    "genes": ["RSI", "CCI", "EMA"],
    "max_entry": 2,
    "max_exit": 1,
    "timeframes": [None],
    "directions": ["long"],
    "stop_loss": [0],
    "take_profit": [0],
    "trailing_stop": [0],
    "leverage": [1],
    "sizing": [1.0],
    "holdout": 0.3,
    "min_trades": 20,
    "top_k": 3,
}


def spec_for(tmp_path, discover_settings: dict, *overrides):
    cfg = cfg_for(
        "search=discover",
        "filters=none",
        "objective=sharpe",
        "fees=zero",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        *overrides,
    )
    cfg.search.discover = {**discover_settings, "export_dir": str(tmp_path / "exported")}
    return cfg, validate(cfg)


def test_the_batched_program_equals_the_dsl_compile_of_each_genome():
    """Random genomes over every gene, operator, timeframe and stop, on real data: one batched kernel
    call gives bit-identical metrics to compiling each exported YAML through the DSL."""
    import warnings

    cfg = cfg_for(*FAST, "data=binance_4h", "search=discover", "filters=none")
    spec = validate(cfg)
    from runner.data.panel import build_panel

    panel = build_panel(spec.data)
    d = discover_spec({}, panel.timeframe)
    layout = Layout(d)
    param = layout.parametrization(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = np.stack([layout.encode(param.sample().value) for _ in range(24)])
    genomes = [layout.decode(r) for r in rows]
    compiled = build(spec, panel, genomes, layout.slots, Columns(panel))
    batch, _ = run_grid(panel, compiled, spec.initial_capital, progress=False)
    assert {c.op for g in genomes for cs in g.groups.values() for c in cs} == {
        ">",
        "<",
        "crosses_above",
        "crosses_below",
    }
    assert sum(int(batch[i, E.M_N_TRADES] > 0) for i in range(len(genomes))) >= 12
    for i, g in enumerate(genomes):
        raw = yaml.safe_load(yaml.safe_dump(strategy_dict(g, f"g{i}")))
        single = compile_strategy(genome_spec(spec, g, raw), panel)
        m, _ = run_grid(panel, single, spec.initial_capital, progress=False)
        np.testing.assert_array_equal(m[0], batch[i], err_msg=g.describe())


def test_discovery_recovers_the_planted_rule(tmp_path):
    panel = panel_of(planted_closes())
    cfg, spec = spec_for(tmp_path, SMALL, "search.budget=600", "search.num_workers=40", "search.seed=0")
    run = TrackedRun(spec.tracking, "discover test", {})
    ev, _ = discover(spec, panel, run)
    best = int(np.nanargmax(ev.rank_values))
    layout = Layout(discover_spec({**SMALL, "export_dir": "x"}, "1h"))
    rows = [a for a in ev.axes if a.key == "strategy.rule"][0].labels
    entry = rows[best].split(";")[0]
    assert entry.startswith("entry.long:")
    # an RSI of a short period below a low level (or crossing below it) is the planted rule
    conds = [c for c in entry.split(":", 1)[1].split("&")]
    rsi = [c.strip() for c in conds if c.strip().startswith("rsi_")]
    assert rsi, rows[best]
    name, op, level = rsi[0].split()
    assert int(name.split("_")[1]) in (5, 7, 9) and op in ("<", "crosses_below") and 10 <= float(level) <= 30
    assert ev.extra["exported"][best] == 1 and layout.width > 0
    assert sorted(p.name for p in (tmp_path / "exported").iterdir())[0].endswith("_01.yaml")


def test_discover_end_to_end_exports_strategies_that_rerun_to_the_same_metrics(tmp_path):
    """Each exported strategy's printed re-run line, run as written, reproduces the discovery's
    figures for it exactly (every metric of its grid row, the table's whole-window numbers)."""
    export = tmp_path / "conf" / "strategy" / "discovered"
    out = cli(
        tmp_path,
        "+experiment=discover",
        "search.budget=40",
        "search.num_workers=20",
        "search.discover.top_k=2",
        "search.discover.min_trades=5",
        "search.discover.leverage=[1,2]",
        "search.discover.sizing=[0.5]",
        "data.start=2023-01-01",
        "data.end=2023-12-31",
        "data.symbols=[BTCUSDT,ETHUSDT]",
        "fees.taker_bps=3",
        f"search.discover.export_dir={export}",
        "filters=walk_forward",
        "filters.walk_forward.train=120d",
        "filters.walk_forward.test=60d",
    )
    # the walk-forward filter may leave no survivor: a discovery with no usable result says so, exit 3
    assert out.returncode in (0, 3), out.stderr
    assert (out.returncode == 3) == ("no usable result" in out.stderr)
    client, found = runs(tmp_path / "mlruns" / "mlflow.db")
    (run,) = found
    assert client.get_experiment(run.info.experiment_id).name == "perplab-discover"
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "discovered")}
    assert {"discovered/top.parquet", "discovered/walk_forward.parquet"} <= arts
    import polars as pl

    top = pl.read_parquet(client.download_artifacts(run.info.run_id, "discovered/top.parquet", str(tmp_path)))
    grid = pl.read_parquet(client.download_artifacts(run.info.run_id, "grid.parquet", str(tmp_path)))
    assert top.height == 2 and grid.height == run.data.metrics["n_combos"] <= 40
    assert "wfe" in run.data.metrics and run.data.tags["search"] == "discover"
    for row in top.to_dicts():
        name = row["strategy"].split("/")[1]
        header = (export / f"{name}.yaml").read_text().splitlines()[1]
        command = header.split("Re-run: ", 1)[1]
        assert command in out.stderr  # printed as one line
        for setting in ("data.start=2023-01-01", "data.timeframe=4h", "fees.taker_bps=3", "search=none"):
            assert setting in command
        assert "sizing.fraction=0.5" in command and "leverage=" in command
        args = shlex.split(command)[3:]  # after "python -m runner"
        store = tmp_path / f"rerun{row['rank']}.db"
        again = cli(tmp_path, *args, store=store)
        assert again.returncode == 0, again.stderr
        _, (rerun,) = runs(store)
        (match,) = grid.filter(pl.col("exported") == row["rank"]).to_dicts()
        for name_ in E.METRIC_NAMES:
            assert rerun.data.metrics[name_] == pytest.approx(match[name_], rel=1e-12, nan_ok=True), name_
        assert rerun.data.metrics["sharpe"] == pytest.approx(row["full_sharpe"], rel=1e-12, nan_ok=True)
        assert rerun.data.metrics["total_return"] == pytest.approx(row["full_total_return"], rel=1e-12)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"genes": ["NOPE"]}, "search.discover.genes: 'NOPE': unknown gene; valid: RSI"),
        ({"max_entry": 9}, "search.discover.max_entry=9: must be an integer from 1 to 5"),
        ({"timeframes": ["30m"]}, "search.discover.timeframes: '30m': must be null"),
        ({"leverage": [50]}, "search.discover.leverage=[50]: must be integers from 1 to 20"),
        ({"colour": 1}, "search.discover.colour: unknown setting"),
    ],
)
def test_bad_discovery_settings_name_the_key(settings, message):
    with pytest.raises(ConfigError) as err:
        discover_spec(settings, "1h")
    assert message in str(err.value)


def test_a_bad_setting_on_the_command_line_is_one_line_exit_2(tmp_path):
    out = cli(tmp_path, "+experiment=discover", "search.discover.genes=[RSI,FOO]")
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0
    assert "search.discover.genes: 'FOO': unknown gene" in out.stderr
