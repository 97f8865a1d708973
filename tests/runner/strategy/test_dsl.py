"""Strategy YAML checks: every error names the file, the key path, the text and what is valid."""

import copy

import pytest
import yaml

from runner import PROJECT_ROOT
from runner.errors import ConfigError
from runner.strategy.dsl import parse_strategy

FILE = "conf/strategy/test.yaml"
BASE = {
    "name": "t",
    "direction": "both",
    "params": {"lower": {"type": "float", "low": 0, "high": 100, "default": 30}},
    "indicators": {"rsi": {"type": "RSI", "period": 14}, "macd": {"type": "MACD"}},
    "entry": {"long": ["rsi < lower"]},
}


def parse(**changes):
    raw = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = raw
        keys = path.split("__")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return parse_strategy(raw, FILE, "1h")


@pytest.mark.parametrize("name", sorted(p.stem for p in (PROJECT_ROOT / "conf" / "strategy").glob("*.yaml")))
def test_every_builtin_parses(name: str, tmp_path) -> None:
    raw = yaml.safe_load((PROJECT_ROOT / "conf" / "strategy" / f"{name}.yaml").read_text())
    if name == "signals_file":  # no parameters: each column of the user's file drives its group
        (tmp_path / "s.csv").write_text("time,symbol\n")
        raw["signals"]["path"] = str(tmp_path / "s.csv")
        spec = parse_strategy(raw, f"conf/strategy/{name}.yaml", "1h")
        assert [spec.groups[g][0][0].text for g in range(4)] == [f"{c} > 0" for c in spec.signals.columns]
        return
    spec = parse_strategy(raw, f"conf/strategy/{name}.yaml", "1h")
    assert spec.name == name and spec.params
    for p in spec.params.values():  # sensible sweep ranges: default inside bounds, a step to grid by
        assert p.low <= min(p.values) <= max(p.values) <= p.high and p.step


def test_grid_values_from_params_indicators_and_stops() -> None:
    spec = parse(
        params__lower__default=[20, 30],
        indicators__rsi__period={"start": 7, "stop": 21, "step": 7},
        stop_loss={"percent": [1, 2]},
    )
    got = {v.key: v.values for v in spec.values}
    assert got["strategy.params.lower"] == (20.0, 30.0)
    assert got["strategy.indicators.rsi.period"] == (7.0, 14.0, 21.0)
    assert got["strategy.stop_loss.percent"] == (1.0, 2.0)
    assert got["strategy.indicators.macd.fast"] == (12.0,)  # defaults of the type


