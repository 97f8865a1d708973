"""README.md's commands, read from the README itself and run as written (subprocesses sharing one
temporary working folder, data cache and MLflow store; the promotion has a store of its own):
``python -m runner`` commands on a short data window (18 months where walk-forward windows need
it), Hydra sweeps with a short budget. Each must end as the README
says: exit code 0 with a usable result (a survivor with a finite objective, never liquidated), or the
outcome the README documents (no survivor and the defense that removed it; bad input: one line and
exit code 2). Promotion runs its commands in order on one store, placeholders filled from it.

Covered elsewhere: the Optuna section (tests/runner/search/test_readme_optuna.py), the market-data
section (tests/runner/data/test_readme_data.py), "Comparing runs in MLflow" (the mlflow ui), "Scale out"
(tests/runner/test_ray.py, against the cluster and server its own commands start)."""

import math
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from runner import PROJECT_ROOT
from tests.conftest import DATA_ROOT
from tests.readme import commands, section
from tests.runner.promote.test_promote import promote
from tests.runner.test_cli import FAST, cli, expected_exit, runs

WIDE = ["data.start=2023-01-01", "data.end=2024-06-30"]  # room for 9 + 3 month walk-forward windows
SWEEP_BUDGET = 4  # candidates of a Hydra sweep in the tests (a job each): one generation of four

COUNTS = {  # every command of a covered section is run: a new one must be counted here too
    "Quick start": 2,
    "Running experiments": 10,
    "Strategies are YAML": 1,
    "Overfitting defenses": 4,
    "Evolutionary search and strategy discovery": 4,
    "Promotion through the model registry": 4,
}
QUICK_START = commands("Quick start")[0][-3:]  # python -m runner: the default experiment
# A single run (not a search, not a multirun) whose filters leave no survivor reports it and exits 0.
NO_SURVIVOR_RUN_EXIT = 0
# The defenses' examples run a grid on which nothing survives (as the README says): the defense
# named in the run's no_survivor_reason, by the command's filters= override.
REMOVED_BY = {"filters=all": "dsr", "filters=[dsr,purged_kfold]": "dsr", "filters=walk_forward": "walk_forward"}


def runner_args(words: list[str]) -> list[str]:
    assert words[:3] == ["python", "-m", "runner"], words
    return words[3:]


def shown(words: list[str], out) -> str:
    return f"{' '.join(words)}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """The working folder (and data cache) the commands share (one per test process)."""
    return tmp_path_factory.mktemp("readme")


def run_in(folder: Path, args: list[str], store: Path | None = None):
    """``python -m runner args`` in ``folder`` (its cache, and its store unless ``store`` says): the
    output and the job runs the command added to the store."""
    store = store or folder / "mlruns" / "mlflow.db"
    before = {r.info.run_id for r in runs(store)[1]} if store.exists() else set()
    out = cli(folder, *args, store=store)
    return out, [r for r in runs(store)[1] if r.info.run_id not in before]


def assert_usable(words: list[str], out, jobs: list) -> None:
    """Exit code 0 and a usable job (finished, finite objective, never liquidated, a survivor); a
    single job (a run or an in-job search) must itself be that job."""
    assert jobs, shown(words, out)
    assert out.returncode == expected_exit(jobs) == 0, shown(words, out)
    if len(jobs) == 1:
        (job,) = jobs
        assert job.data.tags["no_survivor"] == "false", shown(words, out)
        assert math.isfinite(job.data.metrics["objective"]), shown(words, out)


def _top_level_values(value: str) -> int:
    """How many comma-separated values an override's value holds outside brackets and parentheses."""
    depth, count = 0, 1
    for ch in value:
        depth += ch in "[({"
        depth -= ch in "])}"
        count += ch == "," and depth == 0
    return count


def sweep_size(args: list[str]) -> int:
    """Jobs of a plain Hydra multirun: the product of each override's comma-separated values."""
    return math.prod(_top_level_values(a.split("=", 1)[1]) for a in args if "=" in a)


def grid_size(args: list[str]) -> int:
    """Combinations of the in-job grid spelled on the command line (lists of strategy parameters)."""
    sizes = [len(a.split("=", 1)[1].strip("[]").split(",")) for a in args if re.match(r"strategy\.params\.\w+=\[", a)]
    return math.prod(sizes) if sizes else 0


def test_every_command_of_the_covered_sections_is_run() -> None:
    assert {heading: len(commands(heading)) for heading in COUNTS} == COUNTS
    assert commands("Running experiments")[0] == QUICK_START  # run on the whole window by the Quick start test
    python = [w for h in COUNTS if h != "Quick start" for w in commands(h)]
    assert all(w[:2] == ["python", "-m"] and w[2] in ("runner", "runner.promote") for w in python), python


