"""Run names: what sets a run apart, secrets masked."""

import pytest
from omegaconf import OmegaConf

from runner.app import run_name

CFG = OmegaConf.create(
    {
        "strategy": {"name": "rsi"},
        "search": {"method": "none"},
        "data": {"timeframe": "1h", "start": "2024-01-01", "end": "2024-06-30T23:00"},
    }
)


@pytest.mark.parametrize(
    "overrides, num, expected",
    [
        ([], None, "rsi 1h 2024-01-01..2024-06-30"),
        (
            ["strategy.params.period=[7,14]", "leverage=5"],
            None,
            "rsi 1h 2024-01-01..2024-06-30 period=[7,14] leverage=5",
        ),
        (
            ["leverage.value=3", "strategy.params.lower.default=25"],
            2,
            "#2 rsi 1h 2024-01-01..2024-06-30 leverage=3 lower=25",
        ),
        # named in the first words already, or not about the run
        (
            ["strategy=rsi", "data.start=2024-01-01", "tracking.report=all", "hydra.sweep.dir=x"],
            None,
            "rsi 1h 2024-01-01..2024-06-30",
        ),
        (
            ["+search.storage=postgresql://u:hunter2@db/optuna"],
            None,
            "rsi 1h 2024-01-01..2024-06-30 search.storage=postgresql://u:***@db/optuna",
        ),
    ],
)
def test_run_name(overrides, num, expected) -> None:
    assert run_name(CFG, overrides, num) == expected


def test_discovery_is_named_as_such() -> None:
    cfg = OmegaConf.merge(CFG, {"search": {"method": "discover"}})
    assert run_name(cfg, []).startswith("discover 1h ")
