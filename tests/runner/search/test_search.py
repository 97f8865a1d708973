"""In-job nevergrad search: a planted optimum found within budget, one kernel call per generation,
resume from a checkpoint to the same candidates, every candidate in the table, config errors."""

import math

import numpy as np
import pytest

import runner.compute as compute
from kernels import enums as E
from runner.config import validate
from runner.errors import ConfigError
from runner.search.job import param_search
from runner.search.space import build_space
from runner.tracking import TrackedRun
from tests.runner.search.planted import exhaustive_best, panel_of, planted_closes
from tests.runner.strategy.test_compile import cfg_for

STRATEGY = {
    "name": "planted",
    "direction": "long",
    "params": {
        "period": {"type": "int", "low": 2, "high": 30, "step": 1, "default": 14},
        "lower": {"type": "float", "low": 5, "high": 45, "step": 1, "default": 30},
    },
    "indicators": {"rsi": {"type": "RSI", "period": "period"}},
    "entry": {"long": ["rsi < lower"]},
    "exit": {"long": ["rsi > 55"]},
}


@pytest.fixture(scope="module")
def panel():
    return panel_of(planted_closes())


def spec_for(tmp_path, *overrides, strategy=STRATEGY):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = cfg_for(
        "search=nevergrad",
        "filters=none",
        "objective=sharpe",
        "fees=zero",
        "sizing.fraction=1.0",
        f"tracking.uri={uri}",
        "~search.space",
        *overrides,
        strategy=strategy,
    )
    return validate(cfg)


def run_for(spec):
    return TrackedRun(spec.tracking, "search test", {})


def test_search_finds_the_planted_optimum_of_the_exhaustive_grid(tmp_path, panel):
    spec = spec_for(tmp_path, "search.budget=160", "search.num_workers=16", "search.optimizer=TwoPointsDE")
    truth, n_grid = exhaustive_best(panel, STRATEGY)  # every (period, lower) on the step grids
    ev, _ = param_search(spec, panel, run_for(spec))
    found = np.nanmax(ev.extra["fitness"])
    assert n_grid == 29 * 41 and ev.n_combos <= 160
    assert found >= truth[-5]  # among the best 5 of 1,189 combinations, with at most 160 evaluations
    best = int(np.nanargmax(ev.extra["fitness"]))
    period = ev.axes[-2].values[ev.grid_idx[best, -2]]
    assert 5 <= period <= 9  # the planted RSI(7)


def test_each_generation_is_one_kernel_call_and_every_candidate_is_kept(tmp_path, panel, monkeypatch):
    calls = []
    real = compute.simulate_grid

    def counting(*args):
        calls.append(int(args[-5] - args[-6]))  # hi - lo: candidates in the call
        return real(*args)

    monkeypatch.setattr(compute, "simulate_grid", counting)  # every kernel call of a grid goes through runner.compute
    spec = spec_for(tmp_path, "search.budget=60", "search.num_workers=12")
    ev, _ = param_search(spec, panel, run_for(spec))
    gens = ev.extra["generation"]
    assert len(ev.history) == 5
    new_per_gen = [int((gens == g).sum()) for g in range(5) if (gens == g).any()]
    assert calls == new_per_gen  # at most one call per generation, holding all its new candidates
    assert ev.n_combos == sum(calls) and len({tuple(r) for r in ev.grid_idx.tolist()}) == ev.n_combos
    assert [h["search_best_so_far"] for h in ev.history] == sorted(h["search_best_so_far"] for h in ev.history)


