"""perplab's default sweeper (``hydra/sweeper=perplab_basic``): discovered by Hydra, selected by
every search preset that has no sweeper of its own, and running the same jobs as Hydra's basic
sweeper (each job's config is compared in full by tests/runner/test_compose.py)."""

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper

from hydra_plugins.perplab_basic_sweeper.sweeper import SharedBasicSweeper
from runner import PROJECT_ROOT
from tests.hydra_plugins.quadratic_app import sweep

TARGET = f"{SharedBasicSweeper.__module__}.{SharedBasicSweeper.__name__}"


def test_hydra_discovers_the_sweeper() -> None:
    assert TARGET in {f"{p.__module__}.{p.__name__}" for p in Plugins.instance().discover(Sweeper)}


@pytest.mark.parametrize(
    ("overrides", "target"),
    [
        ([], TARGET),
        (["search=optuna"], TARGET),
        (["search=nevergrad"], TARGET),
        (["search=discover"], TARGET),
        (["search=hydra_nevergrad"], "hydra_plugins.perplab_nevergrad_sweeper.sweeper.NevergradSweeper"),
        (["hydra/sweeper=basic"], "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"),
        (["search=optuna", "hydra/sweeper=optuna"], "hydra_plugins.perplab_optuna_sweeper.sweeper.OptunaSweeper"),
    ],
)
def test_which_sweeper_a_run_gets(overrides: list[str], target: str) -> None:
    with initialize_config_dir(str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    assert cfg.hydra.sweeper._target_ == target


@pytest.mark.parametrize("preset", sorted(p.stem for p in (PROJECT_ROOT / "conf" / "search").glob("*.yaml")))
def test_every_search_preset_without_a_sweeper_of_its_own_gets_this_one(preset: str) -> None:
    with initialize_config_dir(str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"search={preset}"], return_hydra_config=True)
    own = "override /hydra/sweeper:" in (PROJECT_ROOT / "conf" / "search" / f"{preset}.yaml").read_text()
    assert (cfg.hydra.sweeper._target_ == TARGET) != own  # hydra_nevergrad names Hydra's nevergrad one


@pytest.mark.parametrize("sweeper", ["perplab_basic", "basic"])
def test_a_grid_runs_every_job_once(tmp_path: Path, sweeper: str) -> None:
    out, values, _ = sweep(tmp_path, sweeper, "x=1,2,3", "y=0,-1", "fail_above=2.5")
    assert out.returncode != 0  # the job with x=3 fails, as under Hydra's basic sweeper
    rows = sorted(map(tuple, values[:, :2].tolist()))
    assert rows == [(1.0, -1.0), (1.0, 0.0), (2.0, -1.0), (2.0, 0.0)]
    np.testing.assert_array_equal(values[:, 2], -((values[:, 0] - 3) ** 2) - (values[:, 1] + 1) ** 2)
