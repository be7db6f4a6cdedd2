"""BackendlessUser: a user's properties, with change tracking and a write-only password."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from ._codes import DATE_KEYS, USER_TOKEN_KEY
from ._secret import Secret, secret
from .values import READ_ONLY, check_value, from_millis, to_millis

__all__ = ["BackendlessUser", "from_millis", "to_millis"]

_PASSWORD = "password"


def password_value(value: Any) -> Secret | None:
    """A password as the library holds it (a Secret), None, or a TypeError."""
    if value is not None and not isinstance(value, str):
        raise TypeError("the password must be a string")
    return None if value is None else secret(value)


class BackendlessUser:
    """A Backendless user: a flat mapping of properties.

    It remembers which properties changed since it was last loaded from the server;
    ``update`` sends only those, so values another client changed meanwhile are not clobbered.
    The password is write-only: it can be set, is sent once, and is never read back or shown.
    The system dates (``created``, ``updated``, ``lastLogin``) and DATETIME properties read as
    aware UTC datetimes. Values are checked when set (see docs/properties.md); the system
    properties (``objectId``, ``ownerId``, ``created``...) are read-only, but may be given to the
    constructor, e.g. ``BackendlessUser({"objectId": known_id})`` to update a known user.
    A system date that is not integer milliseconds within the years 1..9999 reads as ``None``
    from ``created`` / ``updated`` / ``last_login`` and as it arrived from ``get_property`` and
    ``properties``: reading a user never raises.
    """

    __slots__ = ("__weakref__", "_changed", "_dated", "_password", "_props")

    _props: dict[str, Any]
    _changed: set[str]
    _password: str | None
    _dated: bool

    def __init__(self, properties: Mapping[str, Any] | None = None) -> None:
        self._props = {}
        self._changed = set()
        self._password = None
        self._dated = False
        if properties is not None:
            if not isinstance(properties, Mapping):
                raise TypeError("BackendlessUser takes a mapping of properties, not "
                                f"{type(properties).__name__}")
            for key, value in properties.items():
                if key in READ_ONLY:
                    if key == "objectId" and not isinstance(value, str):
                        raise TypeError(f"objectId must be a string, not {type(value).__name__}")
                    self._props[key] = value  # as loaded: never sent
                else:
                    self.set_property(key, value)

    # -- loading from the wire -------------------------------------------------------------
    @classmethod
    def _from_wire(cls, data: dict[str, Any]) -> BackendlessUser:
        """A user as the server answered it: nothing is marked changed. Takes ownership of data."""
        user = cls.__new__(cls)
        data.pop(USER_TOKEN_KEY, None)
        data.pop(_PASSWORD, None)
        user._props = data
        user._changed = set()
        user._password = None
        user._dated = False
        return user

    def _merge_answer(self, data: dict[str, Any], sent: Mapping[str, Any]) -> None:
        """Take the server's whole answer, keeping local changes made since ``sent`` was sent."""
        data.pop(USER_TOKEN_KEY, None)
        data.pop(_PASSWORD, None)
        changed = self._changed
        props = self._props
        for key, value in sent.items():
            if key in changed and props.get(key, _MISSING) is value:
                changed.discard(key)
        for key in changed:  # changed again while the update was in flight: keep the new value
            if key in props:
                data[key] = props[key]
        self._props = data

    def _changes(self) -> dict[str, Any]:
        """The properties to send in a partial update (the password included when set)."""
        props = self._props
        body = {key: props.get(key) for key in self._changed}
        if self._password is not None:
            body[_PASSWORD] = self._password
        return body

    def _mark_clean(self) -> None:
        self._changed.clear()
        self._password = None
        self._dated = False

    # -- the public face -----------------------------------------------------------------
    def set_property(self, key: str, value: Any) -> None:
        """Set a property; it will be sent by the next update. ``None`` clears it on the server.

        A value that cannot round-trip (NaN, infinity, an int beyond +/-(2**53-1), a naive
        datetime, bytes, Decimal, any other object) raises TypeError / ValueError naming the
        property; so does a system property (``objectId``, ``created``...), which is read-only.
        """
        if not isinstance(key, str) or not key:
            raise TypeError(f"a property name must be a non-empty string, not {key!r}")
        if key in READ_ONLY:
            raise ValueError(f"{key!r} is a system property, set by the server: it is read-only")
        if key == _PASSWORD:
            self._password = password_value(value)
            return
        if key == USER_TOKEN_KEY:
            raise ValueError("the user token is not a property; it lives in the session")
        value = check_value(key, value)
        if isinstance(value, _dt.datetime):
            self._dated = True
        self._props[key] = value
        self._changed.add(key)

    def set_properties(self, properties: Mapping[str, Any]) -> None:
        """Set several properties at once."""
        for key, value in properties.items():
            self.set_property(key, value)

    def get_property(self, key: str, default: Any = None) -> Any:
        """A property's value; dates as aware UTC datetimes. The password reads as None."""
        if key == _PASSWORD:
            return None
        value = self._props.get(key, default)
        if key in DATE_KEYS:
            return from_millis(value)
        return value

    def remove_property(self, key: str) -> None:
        """Clear a property: the next update sends it as null."""
        self.set_property(key, None)

    @property
    def properties(self) -> Mapping[str, Any]:
        """A read-only copy of the properties (no password; system dates as datetimes)."""
        out = dict(self._props)
        for key in DATE_KEYS:
            if key in out:
                out[key] = from_millis(out[key])
        return MappingProxyType(out)

    @property
    def changed(self) -> frozenset[str]:
        """Names of the properties changed since the user was last loaded (and 'password')."""
        names = frozenset(self._changed)
        return names | {_PASSWORD} if self._password is not None else names

    @property
    def object_id(self) -> str | None:
        value = self._props.get("objectId")
        return value if isinstance(value, str) else None

    @property
    def email(self) -> str | None:
        value = self._props.get("email")
        return value if isinstance(value, str) else None

    @email.setter
    def email(self, value: str | None) -> None:
        self.set_property("email", value)

    @property
    def name(self) -> str | None:
        value = self._props.get("name")
        return value if isinstance(value, str) else None

    @name.setter
    def name(self, value: str | None) -> None:
        self.set_property("name", value)

    @property
    def password(self) -> None:
        """Write-only: reading it always gives None."""
        return None

    @password.setter
    def password(self, value: str | None) -> None:
        self.set_property(_PASSWORD, value)

    @property
    def user_status(self) -> str | None:
        value = self._props.get("userStatus")
        return value if isinstance(value, str) else None

    @property
    def created(self) -> _dt.datetime | None:
        value = from_millis(self._props.get("created"))
        return value if isinstance(value, _dt.datetime) else None

    @property
    def updated(self) -> _dt.datetime | None:
        value = from_millis(self._props.get("updated"))
        return value if isinstance(value, _dt.datetime) else None

    @property
    def last_login(self) -> _dt.datetime | None:
        value = from_millis(self._props.get("lastLogin"))
        return value if isinstance(value, _dt.datetime) else None

    def __contains__(self, key: object) -> bool:
        return key in self._props

    def __iter__(self) -> Iterator[str]:
        return iter(self._props)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BackendlessUser):
            return NotImplemented
        return self._props == other._props

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        shown = {k: self._props[k] for k in ("objectId", "email", "name") if k in self._props}
        extra = len(self._props) - len(shown)
        parts = [f"{k}={v!r}" for k, v in shown.items()]
        if extra:
            parts.append(f"+{extra} properties")
        if self._password is not None:
            parts.append("password=<set>")
        if self._changed:
            parts.append(f"changed={sorted(self._changed)!r}")
        return f"BackendlessUser({', '.join(parts)})"


class _Missing:
    __slots__ = ()


_MISSING: Any = _Missing()
