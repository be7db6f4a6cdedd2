"""Finding users: the Data service's find and count on the Users table.

`POST data/Users/find` (a JSON body, as the JS SDK v8 sends it), `GET data/Users` (the query
string of the older SDKs), `POST data/Users/count` and `GET data/Users/count`. The whereClause
and sortBy are compiled by `query` (pure); the store runs the SQL; answers are user objects as
every other route gives them (never a password).

Who may find: Backendless's default permissions let every role (NotAuthenticatedUser included)
find objects in every table, Users too; the emulator does the same. A `user-token` that is sent
must be alive (else 3064, as on every route).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs
from multidict import MultiMapping

from .._codes import USERS_CLASS, Code
from .errors import Fault
from .query import Column, QueryError, compile_sort, compile_where, parse_sort
from .service import DEFAULT_COLUMNS, SYSTEM_COLUMNS, Caller, UsersService, parse_object
from .store import PROP_SQL, TIEBREAK_SQL, USER_SYSTEM_SQL, QueryFailed, prop_path

#: Backendless's page size limit: a larger pageSize is served as 100 (as the docs say).
MAX_PAGE_SIZE: Final = 100
DEFAULT_PAGE_SIZE: Final = 10
INVALID_OFFSET: Final = int(Code.INVALID_OFFSET)
INVALID_PAGE_SIZE: Final = int(Code.INVALID_PAGE_SIZE)
INVALID_PROPERTIES: Final = int(Code.UNKNOWN_COLUMN)
INVALID_WHERE: Final = int(Code.INVALID_WHERE)
#: System properties no row stores: the same constant for every user.
_CONSTANT_COLUMNS: Final = {"socialAccount": "BACKENDLESS", "accountType": "BACKENDLESS"}
#: Query features the emulator does not have: refused rather than silently ignored.
_UNSUPPORTED: Final = ("groupBy", "having", "loadRelations", "relations")


@attrs.frozen
class FindQuery:
    """What a find asks for, parsed from a body or a query string."""

    where: str | None = None
    sort_by: tuple[str, ...] = ()
    props: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    page_size: int = DEFAULT_PAGE_SIZE
    offset: int = 0


def _names(value: Any, what: str) -> tuple[str, ...]:
    """A comma-separated string or a list of strings as a tuple of names."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise Fault(INVALID_PROPERTIES, f"'{what}' must be a string or a list of strings")
    return tuple(n.strip() for item in items for n in item.split(",") if n.strip())


def _page_size(value: Any) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise Fault(INVALID_PAGE_SIZE,
                    "Invalid pagesize. Page size must be a positive integer; values greater "
                    f"than {MAX_PAGE_SIZE} are served as {MAX_PAGE_SIZE}")
    return min(value, MAX_PAGE_SIZE)


