"""The whereClause and sortBy of Backendless's Data service: parsed, checked, compiled to SQLite.

Pure: text and the table's columns in, a parameterised SQL fragment out; no I/O. A value from
the clause only ever travels as a bound parameter; the SQL text is made of fixed fragments and
the column expressions the caller (the store) hands in.

The grammar (keywords in any case)::

    clause    := or_expr
    or_expr   := and_expr ("OR" and_expr)*
    and_expr  := not_expr ("AND" not_expr)*
    not_expr  := "NOT" not_expr | "(" or_expr ")" | predicate
    predicate := column ("=" | "!=" | "<>" | "<" | "<=" | ">" | ">=") literal
               | literal ("=" | ...) column
               | column ["NOT"] "LIKE" string
               | column ["NOT"] "IN" "(" literal ("," literal)* ")"
               | column ["NOT"] "BETWEEN" literal "AND" literal
               | column "IS" ["NOT"] "NULL"
               | column ("=" | "!=" | "<>") "NULL"
               | column ("AFTER" | "BEFORE" | "AT" "OR" "AFTER" | "AT" "OR" "BEFORE") literal
    literal   := 'text with '' for a quote' | -12 | 3.5 | 1e3 | TRUE | FALSE

Faults are :class:`QueryError` with the Backendless code to answer (1017 for the where clause,
1006 for sortBy); the caller turns them into its own fault type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from .._codes import Code
from .schema import BOOLEAN, DATETIME, DOUBLE, INT, STRING_TYPES, parse_date

#: Backendless's fault codes for bad queries.
INVALID_WHERE: Final = int(Code.INVALID_WHERE)
INVALID_PROPERTIES: Final = int(Code.UNKNOWN_COLUMN)

#: Limits of the emulator (SQLite's expression depth and bound-variable count stay far away).
MAX_DEPTH: Final = 64
MAX_PREDICATES: Final = 256
MAX_PARAMS: Final = 2000
MAX_LIKE_PATTERN: Final = 10_000
_INT64: Final = 2**63

NUMBER_TYPES: Final = frozenset({INT, DOUBLE})

_KEYWORDS: Final = frozenset({
    "AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "TRUE", "FALSE", "BETWEEN", "AFTER",
    "BEFORE", "AT",
})
_COMPARISONS: Final = {"=": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">",
                       ">=": ">=", "=>": ">=", "=<": "<="}
_FLIPPED: Final = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_DATE_WORDS: Final = {"AFTER": ">", "BEFORE": "<"}


class QueryError(Exception):
    """A clause the emulator refuses: ``code`` is the Backendless fault code to answer."""

    def __init__(self, message: str, code: int = INVALID_WHERE) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@attrs.frozen
class Column:
    """One queryable column: its Backendless type and the SQL expression that reads it.

    ``sql`` comes from the store (never from a request); ``params`` are bound with it.
    """

    type: str
    sql: str
    params: tuple[Any, ...] = ()


@attrs.frozen
class Compiled:
    """A compiled clause: a SQL boolean expression and its bound parameters, in order."""

    sql: str
    params: tuple[Any, ...]


# -- tokens ---------------------------------------------------------------------------------


@attrs.frozen
class _Token:
    kind: str  # "word", "string", "number", "op", "(", ")", ",", "end"
    value: Any
    pos: int
    text: str = ""


_OP_CHARS: Final = "=!<>"


def _digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _is_word_start(ch: str) -> bool:
    return ch == "_" or ch.isalpha()


def _is_word_char(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


def tokenize(text: str) -> list[_Token]:
    """The clause's tokens; a :class:`QueryError` for a character that starts none."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch == "'":
            parts: list[str] = []
            i += 1
            while True:
                end = text.find("'", i)
                if end < 0:
                    raise QueryError(f"Invalid where clause: the string that starts at "
                                     f"character {start + 1} is not closed")
                parts.append(text[i:end])
                if end + 1 < n and text[end + 1] == "'":
                    parts.append("'")
                    i = end + 2
                    continue
                i = end + 1
                break
            tokens.append(_Token("string", "".join(parts), start))
        elif ch == '"':
            raise QueryError(f"Invalid where clause: string values take single quotes "
                             f"('text'), not double quotes (character {start + 1})")
        elif _digit(ch) or (ch in "-." and i + 1 < n and (_digit(text[i + 1]) or (
                ch == "-" and text[i + 1] == "." and i + 2 < n and _digit(text[i + 2])))):
            i = _scan_number(text, i)
            tokens.append(_Token("number", _number(text[start:i], start), start, text[start:i]))
        elif _is_word_start(ch):
            while i < n and _is_word_char(text[i]):
                i += 1
            if i < n and text[i] == ".":
                raise QueryError(f"Invalid where clause: related properties "
                                 f"('{text[start:i]}.…', character {start + 1}) are not "
                                 f"supported by the emulator")
            tokens.append(_Token("word", text[start:i], start))
        elif ch in _OP_CHARS:
            while i < n and text[i] in _OP_CHARS and i - start < 2:
                i += 1
            op = text[start:i]
            if op not in _COMPARISONS:
                raise QueryError(f"Invalid where clause: unknown operator '{op}' at character "
                                 f"{start + 1}")
            tokens.append(_Token("op", _COMPARISONS[op], start, op))
        elif ch in "(),":
            i += 1
            tokens.append(_Token(ch, ch, start))
        else:
            raise QueryError(f"Invalid where clause: unexpected character {ch!r} at character "
                             f"{start + 1}")
    tokens.append(_Token("end", None, n))
    return tokens


