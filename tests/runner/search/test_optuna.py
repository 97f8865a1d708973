"""In-job Optuna search: a planted optimum within budget, a batch per kernel call, every sampler by
name, a killed search resumed to the same trials, pruning that saves evaluations without losing the
best on real data, config errors."""

import numpy as np
import pytest

import runner.compute as compute
import runner.search.optuna_job as oj
from runner.config import validate
from runner.data.panel import panel_for
from runner.errors import ConfigError
from runner.search import study as st
from runner.search.optuna_job import optuna_search
from runner.tracking import TrackedRun
from tests.runner.search.planted import exhaustive_best
from tests.runner.search.test_search import STRATEGY
from tests.runner.strategy.test_compile import cfg_for


@pytest.fixture(scope="module")
def panel():
    from tests.runner.search.planted import panel_of, planted_closes

    return panel_of(planted_closes())


def setup(tmp_path, *overrides, strategy=STRATEGY):
    cfg = cfg_for(
        "search=optuna",
        "filters=none",
        "objective=sharpe",
        "fees=zero",
        "sizing.fraction=1.0",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        "~search.space",
        *overrides,
        strategy=strategy,
    )
    return validate(cfg), cfg


def search(spec, cfg, panel, resumed=False, run=None):
    run = run or TrackedRun(spec.tracking, "optuna test", {})
    ev, _ = optuna_search(spec, panel, run, cfg, resumed=resumed)
    return ev, run


def test_tpe_finds_the_planted_optimum_a_batch_per_kernel_call(tmp_path, panel, monkeypatch):
    calls = []
    real = compute.simulate_grid

    def counting(*args):
        calls.append(int(args[-5] - args[-6]))
        return real(*args)

    monkeypatch.setattr(compute, "simulate_grid", counting)  # every kernel call of a grid goes through runner.compute
    spec, cfg = setup(tmp_path, "search.budget=160", "search.batch=16", "search.sampler=tpe")
    ev, run = search(spec, cfg, panel)
    searched = calls[1:]  # the first call: the two corner candidates (the filters' warm-up)
    assert len(np.unique(ev.extra["generation"])) == 10  # ten batches of 16
    assert len(searched) <= 10 and sum(searched) <= 160  # at most one call per batch (repeats are reused)
    assert ev.n_combos == 160 and sorted(ev.extra["trial"].tolist()) == list(range(160))
    monkeypatch.setattr(compute, "simulate_grid", real)
    truth, _ = exhaustive_best(panel, STRATEGY)
    assert np.nanmax(ev.extra["fitness"]) >= truth[-5]  # among the best 5 of 1,189, with 160 trials
    tags = run.client.get_run(run.run_id).data.tags
    assert tags["optuna_study"].startswith("perplab-planted-") and tags["optuna_storage"].endswith("optuna.db")


@pytest.mark.parametrize(
    "sampler, extra",
    [
        ("tpe", []),
        ("cmaes", []),
        ("gp", []),
        ("random", []),
        ("grid", []),
        ("nsga2", ["search.pareto=true"]),
        ("nsga3", ["search.pareto=true"]),
        ("tpe", ["search.pareto=true"]),
    ],
)
def test_every_sampler_runs_to_its_budget(tmp_path, panel, sampler, extra):
    spec, cfg = setup(tmp_path, f"search.sampler={sampler}", "search.budget=12", "search.batch=6", *extra)
    ev, run = search(spec, cfg, panel)
    import optuna

    study = optuna.load_study(
        study_name=run.client.get_run(run.run_id).data.tags["optuna_study"],
        storage=st.storage(st.default_storage(spec.tracking.uri)),
    )
    assert len(st.counted(study.trials)) == 12 == ev.n_combos
    assert len(study.directions) == (3 if "search.pareto=true" in extra else 1)
    if extra:
        assert "search_pareto_rank" in ev.extra


def test_a_killed_search_resumes_to_the_same_trials(tmp_path, panel, monkeypatch):
    spec, cfg = setup(tmp_path / "whole", "search.budget=50", "search.batch=10", "search.seed=3")
    whole, _ = search(spec, cfg, panel)

    real = oj.run_grid
    seen = []

    def dying(*args, **kwargs):
        seen.append(1)
        if len(seen) == 4:  # the corners, two batches, then the third batch dies in flight
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    spec, cfg = setup(tmp_path / "killed", "search.budget=50", "search.batch=10", "search.seed=3")
    monkeypatch.setattr(oj, "run_grid", dying)
    run = TrackedRun(spec.tracking, "killed", {})
    with pytest.raises(KeyboardInterrupt):
        search(spec, cfg, panel, run=run)
    run.fail(KeyboardInterrupt())
    monkeypatch.setattr(oj, "run_grid", real)
    resumed, _ = search(spec, cfg, panel, resumed=True, run=TrackedRun.attach(spec.tracking, run.run_id))

    def rows(ev):
        return [tuple(a.values[i] for a, i in zip(ev.axes, r, strict=True)) for r in ev.grid_idx.tolist()]

    assert rows(resumed) == rows(whole)  # the same trials in the same order (trial numbers aside)
    np.testing.assert_array_equal(resumed.metrics, whole.metrics)


def test_pruning_saves_evaluations_without_losing_the_best_on_real_data(tmp_path):
    """RSI on BTC and ETH 2022-2024 with leverage 1..20: a random sampler proposes the same trials
    with and without pruning; trials liquidated in the first train window are pruned before the
    full simulation (they would be discarded whatever their return)."""
    out = {}
    for pruner in ("none", "liquidated"):
        spec, cfg = setup(
            tmp_path / pruner,
            "filters=walk_forward",
            "objective=score",
            "fees=vip0",
            "data.symbols=[BTCUSDT,ETHUSDT]",
            "data.start=2022-01-01",
            "data.end=2024-12-31",
            "search.sampler=random",
            "search.budget=120",
            "search.batch=20",
            "search.seed=1",
            f"search.pruner={pruner}",
            "+search.space={leverage: {value: {type: int, low: 1, high: 20}}}",
            strategy=None,
        )
        panel = panel_for(spec.data)
        ev, run = search(spec, cfg, panel)
        metrics = run.client.get_run(run.run_id).data.metrics
        out[pruner] = (np.nanmax(ev.extra["fitness"]), ev.n_combos, metrics.get("optuna_bar_evaluations"), panel.n_bars)
    best, full, _, bars = out["none"]
    pbest, pfull, evaluations, _ = out["liquidated"]
    assert pbest == best  # the best survives
    assert pfull < full and evaluations < full * bars  # fewer full simulations, fewer bar-combinations


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("search.sampler=bayes", "search.sampler='bayes': valid: tpe, cmaes"),
        ("search.storage=redis://x", "search.storage='redis://x': an RDB URL"),
        ("+search.space.fees.nope={low:1,high:2}", "search.space.fees.nope: not a number of this run"),
        ("search.pruner=median", "search.pruner=median: prunes on the first walk-forward window"),
        ("search.batch=0", "search.batch=0: must be an integer from 1"),
        ("search.workers=100", "search.workers=100: must be an integer from 1 to 64"),
    ],
)
def test_bad_optuna_settings_name_the_key(tmp_path, override, message):
    with pytest.raises(ConfigError) as err:
        setup(tmp_path, override)
    assert message in str(err.value)
