"""``--help`` of every app: what it does, its main commands, its config groups and keys, exit codes,
where to read more, in one screen (at most 60 lines of at most 100 columns); no dumped tables."""

import subprocess
import sys

import pytest

from runner import PROJECT_ROOT

# the app's groups; conf/hydra/ holds presets of Hydra's own groups (launchers), named in the help's text
GROUPS = sorted(p.name for p in (PROJECT_ROOT / "conf").iterdir() if p.is_dir() and p.name != "hydra")


def _help(module: str) -> list[str]:
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and not out.stderr, out.stderr
    return out.stdout.rstrip().splitlines()


@pytest.mark.parametrize(
    "module, needed",
    [
        (
            "runner",
            [
                "Main commands:",
                "python -m runner strategy=ema_cross leverage=1,3,5 -m",
                "Exit codes:",
                "3 no usable result",
            ],
        ),
        ("runner.promote", ["Main commands:", "promote.stage=champion", "tracking=sqlite", "1 a gate refused"]),
        ("runner.data", ["download", "update", "status", "verify", "rebuild", "exit code 2"]),
    ],
)
def test_help_fits_one_screen(module: str, needed: list[str]) -> None:
    lines = _help(module)
    text = "\n".join(lines)
    assert len(lines) <= 60 and max(map(len, lines)) <= 100, text
    for fragment in needed:
        assert fragment in text, fragment
    assert "README.md" in text and "Powered by Hydra" not in text
    assert "maintenance" not in text and "bracket" not in text.lower()  # no exchange tables, no config dump


def test_runner_help_lists_every_group_with_its_options() -> None:
    lines = _help("runner")
    listed = {
        line.split(":")[0].strip(): line.split(":", 1)[1] for line in lines if line.strip().split(":")[0] in GROUPS
    }
    assert sorted(listed) == GROUPS
    launchers = sorted(p.stem for p in (PROJECT_ROOT / "conf" / "hydra" / "launcher").glob("*.yaml"))
    assert any(all(f"{name}" in line for name in launchers) and "hydra/launcher=" in line for line in lines)
    for group, options in listed.items():
        shipped = {p.stem for p in (PROJECT_ROOT / "conf" / group).glob("*.yaml")}
        assert {o.strip() for o in options.split(",")} == shipped, group


def test_the_quick_help_is_hydras_help_to_the_byte() -> None:
    """``--help`` alone is rendered without Hydra (``runner/help.py``); with an override it goes through
    Hydra's own help. Both print the same."""
    quick = subprocess.run([sys.executable, "-m", "runner", "--help"], capture_output=True, text=True, timeout=120)
    hydra = subprocess.run(
        [sys.executable, "-m", "runner", "--help", "hydra.job.chdir=false"], capture_output=True, text=True, timeout=120
    )
    assert quick.returncode == hydra.returncode == 0
    assert quick.stdout == hydra.stdout and "strategy: bbands" in quick.stdout
