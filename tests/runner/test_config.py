"""Every config composes and validates; bad values are one-line ConfigErrors."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from runner import PROJECT_ROOT
from runner.config import validate
from runner.errors import ConfigError
from runner.preflight import expand_shorthand, job_overrides

CONF = PROJECT_ROOT / "conf"
PAPER_GROUPS = ("feed", "alerts")  # conf/paper.yaml's own groups (tests/runner/paper/test_paper_config.py)
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name not in ("experiment", *PAPER_GROUPS))
OPTIONS = [(g, f.stem) for g in GROUPS for f in sorted((CONF / g).glob("*.yaml"))]
EXPERIMENTS = sorted(f.stem for f in (PROJECT_ROOT / "experiments").glob("*.yaml"))


def composed(*overrides: str):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def check(*overrides: str):
    cfg = composed(*expand_shorthand(list(overrides)))
    return validate(cfg)


@pytest.mark.parametrize("group, option", OPTIONS)
def test_every_group_option_composes_and_validates(group: str, option: str) -> None:
    if (group, option) == ("strategy", "signals_file"):  # needs the user's file
        with pytest.raises(ConfigError, match="strategy.signals.path=None: required: a parquet or CSV file"):
            check(f"{group}={option}")
        return
    if (group, option) == ("sizing", "risk_per_trade"):  # sizes by the stop-loss distance
        with pytest.raises(ConfigError, match="sizing.method=risk_per_trade: the strategy has no stop-loss"):
            check(f"{group}={option}")
        assert check(f"{group}={option}", "strategy=ema_cross").n_combos >= 1
        return
    if group == "latency" and option != "none":  # delays orders between the sub-bars of execution.detail
        with pytest.raises(ConfigError, match="latency.ms=.*: delays market orders between sub-bars"):
            check(f"{group}={option}")
        spec = check(f"{group}={option}", "execution.detail=5m")
        assert spec.latency_ms > 0 and spec.detail == "5m"
        return
    spec = check(f"{group}={option}")
    assert spec.n_combos >= 1


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_and_validates(name: str) -> None:
    spec = check(f"experiment={name}")
    assert spec.n_combos > 1 or spec.search.active  # a grid, or a search (discovery)


def test_default_is_rsi_on_four_perps() -> None:
    spec = check()
    assert spec.strategy.name == "rsi"
    assert spec.data.symbols == ("BTCUSDT", "ETHUSDT", "XRPUSDT", "LTCUSDT")
    assert (spec.data.market, spec.data.timeframe) == ("futures_um", "1h")
    assert spec.data.root == (PROJECT_ROOT.parent / "shared" / "data").resolve()
    assert spec.tracking.uri.startswith("sqlite:///") and spec.tracking.uri.endswith("mlruns/mlflow.db")


def test_lists_and_ranges_form_the_grid() -> None:
    spec = check(
        "strategy.params.lower=[20,25,30]", "strategy.params.upper={start:70,stop:80,step:5}", "leverage.value=[1,5]"
    )
    assert spec.n_combos == 3 * 3 * 2
    assert spec.strategy_axes["strategy.params.upper"].values == (70.0, 75.0, 80.0)


@pytest.mark.parametrize(
    "override, message",
    [
        ("leverage.value=0", "leverage.value=0: must be an integer from 1 to 20"),
        ("leverage.value=200", "leverage.value=200: must be an integer from 1 to 20"),
        ("leverage.value=[1,21]", "leverage.value=21"),
        ("strategy.params.period=1", "conf/strategy/rsi.yaml: strategy.params.period=1: must be an integer from 2"),
        ("strategy.params.lower=abc", "conf/strategy/rsi.yaml: strategy.params.lower='abc': must be a number"),
        ("strategy.direction=sideways", "strategy.direction='sideways': valid: long, short, both"),
        ("data.start=2026-01-01", "data.start=2026-01-01 is not before data.end=2025-12-31"),
        ("data.end=yesterday", "data.end='yesterday': not a date"),
        ("data.timeframe=7m", "data.timeframe='7m': valid:"),
        ("data.gap_policy=fill", "data.gap_policy='fill': valid: warn, error, ignore"),
        ("data.symbols=[]", "data.symbols=[]"),
        ("fees.slippage_bps=-3", "fees.slippage_bps=-3"),
        ("sizing.fraction=1.5", "sizing.fraction=1.5"),
        ("objective.metric=alpha", "objective.metric='alpha': valid: total_return"),
        ("account.initial_capital=0", "account.initial_capital=0"),
        ("strategy.params.lower=[20,20]", "values repeat"),
        ("margin.mode=portfolio", "margin.mode='portfolio': valid: isolated, cross"),
        ("sizing.method=martingale", "sizing.method='martingale': valid: fixed_fraction, fixed_notional"),
        ("sizing.max_position_size=0", "sizing.max_position_size=0: must be a number > 0 and <= 1"),
        ("sizing.max_exposure=-1", "sizing.max_exposure=-1"),
        ("risk.max_drawdown=1.5", "risk.max_drawdown=1.5: must be a number > 0 and <= 1"),
        ("risk.max_consecutive_losses=2.5", "risk.max_consecutive_losses=2.5: must be an integer"),
        ("fees.slippage_impact=-1", "fees.slippage_impact=-1"),
        ("exchange.symbols.BTCUSDT.brackets=[[300000,0.004,150,0],[800000,0.005,100,301]]", "cum must be 300"),
        ("exchange.symbols.BTCUSDT.qty_step=-1", "exchange.symbols.BTCUSDT.qty_step=-1: must be a number >= 0"),
        ("data.symbols=[BTCUSDT,DOGEUSDT]", "data.symbols: unknown symbol 'DOGEUSDT'; available in"),
        ("sizing=kelly", None),
        ("account.initial_capital=[1000,2000]", "must be a single number, not a grid"),
    ],
)
def test_invalid_values_raise_one_line(override: str, message: str | None) -> None:
    if message is None:  # a valid control
        check(override)
        return
    with pytest.raises(ConfigError) as err:
        check(override)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_leverage_shorthand() -> None:
    assert expand_shorthand(["leverage=5", "leverage=1,3,5,10", "leverage=[1,3]", "leverage=ladder", "-m"]) == [
        "leverage.value=5",
        "leverage.value=1,3,5,10",
        "leverage.value=[1,3]",
        "leverage=ladder",
        "-m",
    ]
    assert expand_shorthand(["leverage=int(interval(1,20))"]) == ["leverage.value=int(interval(1,20))"]


def test_sweep_expansion_uses_hydra_semantics() -> None:
    jobs = job_overrides(["strategy=rsi", "leverage.value=1,3,5,10"], multirun=True)
    assert jobs == [["strategy=rsi", f"leverage.value={v}"] for v in (1, 3, 5, 10)]
    with pytest.raises(ConfigError, match="needs -m"):
        job_overrides(["leverage.value=1,3"], multirun=False)


def test_generated_folders_are_ignored_and_experiments_are_a_group() -> None:
    ignore = (PROJECT_ROOT / ".gitignore").read_text().split()
    for name in ("mlruns/", "outputs/", "multirun/"):
        assert name in ignore
    assert Path(CONF / "experiment").resolve() == (PROJECT_ROOT / "experiments").resolve()


def test_volatility_target_checks_its_atr_period() -> None:
    with pytest.raises(ConfigError, match=r"^sizing.atr_period=1: must be an integer >= 2 and <= 1000$"):
        check("sizing=volatility_target", "sizing.atr_period=1")
    assert check("sizing=volatility_target", "sizing.atr_period=20").vol_period == 20
