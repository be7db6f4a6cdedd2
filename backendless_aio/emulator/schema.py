"""Column types and value coercion, as Backendless's dynamic schema does them. Pure: no I/O.

A property's column gets its type from the first value stored in it (dynamic schema); from then
on a value must fit that type, or it is refused with Backendless's message. The caller (the
users service) turns a `ValueRefused` into the fault code of its operation.

What Backendless itself pins (its JS SDK's e2e `persistence.js`, "Data Types"): a string sent to
an INT, DOUBLE or BOOLEAN column is refused with "Unable to save object - invalid data type for
properties - NAME. You can change the property type in developer console."; a string that is not
a date sent to a DATETIME column with "Invalid date format for property NAME"; a DATETIME value
goes out as integer milliseconds since the epoch. The rest below is the emulator's own decision,
said where it is made.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any, Final

__all__ = [
    "BOOLEAN",
    "DATETIME",
    "DOUBLE",
    "INT",
    "JSON",
    "MAX_SAFE_INT",
    "STRING",
    "ValueRefused",
    "coerce",
    "infer_type",
    "parse_date",
]

STRING: Final = "STRING"
TEXT: Final = "TEXT"
EXTENDED_STRING: Final = "EXTENDED_STRING"
STRING_ID: Final = "STRING_ID"
INT: Final = "INT"
DOUBLE: Final = "DOUBLE"
BOOLEAN: Final = "BOOLEAN"
DATETIME: Final = "DATETIME"
JSON: Final = "JSON"

#: Types whose values are strings.
STRING_TYPES: Final = frozenset({STRING, TEXT, EXTENDED_STRING, STRING_ID})
#: Every type a column can have in the emulator.
TYPES: Final = frozenset({*STRING_TYPES, INT, DOUBLE, BOOLEAN, DATETIME, JSON})

#: The largest integer an INT column keeps (the emulator's decision: what a JSON number read as
#: an IEEE double, as the JS SDK reads it, keeps exactly).
MAX_SAFE_INT: Final = 2**53 - 1
#: How deep arrays and objects may nest in a JSON value (the emulator's decision: MySQL's limit
#: for a JSON document, which Backendless's JSON columns are stored as).
MAX_JSON_DEPTH: Final = 100

_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_MIN_MS: Final = (_dt.datetime(1, 1, 1, tzinfo=_dt.timezone.utc) - _EPOCH) // _dt.timedelta(
    milliseconds=1)
_MAX_MS: Final = (_dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=_dt.timezone.utc)
                  - _EPOCH) // _dt.timedelta(milliseconds=1)

#: A string that makes a new column DATETIME under dynamic schema: ISO 8601 in UTC with the
#: "Z" designator, e.g. "2024-05-01T12:30:00.000Z" (the emulator's decision; the client sends a
#: datetime for a column it does not know yet in this form).
_ISO_UTC: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z")
_ISO: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?")
_US: Final = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?"
    r"(?: ?(?:GMT|UTC)?([+-]\d{2}:?\d{2})?)?")

_INVALID_TYPE: Final = ("Unable to save object - invalid data type for properties - {name}. "
                        "You can change the property type in developer console.")
_INVALID_DATE: Final = "Invalid date format for property {name}"


class ValueRefused(ValueError):
    """A value does not fit its column (or cannot be stored at all); `message` is the text of
    the Backendless fault to answer."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_json(name: str, value: Any) -> None:
    """Whether `value` is JSON the emulator can store: finite numbers, safe integers, at most
    `MAX_JSON_DEPTH` levels of arrays and objects (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueRefused(name, f"property '{name}' must be a finite number")
        if _is_int(item) and abs(item) > MAX_SAFE_INT:
            raise ValueRefused(name, f"property '{name}' holds an integer beyond +/-(2**53-1)")
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueRefused(name, f"property '{name}' nests arrays and objects deeper "
                                         f"than {MAX_JSON_DEPTH} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def infer_type(value: Any) -> str:
    """The type dynamic schema gives a new column from its first value.

    bool -> BOOLEAN, integer -> INT, other number -> DOUBLE, object or array -> JSON,
    a UTC ISO-8601 date string ("...T...Z") -> DATETIME, other strings and null -> STRING.
    """
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return DOUBLE
    if isinstance(value, dict | list):
        return JSON
    if isinstance(value, str) and _ISO_UTC.fullmatch(value):
        return DATETIME
    return STRING


def _ms(value: _dt.datetime) -> int:
    return (value - _EPOCH) // _dt.timedelta(milliseconds=1)


def _offset(text: str | None) -> _dt.timezone:
    if not text or text == "Z":
        return _dt.timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return _dt.timezone(sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def parse_date(text: str) -> int | None:
    """Milliseconds since the epoch for a date string in a form the emulator accepts, or None.

    Accepted: ISO 8601 ``2024-05-01``, ``2024-05-01T12:30[:00[.123]]`` with an optional ``Z`` or
    ``+02:00`` offset (a space may stand for the ``T``), ``MM/dd/yyyy[ HH:mm[:ss]]`` with an
    optional ``GMT+0200``-style offset, and every format Backendless documents for dates in a
    whereClause (``23-Mar-2015``, ``Mon Mar 23 10:00:00 UTC 2015``...), so a
    date that can be searched for can be stored. A date without an offset is UTC.
    """
    text = text.strip()
    ms = _parse_common(text)
    if ms is None:
        ms = _parse_documented(text)
    return ms if ms is not None and _MIN_MS <= ms <= _MAX_MS else None


#: The date formats Backendless documents (Java SimpleDateFormat patterns, as strptime), then
#: the ISO 8601 forms the emulator accepts too.
_DATE_FORMATS: Final = (
    "%a %b %d %H:%M:%S %Z %Y",  # EEE MMM dd HH:mm:ss zzz yyyy
    "%Y-%m-%dT%H:%M:%S.%fZ",  # yyyy-MM-dd'T'HH:mm:ss.SSS'Z'
    "%m/%d/%Y %H:%M:%S GMT%z",  # MM/dd/yyyy HH:mm:ss 'GMT'z
    "%m.%d.%Y %H:%M:%S GMT%z",
    "%m-%d-%Y %H:%M:%S GMT%z",
    "%m/%d/%Y %H:%M:%S %z",  # MM/dd/yyyy HH:mm:ss z
    "%m.%d.%Y %H:%M:%S %z",
    "%m/%d/%Y %H:%M:%S %Z",
    "%m.%d.%Y %H:%M:%S %Z",
    "%m.%d.%Y %H:%M:%S",
    "%m-%d-%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%m.%d.%Y",
    "%m-%d-%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%d/%b/%Y",  # dd/MMM/yyyy
    "%d-%b-%Y",  # dd-MMM-yyyy
    "%A, %d %B %Y",  # EEEEE, d MMMMM yyyy
    "%Y/%m/%d/%H:%M",  # yyyy/MM/d/HH:mm
    # ISO 8601 (an emulator extension)
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f%z",
)


def _parse_documented(text: str) -> int | None:
    """A date in one of the formats Backendless documents for a whereClause (UTC when it names
    no zone), or None."""
    text = " ".join(text.split())
    for fmt in _DATE_FORMATS:
        try:
            when = _dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        return _ms(when)
    return None


def _parse_common(text: str) -> int | None:
    try:
        if match := _ISO.fullmatch(text):
            y, mo, d, h, mi, s, frac, off = match.groups()
            micro = int((frac or "0").ljust(6, "0"))
            when = _dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0),
                                micro, tzinfo=_offset(off))
        elif match := _US.fullmatch(text):
            mo, d, y, h, mi, s, off = match.groups()
            when = _dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0),
                                tzinfo=_offset(off))
        else:
            return None
        return _ms(when)
    except (ValueError, OverflowError):
        return None


def coerce(name: str, kind: str, value: Any) -> Any:
    """`value` as a column of type `kind` stores it, or raise `ValueRefused`.

    null fits every type. STRING-like: strings only. INT: integers within +/-(2**53-1), and
    floats with no fractional part (stored as integers). DOUBLE: any finite number (stored as a
    float). BOOLEAN: true/false only. DATETIME: integer milliseconds since the epoch (year 1 to
    9999), or a date string (`parse_date`), stored as milliseconds. JSON: any JSON value.
    Refusing a number for a string column (rather than converting it) is the emulator's decision.
    """
    if value is None:
        return None
    if kind == JSON:
        _check_json(name, value)
        return value
    if isinstance(value, dict | list):
        raise ValueRefused(name, _INVALID_TYPE.format(name=name))
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueRefused(name, f"property '{name}' must be a finite number")
    if kind in STRING_TYPES:
        if isinstance(value, str):
            return value
    elif kind == INT:
        if _is_int(value) or (isinstance(value, float) and value.is_integer()):
            number = int(value)
            if abs(number) > MAX_SAFE_INT:
                raise ValueRefused(name, _INVALID_TYPE.format(name=name))
            return number
    elif kind == DOUBLE:
        if _is_int(value) or isinstance(value, float):
            return float(value)
    elif kind == BOOLEAN:
        if isinstance(value, bool):
            return value
    elif kind == DATETIME:
        if isinstance(value, str):
            ms = parse_date(value)
            if ms is None:
                raise ValueRefused(name, _INVALID_DATE.format(name=name))
            return ms
        if _is_int(value) or (isinstance(value, float) and value.is_integer()):
            if not _MIN_MS <= value <= _MAX_MS:
                raise ValueRefused(name, _INVALID_DATE.format(name=name))
            return int(value)
        raise ValueRefused(name, _INVALID_DATE.format(name=name))
    raise ValueRefused(name, _INVALID_TYPE.format(name=name))
