"""Checks run before Hydra starts: every job of a sweep composes and validates, or one line, exit 2."""

import re
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import OmegaConf

from runner import PROJECT_ROOT
from runner.compose import SharedDefaults
from runner.errors import ConfigError
from runner.values import is_number

CONF = PROJECT_ROOT / "conf"
MAX_CHECKED_JOBS = 500
MULTIRUN_FLAGS = {"-m", "--multirun"}
SEARCH_PATH = "hydra.searchpath"  # more config folders (e.g. exported strategies elsewhere): composed with
# Hydra's own flags: the app runs them without the pre-flight checks
PASS_THROUGH = (
    "--help",
    "-h",
    "--hydra-help",
    "--info",
    "-i",
    "--cfg",
    "-c",
    "--resolve",
    "--shell-completion",
    "-sc",
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--package",
    "-p",
    "--experimental-rerun",
    "--version",
)
_LEVERAGE_SHORTHAND = re.compile(r"^leverage=(.+)$", re.S)
_SWEEP_FUNCTION = re.compile(r"^[a-z_]+\(.*\)$", re.S)
_PARAM_SHORTHAND = re.compile(r"^(strategy\.params\.[A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)


def expand_shorthand(args: list[str]) -> list[str]:
    """Short forms of common overrides.

    ``leverage=5`` (or ``1,3,5``, ``[1,3]``, ``int(interval(1,20))``) means ``leverage.value=...``;
    ``strategy.params.lower=25`` sets the parameter's value: ``strategy.params.lower.default=25``;
    ``+experiment=x`` is ``experiment=x``.
    """
    out = []
    for arg in args:
        if arg.startswith("+experiment="):  # the lightning-hydra-template spelling; experiment is a group here
            arg = arg[1:]
        m = _LEVERAGE_SHORTHAND.match(arg)
        p = _PARAM_SHORTHAND.match(arg)
        value = m.group(1) if m else ""
        items = [v.strip() for v in value.strip("[]").split(",") if v.strip()]
        if m and (not items or _SWEEP_FUNCTION.match(value) or any(is_number(v) for v in items)):
            out.append(f"leverage.value={value}")
        elif p:
            out.append(f"{p.group(1)}.default={p.group(2)}")
        else:
            out.append(arg)
    return out


def _group_options(group: str) -> list[str]:
    folder = CONF / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _yaml_error(exc: BaseException) -> str:
    """``file: line N, column M: problem`` of a YAML error anywhere in the exception's chain."""
    import yaml

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, yaml.MarkedYAMLError) and seen.problem_mark is not None:
            mark = seen.problem_mark
            where = Path(mark.name)
            shown = where.relative_to(PROJECT_ROOT) if where.is_relative_to(PROJECT_ROOT) else where
            what = "; ".join(x for x in (seen.context, seen.problem) if x)
            return f"{shown}: line {mark.line + 1}, column {mark.column + 1}: YAML error: {what}"
        seen = seen.__cause__ or seen.__context__
    return ""


def _explain(exc: Exception, overrides: list[str], config_name: str = "config") -> ConfigError:
    """Turn a Hydra composition error into one line naming the override and what is valid."""
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    yaml_error = _yaml_error(exc)
    if yaml_error:
        return ConfigError(yaml_error)
    m = re.search(r"Could not find '([^']+)'", text)
    if isinstance(exc, MissingConfigException) or m:
        if m:
            group, _, option = m.group(1).partition("/")  # 'strategy/../../x': the group is the first part
            valid = _group_options(group)
            return ConfigError(f"{group}={option}: no such option in conf/{group}; valid: {', '.join(valid)}")
        return ConfigError(first)
    m = re.search(r"Could not override '([^']+)'", text) or re.search(r"Key '([^']+)' is not in struct", text)
    if m:
        key = m.group(1)
        parts = key.split(".")
        try:  # called inside check()'s initialize_config_dir context
            base = compose(config_name, overrides=[o for o in overrides if not o.startswith(key)])
        except Exception:
            base = None
        hint = ""
        for depth in range(len(parts) - 1, 0, -1):  # the deepest existing ancestor names the valid keys
            parent = ".".join(parts[:depth])
            node = OmegaConf.select(base, parent) if base is not None else None
            if node is not None and hasattr(node, "keys"):
                key = ".".join(parts[: depth + 1])
                hint = f"; valid keys under {parent}: {', '.join(map(str, node.keys()))}"
                break
        return ConfigError(f"override '{key}': no such key{hint}")
    return ConfigError(f"invalid override: {first}")


