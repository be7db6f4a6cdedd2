"""Sans-I/O: build requests and parse answers. Nothing here touches the network.

A :class:`Request` says what to send (method, route template, filled path, body bytes) and how
to read the answer (``expect``). :func:`parse_answer` turns status and body bytes into a value or
raises a typed error. The one JSON codec (orjson) and the one cattrs converter live here.
"""

from __future__ import annotations

import collections.abc as _abc
import datetime as _dt
import enum
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, get_args, get_origin
from urllib.parse import quote

import attrs
import cattrs
import orjson
from cattrs.preconf.orjson import make_converter

from ._codes import USER_TOKEN_KEY, Route
from ._constants import SNIPPET_CHARS
from .errors import (
    BackendlessFault,
    ConfigurationError,
    MalformedResponse,
    RequestTooLarge,
    UnexpectedStatus,
    fault_class,
)
from .models import BackendlessUser, from_millis, to_millis

__all__ = [
    "Expect",
    "Request",
    "UserClassProperty",
    "converter",
    "dumps",
    "loads",
    "parse_answer",
    "redact",
]


class Expect(enum.Enum):
    """What a successful answer carries."""

    USER = "user"  # a user object
    SESSION = "session"  # a user object with "user-token"
    EMPTY = "empty"  # nothing worth reading
    BOOL = "bool"  # JSON true / false
    JSON = "json"  # any JSON value


class Request:
    """One request, before transport: no URL root, no headers but what the body implies.

    A plain slotted class (built on every call, so kept cheap). ``path`` (may carry a token)
    and ``body`` (may carry a password) never show in its ``repr``.
    """

    __slots__ = ("body", "changes", "expect", "idempotent", "method", "object_id", "operation",
                 "path", "route", "secrets")

    def __init__(self, operation: str, method: str, route: str, path: str,
                 body: bytes | None = None, expect: Expect = Expect.JSON,
                 idempotent: bool = False, *, object_id: str | None = None,
                 changes: Mapping[str, Any] | None = None,
                 secrets: tuple[str, ...] = ()) -> None:
        self.operation = operation
        self.method = method
        self.route = route  # the template, e.g. "users/{objectId}": safe to log
        self.path = path
        self.body = body
        self.expect = expect
        self.idempotent = idempotent
        self.object_id = object_id
        self.changes = changes
        #: Secrets this request carries in its path or body, redacted from any text we show.
        self.secrets = secrets

    @property
    def log_route(self) -> str:
        return f"{self.method} {self.route}"

    @property
    def changed(self) -> tuple[str, ...]:
        """The names of the properties an update sends, sorted."""
        return tuple(sorted(self.changes)) if self.changes is not None else ()

    @property
    def fields(self) -> dict[str, Any]:
        """Fields for the operation's log event and hooks (object_id, changed...), no secret."""
        fields: dict[str, Any] = {}
        if self.object_id is not None:
            fields["object_id"] = self.object_id
        if self.changes is not None:
            fields["changed"] = self.changed
        return fields

    def __repr__(self) -> str:
        return (f"Request(operation={self.operation!r}, route={self.log_route!r}, "
                f"idempotent={self.idempotent!r})")


# -- JSON ------------------------------------------------------------------------------------
_DUMPS_OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATETIME


def _default(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date)):
        return to_millis(value)
    if isinstance(value, BackendlessUser):
        raise TypeError("a BackendlessUser cannot be a property value (no relations yet)")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"a property value of type {type(value).__name__} cannot go on the wire")


def dumps(value: Any) -> bytes:
    """JSON bytes; datetimes become integer milliseconds since the epoch."""
    try:
        return orjson.dumps(value, default=_default, option=_DUMPS_OPTIONS)
    except TypeError as exc:
        raise ConfigurationError(str(exc)) from exc


loads = orjson.loads

# -- the cattrs converter: typed answers, event payloads and typed user models ------------------
converter: Final = make_converter()


def _strict(kind: type[Any], accepts: tuple[type[Any], ...]) -> Any:
    """A structure hook that takes values of ``accepts`` only (no ``int("12")``, no
    ``str(5)``, no bool for a number): a wire value that does not fit is an error."""
    def structure(value: Any, _: Any) -> Any:
        if isinstance(value, accepts) and (kind is bool or not isinstance(value, bool)):
            return kind(value)
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return structure


