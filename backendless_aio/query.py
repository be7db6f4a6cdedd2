"""Sans-I/O: the requests that find and count users, and safe where-clause literals.

The wire is the JS SDK v8's: ``POST data/Users/find`` with a JSON body (``where``, ``pageSize``,
``offset``, ``sortBy`` and ``props`` joined with commas) and ``POST data/Users/count`` with
``{"where": ...}``. Arguments are checked here, before anything is sent.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable
from typing import Any, Final

from ._constants import MAX_PAGE_SIZE
from .errors import ConfigurationError, MalformedResponse
from .models import BackendlessUser, to_millis
from .wire import Expect, Request, dumps

__all__ = [
    "COUNT_ROUTE",
    "FIND_ROUTE",
    "count",
    "find",
    "literal",
    "names",
    "read_count",
    "read_users",
]

FIND_ROUTE: Final = "data/Users/find"
COUNT_ROUTE: Final = "data/Users/count"

Names = str | Iterable[str] | None


def _where(where: str | None) -> str | None:
    if where is None:
        return None
    if not isinstance(where, str):
        raise TypeError(f"where must be a string (a whereClause) or None, not "
                        f"{type(where).__name__}")
    return where if where.strip() else None


def names(value: Names, what: str) -> list[str]:
    """A name or names as a list; a string may hold several, comma-separated."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    try:
        names = list(items)
    except TypeError:
        raise TypeError(f"{what} must be a string or an iterable of strings, not "
                        f"{type(value).__name__}") from None
    out: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{what} must hold strings, not {type(name).__name__}")
        out.extend(part.strip() for part in name.split(",") if part.strip())
    return out


def _page(page_size: int, offset: int) -> None:
    if not isinstance(page_size, int) or isinstance(page_size, bool):
        raise TypeError(f"page_size must be an int, not {type(page_size).__name__}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ConfigurationError(f"page_size must be between 1 and {MAX_PAGE_SIZE} (Backendless's "
                                 f"maximum), not {page_size}")
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise TypeError(f"offset must be an int, not {type(offset).__name__}")
    if offset < 0:
        raise ConfigurationError(f"offset must be 0 or more, not {offset}")


def find_body(where: str | None = None, *, sort_by: Names = None, props: Names = None,
              page_size: int = 10, offset: int = 0) -> dict[str, Any]:
    """The JSON body of a find, as the JS SDK v8 builds it (absent parts left out; ``{}`` when
    nothing is asked for, as its ``find()`` without a query sends)."""
    _page(page_size, offset)
    if where is None and sort_by is None and props is None and page_size == 10 and offset == 0:
        return {}
    body: dict[str, Any] = {"pageSize": page_size, "offset": offset}
    sort = names(sort_by, "sort_by")
    props_list = names(props, "props")
    if props_list:
        body["props"] = ",".join(props_list)
    clause = _where(where)
    if clause is not None:
        body["where"] = clause
    if sort:
        body["sortBy"] = ",".join(sort)
    return body


def find(where: str | None = None, *, sort_by: Names = None, props: Names = None,
         page_size: int = 10, offset: int = 0) -> Request:
    """``POST data/Users/find``: a read, so safe to retry."""
    body = find_body(where, sort_by=sort_by, props=props, page_size=page_size, offset=offset)
    return Request("users.find", "POST", FIND_ROUTE, FIND_ROUTE, dumps(body), Expect.JSON,
                   idempotent=True)


def count(where: str | None = None) -> Request:
    """``POST data/Users/count`` with ``{"where": ...}`` (``{}`` for every user)."""
    clause = _where(where)
    body = {} if clause is None else {"where": clause}
    return Request("users.count", "POST", COUNT_ROUTE, COUNT_ROUTE, dumps(body), Expect.JSON,
                   idempotent=True)


def reversed_sort(sort_by: Names) -> list[str]:
    """Each sort key in the other direction (``name`` -> ``name DESC``, ``age DESC`` ->
    ``age ASC``): the last user of an order is the first of its reverse."""
    out: list[str] = []
    for entry in names(sort_by, "sort_by"):
        words = entry.split()
        descending = len(words) > 1 and words[-1].upper() == "DESC"
        column = " ".join(words[:-1]) if len(words) > 1 and words[-1].upper() in (
            "ASC", "DESC") else entry
        out.append(f"{column} {'ASC' if descending else 'DESC'}")
    return out


# -- answers ----------------------------------------------------------------------------------


def read_users(request: Request, data: Any) -> list[BackendlessUser]:
    """A find's answer: a JSON list of user objects."""
    if not isinstance(data, list) or not all(type(item) is dict for item in data):
        raise MalformedResponse(f"{request.operation}: the answer is not a list of objects",
                                operation=request.operation, route=request.log_route)
    return [BackendlessUser._from_wire(item) for item in data]


def read_count(request: Request, data: Any) -> int:
    """A count's answer: a JSON integer."""
    if type(data) is not int or data < 0:
        raise MalformedResponse(f"{request.operation}: the answer is not a count",
                                operation=request.operation, route=request.log_route)
    return data


# -- literals ---------------------------------------------------------------------------------


def literal(value: str | float | bool | _dt.datetime | _dt.date) -> str:
    """``value`` written as a whereClause literal: a string in single quotes with each quote
    doubled, a number, TRUE/FALSE, a date as milliseconds since the epoch.

    ``f"email = {literal(address)}"`` is safe whatever ``address`` holds: quotes in it cannot
    end the literal and widen the query.
    """
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigurationError(f"{value!r} cannot be written in a where clause")
        return repr(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return str(to_millis(value))
    raise TypeError(f"a where-clause literal is a str, int, float, bool or date, not "
                    f"{type(value).__name__}")
