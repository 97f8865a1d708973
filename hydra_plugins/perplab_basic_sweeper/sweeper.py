"""Hydra's basic sweeper whose jobs (validated up front, then launched) are composed through
``runner.compose.SharedSweepConfigs``: the same configs, each set of group choices composed once."""

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from runner.compose import shared_context


class SharedBasicSweeper(BasicSweeper):
    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """The launcher gets the same shared loader (it composes each job again)."""
        super().setup(hydra_context=shared_context(hydra_context), task_function=task_function, config=config)
