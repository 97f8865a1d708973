"""The sweeper's configuration: Hydra's basic sweeper's surface."""

from dataclasses import dataclass

from hydra._internal.core_plugins.basic_sweeper import BasicSweeperConf
from hydra.core.config_store import ConfigStore


@dataclass
class SharedBasicSweeperConf(BasicSweeperConf):
    _target_: str = "hydra_plugins.perplab_basic_sweeper.sweeper.SharedBasicSweeper"


ConfigStore.instance().store(
    group="hydra/sweeper", name="perplab_basic", node=SharedBasicSweeperConf, provider="perplab"
)
