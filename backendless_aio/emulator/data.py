"""The slice of the Data service the emulator serves: save a record, find records.

* `PUT data/{table}` saves a record (an `objectId` that exists updates it, otherwise a record is
  created); `ownerId` is the objectId of the session's user (null without a session); the table
  and its columns are created on the fly when the app's dynamic schema is "create".
* `PUT data/Users` creates a user as registration does (password hashed, identity unique,
  password never answered) but ignores the registration switch and email confirmation; with
  the objectId of an existing user it is an update.
* `POST data/{table}/find` answers one page of the table, oldest first (`pageSize`, `offset`
  in the body; no whereClause). `GET data/{table}/{objectId}` answers one record.

Record properties are flat JSON values (string, number, boolean, null), as user properties are.
"""

from __future__ import annotations

import re
from typing import Any

from .._codes import Code
from .errors import Fault
from .service import Caller, UsersService, column_type, new_object_id, parse_object
from .store import USERS_TABLE, StoredRecord

#: Keys the server sets on a record; a save ignores them (objectId picks the record).
RECORD_SYSTEM_KEYS = frozenset({"objectId", "___class", "ownerId", "created", "updated"})
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,254}$")
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
#: The emulator's code for a property with no column while dynamic schema is "refuse".
UNKNOWN_COLUMN = 1169


def is_users(table: str) -> bool:
    return table.lower() == USERS_TABLE.lower()


def _check_table(service: UsersService, table: str, *, create: bool) -> None:
    if not _TABLE_NAME.match(table):
        raise Fault(
            Code.TABLE_NOT_FOUND,
            f"Invalid table name '{table}': a letter, then letters, digits or '_'",
        )
    if service.store.has_table(table):
        return
    if create and service.settings.dynamic_schema == "create":
        service.store.create_table(table, service.clock.now_ms())
        return
    raise Fault(Code.TABLE_NOT_FOUND, f"Table not found by name '{table}'")


def record_to_wire(table: str, record: StoredRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"___class": table, "objectId": record.object_id}
    out.update(record.props)
    out.update(ownerId=record.owner_id, created=record.created, updated=record.updated)
    return out


async def save(service: UsersService, table: str, body: bytes, caller: Caller) -> dict[str, Any]:
    if is_users(table):
        return await _save_user(service, body, caller)
    what = f"Unable to save the object in '{table}'"
    session_user = service.validate_session(caller)
    data = parse_object(body, 400, what)
    _check_table(service, table, create=True)
    props = {k: v for k, v in data.items() if k not in RECORD_SYSTEM_KEYS}
    service.check_values(props, 400, what)
    known = service.store.columns(table)
    unknown = {name: column_type(v) for name, v in props.items() if name not in known}
    policy = service.settings.dynamic_schema
    if unknown and policy == "refuse":
        name = next(iter(unknown))
        raise Fault(
            UNKNOWN_COLUMN,
            f"{what}: column '{name}' does not exist and dynamic schema definition is disabled",
        )
    if unknown and policy == "drop":
        for name in unknown:
            del props[name]
        unknown = {}
    object_id = data.get("objectId")
    if object_id is not None and not (isinstance(object_id, str) and object_id.strip()):
        raise Fault(400, f"{what}: objectId must be a non-empty string")
    now = service.clock.now_ms()
    existing = None if object_id is None else service.store.get_record(table, object_id)
    if existing is not None:
        existing.props = {**existing.props, **props}
        existing.updated = now
        record = existing
    else:
        record = StoredRecord(
            object_id=object_id or new_object_id(),
            owner_id=None if session_user is None else session_user.object_id,
            created=now,
            updated=None,
            props=props,
        )
    with service.store.transaction():
        service.store.add_columns(unknown, table)
        service.store.put_record(table, record)
    return record_to_wire(table, record)


async def _save_user(service: UsersService, body: bytes, caller: Caller) -> dict[str, Any]:
    data = parse_object(body, Code.REGISTER_GENERAL, "Unable to save the user")
    object_id = data.get("objectId")
    if isinstance(object_id, str) and service.store.get_user(object_id) is not None:
        return await service.update(object_id, body, caller)
    service.validate_session(caller)
    return await service.register(body, data_api=True)


def _page(data: dict[str, Any]) -> tuple[int, int]:
    size, offset = data.get("pageSize", DEFAULT_PAGE_SIZE), data.get("offset", 0)
    for value in (size, offset):
        if not isinstance(value, int) or isinstance(value, bool):
            raise Fault(400, "pageSize and offset must be whole numbers")
    if not 1 <= size <= MAX_PAGE_SIZE or offset < 0:
        raise Fault(400, f"pageSize must be in 1..{MAX_PAGE_SIZE} and offset at least 0")
    return size, offset


def find(service: UsersService, table: str, body: bytes, caller: Caller) -> list[dict[str, Any]]:
    """One page of a table, oldest first (a minimal find: no whereClause, no sorting)."""
    service.validate_session(caller)
    data = parse_object(body, 400, f"Unable to find objects in '{table}'") if body.strip() else {}
    size, offset = _page(data)
    if is_users(table):
        users = service.store.users(limit=size, offset=offset)
        return [service.to_wire(user) for user in users]
    _check_table(service, table, create=False)
    records = service.store.records(table, limit=size, offset=offset)
    return [record_to_wire(table, record) for record in records]


def find_by_id(
    service: UsersService, table: str, object_id: str, caller: Caller
) -> dict[str, Any]:
    service.validate_session(caller)
    _check_table(service, table, create=False)
    record = service.store.get_record(table, object_id)
    if record is None:
        raise Fault(
            Code.ENTITY_NOT_FOUND,
            f"Entity with the specified ID cannot be found: Id - {object_id}",
        )
    return record_to_wire(table, record)

