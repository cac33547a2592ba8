"""A small FIQL (Feed Item Query Language) parser and evaluator for the 8x8 CSS emulator.

Grammar (``;`` = AND binds tighter than ``,`` = OR; whitespace around tokens is ignored)::

    expression  := and_expr ( "," and_expr )*
    and_expr    := primary ( ";" primary )*
    primary     := "(" expression ")" | comparison
    comparison  := selector operator arguments
    operator    := "==" | "!=" | "=gt=" | "=ge=" | "=lt=" | "=le=" | "=in=" | "=out="
    arguments   := value | "(" value ( "," value )* ")"      (lists only for =in= / =out=)
    value       := 'single quoted' | "double quoted" | unquoted run without ; , ( ) ' "

Comparisons are numeric when both sides parse as decimal numbers, else plain string comparisons.
A selector the resolver does not know (it returns ``None``) never matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

OPERATORS = ("==", "!=", "=gt=", "=ge=", "=lt=", "=le=", "=in=", "=out=")
MAX_DEPTH = 50
LIST_OPERATORS = frozenset({"=in=", "=out="})
_SELECTOR_RE = re.compile(r"[A-Za-z0-9_.\-~:@$]+")
NUMBER_RE = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_UNQUOTED_STOP = frozenset(";,()'\"")


class FiqlError(ValueError):
    """A filter that cannot be parsed; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int, text: str) -> None:
        self.position = position
        self.text = text
        self.reason = message
        super().__init__(f"Invalid FIQL filter at position {position}: {message} (filter: {text!r})")


