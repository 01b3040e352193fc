"""Segments: a small, safe filter language over contact fields and attributes.

Grammar (keywords are case-insensitive)::

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | test
    test       := field OP value                      OP: = == != < <= > >=
                | field ["not"] "in" "(" value, ... ")"
                | field "within" INTEGER "days"        today <= field <= today + N
                | field "is" ["not"] "empty"
    field      := core field | attribute name | "attributes." name
    value      := "string" | 'string' | number | true | false

It is parsed by lark (LALR) and compiled into a Python predicate; nothing is ever ``eval``-ed.

Example::

    >>> seg = parse_segment('permit_expires within 60 days and language in ("nl", "fr")')
    >>> seg.fields
    frozenset({'language', 'permit_expires'})
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from campaigns.contacts import CORE_FIELDS, Contact
from contact_center.errors import SegmentSyntaxError

__all__ = ["Predicate", "Segment", "parse_segment"]

Predicate = Callable[[Contact, date], bool]

_GRAMMAR = r"""
?start: expr
?expr: term (_OR term)*         -> or_
?term: factor (_AND factor)*    -> and_
?factor: _NOT factor            -> not_
       | "(" expr ")"
       | test
test: field OP value                              -> compare
    | field _IN "(" value ("," value)* ")"         -> in_
    | field _NOT _IN "(" value ("," value)* ")"    -> not_in
    | field _WITHIN INT _DAYS                      -> within
    | field _IS _EMPTY                             -> empty
    | field _IS _NOT _EMPTY                        -> not_empty
field: NAME
?value: STRING -> string
      | SIGNED_NUMBER -> number
      | _TRUE -> true
      | _FALSE -> false
OP: "==" | "!=" | "<=" | ">=" | "=" | "<" | ">"
_OR: /or\b/i
_AND: /and\b/i
_NOT: /not\b/i
_IN: /in\b/i
_WITHIN: /within\b/i
_DAYS: /days?\b/i
_IS: /is\b/i
_EMPTY: /empty\b/i
_TRUE: /true\b/i
_FALSE: /false\b/i
NAME: /(?!(or|and|not|in|within|days?|is|empty|true|false)\b)[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?/i
STRING: /"[^"\n]*"/ | /'[^'\n]*'/
INT: /-?[0-9]+/
%import common.SIGNED_NUMBER
%import common.WS
%ignore WS
"""

_DATE_FIELDS = frozenset({"permit_expires"})
_BOOL_FIELDS = frozenset({"consent"})
_CASE_INSENSITIVE = frozenset({"email", "language", "nationality"})


class _UnknownField(SegmentSyntaxError):
    """A bare name that is neither a contact field nor a known attribute (``name`` says which)."""

    def __init__(self, message: str, *, name: str, line: int, column: int) -> None:
        super().__init__(message, line=line, column=column)
        self.name = name


def brussels_today() -> date:
    """Today's date in Brussels (the server may run in UTC: around midnight the two differ)."""
    return datetime.now(ZoneInfo("Europe/Brussels")).date()


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


@dataclass(frozen=True, slots=True)
class Segment:
    """A parsed segment: its source text, the fields it reads, and a predicate over contacts."""

    source: str
    fields: frozenset[str]
    _predicate: Predicate

    def matches(self, contact: Contact, today: date | None = None) -> bool:
        """Whether ``contact`` is in the segment (``today`` anchors ``within N days``; default: today in Brussels)."""
        return self._predicate(contact, today or brussels_today())


def _describe_expected(expected: Collection[str]) -> str:
    names = {
        "RPAR": "')'",
        "LPAR": "'('",
        "OP": "a comparison (=, !=, <, <=, >, >=)",
        "NAME": "a field name",
        "STRING": "a quoted value",
        "SIGNED_NUMBER": "a number",
        "INT": "a whole number",
        "_IN": "'in'",
        "_DAYS": "'days'",
        "_AND": "'and'",
        "_OR": "'or'",
        "_EMPTY": "'empty'",
        "COMMA": "','",
    }
    shown = sorted({names.get(e, e.lower().lstrip("_")) for e in expected})
    return ", ".join(shown[:6])