def test_quick_start_runs_the_default_experiment_as_documented(work: Path) -> None:
    """The first command's ``python -m runner``, as written (the whole 2020-2025 window): the default
    RSI survives no constraint, the run says so and which constraint removed the last combination."""
    install_and_run, install_and_test = commands("Quick start")
    assert install_and_test[-3:] == ["python", "-m", "pytest"]  # the suite itself: not run from here
    split = install_and_run.index("&&")
    assert install_and_run[:split] == ["pip", "install", "-e", "."]
    words = install_and_run[split + 1 :]
    out, jobs = run_in(work, runner_args(words))
    assert out.returncode == NO_SURVIVOR_RUN_EXIT, shown(words, out)
    (job,) = jobs
    assert job.info.status == "FINISHED" and job.data.params["data.start"] == "2020-01-01"
    assert job.data.tags["no_survivor"] == "true"
    assert job.data.tags["no_survivor_reason"].startswith("constraints removed the last 1 (failing:")
    assert "no survivor: constraints removed the last 1" in out.stdout + out.stderr, shown(words, out)
    assert math.isnan(job.data.metrics["objective"])


RUNNING = [w for w in commands("Running experiments") if w != QUICK_START]  # that one: run by the test above


@pytest.mark.parametrize("words", RUNNING, ids=[f"{i}" for i in range(len(RUNNING))])
def test_running_experiments_commands(work: Path, words: list[str]) -> None:
    args = runner_args(words)
    out, jobs = run_in(work, [*args, *FAST])
    assert_usable(words, out, jobs)
    if "-m" in args:
        size = sweep_size([a for a in args if a != "-m"])
        assert len(jobs) == size and f"sweep: {size} runs" in out.stdout, shown(words, out)
    elif grid_size(args):
        (job,) = jobs
        assert job.data.metrics["n_combos"] == grid_size(args), shown(words, out)


def test_bad_input_examples_are_refused_in_one_line(tmp_path: Path) -> None:
    """The README's bad inputs (the refusals section's overrides, the two messages it quotes) exit 2
    before any work with one line naming what is valid; a quoted message is printed as quoted ("..."
    elides)."""
    overrides = re.findall(r"`(\+?[A-Za-z_][\w.]*=[^`\s]*)`", section("What perplab refuses"))
    overrides.remove("+strategy.stop_loss.percent=3")  # quoted as a key that may be added
    assert overrides == ["data.symbolz=...", "+foo=1", "+data.symbolz=...", "strategy=../../x"]
    quoted = re.findall(r"`(error: [^`]*)`", section("Running experiments"))
    assert len(quoted) == 2 and quoted[0].startswith("error: leverage.value=200:") and "'DOGEUSDT'" in quoted[1]
    cases = [(o, None) for o in overrides] + [("leverage.value=200", quoted[0]), ("data.symbols=[DOGEUSDT]", quoted[1])]
    folders = [tmp_path / str(i) for i in range(len(cases))]
    for folder in folders:
        folder.mkdir()
    with ThreadPoolExecutor(3) as pool:  # each exits before any work: mostly start-up
        outs = list(pool.map(lambda i: cli(folders[i], cases[i][0]), range(len(cases))))
    for (override, message), out, folder in zip(cases, outs, folders, strict=True):
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (override, out.stderr)
        if message:
            assert re.fullmatch(".*".join(map(re.escape, message.split("..."))), lines[0]), (message, lines[0])
        else:
            assert "valid" in lines[0], lines[0]
        assert not (folder / "mlruns").exists()


def write_signals(path: Path) -> None:
    """A signals file for the default symbols from the real bars, made elsewhere by a model that sees
    one bar ahead: long before a bar that rises 0.2 % from open to open, short before one that falls
    as much, flat otherwise (so it survives the default constraints on any window)."""
    symbols = OmegaConf.load(PROJECT_ROOT / "conf" / "data" / "binance_1h.yaml").symbols
    frames = []
    for symbol in symbols:
        bars = pl.read_csv(DATA_ROOT / "binance" / "futures_um" / "klines_1h" / f"{symbol}-1h.csv.gz")
        move = pl.col("open").shift(-2) / pl.col("open").shift(-1) - 1  # the bar the signal fills into
        frames.append(
            bars.select(
                pl.from_epoch("open_time_ms", time_unit="ms").alias("time"),
                pl.lit(symbol).alias("symbol"),
                (move > 0.002).fill_null(False).alias("long_entry"),
                (move <= 0.002).fill_null(True).alias("long_exit"),
                (move < -0.002).fill_null(False).alias("short_entry"),
                (move >= -0.002).fill_null(True).alias("short_exit"),
            )
        )
    pl.concat(frames).write_parquet(path)


