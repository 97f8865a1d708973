"""A small, safe parser for condition text (no ``eval``): ``close > ema_200 * 1.01``, ``rsi between lower upper``.

Grammar::

    condition := expr CMP expr | expr "between" expr ["and"] expr
    CMP       := ">" | "<" | ">=" | "<=" | "crosses_above" | "crosses_below"
    expr      := term (("+" | "-") term)*
    term      := unary (("*" | "/") unary)*
    unary     := "-" unary | atom
    atom      := NUMBER | NAME ["." NAME] | "(" expr ")"
"""

import math
import re
from dataclasses import dataclass

COMPARATORS = (">", "<", ">=", "<=", "crosses_above", "crosses_below")
MAX_TOKENS = 400  # a condition longer than this is not a strategy, it is an accident (or an attack)
MAX_DEPTH = 64  # nested parentheses and signs
OPERATORS = (*COMPARATORS, "between")
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)"
    r"|(?P<op>>=|<=|==|!=|[-+*/()<>=]))"
)


class ParseError(ValueError):
    """``text`` could not be parsed; the message says where and what would be valid."""


@dataclass(frozen=True)
class Num:
    value: float

    def __str__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True)
class Ref:
    """A name: a price field, an indicator (``macd`` or ``macd.signal``) or a parameter."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Bin:
    op: str  # + - * /
    left: "Node"
    right: "Node"

    def __str__(self) -> str:
        return f"({self.left} {self.op} {self.right})"


@dataclass(frozen=True)
class Neg:
    operand: "Node"

    def __str__(self) -> str:
        return f"(-{self.operand})"


Node = Num | Ref | Bin | Neg


@dataclass(frozen=True)
class Comparison:
    """``lhs op rhs`` (``rhs2`` is the upper bound of ``between``)."""

    op: str
    lhs: Node
    rhs: Node
    rhs2: Node | None = None


def tokenize(text: str) -> list[tuple[str, str, int]]:
    """``(kind, text, position)`` tokens; ``kind`` is num, name or op."""
    out: list[tuple[str, str, int]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            at = len(text) - len(text[pos:].lstrip())
            raise ParseError(f"unexpected {text[at : at + 12]!r} at position {at}")
        kind = m.lastgroup or "op"
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        if len(text) > 20 * MAX_TOKENS:
            raise ParseError(f"{len(text):,} characters; a condition has at most {MAX_TOKENS} tokens")
        self.tokens = tokenize(text)
        if len(self.tokens) > MAX_TOKENS:
            raise ParseError(f"{len(self.tokens):,} tokens; a condition has at most {MAX_TOKENS}")
        self.i = 0
        self.depth = 0

    def _deeper(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError(f"nested deeper than {MAX_DEPTH} levels at position {pos}")

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise ParseError("ends too early: expected a number, a name or '('")
        self.i += 1
        return tok

    def expr(self) -> Node:
        node = self.term()
        while (tok := self.peek()) and tok[1] in ("+", "-"):
            self.i += 1
            node = Bin(tok[1], node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while (tok := self.peek()) and tok[1] in ("*", "/"):
            self.i += 1
            node = Bin(tok[1], node, self.unary())
        return node

    def unary(self) -> Node:
        tok = self.peek()
        if tok and tok[1] == "-":
            self.i += 1
            self._deeper(tok[2])
            inner = self.unary()
            self.depth -= 1
            return Num(-inner.value) if isinstance(inner, Num) else Neg(inner)
        return self.atom()

    def atom(self) -> Node:
        kind, text, pos = self.take()
        if kind == "num":
            value = float(text)
            if not math.isfinite(value):
                raise ParseError(f"the number {text} at position {pos} is not finite (too large for a float)")
            return Num(value)
        if kind == "name":
            if text in OPERATORS or text == "and":
                raise ParseError(f"expected an operand at position {pos}, found the operator {text!r}")
            return Ref(text)
        if text == "(":
            self._deeper(pos)
            node = self.expr()
            self.depth -= 1
            close = self.peek()
            if not close or close[1] != ")":
                raise ParseError(f"missing ')' for the '(' at position {pos}")
            self.i += 1
            return node
        raise ParseError(f"expected a number, a name or '(' at position {pos}, found {text!r}")

    def condition(self) -> Comparison:
        lhs = self.expr()
        tok = self.peek()
        if tok is None:
            raise ParseError(f"no comparison; valid operators: {', '.join(OPERATORS)}")
        kind, op, pos = tok
        if op not in OPERATORS:
            raise ParseError(f"unknown operator {op!r} at position {pos}; valid: {', '.join(OPERATORS)}")
        self.i += 1
        rhs = self.expr()
        rhs2 = None
        if op == "between":
            nxt = self.peek()
            if nxt and nxt[1] == "and":
                self.i += 1
            if self.peek() is None:
                raise ParseError("'between' needs two bounds: x between low high")
            rhs2 = self.expr()
        rest = self.peek()
        if rest is not None:
            raise ParseError(f"unexpected {rest[1]!r} at position {rest[2]}; one comparison per condition")
        return Comparison(op, lhs, rhs, rhs2)


def parse_condition(text: str) -> Comparison:
    """Parse one condition; raises ParseError with the position and what is valid."""
    if not isinstance(text, str) or not text.strip():
        raise ParseError("empty condition; write e.g. 'rsi < lower'")
    return _Parser(text).condition()


def parse_expr(text: str) -> Node:
    """Parse one arithmetic expression (used where a number or a series is expected)."""
    p = _Parser(text)
    node = p.expr()
    rest = p.peek()
    if rest is not None:
        raise ParseError(f"unexpected {rest[1]!r} at position {rest[2]}")
    return node


def refs(node: Node) -> list[str]:
    """Names referenced by an expression, in order of appearance."""
    if isinstance(node, Ref):
        return [node.name]
    if isinstance(node, Bin):
        return refs(node.left) + refs(node.right)
    if isinstance(node, Neg):
        return refs(node.operand)
    return []