def _offset(value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise Fault(INVALID_OFFSET, "Invalid offset. Offset must be an integer, 0 or more")
    return value


def _where(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise Fault(INVALID_WHERE, "Invalid where clause: 'where' must be a string")


def _refuse_unsupported(data: Mapping[str, Any]) -> None:
    for key in _UNSUPPORTED:
        if data.get(key):
            raise Fault(400, f"'{key}' is not supported by the emulator's Users find")
    if data.get("distinct"):
        raise Fault(400, "'distinct' is not supported by the emulator's Users find")
    depth = data.get("relationsDepth")
    if depth not in (None, 0):
        raise Fault(400, "'relationsDepth' is not supported by the emulator (Users has no "
                         "relations here)")


def _body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    return parse_object(body, 400, "Unable to retrieve data")


def query_from_body(body: bytes) -> FindQuery:
    """A find's JSON body: where, pageSize, offset, sortBy, props (strings joined with commas,
    or lists), excludeProps."""
    data = _body(body)
    _refuse_unsupported(data)
    props = data.get("props", data.get("properties"))
    return FindQuery(
        where=_where(data.get("where")),
        sort_by=_names(data.get("sortBy"), "sortBy"),
        props=_names(props, "props") or None,
        exclude=_names(data.get("excludeProps"), "excludeProps"),
        page_size=_page_size(data.get("pageSize")),
        offset=_offset(data.get("offset")),
    )


def _int_param(query: MultiMapping[str], name: str) -> Any:
    text = query.get(name)
    if text is None or text == "":
        return None
    text = text.strip()
    digits = text[1:] if text.startswith("-") else text
    if not digits.isascii() or not digits.isdigit():
        return text  # refused by the checks as not an integer
    return int(text)


def query_from_params(query: MultiMapping[str]) -> FindQuery:
    """A find's query string (GET data/Users): where, pageSize, offset, sortBy, props (or the JS
    SDK's repeated `property`), excludeProps."""
    data: dict[str, Any] = {key: query.get(key) for key in _UNSUPPORTED if query.get(key)}
    if query.get("distinct", "").lower() == "true":
        data["distinct"] = True
    _refuse_unsupported(data)
    props = [*query.getall("props", []), *query.getall("property", [])]
    return FindQuery(
        where=query.get("where"),
        sort_by=_names(list(query.getall("sortBy", [])), "sortBy"),
        props=_names(props, "props") or None,
        exclude=_names(list(query.getall("excludeProps", [])), "excludeProps"),
        page_size=_page_size(_int_param(query, "pageSize")),
        offset=_offset(_int_param(query, "offset")),
    )


def where_from_body(body: bytes) -> str | None:
    data = _body(body)
    for key in ("groupBy", "distinct"):
        if data.get(key):
            raise Fault(400, f"'{key}' is not supported by the emulator's Users count")
    return _where(data.get("where"))


# -- the columns ------------------------------------------------------------------------------


def columns(service: UsersService) -> dict[str, Column]:
    """Every column of the app's Users table a query may name, with its type and SQL."""
    found: dict[str, Column] = {}
    for name, kind in SYSTEM_COLUMNS.items():
        if name in USER_SYSTEM_SQL:
            found[name] = Column(kind, USER_SYSTEM_SQL[name])
        else:
            found[name] = Column(kind, "?", (_CONSTANT_COLUMNS[name],))
    settings = service.settings
    props: dict[str, str] = dict(DEFAULT_COLUMNS)
    for name in (settings.identity, *settings.required):
        props.setdefault(name, "STRING")
    props.update(service.store.columns())
    for name, kind in props.items():
        if name in found or name == "password":
            continue
        try:
            path = prop_path(name)
        except ValueError:
            continue  # a name no clause can spell
        found[name] = Column(kind, PROP_SQL, (path,))
    return found


def _check_names(names: Iterable[str], known: Mapping[str, Column]) -> None:
    for name in names:
        if name not in known and name not in ("*", "___class"):
            raise Fault(INVALID_PROPERTIES, f"Column '{name}' does not exist in table 'Users'")


def _shape(user: dict[str, Any], props: tuple[str, ...] | None,
           exclude: tuple[str, ...]) -> dict[str, Any]:
    if props is not None and "*" not in props:
        wanted: dict[str, Any] = {"___class": USERS_CLASS}
        for name in props:
            if name != "___class":
                wanted[name] = user.get(name)
        user = wanted
    for name in exclude:
        user.pop(name, None)
    return user


# -- the operations -------------------------------------------------------------------------


def find(service: UsersService, caller: Caller, query: FindQuery) -> list[dict[str, Any]]:
    """One page of the users matching the query, shaped by props / excludeProps."""
    service.validate_session(caller)
    known = columns(service)
    _check_names(query.props or (), known)
    _check_names(query.exclude, known)
    try:
        where = compile_where(query.where, known)
        order = compile_sort(parse_sort(query.sort_by, known), known, TIEBREAK_SQL)
    except QueryError as exc:
        raise Fault(exc.code, exc.message) from None
    try:
        users = service.store.select_users(
            None if where is None else where.sql, () if where is None else where.params,
            order.sql, order.params, query.page_size, query.offset)
    except QueryFailed as exc:
        raise Fault(INVALID_WHERE, f"Invalid where clause: the emulator cannot run it ({exc})"
                    ) from None
    return [_shape(service.to_wire(user), query.props, query.exclude) for user in users]


def count(service: UsersService, caller: Caller, where_text: str | None) -> int:
    """How many users match the where clause (all of them without one)."""
    service.validate_session(caller)
    try:
        where = compile_where(where_text, columns(service))
    except QueryError as exc:
        raise Fault(exc.code, exc.message) from None
    try:
        return service.store.count_matching(
            None if where is None else where.sql, () if where is None else where.params)
    except QueryFailed as exc:
        raise Fault(INVALID_WHERE, f"Invalid where clause: the emulator cannot run it ({exc})"
                    ) from None
