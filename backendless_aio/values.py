"""Property values: what the client accepts, how datetimes travel, and what it knows of the
Users class's column types. Sans-I/O: the one request it may need (the column types) is sent
by users.py.

Rules (see docs/properties.md):

- A value is None, bool, int within +/-(2**53-1), a finite float, str, an aware datetime, or a
  JSON value (dict with str keys / list / tuple of those, no datetime inside). Anything else
  is refused at ``set_property`` with a TypeError / ValueError naming the property.
- An aware datetime is kept in UTC, to the millisecond (what Backendless stores). A naive
  datetime is refused: its time zone would be a guess.
- On the wire a datetime goes out as integer milliseconds when its column is known to be
  DATETIME, else as an ISO-8601 UTC string (``2024-05-01T12:30:00.000Z``), the form that makes
  dynamic schema create a DATETIME column. DATETIME values come back as integer milliseconds and
  are read as aware UTC datetimes.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ._codes import DATE_KEYS, SYSTEM_KEYS

__all__ = ["MAX_JSON_DEPTH", "MAX_SAFE_INT", "READ_ONLY", "PropertyTypes", "check_value",
           "from_millis", "to_millis"]

#: The largest integer a property keeps exactly (a JSON number read as an IEEE double).
MAX_SAFE_INT: Final = 2**53 - 1
#: How deep arrays and objects may nest in a JSON value (a JSON column is a MySQL JSON
#: document in Backendless, which nests at most 100 levels).
MAX_JSON_DEPTH: Final = 100
#: System properties: set by the server, read-only in a user object.
READ_ONLY: Final = SYSTEM_KEYS - {"user-token"}
#: Properties every Users class has, whose types the client knows without asking.
_ALWAYS_KNOWN: Final = frozenset({*SYSTEM_KEYS, "email", "name", "blUserLocale", "password"})

_UTC: Final = _dt.timezone.utc
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_MS: Final = _dt.timedelta(milliseconds=1)


def to_millis(value: _dt.datetime | _dt.date) -> int:
    """A datetime as integer milliseconds since the epoch (naive datetimes are taken as UTC)."""
    if not isinstance(value, _dt.datetime):
        value = _dt.datetime(value.year, value.month, value.day, tzinfo=_UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    return (value - _EPOCH) // _MS


def from_millis(value: Any) -> Any:
    """Integer milliseconds as an aware UTC datetime; anything else is returned as it is."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return _EPOCH + _dt.timedelta(milliseconds=value)
        except OverflowError:
            return value
    return value


def iso_utc(value: _dt.datetime) -> str:
    """``2024-05-01T12:30:00.000Z``: the form that types a new column as DATETIME."""
    return value.astimezone(_UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _refuse_type(name: str, value: Any, what: str = "") -> TypeError:
    return TypeError(
        f"property {name!r}: a value of type {type(value).__name__}{what} cannot be stored; "
        "use None, bool, int, float, str, an aware datetime, or a JSON dict/list")


def _check_text(name: str, value: str) -> str:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"property {name!r}: the string holds a lone surrogate, which "
                             "UTF-8 (and so JSON) cannot carry") from None
    return value


def _check_number(name: str, value: Any) -> Any:
    if isinstance(value, int):
        value = int(value)  # an IntEnum, say, as a plain int
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise ValueError(f"property {name!r}: {value} is beyond +/-(2**53-1), the integers "
                             "Backendless keeps exactly")
        return value
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"property {name!r}: {value} is not a finite number; JSON cannot "
                         "carry NaN or infinity")
    return value