def test_external_signals_command(work: Path) -> None:
    (words,) = commands("Strategies are YAML")
    args = runner_args(words)
    (path,) = [a.split("=", 1)[1] for a in args if a.startswith("strategy.signals.path=")]
    write_signals(work / path)  # the README's file name, in the working folder
    out, jobs = run_in(work, [*args, *FAST])
    assert_usable(words, out, jobs)
    assert jobs[0].data.metrics["n_trades"] > 100


DEFENSES = commands("Overfitting defenses")


@pytest.mark.parametrize("words", DEFENSES, ids=[f"{i}" for i in range(len(DEFENSES))])
def test_overfitting_defenses_commands(work: Path, words: list[str]) -> None:
    """Each defense's example removes the grid's last combinations and the run names it (a single run:
    it reports, see NO_SURVIVOR_RUN_EXIT); ``filters=none`` ranks them all, a usable result."""
    args = runner_args(words)
    out, jobs = run_in(work, [*args, *WIDE])
    (filters,) = [a for a in args if a.startswith("filters=")]
    if filters == "filters=none":
        assert_usable(words, out, jobs)
        return
    assert out.returncode == NO_SURVIVOR_RUN_EXIT, shown(words, out)
    (job,) = jobs
    assert job.info.status == "FINISHED" and job.data.metrics["n_combos"] == grid_size(args) > 1
    assert job.data.tags["no_survivor"] == "true" and math.isnan(job.data.metrics["objective"])
    assert job.data.tags["no_survivor_reason"].startswith(f"{REMOVED_BY[filters]} removed the last")


SEARCHES = commands("Evolutionary search and strategy discovery")


@pytest.mark.parametrize("words", SEARCHES, ids=[f"{i}" for i in range(len(SEARCHES))])
def test_search_commands(work: Path, words: list[str]) -> None:
    """Each search ends with a usable best: in-job searches with the README's budget, Hydra sweeps
    with four candidates (one job each), discovery on 18 months (its walk-forward windows)."""
    args = runner_args(words)
    sweep = "search=hydra_nevergrad" in args or any(a.startswith("hydra/sweeper=") for a in args)
    discover = any(a.lstrip("+") == "experiment=discover" for a in args)
    extra = [f"hydra.sweeper.optim.budget={SWEEP_BUDGET}", *FAST] if sweep else FAST
    if discover:
        extra = [*WIDE, f"search.discover.export_dir={work / 'discovered'}"]  # not into the repository
    out, jobs = run_in(work, [*args, *extra])
    assert_usable(words, out, jobs)
    if sweep:
        assert len(jobs) == SWEEP_BUDGET, shown(words, out)
    else:
        (job,) = jobs
        assert job.data.metrics["n_combos"] > 100  # every evaluated candidate is a row of the grid
    if discover:
        assert len(list((work / "discovered").glob("*.yaml"))) == 5


def test_promotion_commands_in_order(work: Path, tmp_path: Path) -> None:
    """The job, then each promotion as written (``<id>``: the job's run), on one store: the version
    registered from the job moves challenger -> champion -> archived as each command says."""
    found = commands("Promotion through the model registry")
    store = tmp_path / "mlflow.db"  # its own: promote.strategy=rsi picks the best run of the store
    client = MlflowClient(f"sqlite:///{store}")
    run_id = None
    for words in found:
        module, args = words[2], words[3:]
        if module == "runner":
            assert run_id is None, "one job, first"
            window = [] if any(a.startswith("data.start=") for a in args) else FAST
            out, jobs = run_in(work, [*args, *window], store)
            assert_usable(words, out, jobs)
            (job,) = jobs
            run_id = job.info.run_id
            continue
        assert module == "runner.promote" and run_id, words
        args = [a.replace("<id>", run_id) for a in args]
        assert not any("<" in a for a in args), args
        out = promote(store, *args)
        assert out.returncode == 0, shown(words, out)
        settings = dict(a.split("=", 1) for a in args)
        (version,) = client.search_model_versions("name='perplab-rsi'")  # one job: one version
        assert version.run_id == run_id
        if "promote.version" in settings:
            assert str(version.version) == settings["promote.version"]
        stage = settings.get("promote.stage", "challenger")
        assert version.tags["perplab.stage"] == stage, shown(words, out)
        aliases = client.get_model_version("perplab-rsi", version.version).aliases  # search leaves them out
        assert aliases == ([stage] if stage != "archived" else []), shown(words, out)