def test_a_killed_search_resumes_from_its_last_generation(tmp_path, panel, monkeypatch):
    spec = spec_for(tmp_path, "search.budget=50", "search.num_workers=10", "search.seed=3")
    whole, _ = param_search(spec, panel, run_for(spec))

    import runner.search.job as job

    real = job.run_grid
    seen = []

    def dying(*args, **kwargs):
        seen.append(1)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(job, "run_grid", dying)
    run = run_for(spec)
    with pytest.raises(KeyboardInterrupt):
        param_search(spec, panel, run)
    run.fail(KeyboardInterrupt())
    monkeypatch.setattr(job, "run_grid", real)
    assert run.client.get_run(run.run_id).data.tags["search_generations"] == "2"
    resumed, _ = param_search(spec, panel, TrackedRun.attach(spec.tracking, run.run_id), resumed=True)

    def rows(ev):
        return sorted(tuple(a.values[i] for a, i in zip(ev.axes, r, strict=True)) for r in ev.grid_idx.tolist())

    assert rows(resumed) == rows(whole)
    np.testing.assert_array_equal(np.sort(resumed.metrics[:, E.M_SHARPE]), np.sort(whole.metrics[:, E.M_SHARPE]))
    steps = run.client.get_metric_history(run.run_id, "search_best_so_far")
    assert sorted(m.step for m in steps) == list(range(5))


def test_pareto_search_ranks_the_front(tmp_path, panel):
    spec = spec_for(tmp_path, "search.budget=40", "search.num_workers=10", "search.pareto=true")
    ev, _ = param_search(spec, panel, run_for(spec))
    ranks = ev.extra["search_pareto_rank"]
    front = np.flatnonzero(ranks == 1)
    assert front.size >= 1
    m = ev.metrics
    for i in front:  # nothing on the front is dominated by any candidate
        better = (
            (m[:, E.M_SHARPE] >= m[i, E.M_SHARPE])
            & (m[:, E.M_MAX_DRAWDOWN] <= m[i, E.M_MAX_DRAWDOWN])
            & (np.minimum(m[:, E.M_PROFIT_FACTOR], 100) >= min(m[i, E.M_PROFIT_FACTOR], 100))
        )
        strictly = (m[:, E.M_SHARPE] > m[i, E.M_SHARPE]) | (m[:, E.M_MAX_DRAWDOWN] < m[i, E.M_MAX_DRAWDOWN])
        assert not np.any(better & strictly & (m[:, E.M_N_LIQUIDATIONS] == 0))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("search.optimizer=Nope", "search.optimizer='Nope': not a nevergrad optimizer"),
        ("search.budget=0", "search.budget=0: must be an integer from 1"),
        ("+search.space.fees.nope={low:1,high:2}", "search.space.fees.nope: not a number of this run"),
        ("+search.space.leverage.value={type:int,low:1,high:50}", "must be integers within [1, 20]"),
        ("+search.space.strategy.params.lower={low:0,high:90}", "search.space.strategy.params.lower: [0, 90]"),
    ],
)
def test_bad_search_settings_name_the_key(tmp_path, override, message):
    with pytest.raises(ConfigError, match=None) as err:
        spec = spec_for(tmp_path, override)
        build_space(spec, spec.search)
    assert message in str(err.value)


def test_a_grid_axis_the_search_does_not_cover_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"leverage.value=\[1, 2\]: a search takes one value for every dimension"):
        spec_for(tmp_path, "leverage=[1,2]")
    spec = spec_for(tmp_path, "leverage=[1,2]", "+search.space.leverage.value={type:int,low:1,high:2}")
    assert math.isfinite(spec.initial_capital) and len(build_space(spec, spec.search).dims) == 3


def test_a_fee_searched_in_bps_runs_as_a_fraction_and_is_shown_in_bps(tmp_path, panel):
    """Units convert in one place (the axis's declared divisor, when the kernel's matrix is filled):
    the candidates, the evaluation's axes (tags, grid table) and the config keep bps."""
    from runner.search.job import compile_rows
    from runner.search.space import grid_of

    spec = spec_for(tmp_path, "+search.space.fees.taker_bps={low:1,high:10}")
    space = build_space(spec, spec.search)
    value = {d.key: d.low for d in space.dims} | {"fees.taker_bps": 5.0}
    rows = np.stack([space.row(value)])
    axes, idx = grid_of(space.axes, rows)
    (fee,) = [a for a in axes if a.key == "fees.taker_bps"]
    assert fee.display(int(idx[0, axes.index(fee)])) == 5 and fee.divisor == 1e4
    compiled = compile_rows(spec, panel, space.axes, rows)
    assert compiled.params[0, E.P_TAKER_FEE] == 5.0 / 1e4  # not 5.0: 100 % of the notional