def _syntax_error(source: str, exc: UnexpectedInput) -> SegmentSyntaxError:
    line = getattr(exc, "line", 1) or 1
    column = getattr(exc, "column", 1) or 1
    if isinstance(exc, UnexpectedEOF):
        lines = source.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        return SegmentSyntaxError(
            f"the expression ends too early; expected {_describe_expected(exc.expected)}",
            line=line,
            column=column,
        )
    if isinstance(exc, UnexpectedToken):
        if exc.token.type == "$END":
            lines = source.split("\n")
            return SegmentSyntaxError(
                f"the expression ends too early; expected {_describe_expected(exc.expected)}",
                line=len(lines),
                column=len(lines[-1]) + 1,
            )
        hint = ""
        if exc.token.type == "NAME" and "STRING" in exc.expected:
            hint = f' (values must be quoted: "{exc.token}")'
        return SegmentSyntaxError(
            f"unexpected {str(exc.token)!r}; expected {_describe_expected(exc.expected)}{hint}",
            line=line,
            column=column,
        )
    if isinstance(exc, UnexpectedCharacters):
        # Lines as lark counts them (only "\n"): splitlines() also breaks at U+2028, form feeds...
        lines = source.split("\n")
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        char = text[column - 1] if 0 < column <= len(text) else "?"
        return SegmentSyntaxError(
            f'unexpected character {char!r} (values must be quoted: "fr")', line=line, column=column
        )
    return SegmentSyntaxError(str(exc).splitlines()[0], line=line, column=column)  # pragma: no cover


def _value(node: Tree[Token] | Token) -> Any:
    assert isinstance(node, Tree)
    kind = node.data
    if kind == "string":
        text = str(node.children[0])
        return text[1:-1]
    if kind == "number":
        text = str(node.children[0])
        return float(text) if any(c in text for c in ".eE") else int(text)
    if kind == "true":
        return True
    if kind == "false":
        return False
    raise AssertionError(kind)  # pragma: no cover