def _scan_number(text: str, i: int) -> int:
    n = len(text)
    if text[i] == "-":
        i += 1
    while i < n and _digit(text[i]):
        i += 1
    if i < n and text[i] == ".":
        i += 1
        while i < n and _digit(text[i]):
            i += 1
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        if j < n and _digit(text[j]):
            i = j
            while i < n and _digit(text[i]):
                i += 1
    if i < n and _is_word_char(text[i]):
        raise QueryError(f"Invalid where clause: malformed number at character {i + 1}")
    return i


def _number(text: str, pos: int) -> int | float:
    if all(_digit(c) or c == "-" for c in text):
        value: int | float = int(text)
        if not -_INT64 <= value < _INT64:
            raise QueryError(f"Invalid where clause: the number at character {pos + 1} is out "
                             f"of range")
        return value
    try:
        number = float(text)
    except ValueError:
        raise QueryError(f"Invalid where clause: malformed number at character {pos + 1}"
                         ) from None
    if not math.isfinite(number):
        raise QueryError(f"Invalid where clause: the number at character {pos + 1} is out of "
                         f"range")
    return number


# -- the tree -------------------------------------------------------------------------------


@attrs.frozen
class Literal:
    value: Any  # str, int, float, bool
    pos: int


@attrs.frozen
class Compare:
    column: str
    op: str  # = != < <= > >=
    value: Literal
    pos: int
    dates_only: bool = False  # AFTER / BEFORE / AT OR ...


@attrs.frozen
class Like:
    column: str
    pattern: str
    negated: bool
    pos: int


@attrs.frozen
class In:
    column: str
    values: tuple[Literal, ...]
    negated: bool
    pos: int


@attrs.frozen
class Between:
    column: str
    low: Literal
    high: Literal
    negated: bool
    pos: int


@attrs.frozen
class IsNull:
    column: str
    negated: bool
    pos: int


@attrs.frozen
class Not:
    operand: Node


@attrs.frozen
class BoolOp:
    op: str  # "AND" / "OR"
    operands: tuple[Node, ...]


Node = Compare | Like | In | Between | IsNull | Not | BoolOp


