"""What the Users API does, independent of HTTP: validation, fault codes, sessions, answers.

Each operation takes the parsed request parts and returns what goes on the wire (a JSON-ready
value, or None for an empty answer), or raises `Fault`. Password hashing, the only slow step,
happens before the synchronous read-check-write block of each operation, so no await ever
separates reading the state from writing it.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import secrets
import time
import unicodedata
import uuid
from typing import Any

import attrs
import orjson

from .._codes import SYSTEM_KEYS, USER_TOKEN_KEY, USERS_CLASS, Code, UserStatus
from . import schema
from .errors import Fault
from .passwords import FAST_COST, hash_password, verify_password
from .settings import AppSettings
from .store import AppStore, IdentityTaken, StoredSession, StoredUser

#: Columns every Users table has besides the system ones (accepted with dynamic schema off).
DEFAULT_COLUMNS: dict[str, str] = {"email": "STRING", "name": "STRING", "blUserLocale": "STRING"}
#: System columns as `userclassprops` describes them.
SYSTEM_COLUMNS: dict[str, str] = {
    "objectId": "STRING_ID",
    "ownerId": "STRING",
    "created": "DATETIME",
    "updated": "DATETIME",
    "lastLogin": "DATETIME",
    "userStatus": "STRING",
    "socialAccount": "STRING",
    "accountType": "STRING",
}
#: Keys always present in a user object (null when unset).
ALWAYS_PRESENT = ("email", "name")
ACCOUNT_TYPE = "BACKENDLESS"
#: The key kind of the CloudCode (Business Logic) API key.
SERVER_KEY_KIND = "BL"
TOKEN_MESSAGE = "Not existing user token - {token}. Relogin user to update your user token"
REGISTRATION_DENIED = "User registration is denied for this version of application"
#: A guest cannot take an identity by an update (a registration with the guest's objectId
#: makes a guest a registered user, as in Backendless): fault 3024 with this message.
GUEST_IDENTITY_MESSAGE = (
    "Unable to update user: a guest user cannot set the identity property '{identity}'; "
    "register with the guest's objectId to become a registered user"
)
_EMAIL = re.compile(r"\A[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+\Z")
#: Unicode categories an identity may not contain: controls (NUL, newline...), format
#: characters (zero-width joiners and marks), surrogates, private use and unassigned.
_NOT_IN_IDENTITY = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
#: A JSON number with this many digits may be an integer beyond 64 bits (orjson reads those
#: as floats): such a body is read again exactly.
_LONG_NUMBER = re.compile(rb"\d{19}")
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
#: The largest a user may grow (its JSON as answered, in bytes); well under the client's 8 MiB
#: answer cap, so every stored user can be read back.
MAX_USER_BYTES = 4 * 1024 * 1024
_MAX_PROPERTY_NAME = 255
_FAST_HASH_PREFIX = "scrypt${}${}${}$".format(*FAST_COST)


class Clock:
    """The emulator's clock: wall time plus an offset tests can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> None:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += seconds

    def reset(self) -> None:
        self.offset = 0.0


@attrs.frozen
class Caller:
    """Who is calling: the session token sent (if any), and the kind of API key used (the
    device type of the app's key: JS, REST, ANDROID, IOS, ... or BL, the CloudCode key)."""

    token: str | None = None
    key_kind: str = "REST"

    @property
    def server(self) -> bool:
        """Whether the server-side (CloudCode / Business Logic) key was used."""
        return self.key_kind == SERVER_KEY_KIND


def new_object_id() -> str:
    return str(uuid.uuid4()).upper()


