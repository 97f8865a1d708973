"""Composing every job of a sweep without composing each from scratch.

Hydra composes a job in two steps: the defaults list (the config-group choices, e.g.
``strategy=rsi``) is loaded and merged, then the value overrides (``leverage.value=5``) are applied
to the result. The first step is nearly all of the cost (about 0.15-0.3 s here) and depends only on
the group choices, so jobs that choose the same groups share it: it is composed once, and each job
applies its own value overrides to a copy with Hydra's own function for that second step. A job
whose overrides touch Hydra's own settings, name a package (``group@pkg=x``) or fail on the shared
path is composed in full, so every error is Hydra's own.

``SharedDefaults`` serves the pre-flight (``compose``), ``SharedSweepConfigs`` the app's sweeper
and launcher (Hydra's ``load_sweep_config``, which also fills the job's ``hydra`` node).
"""

import copy
from collections.abc import Callable

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.types import HydraContext
from omegaconf import DictConfig, OmegaConf, open_dict

_PARSER = OverridesParser.create()


def split(repo, overrides: list[str]) -> tuple[list[Override], list[Override]] | None:
    """(group choices, value overrides) by Hydra's rule (a key naming a config group, its value not
    a mapping, is a choice), or None where the job must be composed in full."""
    try:
        parsed = _PARSER.parse_overrides(overrides)
    except Exception:
        return None
    groups: list[Override] = []
    values: list[Override] = []
    for o in parsed:
        if o.is_sweep_override() or o.package is not None or o.key_or_group.startswith("hydra"):
            return None
        is_group = repo.group_exists(o.key_or_group)
        (groups if is_group and not isinstance(o.value(), dict) else values).append(o)
    return groups, values


def _with_values(base: DictConfig, values: list[Override]) -> DictConfig | None:
    """A copy of ``base`` with the value overrides applied (Hydra's function), or None if they fail."""
    cfg = copy.deepcopy(base)
    try:
        ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
    except Exception:
        return None
    return cfg


def _from_base(repo, bases: dict, overrides: list[str], full: Callable[[list[str]], DictConfig]) -> DictConfig | None:
    """The job's config: its group choices' base (composed by ``full`` once, kept in ``bases``) with
    its value overrides applied; None where the job must be composed in full."""
    parts = split(repo, overrides)
    if parts is None:
        return None
    key = tuple(o.input_line for o in parts[0])
    if key not in bases:
        bases[key] = full(list(key))
    return _with_values(bases[key], parts[1])


class SharedDefaults:
    """``compose(overrides)`` that composes each distinct set of group choices once.

    ``full`` composes a job from scratch (Hydra's ``compose``); the first job always goes through it,
    so the repository knows the primary config's search path before groups are looked up."""

    def __init__(self, full: Callable[[list[str]], DictConfig]):
        self.full = full
        self.bases: dict[tuple[str, ...], DictConfig] = {}
        self.repo = None

    def __call__(self, overrides: list[str]) -> DictConfig:
        if self.repo is None:
            cfg = self.full(overrides)
            self.repo = GlobalHydra.instance().config_loader().repository
            return cfg
        cfg = _from_base(self.repo, self.bases, overrides, self.full)
        return self.full(overrides) if cfg is None else cfg


class SharedSweepConfigs:
    """Hydra's config loader with ``load_sweep_config`` sharing each distinct set of group choices:
    the job's config as Hydra's own call returns it, its ``hydra`` node included (the job's
    overrides and their folder name are filled in as Hydra fills them). Everything else is the
    wrapped loader's."""

    def __init__(self, loader):
        self.loader = loader
        self.master: DictConfig | None = None  # the sweep's master config, which the bases belong to
        self.bases: dict[tuple[str, ...], DictConfig] = {}

    def __getstate__(self) -> dict:
        """Pickled (a launcher sending it to workers) without the bases: each worker composes its own."""
        return {"loader": self.loader, "master": None, "bases": {}}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("loader", "master", "bases"):  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.loader, name)

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        if master_config is not self.master:
            self.master, self.bases = master_config, {}
        cfg = _from_base(
            self.loader.repository,
            self.bases,
            list(sweep_overrides),
            lambda overrides: self.loader.load_sweep_config(master_config, overrides),
        )
        if cfg is None:
            return self.loader.load_sweep_config(master_config, sweep_overrides)
        job = cfg.hydra.job
        with open_dict(cfg.hydra):  # no hydra.* override reaches here (split): all are the task's
            cfg.hydra.overrides.task = list(sweep_overrides)
            job.override_dirname = get_overrides_dirname(
                overrides=_PARSER.parse_overrides(list(sweep_overrides)),
                kv_sep=job.config.override_dirname.kv_sep,
                item_sep=job.config.override_dirname.item_sep,
                exclude_keys=job.config.override_dirname.exclude_keys,
            )
        OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
        return cfg


def shared_context(hydra_context: HydraContext) -> HydraContext:
    """A sweeper's Hydra context whose config loader is ``SharedSweepConfigs`` (give it to the
    launcher too: it composes each job again)."""
    return HydraContext(
        config_loader=SharedSweepConfigs(hydra_context.config_loader), callbacks=hydra_context.callbacks
    )