# -- the parser -----------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.predicates = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_word(self, *words: str) -> bool:
        tok = self.tok
        return tok.kind == "word" and tok.value.upper() in words

    def fail(self, expected: str) -> QueryError:
        tok = self.tok
        found = "the end of the clause" if tok.kind == "end" else \
            f"'{tok.text or tok.value}'" if tok.kind != "string" else "a string"
        return QueryError(f"Invalid where clause: expected {expected} at character "
                          f"{tok.pos + 1}, found {found}")

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise QueryError("Invalid where clause: the clause is empty")
        node = self.or_expr()
        if self.tok.kind != "end":
            raise self.fail("AND, OR or the end of the clause")
        return node

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.is_word("OR"):
            self.advance()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else BoolOp("OR", tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.not_expr()]
        while self.is_word("AND"):
            self.advance()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else BoolOp("AND", tuple(operands))

    def not_expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(f"Invalid where clause: nested deeper than {MAX_DEPTH} levels")
        try:
            if self.is_word("NOT"):
                self.advance()
                return Not(self.not_expr())
            if self.tok.kind == "(":
                self.advance()
                node = self.or_expr()
                if self.tok.kind != ")":
                    raise self.fail("')'")
                self.advance()
                return node
            return self.predicate()
        finally:
            self.depth -= 1

    def literal(self) -> Literal:
        tok = self.tok
        if tok.kind in ("string", "number"):
            self.advance()
            return Literal(tok.value, tok.pos)
        if self.is_word("TRUE", "FALSE"):
            self.advance()
            return Literal(tok.value.upper() == "TRUE", tok.pos)
        raise self.fail("a value ('text', a number, TRUE or FALSE)")

    def column(self) -> tuple[str, int]:
        tok = self.tok
        if tok.kind != "word" or tok.value.upper() in ("NOT", "NULL", "TRUE", "FALSE"):
            raise self.fail("a column name")
        self.advance()
        if self.tok.kind == "(":
            raise QueryError(f"Invalid where clause: functions ('{tok.value}(…)', character "
                             f"{tok.pos + 1}) are not supported by the emulator")
        return tok.value, tok.pos

    def predicate(self) -> Node:
        self.predicates += 1
        if self.predicates > MAX_PREDICATES:
            raise QueryError(f"Invalid where clause: more than {MAX_PREDICATES} conditions")
        tok = self.tok
        if tok.kind in ("string", "number") or self.is_word("TRUE", "FALSE"):
            value = self.literal()  # literal op column
            if self.tok.kind != "op":
                raise self.fail("a comparison operator")
            op = self.advance().value
            name, _ = self.column()
            return Compare(name, _FLIPPED[op], value, tok.pos)
        name, pos = self.column()
        tok = self.tok
        if tok.kind == "op":
            self.advance()
            if self.is_word("NULL"):
                self.advance()
                if tok.value not in ("=", "!="):
                    raise QueryError(f"Invalid where clause: NULL can only be compared with =, "
                                     f"!= or <> (character {tok.pos + 1})")
                return IsNull(name, tok.value == "!=", pos)
            if self.tok.kind == "word" and not self.is_word("TRUE", "FALSE"):
                raise QueryError(f"Invalid where clause: comparing two columns "
                                 f"(character {pos + 1}) is not supported by the emulator")
            return Compare(name, tok.value, self.literal(), pos)
        if self.is_word("IS"):
            self.advance()
            negated = False
            if self.is_word("NOT"):
                self.advance()
                negated = True
            if not self.is_word("NULL"):
                raise self.fail("NULL")
            self.advance()
            return IsNull(name, negated, pos)
        if self.is_word("AFTER", "BEFORE"):
            op = _DATE_WORDS[self.advance().value.upper()]
            return Compare(name, op, self.literal(), pos, dates_only=True)
        if self.is_word("AT"):
            self.advance()
            if not self.is_word("OR"):
                raise self.fail("OR (AT OR AFTER, AT OR BEFORE)")
            self.advance()
            if not self.is_word("AFTER", "BEFORE"):
                raise self.fail("AFTER or BEFORE")
            op = _DATE_WORDS[self.advance().value.upper()] + "="
            return Compare(name, op, self.literal(), pos, dates_only=True)
        negated = False
        if self.is_word("NOT"):
            self.advance()
            negated = True
        if self.is_word("LIKE"):
            self.advance()
            if self.tok.kind != "string":
                raise self.fail("a 'pattern' after LIKE")
            return Like(name, self.advance().value, negated, pos)
        if self.is_word("IN"):
            self.advance()
            if self.tok.kind != "(":
                raise self.fail("'(' after IN")
            self.advance()
            values = [self.literal()]
            while self.tok.kind == ",":
                self.advance()
                values.append(self.literal())
            if self.tok.kind != ")":
                raise self.fail("',' or ')'")
            self.advance()
            return In(name, tuple(values), negated, pos)
        if self.is_word("BETWEEN"):
            self.advance()
            low = self.literal()
            if not self.is_word("AND"):
                raise self.fail("AND (BETWEEN low AND high)")
            self.advance()
            return Between(name, low, self.literal(), negated, pos)
        raise self.fail("an operator (=, !=, <, >, LIKE, IN, IS NULL, BETWEEN...)"
                        if not negated else "LIKE, IN or BETWEEN after NOT")