def _structure_datetime(value: Any, _: Any) -> _dt.datetime:
    """Backendless dates: integer milliseconds since the epoch (or a datetime already read)."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            raise TypeError("expected an aware datetime, got a naive one")
        return value.astimezone(_dt.timezone.utc)
    if isinstance(value, int) and not isinstance(value, bool):
        when = from_millis(value)
        if isinstance(when, _dt.datetime):
            return when
    raise TypeError(f"expected a datetime (milliseconds), got {type(value).__name__}")


converter.register_structure_hook(str, _strict(str, (str,)))
converter.register_structure_hook(int, _strict(int, (int,)))
converter.register_structure_hook(float, _strict(float, (int, float)))
converter.register_structure_hook(bool, _strict(bool, (bool,)))
converter.register_structure_hook(_dt.datetime, _structure_datetime)

# Containers are as strict as scalars: a JSON column holding a string is not split into a
# list of characters, nor a JSON object into a list of its keys.
_LISTS: Final[dict[Any, Callable[[list[Any]], Any]]] = {
    list: list, _abc.Sequence: list, _abc.MutableSequence: list, _abc.Collection: list,
    _abc.Iterable: list, tuple: tuple, set: set, _abc.Set: frozenset, _abc.MutableSet: set,
    frozenset: frozenset,
}
_DICTS: Final = frozenset({dict, _abc.Mapping, _abc.MutableMapping})


def _is_list_type(kind: Any) -> bool:
    return (get_origin(kind) or kind) in _LISTS


def _is_dict_type(kind: Any) -> bool:
    return (get_origin(kind) or kind) in _DICTS


def _structure_list_factory(kind: Any) -> Callable[[Any, Any], Any]:
    origin = get_origin(kind) or kind
    make = _LISTS[origin]
    args = get_args(kind)
    fixed = origin is tuple and len(args) >= 1 and (len(args) != 2 or args[1] is not ...)
    item = args[0] if args and not fixed else Any
    item_hook = None if item is Any else converter.get_structure_hook(item)

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, list):
            raise TypeError(f"expected a JSON array, got {type(value).__name__}")
        if fixed:
            if len(value) != len(args):
                raise TypeError(f"expected {len(args)} items, got {len(value)}")
            return tuple(converter.structure(v, t) for v, t in zip(value, args, strict=True))
        if item_hook is None:
            return make(value)
        return make([item_hook(v, item) for v in value])

    return structure


def _structure_dict_factory(kind: Any) -> Callable[[Any, Any], Any]:
    args = get_args(kind)
    value_type = args[1] if len(args) == 2 else Any
    key_hook = None if not args or args[0] in (Any, str) else converter.get_structure_hook(args[0])
    value_hook = None if value_type is Any else converter.get_structure_hook(value_type)

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"expected a JSON object, got {type(value).__name__}")
        return {
            (k if key_hook is None else key_hook(k, args[0])):
            (v if value_hook is None else value_hook(v, value_type))
            for k, v in value.items()
        }

    return structure


converter.register_structure_hook_factory(_is_list_type, _structure_list_factory)
converter.register_structure_hook_factory(_is_dict_type, _structure_dict_factory)


@attrs.frozen(slots=True)
class UserClassProperty:
    """One property of the Users class, as ``describe_user_class`` answers it."""

    name: str
    type: str = "UNKNOWN"
    required: bool = False
    identity: bool = False
    default_value: Any = None
    related_table: str | None = None
    custom_regex: str | None = None
    auto_load: bool = False
    primary_key: bool = False


_PROPERTY_KEYS: Final = {
    "defaultValue": "default_value",
    "relatedTable": "related_table",
    "customRegex": "custom_regex",
    "autoLoad": "auto_load",
    "isPrimaryKey": "primary_key",
}


def _structure_property(data: Any, _: Any) -> UserClassProperty:
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
        raise ValueError("a property description needs a string 'name'")
    kwargs = {"name": data["name"]}
    for wire, attr in (("type", "type"), ("required", "required"), ("identity", "identity"),
                       *_PROPERTY_KEYS.items()):
        if data.get(wire) is not None:
            kwargs[attr] = data[wire]
    return converter.structure_attrs_fromdict(kwargs, UserClassProperty)


converter.register_structure_hook(UserClassProperty, _structure_property)

# -- redaction ---------------------------------------------------------------------------------
_TOKEN_IN_TEXT: Final = re.compile(r"(user token\s*-\s*)([^\s.,;]+)", re.IGNORECASE)
#: A secret-looking key (user-token, userToken, token, password, api key, secret) quoted as
#: JSON with a string value; the value may be cut off (a truncated answer): redacted up to the
#: closing quote or the end of the text.
_SECRET_KEY: Final = r"""(?:user[-_ ]?token|token|password|api[-_ ]?key|secret[-_ ]?key|secret)"""
_SECRET_IN_JSON: Final = re.compile(
    r"""(["']""" + _SECRET_KEY + r"""["']\s*:\s*["'])((?:[^"'\\]|\\.)*)""", re.IGNORECASE)
_SECRET_NAME: Final = re.compile(_SECRET_KEY + r"\Z", re.IGNORECASE)
REDACTED: Final = "<redacted>"


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Text with every known secret, any token quoted the way Backendless quotes it, and any
    JSON string under a secret-looking key (``"user-token": "..."``, even cut off) hidden."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    text = _TOKEN_IN_TEXT.sub(lambda m: m.group(1) + REDACTED, text)
    return _SECRET_IN_JSON.sub(lambda m: m.group(1) + REDACTED, text)


def _redact_value(value: Any, secrets: Iterable[str | None]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and _SECRET_NAME.match(k) and v is not None
                else _redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v, secrets) for v in value]
    return value


