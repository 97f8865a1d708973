"""The condition parser: every operator, precedence, and every error path (no eval anywhere)."""

import pytest

from runner.strategy.expr import Bin, Comparison, Neg, Num, ParseError, Ref, parse_condition, parse_expr, refs


@pytest.mark.parametrize("op", [">", "<", ">=", "<=", "crosses_above", "crosses_below"])
def test_every_comparison_operator(op: str) -> None:
    assert parse_condition(f"rsi {op} lower") == Comparison(op, Ref("rsi"), Ref("lower"))


@pytest.mark.parametrize(
    "text, low, high",
    [
        ("rsi between 30 70", Num(30.0), Num(70.0)),
        ("rsi between 30 and 70", Num(30.0), Num(70.0)),
        ("rsi between lower upper", Ref("lower"), Ref("upper")),
        (
            "rsi between lower - band lower + band",
            Bin("-", Ref("lower"), Ref("band")),
            Bin("+", Ref("lower"), Ref("band")),
        ),
    ],
)
def test_between(text: str, low, high) -> None:
    assert parse_condition(text) == Comparison("between", Ref("rsi"), low, high)


def test_arithmetic_precedence_and_parentheses() -> None:
    c = parse_condition("close > ema_200 * 1.01")
    assert c.rhs == Bin("*", Ref("ema_200"), Num(1.01))
    assert parse_expr("a + b * c") == Bin("+", Ref("a"), Bin("*", Ref("b"), Ref("c")))
    assert parse_expr("(a + b) * c") == Bin("*", Bin("+", Ref("a"), Ref("b")), Ref("c"))
    assert parse_expr("a - b - c") == Bin("-", Bin("-", Ref("a"), Ref("b")), Ref("c"))
    assert parse_expr("a / b / c") == Bin("/", Bin("/", Ref("a"), Ref("b")), Ref("c"))
    assert parse_expr("-a * 2") == Bin("*", Neg(Ref("a")), Num(2.0))
    assert parse_expr("-3") == Num(-3.0)
    assert parse_expr("1e-3 + .5") == Bin("+", Num(0.001), Num(0.5))


def test_dotted_outputs_and_refs() -> None:
    c = parse_condition("macd.line crosses_above macd.signal")
    assert (c.lhs, c.rhs) == (Ref("macd.line"), Ref("macd.signal"))
    assert refs(parse_expr("(a - b.c) / d * 2")) == ["a", "b.c", "d"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty condition"),
        ("   ", "empty condition"),
        ("rsi", "no comparison; valid operators: >, <, >=, <=, crosses_above, crosses_below, between"),
        ("rsi == 30", "unknown operator '==' at position 4; valid: >"),
        ("rsi crosses 30", "unknown operator 'crosses' at position 4"),
        ("rsi < ", "ends too early"),
        ("rsi < (30 + 2", "missing ')' for the '(' at position 6"),
        ("rsi < 30 70", "unexpected '70' at position 9; one comparison per condition"),
        ("rsi < 30 > 20", "unexpected '>' at position 9"),
        ("rsi between 30", "'between' needs two bounds"),
        ("rsi < crosses_above", "found the operator 'crosses_above'"),
        ("rsi < 30 $", "unexpected '$' at position 9"),
        ("rsi < * 3", "expected a number, a name or '(' at position 6, found '*'"),
        ("__import__('os') > 1", "unexpected"),
    ],
)
def test_errors_say_where_and_what_is_valid(text: str, message: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_condition(text)
    assert message in str(err.value)