def parse(text: str) -> Node:
    """The clause's tree; a :class:`QueryError` (code 1017) when it is malformed."""
    if not isinstance(text, str):
        raise QueryError("Invalid where clause: it must be a string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise QueryError("Invalid where clause: it is not valid text (a lone surrogate)"
                         ) from None
    return _Parser(text).parse()


# -- the compiler ---------------------------------------------------------------------------


class _Compiler:
    def __init__(self, columns: Mapping[str, Column]) -> None:
        self.columns = columns
        self.params: list[Any] = []

    def column(self, name: str, pos: int) -> Column:
        column = self.columns.get(name)
        if column is None:
            raise QueryError(f"Invalid where clause: column '{name}' (character {pos + 1}) "
                             f"does not exist in table 'Users'")
        return column

    def bind(self, value: Any) -> str:
        self.params.append(value)
        if len(self.params) > MAX_PARAMS:
            raise QueryError(f"Invalid where clause: more than {MAX_PARAMS} values")
        return "?"

    def ref(self, column: Column) -> str:
        for value in column.params:
            self.bind(value)
        return column.sql

    def value(self, name: str, column: Column, literal: Literal) -> Any:
        """The literal as the column's type stores it, or a type-mismatch fault."""
        kind, value = column.type, literal.value
        where = f"(character {literal.pos + 1})"
        if kind in STRING_TYPES:
            if isinstance(value, str):
                return value
        elif kind in NUMBER_TYPES:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
        elif kind == BOOLEAN:
            if isinstance(value, bool):
                return 1 if value else 0
        elif kind == DATETIME:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                millis = parse_date(value)
                if millis is not None:
                    return millis
                raise QueryError(f"Invalid where clause: {value!r} {where} is not a date in a "
                                 f"supported format (e.g. '03/23/2015', '23-Mar-2015', "
                                 f"'2015-03-23T00:00:00.000Z') nor milliseconds")
        else:
            raise QueryError(f"Invalid where clause: column '{name}' is of type {kind}, which "
                             f"the emulator can only test with IS [NOT] NULL")
        shown = "TRUE" if value is True else "FALSE" if value is False else repr(value)
        raise QueryError(f"Invalid where clause: the value {shown} {where} does not match the "
                         f"type of column '{name}' ({kind})")

    def compile(self, node: Node) -> str:
        if isinstance(node, BoolOp):
            return "(" + f" {node.op} ".join(self.compile(n) for n in node.operands) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.compile(node.operand)})"
        column = self.column(node.column, node.pos)
        if isinstance(node, IsNull):
            return f"({self.ref(column)} IS {'NOT ' if node.negated else ''}NULL)"
        if isinstance(node, Compare):
            if node.dates_only and column.type != DATETIME:
                raise QueryError(f"Invalid where clause: AFTER, BEFORE and AT OR ... compare "
                                 f"dates; column '{node.column}' is {column.type}")
            self.ordered(node.column, column, node.op)
            value = self.value(node.column, column, node.value)
            return f"({self.ref(column)} {node.op} {self.bind(value)})"
        if isinstance(node, Like):
            if column.type not in STRING_TYPES:
                raise QueryError(f"Invalid where clause: LIKE needs a text column; "
                                 f"'{node.column}' is {column.type}")
            if len(node.pattern) > MAX_LIKE_PATTERN:
                raise QueryError(f"Invalid where clause: a LIKE pattern longer than "
                                 f"{MAX_LIKE_PATTERN} characters")
            if _trailing_escape(node.pattern):
                raise QueryError("Invalid where clause: a LIKE pattern cannot end with a lone "
                                 "backslash")
            sql = f"({self.ref(column)} LIKE {self.bind(node.pattern)} ESCAPE '\\')"
            return f"(NOT {sql})" if node.negated else sql
        if isinstance(node, In):
            ref = self.ref(column)
            marks = ", ".join(self.bind(self.value(node.column, column, v))
                              for v in node.values)
            return f"({ref} {'NOT ' if node.negated else ''}IN ({marks}))"
        self.ordered(node.column, column, "<")
        ref = self.ref(column)
        low = self.bind(self.value(node.column, column, node.low))
        high = self.bind(self.value(node.column, column, node.high))
        return f"({ref} {'NOT ' if node.negated else ''}BETWEEN {low} AND {high})"

    @staticmethod
    def ordered(name: str, column: Column, op: str) -> None:
        if column.type == BOOLEAN and op not in ("=", "!="):
            raise QueryError(f"Invalid where clause: column '{name}' is BOOLEAN: compare it "
                             f"with = or != only")