@dataclass(frozen=True)
class Comparison:
    """``selector operator values``; ``values`` has one item except for =in= / =out=."""

    selector: str
    operator: str
    values: tuple[str, ...]
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    """All children must match."""

    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one child must match."""

    children: tuple[Node, ...]


Node = Comparison | And | Or
Resolver = Callable[[str], "list[str] | None"]
ValueConverter = Callable[[str, str], str]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    # -- helpers -------------------------------------------------------------------------------
    def _error(self, message: str, position: int | None = None) -> FiqlError:
        return FiqlError(message, self.pos if position is None else position, self.text)

    def _skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _peek(self) -> str:
        self._skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _describe_here(self) -> str:
        return f"{self.text[self.pos]!r}" if self.pos < len(self.text) else "end of filter"

    # -- grammar -------------------------------------------------------------------------------
    def parse(self) -> Node:
        if not self.text.strip():
            raise self._error("the filter is empty; expected a comparison such as type==callrecording", 0)
        node = self._expression()
        if self._peek():
            char = self.text[self.pos]
            hint = ""
            if char == "(":
                hint = "; quote values that contain reserved characters ( ) , ; ' \""
            elif char == ")":
                hint = "; unbalanced ')'"
            raise self._error(f"unexpected {char!r}, expected ';', ',' or end of filter{hint}")
        return node

    def _expression(self) -> Node:
        items = [self._and_expr()]
        while self._peek() == ",":
            self.pos += 1
            items.append(self._and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def _and_expr(self) -> Node:
        items = [self._primary()]
        while self._peek() == ";":
            self.pos += 1
            items.append(self._primary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def _primary(self) -> Node:
        char = self._peek()
        if char == "(":
            open_pos = self.pos
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self._error(f"parentheses nested deeper than {MAX_DEPTH} levels")
            self.pos += 1
            node = self._expression()
            self.depth -= 1
            if self._peek() != ")":
                raise self._error(
                    f"expected ')' to close the '(' at position {open_pos}, found {self._describe_here()}"
                )
            self.pos += 1
            return node
        return self._comparison()

    def _comparison(self) -> Comparison:
        self._skip_ws()
        start = self.pos
        match = _SELECTOR_RE.match(self.text, self.pos)
        if not match:
            raise self._error(f"expected a selector (field or tag name), found {self._describe_here()}")
        selector = match.group(0)
        self.pos = match.end()
        operator = self._operator(selector)
        if operator in LIST_OPERATORS:
            values = self._value_list(operator)
        else:
            if self._peek() == "(":
                raise self._error(f"operator {operator!r} takes a single value; use =in= or =out= for lists")
            values = (self._value(operator),)
        return Comparison(selector, operator, values, start)

    def _operator(self, selector: str) -> str:
        self._skip_ws()
        for op in OPERATORS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        found = re.match(r"[=!<>][A-Za-z]*=?", self.text[self.pos :])
        shown = repr(found.group(0)) if found else self._describe_here()
        raise self._error(
            f"expected a comparison operator ({', '.join(OPERATORS)}) after selector {selector!r}, found {shown}"
        )

    def _value_list(self, operator: str) -> tuple[str, ...]:
        if self._peek() != "(":
            return (self._value(operator),)
        self.pos += 1
        values = [self._value(operator, in_list=True)]
        while self._peek() == ",":
            self.pos += 1
            values.append(self._value(operator, in_list=True))
        if self._peek() != ")":
            raise self._error(f"expected ',' or ')' in the {operator} value list, found {self._describe_here()}")
        self.pos += 1
        return tuple(values)

    def _value(self, operator: str, in_list: bool = False) -> str:
        char = self._peek()
        if char in ("'", '"'):
            return self._quoted(char)
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _UNQUOTED_STOP:
            self.pos += 1
        value = self.text[start : self.pos].strip()
        if not value:
            where = "in the value list" if in_list else f"after {operator!r}"
            raise self._error(f"expected a value {where}, found {self._describe_here()}")
        return value

    def _quoted(self, quote: str) -> str:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == quote:
                self.pos += 1
                return "".join(out)
            out.append(char)
            self.pos += 1
        raise self._error(f"unterminated quoted value (missing closing {quote})", start)


def parse(text: str) -> Node:
    """Parse a FIQL expression; raises :class:`FiqlError` with the position of the problem."""
    return _Parser(text).parse()


def selectors(node: Node) -> set[str]:
    """All selectors used anywhere in ``node``."""
    if isinstance(node, Comparison):
        return {node.selector}
    out: set[str] = set()
    for child in node.children:
        out |= selectors(child)
    return out


def _number(value: str) -> Decimal | None:
    if not NUMBER_RE.fullmatch(value):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the regex only admits valid decimals
        return None


def compare(actual: str, operator: str, expected: str) -> bool:
    """Compare one actual value with one expected value (numerically when both are numbers)."""
    left_num, right_num = _number(actual), _number(expected)
    left: Decimal | str
    right: Decimal | str
    if left_num is not None and right_num is not None:
        left, right = left_num, right_num
    else:
        left, right = actual, expected
    if operator in ("==", "=in="):
        return left == right
    if operator in ("!=", "=out="):
        return left != right
    if isinstance(left, Decimal) and isinstance(right, Decimal):
        return _ordered(left, operator, right)
    return _ordered(str(left), operator, str(right))


def _ordered(left: Decimal | str, operator: str, right: Decimal | str) -> bool:
    if operator == "=gt=":
        return left > right  # type: ignore[operator]
    if operator == "=ge=":
        return left >= right  # type: ignore[operator]
    if operator == "=lt=":
        return left < right  # type: ignore[operator]
    if operator == "=le=":
        return left <= right  # type: ignore[operator]
    raise ValueError(f"unknown operator {operator!r}")


def _match_comparison(node: Comparison, resolve: Resolver, convert: ValueConverter | None) -> bool:
    actual_values = resolve(node.selector)
    if not actual_values:
        return False
    expected = [convert(node.selector, v) for v in node.values] if convert else list(node.values)
    if node.operator == "=out=":
        return all(compare(a, "!=", e) for a in actual_values for e in expected)
    if node.operator == "!=":
        return all(compare(a, "!=", expected[0]) for a in actual_values)
    if node.operator == "=in=":
        return any(compare(a, "==", e) for a in actual_values for e in expected)
    return any(compare(a, node.operator, expected[0]) for a in actual_values)


def evaluate(node: Node, resolve: Resolver, convert: ValueConverter | None = None) -> bool:
    """Whether the item described by ``resolve`` matches ``node``.

    ``resolve(selector)`` returns the item's values for that selector (a list, since tags may
    repeat) or ``None`` when the item has no such field/tag. ``convert(selector, value)`` may
    normalise filter values (e.g. ISO timestamps to epoch ms) before comparing.
    """
    if isinstance(node, Comparison):
        return _match_comparison(node, resolve, convert)
    if isinstance(node, And):
        return all(evaluate(child, resolve, convert) for child in node.children)
    return any(evaluate(child, resolve, convert) for child in node.children)