OPEN_KEYS = ("strategy", "search.space", "hydra")  # mappings whose added keys their own validators check


def _keys(node, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{prefix}{k}"
            out.add(key)
            out |= _keys(v, f"{key}.")
    return out


def _check_added_keys(job: list[str], cfg, composed) -> None:
    """Keys a ``+key=value`` override adds must be ones the schema knows: a typo such as
    ``+data.symbolz=[...]`` is refused with the valid keys near it, never silently ignored. Keys
    under ``strategy`` (checked by the strategy parser), ``search.space`` and ``hydra`` may be
    added (e.g. ``+strategy.stop_loss.percent=3``)."""
    added = [o for o in job if o.startswith("+") and not o.startswith("+experiment=")]
    if not added:
        return
    base = composed([o for o in job if o not in added])
    known = _keys(OmegaConf.to_container(base, resolve=False))
    new = _keys(OmegaConf.to_container(cfg, resolve=False)) - known
    for key in sorted(new, key=len):
        if any(key == k or key.startswith(f"{k}.") for k in OPEN_KEYS):
            continue
        parts = key.split(".")
        parent = ".".join(parts[:-1])
        node = OmegaConf.select(base, parent) if parent else base
        near = ", ".join(map(str, node.keys())) if node is not None and hasattr(node, "keys") else ""
        where = f"valid keys under {parent}: {near}" if parent else f"valid top-level keys: {near}"
        override = next((o for o in added if o.lstrip("+").split("=")[0] == key), f"+{key}")
        raise ConfigError(f"override '{override.split('=')[0]}': no such key; {where}")


def job_overrides(overrides: list[str], multirun: bool) -> list[list[str]]:
    """The override list of every job a command line starts (Hydra's own sweep expansion)."""
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(overrides)
    except OverrideParseException as exc:
        raise ConfigError(f"cannot parse overrides: {str(exc).strip().splitlines()[0]}") from None
    sweeps = [o for o in parsed if o.is_sweep_override()]
    if sweeps and not multirun:
        o = sweeps[0]
        raise ConfigError(
            f"{o.input_line}: a comma-separated sweep needs -m (multirun); "
            f"for an in-job grid give a list, e.g. {o.key_or_group}=[1,3,5]"
        )
    # Hydra's own settings (launcher, sweeper, output folders) are not the job's config: every job is
    # checked without them, whatever launcher or folder runs it
    parsed = [o for o in parsed if not o.key_or_group.startswith("hydra") or o.key_or_group == SEARCH_PATH]
    if any(o.is_sweep_override() and not (o.is_discrete_sweep() or o.is_range_sweep()) for o in parsed):
        # a search sweeper's space (e.g. intervals): check the fixed part only
        return [[o.input_line for o in parsed if not o.is_sweep_override()]]
    batches = BasicSweeper.split_arguments(parsed, None)
    return [job for batch in batches for job in batch]


def check(args: list[str], validate_job, config_name: str = "config") -> None:
    """Compose and validate every job (up to MAX_CHECKED_JOBS); raise ConfigError on the first bad one."""
    multirun = any(a in MULTIRUN_FLAGS for a in args)
    overrides = [a for a in args if a not in MULTIRUN_FLAGS]
    jobs = job_overrides(overrides, multirun)
    with initialize_config_dir(str(Path(CONF)), version_base="1.3"):
        composed = SharedDefaults(lambda overrides: compose(config_name, overrides=overrides))
        for job in jobs[:MAX_CHECKED_JOBS]:
            try:
                cfg = composed(job)
            except (HydraException, ValueError, KeyError) as exc:
                raise _explain(exc, job, config_name) from None
            except Exception as exc:  # omegaconf errors (bad interpolation, type)
                raise ConfigError(_yaml_error(exc) or f"invalid config: {str(exc).strip().splitlines()[0]}") from None
            _check_added_keys(job, cfg, composed)
            validate_job(cfg)


def check_or_exit(args: list[str], validate_job, config_name: str = "config") -> None:
    """``check`` for a command line (skipped for Hydra's own flags such as ``--help``); a bad one is
    one line on stderr and its exit code."""
    import sys

    from runner.errors import PerplabError, one_line

    if any(a.split("=")[0] in PASS_THROUGH for a in args):
        return
    try:
        check(args, validate_job, config_name=config_name)
    except PerplabError as exc:
        sys.stderr.write(one_line(exc) + "\n")
        sys.exit(exc.exit_code)