def snippet(body: bytes, secrets: Iterable[str | None] = ()) -> str:
    """A short, printable, redacted quote of a body for an error message."""
    text = body[: SNIPPET_CHARS * 4].decode("utf-8", "replace")
    text = " ".join(redact(text, secrets).split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


# -- parsing answers ---------------------------------------------------------------------------
def _malformed(request: Request, status: int, what: str, body: bytes,
               secrets: Iterable[str | None],
               cls: type[MalformedResponse] = MalformedResponse) -> MalformedResponse:
    """``cls`` saying what arrived: the operation, the status and a short redacted quote."""
    quote_ = snippet(body, secrets)
    message = f"{request.operation}: {what} (HTTP {status})"
    if quote_:
        message += f": {quote_!r}"
    return cls(message, status=status, snippet=quote_, operation=request.operation,
               route=request.log_route)


def fault_from_body(request: Request, status: int, data: Any,
                    secrets: Iterable[str | None]) -> BackendlessFault | None:
    """The typed fault for an error body ``{"code", "message", "errorData"}``, or None."""
    if not isinstance(data, dict):
        return None
    code = data.get("code")
    if isinstance(code, str) and code.isascii() and code.isdigit() and len(code) <= 18:
        code = int(code)  # "3064" as Backendless sometimes sends it; never "²" or 10**5000
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    message = data.get("message")
    message = redact(message, secrets) if isinstance(message, str) else "(no message)"
    detail = data.get("errorData")
    detail = _redact_value(detail, secrets) if isinstance(detail, dict) else {}
    cls = fault_class(code)
    return cls(message, code=code, detail=detail, status=status, route=request.log_route,
               operation=request.operation)


def parse_answer(request: Request, status: int, body: bytes,
                 secrets: Iterable[str | None] = (), token: str | None = None) -> Any:
    """The value of a successful answer, or raise the fault / malformed-answer error it is.

    ``secrets`` and ``token`` are redacted from any error text (gathered only on that path).
    """
    if status == 200 and request.expect is Expect.USER:  # the hot path: a user object
        try:
            data = loads(body)
        except orjson.JSONDecodeError:
            pass
        else:
            if type(data) is dict and type(data.get("objectId")) is str:
                return data
    return _parse_answer(request, status, body, (*request.secrets, *secrets, token))


def _parse_answer(request: Request, status: int, body: bytes,
                  secrets: tuple[str | None, ...]) -> Any:
    if status >= 400:
        return _raise_error(request, status, body, secrets)
    if status >= 300:
        raise _malformed(request, status, "an unexpected redirect or status", body, secrets)
    expect = request.expect
    if expect is Expect.EMPTY:
        return None
    if not body.strip():
        raise _malformed(request, status, "an empty answer where JSON was expected", body,
                         secrets)
    try:
        data = loads(body)
    except orjson.JSONDecodeError:
        raise _malformed(request, status, "an answer that is not JSON", body, secrets) from None
    if expect is Expect.USER or expect is Expect.SESSION:
        if not isinstance(data, dict) or not isinstance(data.get("objectId"), str):
            if (fault := fault_from_body(request, status, data, secrets)) is not None:
                raise fault
            raise _malformed(request, status, "an answer that is not a user object", body,
                             secrets)
        if expect is Expect.SESSION and not isinstance(data.get(USER_TOKEN_KEY), str):
            raise _malformed(request, status, "a login answer without a user token", b"",
                             secrets)
        return data
    # a fault answered with a 2xx status (rate limiting does this)
    if (isinstance(data, dict) and "code" in data and "message" in data
            and (fault := fault_from_body(request, status, data, secrets)) is not None):
        raise fault
    if expect is Expect.BOOL:
        if not isinstance(data, bool):
            raise _malformed(request, status, "an answer that is not true or false", body,
                             secrets)
        return data
    return data


def _raise_error(request: Request, status: int, body: bytes,
                 secrets: Iterable[str | None]) -> Any:
    try:
        data = loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        data = None
    fault = fault_from_body(request, status, data, secrets)
    if fault is not None:
        raise fault
    if status == 413:  # a proxy's (or a server's) bare "too large": the same typed fault
        raise RequestTooLarge(f"{request.operation}: the request is larger than the server "
                              "accepts", status=status, route=request.log_route,
                              operation=request.operation)
    what = "an error without a Backendless fault code" if data is not None else (
        "an error status whose body is not JSON" if body.strip() else "an error with no body")
    raise _malformed(request, status, what, body, secrets, UnexpectedStatus)


# -- building requests -------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _quoted(value: str) -> str:
    return quote(value, safe="")


def _segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what} must be a non-empty string")
    if type(value) is not str:  # a Secret (a token) is never cached
        return quote(value, safe="")
    return _quoted(value)