def test_any_groups_and_between() -> None:
    spec = parse(entry__long=["rsi between 20 lower", {"any": ["rsi < 10", "close > macd * 2"]}])
    clauses = spec.groups[0]
    assert [len(c) for c in clauses] == [1, 2]
    assert clauses[1][1].where == "strategy.entry.long[1].any[1]"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"colour": "red"}, "strategy.colour: unknown key; valid: name, description, direction"),
        ({"params__lower": 30}, "strategy.params.lower: 30: a parameter is {type, low, high, default}"),
        ({"params__lower__type": "str"}, "strategy.params.lower.type='str': valid: int, float"),
        ({"params__lower__low": "x"}, "strategy.params.lower.low='x': must be a number"),
        ({"params__lower__default": 130}, "strategy.params.lower=130: must be a number from 0 to 100"),
        ({"params__lower__default": None}, "strategy.params.lower.default: missing"),
        (
            {"params__lower__default": {"start": 5, "stop": 1, "step": 1}},
            "lower: {'start': 5, 'stop': 1, 'step': 1}: a",
        ),
        ({"params__lower__default": {"start": 5}}, "strategy.params.lower: {'start': 5}: a range needs numeric start"),
        ({"params__lower__bounds": 1}, "strategy.params.lower.bounds: unknown key; valid: type, low, high"),
        ({"indicators__rsi__type": "RSX"}, "strategy.indicators.rsi.type='RSX': unknown indicator type; valid: ADX"),
        ({"indicators__rsi__length": 3}, "strategy.indicators.rsi.length: unknown key for RSI; valid: type, source"),
        ({"indicators__rsi__period": 1}, "strategy.indicators.rsi.period=1: must be an integer from 2"),
        (
            {"indicators__rsi__period": "nope"},
            "rsi.period='nope': not a number and not a parameter",
        ),
        ({"indicators__rsi__source": "clse"}, "strategy.indicators.rsi.source='clse': valid: open, high"),
        ({"indicators__rsi__source": "rsi"}, "strategy.indicators.rsi.source: indicator sources form a cycle"),
        ({"indicators__rsi__timeframe": "7m"}, "strategy.indicators.rsi.timeframe='7m': valid: 1m"),
        ({"indicators__rsi__timeframe": "30m"}, "strategy.indicators.rsi.timeframe: 30m: must be a whole multiple"),
        ({"indicators__rsi__shift": -1}, "strategy.indicators.rsi.shift=-1: must be an integer from 0"),
        ({"indicators__macd__source": "rsi", "indicators__rsi__source": "macd"}, "sources form a cycle"),
        (
            {"entry__long": ["rsi <> 3"]},
            "long[0]='rsi <> 3': expected a number, a name or '(' at position 5, found '>'",
        ),
        ({"entry__long": ["rsi =< 3"]}, "strategy.entry.long[0]='rsi =< 3': unknown operator '='"),
        ({"entry__long": ["rsx < 3"]}, "strategy.entry.long[0]='rsx < 3': unknown name 'rsx'; valid: open"),
        ({"entry__long": ["macd.sig < 3"]}, "'macd.sig' is not an output of macd; valid: macd.line, macd.signal"),
        ({"entry__long": [{"all": ["rsi < 3"]}]}, "strategy.entry.long[0]={'all': ['rsi < 3']}: a group is {any:"),
        ({"entry__long": [{"any": []}]}, "strategy.entry.long[0]: an any: group needs at least one condition"),
        ({"entry__long": [3]}, "strategy.entry.long[0]=3: a condition is text"),
        ({"entry__middle": ["rsi < 3"]}, "strategy.entry.middle: valid sides: long, short"),
        ({"entry": None}, "strategy.entry: no entry conditions"),
        ({"stop_loss": 2}, "strategy.stop_loss=2: give {percent: 2} or {atr: <indicator>, multiple: 3}"),
        ({"stop_loss": {"percent": -1}}, "strategy.stop_loss.percent=-1: must be a number from 0.001 to 99.99"),
        ({"stop_loss": {"atr": "atrx", "multiple": 2}}, "strategy.stop_loss.atr='atrx': must name an indicator"),
        ({"stop_loss": {"atr": "rsi"}}, "an ATR stop is {atr: <indicator>, multiple: 3}"),
        ({"time_filters": {"sessions": ["8-16"]}}, "strategy.time_filters.sessions[0]='8-16': a UTC window"),
        ({"time_filters": {"blocked_weekdays": ["funday"]}}, "blocked_weekdays[0]='funday': valid: mon, tue"),
        ({"time_filters": {"funding_blackout_minutes": 500}}, "funding_blackout_minutes=500: minutes from 0"),
        ({"time_filters": {"holidays": 1}}, "strategy.time_filters.holidays: unknown key; valid: sessions"),
        ({"name": ""}, "strategy.name='': must be a non-empty name"),
    ],
)
def test_errors_name_file_key_text_and_valid(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(**changes)
    text = str(err.value)
    assert text.startswith(FILE + ": ") and message in text and "\n" not in text, text


def test_time_filters_parse() -> None:
    spec = parse(
        time_filters={
            "sessions": ["08:00-16:00", "22:00-02:00"],
            "blocked_weekdays": ["Sat", "sun"],
            "funding_blackout_minutes": 30,
        }
    )
    tf = spec.time_filters
    assert tf.sessions == ((480, 960), (1320, 120)) and tf.blocked_weekdays == (5, 6)
    assert tf.funding_blackout_minutes == 30 and tf.active
