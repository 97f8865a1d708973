"""SharedDefaults composes every job exactly as Hydra's compose does: the same config (values, key
order, struct flag) and, for a bad job, Hydra's own error."""

import pickle

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from runner import PROJECT_ROOT
from runner.compose import SharedDefaults, SharedSweepConfigs

JOBS = [  # one sweep's jobs in order: the first composes in full, the rest share their group choices
    ["leverage.value=1"],
    ["leverage.value=3", "fees.taker_bps=2"],
    ["fees.taker_bps=2", "leverage.value=3"],  # value overrides in the other order
    ["strategy=macd", "leverage.value=5"],
    ["leverage.value=5", "strategy=macd", "strategy.params.fast.default=8"],
    ["margin=cross", "data.symbols=[BTCUSDT]", "data.start=2024-01-01"],
    ["experiment=leverage_ladder"],
    ["experiment=rsi_grid", "leverage.value=2"],
    ["+strategy.stop_loss.percent=3"],
    ["++account.initial_capital=500"],
    ["~montecarlo.seed"],
    ["data={symbols: [ETHUSDT], start: '2024-02-01'}"],  # a mapping on a group's key: a value override
    ["report.top=${account.initial_capital}"],  # an interpolation stays unresolved
    ["risk=none", "fees=zero", "leverage=ladder", "margin=isolated"],
    ["leverage.value=1"],  # a repeated job: the shared base is not changed by the jobs before it
]


@pytest.fixture(scope="module")
def hydra_conf():
    with initialize_config_dir(str(PROJECT_ROOT / "conf"), version_base="1.3"):
        yield


def full(overrides: list[str]):
    return compose("config", overrides=overrides)


def test_every_job_is_composed_as_hydra_composes_it(hydra_conf) -> None:
    composed = SharedDefaults(full)
    for job in JOBS:
        got, want = composed(job), full(job)
        assert OmegaConf.to_yaml(got) == OmegaConf.to_yaml(want), job
        assert OmegaConf.is_struct(got) and OmegaConf.is_struct(want), job
    # one full compose per distinct set of group choices after the first job: (), strategy=macd,
    # margin=cross, the two experiments and the four groups of the last but one job
    assert len(composed.bases) == 6


def test_copies_are_independent(hydra_conf) -> None:
    composed = SharedDefaults(full)
    composed(["leverage.value=1"])
    first = composed(["leverage.value=2"])
    first.account.initial_capital = 1.0
    assert composed(["leverage.value=3"]).account.initial_capital == 10000.0


@pytest.mark.parametrize(
    "job",
    [
        ["leverage.valu=2"],  # no such key
        ["+account.initial_capital=5"],  # adding a key that exists
        ["~montecarlo.nothing"],  # deleting a key that does not exist
        ["strategy=nope", "leverage.value=2"],  # no such group option
        ["strategy@x=rsi"],  # a package: composed in full
        ["hydra.job.name=x", "leverage.value=2"],  # Hydra's own settings: composed in full
    ],
)
def test_a_bad_job_raises_hydras_own_error(hydra_conf, job: list[str]) -> None:
    composed = SharedDefaults(full)
    composed(["leverage.value=1"])
    try:
        full(job)
    except Exception as exc:
        want = exc
    else:
        assert OmegaConf.to_yaml(composed(job)) == OmegaConf.to_yaml(full(job))
        return
    with pytest.raises(type(want)) as got:
        composed(job)
    assert str(got.value) == str(want)


SWEEP = ["hydra.sweep.dir=sweeps", "hydra/launcher=basic"]  # the master's own Hydra overrides


@pytest.fixture(scope="module")
def loader_and_master(hydra_conf):
    loader = GlobalHydra.instance().config_loader()
    master = loader.load_configuration("config", overrides=[*SWEEP, "leverage.value=1,3"], run_mode=RunMode.MULTIRUN)
    return loader, master


@pytest.mark.parametrize("pickled", [False, True], ids=["in process", "pickled (joblib, Ray)"])
def test_every_sweep_job_is_hydras_own_sweep_config(loader_and_master, pickled: bool) -> None:
    """The whole job config, its ``hydra`` node (overrides, folder name, choices) included."""
    loader, master = loader_and_master
    shared = SharedSweepConfigs(loader)
    if pickled:  # as a launcher sends it to its workers, after the sweeper has used it
        shared.load_sweep_config(master, JOBS[0])
        shared = pickle.loads(pickle.dumps(shared))
    for job in [*JOBS, ["hydra.job.name=x", "leverage.value=2"]]:
        want = loader.load_sweep_config(master, job)
        got = shared.load_sweep_config(master, job)
        assert OmegaConf.to_yaml(got) == OmegaConf.to_yaml(want), job
    assert len(shared.bases) == 6  # the same six sets of group choices, the first job's () included


def test_a_bad_sweep_job_raises_hydras_own_error(loader_and_master) -> None:
    loader, master = loader_and_master
    shared = SharedSweepConfigs(loader)
    shared.load_sweep_config(master, ["leverage.value=2"])
    with pytest.raises(Exception) as want:
        loader.load_sweep_config(master, ["leverage.valu=2"])
    with pytest.raises(type(want.value)) as got:
        shared.load_sweep_config(master, ["leverage.valu=2"])
    assert str(got.value) == str(want.value)