def _check_props(properties: Mapping[str, Any]) -> None:
    for key in properties:
        if not isinstance(key, str) or not key:
            raise ConfigurationError(f"property names must be non-empty strings, not {key!r}")


def register(properties: Mapping[str, Any]) -> Request:
    _check_props(properties)
    password = properties.get("password")
    return Request("users.register", "POST", Route.REGISTER.value, Route.REGISTER.value,
                   dumps(properties), Expect.USER,
                   secrets=(password,) if isinstance(password, str) else ())


def login(identity: str, password: str) -> Request:
    return Request("users.login", "POST", Route.LOGIN.value, Route.LOGIN.value,
                   dumps({"login": identity, "password": password}), Expect.SESSION,
                   secrets=(password,))


def login_as_guest() -> Request:
    return Request("users.login_as_guest", "POST", Route.GUEST_LOGIN.value,
                   Route.GUEST_LOGIN.value, None, Expect.SESSION)


def logout() -> Request:
    return Request("users.logout", "GET", Route.LOGOUT.value, Route.LOGOUT.value, None,
                   Expect.EMPTY, idempotent=True)


def is_valid_token(token: str) -> Request:
    return Request("users.is_valid_login", "GET", Route.IS_VALID_TOKEN.value,
                   f"users/isvalidusertoken/{_segment(token, 'the user token')}", None,
                   Expect.BOOL, idempotent=True, secrets=(token,))


_UPDATE: Final = Route.UPDATE.value


def update(object_id: str, changes: Mapping[str, Any], body: bytes) -> Request:
    """PUT users/{objectId}; ``body`` is ``dumps(changes)`` (made by the caller, once)."""
    password = changes.get("password")
    return Request("users.update", "PUT", _UPDATE, "users/" + _segment(object_id, "the objectId"),
                   body, Expect.USER, True, object_id=object_id, changes=changes,
                   secrets=(password,) if password is not None else ())


def find_by_id(object_id: str, props: Iterable[str] | None = None) -> Request:
    if props is None:
        return Request("users.find_by_id", "GET", Route.FIND_BY_ID.value,
                       "data/Users/" + _segment(object_id, "the objectId"), None, Expect.USER,
                       idempotent=True, object_id=object_id)
    names = ",".join(_segment(p, "a property name") for p in props)
    return Request("users.find_by_id", "GET", Route.USER_BY_ID.value,
                   f"users/{_segment(object_id, 'the objectId')}?props={names}", None,
                   Expect.USER, idempotent=True, object_id=object_id)


def describe_user_class() -> Request:
    return Request("users.describe_user_class", "GET", Route.DESCRIBE.value,
                   Route.DESCRIBE.value, None, Expect.JSON, idempotent=True)


def restore_password(identity: str) -> Request:
    return Request("users.restore_password", "GET", Route.RESTORE_PASSWORD.value,
                   "users/restorepassword/" + _segment(identity, "the identity"), None,
                   Expect.EMPTY, idempotent=True)


