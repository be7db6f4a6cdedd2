"""The emulator's settings: one frozen, keyword-only attrs object (variants: attrs.evolve)."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from .._codes import SYSTEM_KEYS

#: The application id the emulator answers to when none is given (a readable GUID-like string).
DEFAULT_APP_ID = "E4A1A700-0000-4000-8000-00000000A991"
#: The client API key the emulator accepts when none is given.
DEFAULT_API_KEY = "E4A1A700-0000-4000-8000-0000000C1E47"
#: The default host and port (0 picks a free port).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 0
#: Default inactivity timeout of a session, in seconds (Backendless's default).
DEFAULT_SESSION_TIMEOUT = 3600.0
#: Longest session timeout Backendless allows: 30 days.
MAX_SESSION_TIMEOUT = 30 * 24 * 3600.0
#: Default cap on concurrent sessions of one account when multiple logins are allowed.
DEFAULT_MAX_SESSIONS = 10
#: Default lockout duration after too many failed logins, in seconds.
DEFAULT_LOCKOUT_SECONDS = 900.0
#: Largest request body accepted; larger ones get a JSON 413.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
#: Seconds a connection may take to send a request's headers (from connecting, or from the
#: previous answer on a kept-alive connection) and then its body; then it is closed.
DEFAULT_HEADER_TIMEOUT = 20.0
#: Open connections the emulator serves at once; one more is answered 503 and closed.
DEFAULT_MAX_CONNECTIONS = 256
#: How many requests are kept when record_requests is on.
RECORDED_REQUESTS_LIMIT = 1000
#: The console developer account (the defaults of Backendless's own e2e suite).
DEFAULT_CONSOLE_LOGIN = "foo@foo.com"
DEFAULT_CONSOLE_PASSWORD = "secret"

CrossUserPolicy = Literal["deny", "allow"]
#: What a register or update does with a property the Users table has no column for:
#: "create" the column (dynamic schema on), "drop" the property silently (what the console's
#: dynamicSchema=false does, as Backendless's own e2e suite asserts), or "refuse" it with the
#: documented faults 3010 / 3031.
UnknownPropertyPolicy = Literal["create", "drop", "refuse"]
UNKNOWN_PROPERTY_POLICIES: tuple[str, ...] = ("create", "drop", "refuse")
MultipleLoginsPolicy = Literal["first-loses", "second-refused", "allow"]
CROSS_USER_POLICIES: tuple[str, ...] = ("deny", "allow")
MULTIPLE_LOGINS_POLICIES: tuple[str, ...] = ("first-loses", "second-refused", "allow")

#: Properties every Users table has besides the system keys.
RESERVED_PROPERTIES = frozenset({"password", "id"})


def _str_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _unknown_properties(value: Any) -> str:
    """True / False (the older boolean setting) read as "create" / "refuse"."""
    if value is True:
        return "create"
    if value is False:
        return "refuse"
    if value not in UNKNOWN_PROPERTY_POLICIES:
        raise ValueError(
            f"dynamic_schema must be one of {', '.join(UNKNOWN_PROPERTY_POLICIES)} (or a bool), "
            f"not {value!r}"
        )
    return str(value)


def _check_identity(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not value:
        raise ValueError("identity must name a property")
    if value in SYSTEM_KEYS or value in RESERVED_PROPERTIES:
        raise ValueError(f"identity cannot be the system property {value!r}")


def _check_required(
    _inst: object, _attr: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    for name in value:
        if not name or name in SYSTEM_KEYS or name in RESERVED_PROPERTIES:
            raise ValueError(f"{name!r} cannot be a required property")


def _check_timeout(_inst: object, _attr: attrs.Attribute[float], value: float) -> None:
    if not 0 < value <= MAX_SESSION_TIMEOUT:
        raise ValueError(f"session_timeout must be in (0, {MAX_SESSION_TIMEOUT:.0f}] seconds")


def _check_lockout(_inst: object, _attr: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError("lockout_after must be at least 1 (or None to disable lockout)")


def _check_port(_inst: object, _attr: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError("port must be in 0..65535")


@attrs.frozen(kw_only=True)
class EmulatorSettings:
    """Everything the emulator can be told. Defaults work as they are."""

    #: The application id in the classic URL form `/{app_id}/{api_key}/...`.
    app_id: str = attrs.field(default=DEFAULT_APP_ID, validator=attrs.validators.min_len(1))
    #: The client API key in the classic URL form.
    api_key: str = attrs.field(default=DEFAULT_API_KEY, validator=attrs.validators.min_len(1))
    #: Other client API keys accepted too (Backendless has one per platform: JS, REST, ...).
    extra_api_keys: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    #: The server-side (CodeRunner / console) key; only it may change a user's status.
    server_api_key: str | None = None
    #: SQLite database: ":memory:" or a file path (state then survives a restart).
    db_path: str = ":memory:"
    host: str = DEFAULT_HOST
    #: 0 picks a free port.
    port: int = attrs.field(default=DEFAULT_PORT, validator=_check_port)
    #: The identity property (unique, used to log in).
    identity: str = attrs.field(default="email", validator=_check_identity)
    #: Properties that must have a value (3012 at registration, 3045 at update).
    required: tuple[str, ...] = attrs.field(
        default=(), converter=_str_tuple, validator=_check_required
    )
    #: Unknown properties: "create" a column (True, the default), "drop" them silently, or
    #: "refuse" them (False: 3010 at registration, 3031 at update).
    dynamic_schema: UnknownPropertyPolicy = attrs.field(
        default="create", converter=_unknown_properties
    )
    #: Updating another user's object: "deny" answers 3029, "allow" lets it through.
    cross_user: CrossUserPolicy = attrs.field(
        default="deny", validator=attrs.validators.in_(CROSS_USER_POLICIES)
    )
    #: Seconds without activity after which a session token expires.
    session_timeout: float = attrs.field(
        default=DEFAULT_SESSION_TIMEOUT, converter=float, validator=_check_timeout
    )
    #: "first-loses": a new login ends the previous sessions; "second-refused": 3002 while a
    #: session is alive; "allow": up to max_sessions sessions, then 3044.
    multiple_logins: MultipleLoginsPolicy = attrs.field(
        default="first-loses", validator=attrs.validators.in_(MULTIPLE_LOGINS_POLICIES)
    )
    max_sessions: int = attrs.field(default=DEFAULT_MAX_SESSIONS, validator=attrs.validators.ge(1))
    #: Failed logins after which the account is locked (3036); None disables the lockout.
    lockout_after: int | None = attrs.field(default=None, validator=_check_lockout)
    lockout_seconds: float = attrs.field(
        default=DEFAULT_LOCKOUT_SECONDS, converter=float, validator=attrs.validators.gt(0)
    )
    #: False answers 3009 (HTTP 403) to every registration.
    registration_enabled: bool = True
    #: False answers 3000 to every login ("login disabled for this account").
    login_enabled: bool = True
    #: Registration leaves new users EMAIL_CONFIRMATION_PENDING until their confirmation URL is
    #: fetched (the console's emailConfirmationRequired).
    email_confirmation: bool = False
    #: Whether a user whose email is not confirmed yet may log in (False: 3091, as Backendless's
    #: docs say; True, the default, lets Backendless's own e2e suite run, see docs/emulator.md).
    unconfirmed_login: bool = True
    #: Backendless's rules that the default app relaxes so existing callers keep working: verify
    #: password only with the CloudCode key (3122); resend confirmation only when the app
    #: requires it (3103) and the user is pending (3102). Apps the console creates are strict.
    strict: bool = False
    #: The console developer account (POST /console/home/login).
    console_login: str = attrs.field(
        default=DEFAULT_CONSOLE_LOGIN, validator=attrs.validators.min_len(1)
    )
    console_password: str = attrs.field(
        default=DEFAULT_CONSOLE_PASSWORD, validator=attrs.validators.min_len(1), repr=False
    )
    #: Lower the password hashing cost (for test suites that register many users).
    fast_password_hashing: bool = False
    max_body_bytes: int = attrs.field(
        default=DEFAULT_MAX_BODY_BYTES, validator=attrs.validators.ge(1024)
    )
    #: Seconds for a request's headers (and then its body) to arrive before the connection is
    #: closed; also how long an idle kept-alive connection stays open.
    header_timeout: float = attrs.field(
        default=DEFAULT_HEADER_TIMEOUT, converter=float, validator=attrs.validators.gt(0)
    )
    #: Connections served at once; more are answered 503 (JSON) and closed.
    max_connections: int = attrs.field(
        default=DEFAULT_MAX_CONNECTIONS, validator=attrs.validators.ge(1)
    )
    #: The token the admin routes (`/__emulator__/...`) require in the `X-Emulator-Admin-Token`
    #: header. Without one, admin routes answer only when the emulator listens on loopback.
    admin_token: str | None = attrs.field(default=None, repr=False)
    #: Seconds added before every API answer, like a network's round trip (0: none). Backendless's
    #: own e2e suite needs a millisecond or more: its random e-mails come from Date.now().
    latency: float = attrs.field(default=0.0, converter=float, validator=attrs.validators.ge(0))
    #: Seed of the fault injector's random choices (ratios), for reproducible runs.
    fault_seed: int = 0
    #: Keep the last RECORDED_REQUESTS_LIMIT requests in Emulator.requests.
    record_requests: bool = False

    @property
    def api_keys(self) -> tuple[str, ...]:
        """Every key accepted in the classic URL form."""
        keys = (self.api_key, *self.extra_api_keys)
        if self.server_api_key is not None:
            keys = (*keys, self.server_api_key)
        return keys

    def app_settings(self) -> AppSettings:
        """The behaviour of the app these settings name (the emulator's default app)."""
        return AppSettings(**{f.name: getattr(self, f.name) for f in attrs.fields(AppSettings)})


@attrs.frozen(kw_only=True)
class AppSettings:
    """How one application behaves: its Users table and its login rules.

    Each app of an emulator has its own (the console changes them); the default app's come from
    `EmulatorSettings` at every start. The fields mean what the same fields of `EmulatorSettings`
    mean.
    """

    identity: str = attrs.field(default="email", validator=_check_identity)
    required: tuple[str, ...] = attrs.field(
        default=(), converter=_str_tuple, validator=_check_required
    )
    dynamic_schema: UnknownPropertyPolicy = attrs.field(
        default="create", converter=_unknown_properties
    )
    cross_user: CrossUserPolicy = attrs.field(
        default="deny", validator=attrs.validators.in_(CROSS_USER_POLICIES)
    )
    session_timeout: float = attrs.field(
        default=DEFAULT_SESSION_TIMEOUT, converter=float, validator=_check_timeout
    )
    multiple_logins: MultipleLoginsPolicy = attrs.field(
        default="first-loses", validator=attrs.validators.in_(MULTIPLE_LOGINS_POLICIES)
    )
    max_sessions: int = attrs.field(default=DEFAULT_MAX_SESSIONS, validator=attrs.validators.ge(1))
    lockout_after: int | None = attrs.field(default=None, validator=_check_lockout)
    lockout_seconds: float = attrs.field(
        default=DEFAULT_LOCKOUT_SECONDS, converter=float, validator=attrs.validators.gt(0)
    )
    registration_enabled: bool = True
    login_enabled: bool = True
    email_confirmation: bool = False
    unconfirmed_login: bool = True
    strict: bool = False

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> AppSettings:
        """Settings as `to_json` wrote them; fields this version does not know are ignored."""
        if not isinstance(data, dict):
            return cls()
        known = {f.name for f in attrs.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