def _trailing_escape(pattern: str) -> bool:
    count = len(pattern) - len(pattern.rstrip("\\"))
    return count % 2 == 1


def compile_where(text: str | None, columns: Mapping[str, Column]) -> Compiled | None:
    """The clause as a SQL boolean expression over ``columns`` (None for no clause).

    Raises :class:`QueryError` (code 1017) for a malformed clause, an unknown column or a
    value that does not match its column's type.
    """
    if text is None or not text.strip():
        return None
    node = parse(text)
    compiler = _Compiler(columns)
    sql = compiler.compile(node)
    return Compiled(sql, tuple(compiler.params))


# -- sortBy ---------------------------------------------------------------------------------


@attrs.frozen
class SortKey:
    column: str
    descending: bool


def parse_sort(entries: Sequence[str], columns: Mapping[str, Column]) -> list[SortKey]:
    """``["name", "age DESC"]`` (entries may hold commas) as sort keys over known columns.

    Raises :class:`QueryError` with code 1006 for an unknown column or a malformed entry.
    """
    keys: list[SortKey] = []
    for entry in entries:
        for part in entry.split(","):
            words = part.split()
            if not words:
                continue
            name = words[0]
            direction = words[1].upper() if len(words) > 1 else "ASC"
            if len(words) > 2 or direction not in ("ASC", "DESC"):
                raise QueryError(f"Invalid sortBy: {part.strip()!r}: use 'column', "
                                 f"'column ASC' or 'column DESC'", INVALID_PROPERTIES)
            if name not in columns:
                raise QueryError(f"Column '{name}' does not exist in table 'Users'",
                                 INVALID_PROPERTIES)
            keys.append(SortKey(name, direction == "DESC"))
    return keys


def compile_sort(keys: Sequence[SortKey], columns: Mapping[str, Column],
                 tiebreak: str) -> Compiled:
    """An ORDER BY list (without the keywords); ties go by ``tiebreak`` in the direction of
    the last key (ascending without keys)."""
    parts: list[str] = []
    params: list[Any] = []
    for key in keys:
        column = columns[key.column]
        parts.append(f"{column.sql} {'DESC' if key.descending else 'ASC'}")
        params.extend(column.params)
    last_desc = keys[-1].descending if keys else False
    parts.append(f"{tiebreak} {'DESC' if last_desc else 'ASC'}")
    return Compiled(", ".join(parts), tuple(params))