def resend_email_confirmation(identity: str) -> Request:
    return Request("users.resend_email_confirmation", "POST", Route.RESEND_CONFIRMATION.value,
                   "users/resendconfirmation/" + _segment(identity, "the identity"), None,
                   Expect.EMPTY)


def verify_password(password: str) -> Request:
    return Request("users.verify_password", "POST", Route.VERIFY_PASSWORD.value,
                   Route.VERIFY_PASSWORD.value, dumps({"password": password}), Expect.JSON,
                   idempotent=True, secrets=(password,))


def user_roles() -> Request:
    return Request("users.get_user_roles", "GET", Route.USER_ROLES.value, Route.USER_ROLES.value,
                   None, Expect.JSON, idempotent=True)


def user_roles_of(object_id: str) -> Request:
    return Request("users.get_user_roles", "GET", Route.ROLES_OF_USER.value,
                   "users/userroles/" + _segment(object_id, "the objectId"), None, Expect.JSON,
                   idempotent=True, object_id=object_id)


def change_role(identity: str | int, role: str, *, assign: bool) -> Request:
    """POST users/assignRole or users/unassignRole with ``{user, roleName}``."""
    if isinstance(identity, bool) or not isinstance(identity, str | int) or identity == "":
        raise ConfigurationError("the user must be a non-empty identity value or objectId")
    if not isinstance(role, str) or not role:
        raise ConfigurationError("the role name must be a non-empty string")
    route = Route.ASSIGN_ROLE if assign else Route.UNASSIGN_ROLE
    operation = "users.assign_role" if assign else "users.unassign_role"
    return Request(operation, "POST", route.value, route.value,
                   dumps({"user": identity, "roleName": role}), Expect.EMPTY)


def find_by_role(role: str, load_roles: bool) -> Request:
    path = "users/role/" + _segment(role, "the role name")
    if load_roles:
        path += "?loadRoles=true"
    return Request("users.find_by_role", "GET", Route.USERS_BY_ROLE.value, path, None,
                   Expect.JSON, idempotent=True)


def login_by_object_id(object_id: str) -> Request:
    _segment(object_id, "the objectId")
    return Request("users.login_by_object_id", "POST", Route.LOGIN.value, Route.LOGIN.value,
                   dumps({"objectId": object_id}), Expect.SESSION, object_id=object_id)


def create_email_confirmation_url(identity: str) -> Request:
    return Request("users.create_email_confirmation_url", "POST", Route.CONFIRMATION_URL.value,
                   "users/createEmailConfirmationURL/" + _segment(identity, "the identity"),
                   None, Expect.JSON)


def set_user_status(object_id: str, status: str) -> Request:
    return Request("users.set_user_status", "PUT", Route.STATUS.value,
                   f"users/{_segment(object_id, 'the objectId')}/status",
                   dumps({"userStatus": status}), Expect.EMPTY, idempotent=True,
                   object_id=object_id)


# -- typed readings of JSON answers ------------------------------------------------------------
def read_properties(request: Request, data: Any) -> list[UserClassProperty]:
    if not isinstance(data, list):
        raise MalformedResponse(f"{request.operation}: the answer is not a list",
                                operation=request.operation, route=request.log_route)
    try:
        return converter.structure(data, list[UserClassProperty])
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        raise MalformedResponse(
            f"{request.operation}: a property description is malformed ({exc})",
            operation=request.operation, route=request.log_route) from exc


def read_roles(request: Request, data: Any) -> list[str]:
    if not isinstance(data, list) or not all(isinstance(r, str) for r in data):
        raise MalformedResponse(f"{request.operation}: the answer is not a list of role names",
                                operation=request.operation, route=request.log_route)
    return data


def read_users(request: Request, data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(u, dict) for u in data):
        raise MalformedResponse(f"{request.operation}: the answer is not a list of users",
                                operation=request.operation, route=request.log_route)
    return data


def read_confirmation_url(request: Request, data: Any) -> str:
    url = data.get("confirmationURL") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url:
        raise MalformedResponse(f"{request.operation}: the answer has no 'confirmationURL'",
                                operation=request.operation, route=request.log_route)
    return url


def read_valid(request: Request, data: Any) -> bool:
    if isinstance(data, bool):
        return data
    if isinstance(data, dict) and isinstance(data.get("valid"), bool):
        return bool(data["valid"])
    raise MalformedResponse(f"{request.operation}: the answer has no boolean 'valid'",
                            operation=request.operation, route=request.log_route)