def new_token() -> str:
    raw = secrets.token_hex(16).upper()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def identity_key(value: Any) -> str | None:
    """The normalised identity value that must be unique (None: no value): Unicode NFC, then
    case-folded, so that look-alike spellings of one address are one identity."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value).casefold() if value.strip() else None
    if isinstance(value, int | float):
        return str(value)
    return None


def identity_problem(value: Any) -> str | None:
    """Why a string cannot be an identity or an email (control or invisible characters, or
    spaces at either end), or None."""
    if not isinstance(value, str):
        return None
    if value != value.strip():
        return "has spaces at its start or end"
    if any(unicodedata.category(c) in _NOT_IN_IDENTITY for c in value):
        return "has a control or invisible character"
    return None


def column_type(value: Any) -> str:
    """The column type a flat value gives a new column of a Data table (`data.py`; Users
    columns are typed by `schema.infer_type`)."""
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INT"
    if isinstance(value, float):
        return "DOUBLE"
    return "STRING"


def _is_primitive(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else "null"
    )


def parse_object(
    body: bytes, code: int, what: str, *, empty_code: int | None = None
) -> dict[str, Any]:
    """The request body as a JSON object, or a fault with `code` saying what is wrong."""
    if not body.strip():
        if empty_code is not None:
            raise Fault(empty_code, f"{what}: the request body is empty")
        raise Fault(code, f"{what}: the request body is empty; a JSON object is expected")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Fault(code, f"{what}: the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise Fault(code, f"{what}: the request body must be a JSON object, not {_kind(value)}")
    if _LONG_NUMBER.search(body):
        return _exact(body, value, code, what)
    return value


def _exact(body: bytes, value: dict[str, Any], code: int, what: str) -> dict[str, Any]:
    """The body read again with exact integers (orjson reads those beyond 64 bits as floats);
    an integer beyond the signed 64-bit range is refused, naming its property."""
    try:
        exact: Any = json.loads(body)
    except (ValueError, RecursionError):
        return value  # orjson read it; the stdlib reader cannot: keep orjson's reading
    if not isinstance(exact, dict):
        return value
    for name, item in exact.items():
        if isinstance(item, int) and not isinstance(item, bool) and not (
                INT_MIN <= item <= INT_MAX):
            raise Fault(code, f"{what}: property '{name}' is an integer beyond the 64-bit range "
                              f"({INT_MIN}..{INT_MAX}); send it as a string or a float")
    return dict(exact)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class UsersService:
    """One app's Users API over its AppStore, with the behaviour its settings choose."""

    def __init__(
        self,
        app_id: str,
        settings: AppSettings,
        store: AppStore,
        clock: Clock,
        *,
        fast_password_hashing: bool = False,
    ) -> None:
        self.app_id = app_id
        self.settings = settings
        self.store = store
        self.clock = clock
        self.fast_password_hashing = fast_password_hashing
        self._dummy_hash: str | None = None

    def start(self) -> None:
        """Check the database against the settings (the identity property may have changed)."""
        previous = self.store.get_identity()
        if previous != self.settings.identity:
            if previous is not None and self.store.count_users():
                name = self.settings.identity
                try:
                    self.store.rekey_identities(lambda props: identity_key(props.get(name)))
                except IdentityTaken:
                    raise RuntimeError(
                        f"cannot make {name!r} the identity property of {self.store.path}: "
                        "two users share a value"
                    ) from None
            self.store.set_identity(self.settings.identity)

    # -- helpers -----------------------------------------------------------------------------

    def to_wire(self, user: StoredUser) -> dict[str, Any]:
        """A user as section 3 of the contract puts it on the wire (never the password)."""
        out: dict[str, Any] = {"objectId": user.object_id, "___class": USERS_CLASS}
        for key in ALWAYS_PRESENT:
            out[key] = None
        for key in self.store.columns():  # every column, unset ones as null
            out[key] = None
        out.update(user.props)
        out.update(
            created=user.created,
            updated=user.updated,
            lastLogin=user.last_login,
            ownerId=user.owner_id,
            userStatus=user.user_status,
            socialAccount=ACCOUNT_TYPE,
            accountType=ACCOUNT_TYPE,
        )
        return out

    def _known_columns(self) -> set[str]:
        known = set(DEFAULT_COLUMNS) | set(self.store.columns())
        known.add(self.settings.identity)
        known.update(self.settings.required)
        return known

    def _new_columns(self, props: dict[str, Any]) -> dict[str, str]:
        known = self._known_columns()
        return {
            name: schema.infer_type(value) for name, value in props.items() if name not in known
        }

    def _typed(
        self, props: dict[str, Any], code: int, planned: dict[str, str] | None = None
    ) -> dict[str, str]:
        """Coerce `props` in place to their columns' types (a fault with `code` for a value
        that does not fit); returns the columns to create: name -> type from the first value.
        `planned`: what an earlier pass over the same (already coerced) values decided.

        A null creates no column (the emulator's decision): the column is typed by the first
        value that is not null.
        """
        types = {**(planned or {}), **DEFAULT_COLUMNS, **self.store.columns()}
        new: dict[str, str] = {}
        for name, value in props.items():
            kind = types.get(name)
            if kind is None:
                if value is None:
                    continue
                kind = schema.infer_type(value)
            if name not in types or (planned is not None and planned.get(name) == kind):
                new[name] = kind
            try:
                props[name] = schema.coerce(name, kind, value)
            except schema.ValueRefused as exc:
                raise Fault(code, exc.message) from None
        return new

    async def _hash(self, password: str) -> str:
        fast = self.fast_password_hashing
        if fast:
            return hash_password(password, fast=True)
        return await asyncio.to_thread(hash_password, password)

    async def _check(self, password: str, stored: str) -> bool:
        if stored.startswith(_FAST_HASH_PREFIX):
            return verify_password(password, stored)
        return await asyncio.to_thread(verify_password, password, stored)

    async def _verify(self, password: str, stored: str | None) -> bool:
        if stored is None:
            # No such account (or no password): spend the same time as for a real one, refuse.
            if self._dummy_hash is None:
                self._dummy_hash = await self._hash(secrets.token_hex(8))
            await self._check(password, self._dummy_hash)
            return False
        return await self._check(password, stored)

    def validate_session(self, caller: Caller) -> StoredUser | None:
        """The user whose session the request carries, if it carries a token (3064 for a dead
        one); for the other rooms (roles, data, confirmation, search)."""
        return self._session_user(caller, required=False)

    def _session_user(self, caller: Caller, *, required: bool) -> StoredUser | None:
        """The user whose session the request carries; resets the session's inactivity clock."""
        found = self._session(caller, required=required)
        return None if found is None else found[1]

    def _session(
        self, caller: Caller, *, required: bool, disabled_ok: bool = False
    ) -> tuple[StoredSession, StoredUser] | None:
        """The session the request carries and its user (None without a token, unless
        `required`); resets the session's inactivity clock. A disabled user's session only
        lets the user log out (`disabled_ok`); anything else gets 3090."""
        token = caller.token
        if token is None:
            if required:
                raise Fault(Code.NOT_LOGGED_IN, "User is not logged in")
            return None
        now = self.clock.now()
        session = self.store.get_session(token)
        if session is None:
            raise Fault(Code.INVALID_TOKEN, TOKEN_MESSAGE.format(token=token))
        if now - session.last_used > self.settings.session_timeout:
            self.store.delete_session(session)
            raise Fault(Code.INVALID_TOKEN, TOKEN_MESSAGE.format(token=token))
        user = self.store.get_user(session.object_id)
        if user is None:
            self.store.delete_session(session)
            raise Fault(Code.INVALID_TOKEN, TOKEN_MESSAGE.format(token=token))
        if user.user_status == UserStatus.DISABLED.value and not disabled_ok:
            raise Fault(Code.ACCOUNT_DISABLED, "User account is disabled")
        # The inactivity clock is kept to 1 % of the timeout (at most a second): a session used
        # again within that is not written again, so a busy session costs no write per request.
        timeout = self.settings.session_timeout
        if now - session.last_used >= min(1.0, timeout / 100):
            self.store.touch_session(session, now)
        return session, user

    def _check_size(self, props: dict[str, Any], code: int, what: str) -> None:
        """Refuse a user whose properties would pass MAX_USER_BYTES as JSON."""
        size = len(orjson.dumps(props))
        if size > MAX_USER_BYTES:
            raise Fault(
                code,
                f"{what}: the user would take {size} bytes, over the {MAX_USER_BYTES}-byte limit "
                "of one user; nothing was changed",
            )

    def _check_values(self, props: dict[str, Any], code: int, what: str) -> None:
        """Property names; the values are checked against their columns (`_typed`)."""
        for name in props:
            if not name or len(name) > _MAX_PROPERTY_NAME:
                raise Fault(code, f"{what}: a property name must have 1 to 255 characters")

    def check_values(self, props: dict[str, Any], code: int, what: str) -> None:
        """For the other rooms (the Data slice's own tables, whose columns are not typed yet):
        names, and flat values only (string, finite number, boolean, null)."""
        self._check_values(props, code, what)
        for name, value in props.items():
            if not _is_primitive(value):
                raise Fault(
                    code,
                    f"{what}: property '{name}' must be a string, number, boolean or null, "
                    f"not {_kind(value)}",
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise Fault(code, f"{what}: property '{name}' must be a finite number")

    # -- register / login / logout -----------------------------------------------------------

    async def register(self, body: bytes, *, data_api: bool = False) -> dict[str, Any]:
        """POST users/register; with `data_api`, PUT data/Users (the Data service's way to
        create a user: neither the registration switch nor email confirmation apply)."""
        what = "Unable to register user"
        settings = self.settings
        if not settings.registration_enabled and not data_api:
            raise Fault(Code.REGISTRATION_DISABLED, REGISTRATION_DENIED)
        data = parse_object(body, Code.REGISTER_GENERAL, what, empty_code=Code.REGISTER_NO_PASSWORD)
        if "id" in data:
            raise Fault(
                Code.REGISTER_ID_PROPERTY,
                "The 'id' property cannot be used when registering a user",
            )
        password = data.pop("password", None)
        if _blank(password):
            raise Fault(Code.REGISTER_NO_PASSWORD, "The 'password' property is required")
        if not isinstance(password, str):
            raise Fault(Code.REGISTER_GENERAL, f"{what}: 'password' must be a string")
        props = {k: v for k, v in data.items() if k not in SYSTEM_KEYS}
        identity = settings.identity
        if _blank(props.get(identity)):
            raise Fault(
                Code.REGISTER_NO_IDENTITY, f"The identity property '{identity}' must have a value"
            )
        key = identity_key(props[identity])
        if key is None:
            raise Fault(
                Code.REGISTER_GENERAL,
                f"{what}: the identity property '{identity}' must be a string or a number",
            )
        for name in settings.required:
            if _blank(props.get(name)):
                raise Fault(
                    Code.REGISTER_REQUIRED_MISSING, f"Missing value for required property '{name}'"
                )
        self._check_values(props, Code.REGISTER_GENERAL, what)
        email = props.get("email")
        if not _blank(email) and not (
            isinstance(email, str) and _EMAIL.match(email) and identity_problem(email) is None
        ):
            raise Fault(Code.MALFORMED_EMAIL, "The email address is not in a valid format")
        problem = identity_problem(props[identity])
        if problem is not None:
            raise Fault(
                Code.REGISTER_GENERAL, f"{what}: the identity property '{identity}' {problem}"
            )
        self._check_size(props, Code.USER_TOO_LARGE, what)
        if settings.dynamic_schema != "create":
            unknown = self._new_columns(props)
            if unknown and settings.dynamic_schema == "refuse":
                raise Fault(
                    Code.REGISTER_UNKNOWN_PROPERTY,
                    f"Unable to register user: unknown property '{next(iter(unknown))}' "
                    "(dynamic schema definition is disabled)",
                )
            for name in unknown:
                del props[name]
        planned = self._typed(props, Code.REGISTER_GENERAL)
        guest_id = data.get("objectId")
        if guest_id is not None:
            self._guest_to_upgrade(guest_id)
        if self.store.identity_taken(key):
            raise Fault(Code.USER_EXISTS, "User already exists.")
        password_hash = await self._hash(password)
        pending = settings.email_confirmation and not data_api
        status = UserStatus.EMAIL_CONFIRMATION_PENDING if pending else UserStatus.ENABLED
        # typed again after the await: a concurrent request may have created a column meanwhile
        new_columns = self._typed(props, Code.REGISTER_GENERAL, planned)
        if guest_id is not None:
            # From here on nothing awaits: the guest is read and upgraded in one step.
            guest = self._guest_to_upgrade(guest_id)
            upgraded = {**guest.props, **props}
            self._check_size(upgraded, Code.USER_TOO_LARGE, what)
            guest.identity_key = key
            guest.password_hash = password_hash
            guest.props = upgraded
            guest.user_status = status.value
            guest.updated = self.clock.now_ms()
            user = guest
        else:
            object_id = new_object_id()
            user = StoredUser(
                object_id=object_id,
                identity_key=key,
                password_hash=password_hash,
                created=self.clock.now_ms(),
                updated=None,
                last_login=None,
                owner_id=object_id,
                user_status=status.value,
                props=props,
            )
        try:
            with self.store.transaction():
                self.store.add_columns(new_columns)
                if guest_id is not None:
                    self.store.save_user(user)
                else:
                    self.store.insert_user(user)
        except IdentityTaken:
            raise Fault(Code.USER_EXISTS, "User already exists.") from None
        return self.to_wire(user)

    def _guest_to_upgrade(self, object_id: Any) -> StoredUser:
        """The guest a registration names by objectId (a guest becomes a registered user)."""
        user = self.store.get_user(object_id) if isinstance(object_id, str) else None
        if user is None:
            raise Fault(
                Code.REGISTER_GENERAL,
                f"Unable to register user: no guest user has the objectId {object_id!r}",
            )
        if user.user_status != UserStatus.GUEST.value:
            raise Fault(Code.USER_EXISTS, "User already exists.")
        return user

    def _logged_in(self, user: StoredUser, token: str) -> dict[str, Any]:
        answer = self.to_wire(user)
        answer[USER_TOKEN_KEY] = token
        return answer

    async def guest_login(self) -> dict[str, Any]:
        object_id = new_object_id()
        now = self.clock.now()
        user = StoredUser(
            object_id=object_id,
            identity_key=None,
            password_hash=None,
            created=int(now * 1000),
            updated=None,
            last_login=int(now * 1000),
            owner_id=object_id,
            user_status=UserStatus.GUEST.value,
        )
        token = new_token()
        with self.store.transaction():
            self.store.insert_user(user)
            self.store.create_session(token, object_id, now)
        return self._logged_in(user, token)

    async def login(self, body: bytes, caller: Caller | None = None) -> dict[str, Any]:
        settings = self.settings
        empty = "Either login or password is empty"
        data = parse_object(body, Code.EMPTY_LOGIN, "Unable to login")
        if "objectId" in data and "login" not in data and "password" not in data:
            return self._login_by_object_id(data["objectId"], caller or Caller())
        login, password = data.get("login"), data.get("password")
        if _blank(login) or _blank(password):
            raise Fault(Code.EMPTY_LOGIN, empty)
        if not isinstance(password, str) or identity_key(login) is None:
            raise Fault(Code.INVALID_LOGIN, "Invalid login or password")
        if not settings.login_enabled:
            raise Fault(Code.LOGIN_DISABLED, "Login has been disabled for the user account")
        key = identity_key(login)
        assert key is not None
        user = self.store.find_by_identity(key)
        locked_until = None if user is None else user.locked_until
        if locked_until is not None and self.clock.now() < locked_until:
            raise Fault(
                Code.ACCOUNT_LOCKED,
                "The account is locked out due to too many failed logins; try again later",
            )
        ok = await self._verify(password, user.password_hash if user else None)
        if user is None:
            raise Fault(Code.INVALID_LOGIN, "Invalid login or password")
        # Everything below is synchronous: no other request interleaves with it.
        now = self.clock.now()
        current = self.store.get_user(user.object_id)
        if current is None or current.password_hash != user.password_hash:
            raise Fault(Code.INVALID_LOGIN, "Invalid login or password")
        user = current
        if not ok:
            user.failed_logins += 1
            if settings.lockout_after is not None and user.failed_logins >= settings.lockout_after:
                user.failed_logins = 0
                user.locked_until = now + settings.lockout_seconds
            self.store.save_user(user)
            raise Fault(Code.INVALID_LOGIN, "Invalid login or password")
        self._check_can_log_in(user)
        return self._open_session(user, now)

    def _check_can_log_in(self, user: StoredUser) -> None:
        if user.user_status == UserStatus.DISABLED.value:
            raise Fault(Code.ACCOUNT_DISABLED, "User account is disabled")
        pending = user.user_status == UserStatus.EMAIL_CONFIRMATION_PENDING.value
        if pending and not self.settings.unconfirmed_login:
            raise Fault(
                Code.ACCOUNT_STATUS_INVALID,
                "Unable to login: the email address of the account is not confirmed yet",
            )

    def _login_by_object_id(self, object_id: Any, caller: Caller) -> dict[str, Any]:
        """Login with only an objectId: the CloudCode (BL) key's privilege."""
        if not caller.server:
            raise Fault(
                Code.LOGIN_BY_ID_NEEDS_SERVER_KEY,
                "Login by object id is allowed only for Code Runner API key",
            )
        user = self.store.get_user(object_id) if isinstance(object_id, str) else None
        if user is None or user.user_status == UserStatus.GUEST.value:
            raise Fault(Code.INVALID_LOGIN, "Invalid login or password")
        self._check_can_log_in(user)
        return self._open_session(user, self.clock.now())

    def _open_session(self, user: StoredUser, now: float) -> dict[str, Any]:
        """A new session for `user`, as the multiple-logins policy allows (synchronous)."""
        settings = self.settings
        token = new_token()
        with self.store.transaction():
            live = []
            for session in self.store.user_sessions(user.object_id):
                if now - session.last_used > settings.session_timeout:
                    self.store.delete_session(session)
                else:
                    live.append(session)
            if settings.multiple_logins == "first-loses":
                self.store.delete_user_sessions(user.object_id)
            elif settings.multiple_logins == "second-refused" and live:
                raise Fault(
                    Code.SECOND_LOGIN_REFUSED,
                    "Multiple logins are disabled and the account is already logged in",
                )
            elif settings.multiple_logins == "allow" and len(live) >= settings.max_sessions:
                raise Fault(
                    Code.TOO_MANY_SESSIONS,
                    "Multiple login limit for the same user account has been reached",
                )
            user.failed_logins = 0
            user.locked_until = None
            user.last_login = int(now * 1000)
            self.store.save_user(user)
            self.store.create_session(token, user.object_id, now)
        return self._logged_in(user, token)

    def logout(self, caller: Caller) -> None:
        found = self._session(caller, required=False, disabled_ok=True)
        if found is not None:
            self.store.delete_session(found[0])

    def is_valid_token(self, token: str) -> bool:
        try:
            self._session_user(Caller(token=token), required=True)
        except Fault:
            return False
        return True

    # -- update ------------------------------------------------------------------------------

    async def update(self, object_id: str, body: bytes, caller: Caller) -> dict[str, Any]:
        what = "Unable to update user"
        settings = self.settings
        session_user = self._session_user(caller, required=not caller.server)
        data = parse_object(body, Code.UPDATE_GENERAL, what)
        target = self._update_target(object_id, session_user, caller)
        changes = {k: v for k, v in data.items() if k not in SYSTEM_KEYS}
        if "id" in changes:
            raise Fault(Code.UPDATE_GENERAL, f"{what}: 'id' cannot be used as a property")
        new_password: str | None = None
        if "password" in changes:
            password = changes.pop("password")
            if _blank(password) or not isinstance(password, str):
                raise Fault(Code.UPDATE_GENERAL, f"{what}: 'password' must be a non-empty string")
            new_password = password
        self._check_values(changes, Code.UPDATE_GENERAL, what)
        if settings.dynamic_schema != "create":
            unknown = self._new_columns(changes)
            if unknown and settings.dynamic_schema == "refuse":
                raise Fault(
                    Code.UPDATE_UNKNOWN_PROPERTY,
                    f"{what}: property '{next(iter(unknown))}' does not exist and dynamic "
                    "schema definition is disabled",
                )
            for name in unknown:
                del changes[name]
        planned = self._typed(changes, Code.UPDATE_GENERAL)
        email = changes.get("email")
        if not _blank(email) and not (
            isinstance(email, str) and _EMAIL.match(email) and identity_problem(email) is None
        ):
            raise Fault(Code.UPDATE_GENERAL, f"{what}: the email address is not in a valid format")
        identity = settings.identity
        new_identity = changes.get(identity)
        if not _blank(new_identity) and identity_key(new_identity) is None:
            raise Fault(
                Code.UPDATE_GENERAL,
                f"{what}: the identity property '{identity}' must be a string or a number",
            )
        problem = identity_problem(new_identity)
        if problem is not None:
            raise Fault(
                Code.UPDATE_GENERAL, f"{what}: the identity property '{identity}' {problem}"
            )
        password_hash = None if new_password is None else await self._hash(new_password)

        # From here on nothing awaits: read, check and write happen as one step. Only a new
        # password's hash awaited: then the user and the columns are read again (another request
        # may have changed them meanwhile), and the session is checked again in the write.
        awaited = password_hash is not None
        if awaited:
            user = self._update_target(object_id, session_user, caller)
            new_columns = self._typed(changes, Code.UPDATE_GENERAL, planned)
        else:
            user, new_columns = target, planned
        guest = user.user_status == UserStatus.GUEST.value
        if guest and identity in changes and not _blank(new_identity):
            raise Fault(Code.UPDATE_GENERAL, GUEST_IDENTITY_MESSAGE.format(identity=identity))
        merged = {**user.props, **changes}
        key = identity_key(merged.get(identity))
        if not guest or key is not None:
            for name in (identity, *settings.required):
                if _blank(merged.get(name)):
                    raise Fault(
                        Code.UPDATE_REQUIRED_MISSING,
                        f"{what}: the required property '{name}' must have a value",
                    )
        if (key is not None and key != user.identity_key
                and self.store.identity_taken(key, besides=user.object_id)):
            raise Fault(
                Code.IDENTITY_CONFLICT,
                f"{what}: another user already has this value of the identity property "
                f"'{identity}'",
            )
        self._check_size(merged, Code.USER_TOO_LARGE, what)
        user.props = merged
        user.identity_key = key
        user.updated = self.clock.now_ms()
        if password_hash is not None:
            user.password_hash = password_hash
        try:
            with self.store.transaction():
                # the session is checked again in the write's own transaction: a logout that
                # ended it while the password was hashed wins, and nothing is written
                if (awaited and caller.token is not None
                        and self.store.get_session(caller.token) is None):
                    raise Fault(Code.INVALID_TOKEN, TOKEN_MESSAGE.format(token=caller.token))
                self.store.add_columns(new_columns)
                self.store.save_user(user)
        except IdentityTaken:
            raise Fault(
                Code.IDENTITY_CONFLICT,
                f"{what}: another user already has this value of the identity property "
                f"'{identity}'",
            ) from None
        return self.to_wire(user)

    def _update_target(
        self, object_id: str, session_user: StoredUser | None, caller: Caller
    ) -> StoredUser:
        if session_user is not None and session_user.object_id == object_id:
            user: StoredUser | None = session_user  # read a moment ago, nothing awaited since
        else:
            user = self.store.get_user(object_id)
        if user is None:
            raise Fault(Code.USER_NOT_FOUND, f"Unable to update user: no user has id {object_id}")
        if (
            not caller.server
            and self.settings.cross_user == "deny"
            and session_user is not None
            and session_user.object_id != user.object_id
        ):
            raise Fault(
                Code.ANOTHER_USER,
                "Unable to update user: the user-token belongs to another user",
            )
        return user

    # -- reads -------------------------------------------------------------------------------

    def find_by_id(
        self, object_id: str, caller: Caller, *, props: list[str] | None = None, data_route: bool
    ) -> dict[str, Any]:
        self._session_user(caller, required=False)
        user = self.store.get_user(object_id)
        if user is None:
            if data_route:
                raise Fault(1000, f"Entity with the specified ID cannot be found: Id - {object_id}")
            raise Fault(Code.USER_NOT_FOUND, f"User not found: no user has id {object_id}")
        answer = self.to_wire(user)
        if props:
            wanted = {"objectId", "___class", *props}
            answer = {k: v for k, v in answer.items() if k in wanted}
        return answer

    def get_stored_user(self, object_id: str) -> dict[str, Any] | None:
        user = self.store.get_user(object_id)
        return None if user is None else self.to_wire(user)

    def describe(self, caller: Caller) -> list[dict[str, Any]]:
        self._session_user(caller, required=False)
        settings = self.settings
        columns: dict[str, str] = {**SYSTEM_COLUMNS, **DEFAULT_COLUMNS}
        for name, kind in self.store.columns().items():
            columns.setdefault(name, kind)
        for name in (settings.identity, *settings.required):  # typed by a first value, or not
            columns.setdefault(name, "STRING")
        return [
            {
                "name": name,
                "type": kind,
                "required": name == settings.identity or name in settings.required,
                "identity": name == settings.identity,
                "defaultValue": None,
                "autoLoad": False,
                "isPrimaryKey": name == "objectId",
                "relatedTable": None,
                "customRegex": None,
            }
            for name, kind in columns.items()
        ]

    def _by_identity(self, identity: str) -> StoredUser:
        key = identity_key(identity)
        user = None if key is None else self.store.find_by_identity(key)
        if user is None:
            raise Fault(3020, "Unable to find user with the specified login")
        return user

    def restore_password(self, identity: str) -> None:
        self._by_identity(identity)

    def confirmation_target(self, identity: str) -> StoredUser:
        """The user a confirmation email (or URL) is for, with Backendless's resend faults."""
        strict = self.settings.strict
        if strict and not self.settings.email_confirmation:
            raise Fault(
                Code.CONFIRMATION_NOT_REQUIRED,
                "Unable to send email confirmation: the app does not require email confirmation",
            )
        key = identity_key(identity)
        user = None if key is None else self.store.find_by_identity(key)
        if user is None:
            raise Fault(
                Code.CONFIRMATION_USER_NOT_FOUND,
                "Unable to send email confirmation - user account with the email cannot be found",
            )
        if strict and user.user_status != UserStatus.EMAIL_CONFIRMATION_PENDING.value:
            raise Fault(
                Code.EMAIL_ALREADY_CONFIRMED,
                "User has already confirmed the email address. Email confirmation will not be "
                "sent",
            )
        return user

    def resend_confirmation(self, identity: str) -> None:
        self.confirmation_target(identity)

    async def verify_password(self, body: bytes, caller: Caller) -> dict[str, Any]:
        if self.settings.strict and not caller.server:
            raise Fault(
                Code.VERIFY_PASSWORD_NEEDS_SERVER_KEY,
                "Password verification allowed only from CloudCode",
            )
        user = self._session_user(caller, required=True)
        assert user is not None
        data = parse_object(body, 400, "Unable to verify the password")
        password = data.get("password")
        if not isinstance(password, str) or not password:
            raise Fault(400, "Unable to verify the password: 'password' must be a non-empty string")
        if user.password_hash is None:
            return {"valid": False}
        return {"valid": await self._verify(password, user.password_hash)}

    def user_roles(self, caller: Caller) -> list[str]:
        user = self._session_user(caller, required=False)
        if user is None:
            return ["NotAuthenticatedUser"]
        return self.roles_of(user)

    def roles_of(self, user: StoredUser) -> list[str]:
        """A user's system role, then the roles assigned to them."""
        system = "GuestUser" if user.user_status == UserStatus.GUEST.value else "AuthenticatedUser"
        return [system, *self.store.roles_of(user.object_id)]

    def set_status(self, object_id: str, body: bytes, caller: Caller) -> None:
        if not caller.server:
            raise Fault(Code.STATUS_NOT_ALLOWED, "Operation allowed only for BL logic.")
        data = parse_object(body, 400, "Unable to change the user status")
        status = data.get("userStatus")
        if status not in (UserStatus.ENABLED.value, UserStatus.DISABLED.value):
            raise Fault(
                400, "Unable to change the user status: 'userStatus' must be ENABLED or DISABLED"
            )
        user = self.store.get_user(object_id)
        if user is None:
            raise Fault(
                Code.USER_NOT_FOUND, f"Unable to change the user status: no user has id {object_id}"
            )
        self.change_status(user, str(status))

    def change_status(self, user: StoredUser, status: str) -> None:
        """Set a user's status. A disabled user's sessions stay, but refuse everything except a
        logout (3090), so the token that disabled its own account can still log out."""
        user.user_status = status
        if status == UserStatus.ENABLED.value:
            user.failed_logins, user.locked_until = 0, None
        self.store.save_user(user)

    def info(self, caller: Caller) -> dict[str, Any]:
        return {
            "appId": self.app_id,
            "appName": "backendless-aio emulator",
            "rtURL": None,
            "loggers": [],
            "emulator": True,
        }
