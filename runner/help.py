"""``python -m runner --help`` without starting Hydra: the template of ``conf/config.yaml`` with the
config groups listed as Hydra lists them (Hydra builds a config repository per group to list them,
about 3 s; reading the folders takes milliseconds). Any other use of ``--help`` (with overrides)
goes through Hydra, and a test keeps the two outputs identical."""

from pathlib import Path

import yaml

from runner import PROJECT_ROOT

CONF = PROJECT_ROOT / "conf"  # runner.preflight.CONF, without importing Hydra
FLAGS = (["--help"], ["-h"])


def config_groups(conf: Path = CONF) -> str:
    """``group: option, option`` per line, sorted, for every group of the app (not Hydra's own)."""
    lines = []
    for folder in sorted(p for p in conf.rglob("*") if p.is_dir() and p.relative_to(conf).parts[0] != "hydra"):
        options = sorted(p.stem for p in folder.glob("*.yaml"))
        if options:
            lines.append(f"{folder.relative_to(conf).as_posix()}: {', '.join(options)}")
    return "".join(f"{line}\n" for line in lines)  # Hydra ends every line, the last one too


def app_help(conf: Path = CONF) -> str:
    """The app's help text, as Hydra renders ``hydra.help.template``."""
    template = yaml.safe_load((conf / "config.yaml").read_text())["hydra"]["help"]["template"]
    return template.replace("$APP_CONFIG_GROUPS", config_groups(conf))