class _Compiler:
    def __init__(self, known_attributes: Collection[str]) -> None:
        self.known = set(CORE_FIELDS) | set(known_attributes)
        self.fields: set[str] = set()

    def field(self, node: Tree[Token]) -> str:
        token = node.children[0]
        assert isinstance(token, Token)
        name = str(token)
        if name.lower().startswith(("attributes.", "attr.")):
            # The import lower-cases the header, so "attributes.District" means the "district" column.
            attr = name.split(".", 1)[1].lower()
            self.fields.add(attr)
            return attr
        if name not in self.known:
            close = difflib.get_close_matches(name, sorted(self.known), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _UnknownField(
                f"unknown field {name!r}{hint}; known fields: {', '.join(sorted(self.known))}",
                name=name,
                line=token.line or 1,
                column=token.column or 1,
            )
        self.fields.add(name)
        return name

    def coerce(self, name: str, raw: Any, token_node: Tree[Token]) -> Any:
        if name in _DATE_FIELDS:
            if not isinstance(raw, str):
                raise self._value_error(token_node, f'{name} compares with a date such as "2026-12-31"')
            try:
                return date.fromisoformat(raw)
            except ValueError:
                raise self._value_error(token_node, f"{raw!r} is not an ISO date (YYYY-MM-DD)") from None
        if name in _BOOL_FIELDS:
            if not isinstance(raw, bool):
                raise self._value_error(token_node, f"{name} compares with true or false")
            return raw
        if isinstance(raw, bool):
            return "true" if raw else "false"
        if name in _CASE_INSENSITIVE and isinstance(raw, str):
            return raw.lower()
        return raw

    @staticmethod
    def _value_error(node: Tree[Token], message: str) -> SegmentSyntaxError:
        meta = node.meta
        return SegmentSyntaxError(
            message, line=getattr(meta, "line", 1) or 1, column=getattr(meta, "column", 1) or 1
        )

    def compile(self, node: Tree[Token]) -> Predicate:
        kind = node.data
        kids = [k for k in node.children if isinstance(k, Tree)]
        if kind == "or_":
            parts = [self.compile(k) for k in kids]
            return lambda c, t: any(p(c, t) for p in parts)
        if kind == "and_":
            parts = [self.compile(k) for k in kids]
            return lambda c, t: all(p(c, t) for p in parts)
        if kind == "not_":
            inner = self.compile(kids[0])
            return lambda c, t: not inner(c, t)
        name = self.field(kids[0])
        getter = _getter(name)
        if kind == "compare":
            op = str(next(k for k in node.children if isinstance(k, Token) and k.type == "OP"))
            target = self.coerce(name, _value(kids[1]), kids[1])
            return _comparison(getter, op, target)
        if kind in ("in_", "not_in"):
            options = frozenset(self.coerce(name, _value(k), k) for k in kids[1:])
            negate = kind == "not_in"
            return lambda c, t: (getter(c) in options) != negate
        if kind == "within":
            if name not in _DATE_FIELDS:
                raise self._value_error(
                    kids[0], f"'within N days' needs a date field, and {name!r} is not one"
                )
            count_token = next(k for k in node.children if isinstance(k, Token) and k.type == "INT")
            # A count past the calendar's span means "up to its end": clamped, not an OverflowError.
            span = (date.max - date.min).days
            days = timedelta(days=max(-span, min(span, int(str(count_token)))))

            def within(c: Contact, t: date) -> bool:
                value = getter(c)
                if value is None:
                    return False
                try:
                    end = t + days
                except OverflowError:
                    end = date.max if days > timedelta(0) else date.min
                low, high = sorted((t, end))
                return bool(low <= value <= high)

            return within
        if kind in ("empty", "not_empty"):
            want_empty = kind == "empty"
            return lambda c, t: (getter(c) in (None, "")) == want_empty
        raise AssertionError(kind)  # pragma: no cover


def _getter(name: str) -> Callable[[Contact], Any]:
    if name in CORE_FIELDS:
        if name in _CASE_INSENSITIVE:
            return lambda c: (getattr(c, name) or "").lower()
        return lambda c: getattr(c, name)
    return lambda c: c.attributes.get(name)


def _comparison(getter: Callable[[Contact], Any], op: str, target: Any) -> Predicate:
    def check(c: Contact, _t: date) -> bool:
        value = getter(c)
        if value is None:
            return op == "!="
        if isinstance(target, int | float) and not isinstance(value, int | float):
            try:
                value = float(value)
            except (TypeError, ValueError):
                return op == "!="
        elif isinstance(target, str) and not isinstance(value, str):
            value = str(value)
        try:
            if op in ("=", "=="):
                return bool(value == target)
            if op == "!=":
                return bool(value != target)
            if op == "<":
                return bool(value < target)
            if op == "<=":
                return bool(value <= target)
            if op == ">":
                return bool(value > target)
            return bool(value >= target)
        except TypeError:
            return False

    return check


def parse_segment(source: str, *, known_attributes: Collection[str] = ()) -> Segment:
    """Parse a segment expression; raises :class:`SegmentSyntaxError` with line, column and a hint.

    ``known_attributes`` are the extra CSV columns that may be named bare (``district = "1000"``);
    any attribute can also be named as ``attributes.NAME``.
    """
    if not source.strip():
        raise SegmentSyntaxError(
            'the segment is empty; write a condition such as language = "fr"', line=1, column=1
        )
    try:
        tree = _parser().parse(source)
    except UnexpectedInput as exc:
        raise _syntax_error(source, exc) from None
    compiler = _Compiler(known_attributes)
    predicate = compiler.compile(tree)
    return Segment(source=source, fields=frozenset(compiler.fields), _predicate=predicate)