def _check_datetime(name: str, value: _dt.datetime) -> _dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"property {name!r}: a naive datetime is refused (its time zone would "
                         "be a guess); give tzinfo, e.g. datetime(..., tzinfo=timezone.utc)")
    value = value.astimezone(_UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _check_json(name: str, value: Any, depth: int = 1) -> Any:
    """A JSON value, copied (tuples become lists), or a TypeError / ValueError."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _check_text(name, str.__str__(value))
    if isinstance(value, int | float):
        return _check_number(name, value)
    if isinstance(value, Mapping | list | tuple) and depth > MAX_JSON_DEPTH:
        raise ValueError(f"property {name!r}: arrays and objects nest deeper than "
                         f"{MAX_JSON_DEPTH} levels")
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"property {name!r}: JSON object keys must be strings, not "
                                f"{type(key).__name__}")
            out[_check_text(name, str.__str__(key))] = _check_json(name, item, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_check_json(name, item, depth + 1) for item in value]
    if isinstance(value, _dt.datetime | _dt.date):
        raise TypeError(f"property {name!r}: a datetime inside a JSON value would come back "
                        "as a number; store it in a property of its own")
    raise _refuse_type(name, value, " (inside a JSON value)")


def check_value(name: str, value: Any) -> Any:
    """``value`` as the client keeps it for property ``name``, or a TypeError / ValueError that
    names the property. Strings and ints are returned as they are (the hot path)."""
    kind = type(value)
    if kind is str:
        return _check_text(name, value)
    if value is None or kind is bool:
        return value
    if kind is int or kind is float:
        return _check_number(name, value)
    if isinstance(value, _dt.datetime):
        return _check_datetime(name, value)
    if isinstance(value, _dt.date):
        raise TypeError(f"property {name!r}: a date is refused (it would come back as a "
                        "datetime); give an aware datetime at midnight UTC instead")
    if isinstance(value, str | int | float):  # subclasses: str enums, IntEnum...
        return _check_json(name, value)
    if isinstance(value, Mapping | list | tuple):
        return _check_json(name, value)
    raise _refuse_type(name, value)


class PropertyTypes:
    """What one app's client knows of the Users class's column types.

    Learnt from ``users/userclassprops`` once, and again only when an answer carries an integer
    in a column not seen before (only a DATETIME column's value could be mistaken for a number)
    that this client did not write itself; a column the client created with a datetime is known
    as DATETIME at once.
    """

    __slots__ = ("dates", "known", "refreshing")

    def __init__(self) -> None:
        #: Non-system DATETIME columns.
        self.dates: set[str] = set()
        #: Columns whose type is known (or was asked for and could not be learnt).
        self.known: set[str] = set(_ALWAYS_KNOWN)
        #: The running refresh (an asyncio.Task), shared by concurrent answers.
        self.refreshing: Any = None

    def needs_refresh(self, data: Mapping[str, Any],
                      sent: Mapping[str, Any] | None = None) -> bool:
        """Whether ``data`` holds an integer in a column of unknown type.

        Columns with a value that is neither an integer nor null cannot be DATETIME (whose
        values arrive as integers): they become known here. An integer this client itself sent
        (``sent``) and got back unchanged is taken as a number column, without asking: it reads
        back as what was written. Null columns stay unknown until a value shows up.
        """
        known = self.known
        if known.issuperset(data):
            return False
        asking = False
        for name in data.keys() - known:
            value = data[name]
            if type(value) is int:
                if sent is not None and type(sent.get(name)) is int and sent[name] == value:
                    known.add(name)
                else:
                    asking = True
            elif value is not None:
                known.add(name)
        return asking

    def learn(self, columns: Iterable[tuple[str, str]]) -> None:
        """Take (name, type) pairs as ``describe_user_class`` lists them."""
        for name, kind in columns:
            self.known.add(name)
            if kind == "DATETIME" and name not in DATE_KEYS:
                self.dates.add(name)
            else:
                self.dates.discard(name)

    def give_up(self, data: Mapping[str, Any]) -> None:
        """The types could not be learnt: do not ask again for these columns."""
        self.known.update(data)

    def convert(self, data: dict[str, Any]) -> None:
        """Read DATETIME columns of an answer as aware UTC datetimes, in place."""
        for name in self.dates:
            value = data.get(name)
            if type(value) is int:
                data[name] = from_millis(value)

    def encode(self, changes: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Changes as they go on the wire, and the datetime columns they will create."""
        out = dict(changes)
        created = []
        for name, value in changes.items():
            if isinstance(value, _dt.datetime):
                if name in self.dates:
                    out[name] = to_millis(value)
                else:
                    out[name] = iso_utc(value)
                    created.append(name)
        return out, created

    def created(self, names: Iterable[str]) -> None:
        """Columns the server accepted datetimes into are DATETIME."""
        for name in names:
            self.known.add(name)
            self.dates.add(name)

    def __repr__(self) -> str:
        return f"PropertyTypes({len(self.known)} known, dates={sorted(self.dates)!r})"
