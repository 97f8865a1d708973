"""The registered model's pieces: a grid run's config fixed to its best combination, and the input
checks of the bars it is given."""

import numpy as np
import polars as pl
import pytest

from runner.config import validate
from runner.errors import DataError
from runner.model import bars_panel, fixed_config, signals
from tests.runner.strategy.test_compile import FAST, HOUR, T0, cfg_for


def test_fixed_config_pins_every_axis_to_the_best_combination() -> None:
    cfg = cfg_for(
        *FAST,
        "leverage=[1,3]",
        "fees.taker_bps=[4,5]",
        "fees.slippage_bps=[0,2]",
        "strategy.params.lower=[25,30]",
        "strategy.indicators.rsi.period=[7,14]",
        "strategy.direction=[long,both]",
        "sizing.fraction=[0.25,0.5]",
    )
    assert validate(cfg).n_combos == 128
    best = {
        "leverage.value": "3",
        "fees.taker_bps": "0.0005",
        "fees.slippage_bps": "0.0002",
        "strategy.params.lower": "25",
        "strategy.indicators.rsi.period": "7",
        "strategy.direction": "long",
        "sizing.fraction": "0.25",
    }
    spec = validate(fixed_config(cfg, best), resolve_data=False)
    assert spec.n_combos == 1
    values = {a.key: a.display(0) for a in spec.axes}
    assert values["leverage.value"] == 3 and values["strategy.params.lower"] == 25
    assert values["fees.taker_bps"] == pytest.approx(0.0005) and values["fees.slippage_bps"] == pytest.approx(0.0002)
    assert values["strategy.indicators.rsi.period"] == 7 and values["strategy.direction"] == "long"
    assert values["sizing.fraction"] == 0.25


def _bars(n: int = 48, symbols=("BTCUSDT", "ETHUSDT")) -> pl.DataFrame:
    close = 100 + np.sin(np.arange(n) / 3) * 5
    return pl.concat(
        pl.DataFrame(
            {
                "time": pl.Series(T0 + HOUR * np.arange(n)).cast(pl.Datetime("ms", "UTC")),
                "symbol": [s] * n,
                "open": close,
                "high": close + 1,
                "low": close - 1,
                "close": close,
                "volume": np.ones(n),
            }
        )
        for s in symbols
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda b: b.drop("volume"), "model input: missing columns volume"),
        (
            lambda b: b.filter(pl.col("symbol") == "BTCUSDT"),
            r"symbols must be BTCUSDT, ETHUSDT \(missing \['ETHUSDT'\]",
        ),
        (lambda b: b.with_columns(pl.col("time") + pl.duration(minutes=30)), "times must be bar opens on the 1h grid"),
        (
            lambda b: b.with_columns(
                pl.when(pl.col("close") > 104).then(None).otherwise(pl.col("close")).alias("close")
            ),
            r"row \d+: open/high/low/close must be positive numbers",
        ),
    ],
)
def test_bad_model_input(change, message) -> None:
    with pytest.raises(DataError, match=message):
        bars_panel(change(_bars()), ("BTCUSDT", "ETHUSDT"), "1h")


def test_signals_cover_every_bar_and_symbol_of_the_input() -> None:
    cfg = fixed_config(cfg_for(*FAST, "strategy.params.period=5"), {})
    out = signals(cfg, _bars())
    assert out.height == 96 and out["symbol"].unique().sort().to_list() == ["BTCUSDT", "ETHUSDT"]
    assert set(out["target_position"].unique().to_list()) <= {-1, 0, 1}
    assert out["long_entry"].any() and out["short_entry"].any()  # the sine crosses both RSI bands
