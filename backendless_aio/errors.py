"""The fault tree: one root, ``BackendlessError``; server faults by code; transport problems apart.

Every class here keeps secrets out of its text: messages from the server are redacted before an
exception is built (see :func:`backendless_aio.wire.redact`), and no exception carries headers,
URLs or bodies beyond a short, redacted snippet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ._codes import Code

__all__ = [
    "AccountDisabled",
    "AccountLocked",
    "AccountStatusInvalid",
    "BackendlessError",
    "BackendlessFault",
    "BackendlessTimeout",
    "CallbackHandlerError",
    "CannotModifyAnotherUser",
    "ConfigurationError",
    "ConfirmationUserNotFound",
    "ConnectionFailed",
    "EmailAlreadyConfirmed",
    "EmailConfirmationNotRequired",
    "EmptyLogin",
    "EntityNotFound",
    "GeneralRegistrationError",
    "IdNotAllowed",
    "IdentityConflict",
    "InvalidLogin",
    "InvalidOffset",
    "InvalidPageSize",
    "InvalidUserToken",
    "InvalidWhereClause",
    "LoginByIdNeedsServerKey",
    "LoginDisabled",
    "LogoutFailed",
    "LogoutInvalidApp",
    "MalformedEmail",
    "MalformedResponse",
    "MissingIdentity",
    "MissingPassword",
    "OperationCancelled",
    "PasswordCheckNeedsServerKey",
    "PropertyTypeMismatch",
    "QueryRefused",
    "RateLimited",
    "RegistrationDisabled",
    "RequestTooLarge",
    "RequiredPropertyMissing",
    "RequiredPropertyWouldBeEmpty",
    "RoleArgumentMissing",
    "RoleNotFound",
    "RoleUserNotFound",
    "RolesNeedServerKey",
    "SecondLoginRefused",
    "ServerKeyRequired",
    "SessionOver",
    "SessionStoreUnavailable",
    "StatusChangeNotAllowed",
    "SystemRoleNotAssignable",
    "SystemRoleNotUnassignable",
    "TableNotFound",
    "TooManySessions",
    "TransportError",
    "UnexpectedStatus",
    "UnknownColumn",
    "UnknownProperty",
    "UnknownPropertyOnUpdate",
    "UpdateFailed",
    "UserAlreadyExists",
    "UserNotFound",
    "UserNotLoggedIn",
    "UserTooLarge",
    "WrongApplication",
    "fault_class",
]


class BackendlessError(Exception):
    """The root of every error this library raises."""


class ConfigurationError(BackendlessError, ValueError):
    """A setting or an argument is wrong; raised before anything is sent."""


class BackendlessFault(BackendlessError):
    """A fault answered by Backendless (or refused by the client the way Backendless would).

    ``code`` is Backendless's fault code (``None`` when the answer had none), ``message`` its text
    (redacted), ``detail`` the ``errorData`` object, ``status`` the HTTP status (``None`` for a
    client-side refusal), ``route`` the route template (``PUT users/{objectId}``) and
    ``operation`` the library operation (``users.update``).
    """

    #: The code this class stands for; ``None`` on the general class.
    CODE: ClassVar[int | None] = None
    #: What the code means, for the README's fault table and the CLI.
    MEANING: ClassVar[str] = "a fault answered by Backendless"

    code: int | None
    message: str
    detail: Mapping[str, Any]
    status: int | None
    route: str | None
    operation: str | None

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        detail: Mapping[str, Any] | None = None,
        status: int | None = None,
        route: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code if code is not None else self.CODE
        self.message = message
        self.detail = dict(detail) if detail else {}
        self.status = status
        self.route = route
        self.operation = operation

    @property
    def fault_code(self) -> str | None:
        """The code as a string, as the .NET SDK's ``FaultCode`` has it."""
        return None if self.code is None else str(self.code)

    def __str__(self) -> str:
        where = []
        if self.route:
            where.append(self.route)
        if self.status is not None:
            where.append(f"HTTP {self.status}")
        else:
            where.append("refused by the client")
        head = f"[{self.code}] " if self.code is not None else ""
        return f"{head}{self.message} ({', '.join(where)})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"status={self.status!r}, route={self.route!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_fault,
            (type(self), self.message, self.code, self.detail, self.status, self.route,
             self.operation),
        )


def _rebuild_fault(
    cls: type[BackendlessFault],
    message: str,
    code: int | None,
    detail: Mapping[str, Any],
    status: int | None,
    route: str | None,
    operation: str | None,
) -> BackendlessFault:
    return cls(message, code=code, detail=detail, status=status, route=route, operation=operation)


class SessionOver(BackendlessFault):
    """The server says the session is over (3023, 3064, 3090, 3091): the local session is dropped,
    as the official SDKs do, and the error is passed on."""

    MEANING = "the session is over; log in again"


# The documented codes, one class each: ``except UserNotLoggedIn`` and ``fault.code == 3028``
# both work.


class RateLimited(BackendlessFault):
    """999: the request-per-second limit is exhausted.

    ``retry_after`` is the server's ``Retry-After`` in seconds when it sent one (it may be
    ``inf``): set when the call gave up because that wait did not fit in its deadline.
    """

    CODE = int(Code.RATE_LIMIT)
    MEANING = "the request-per-second limit is exhausted"
    retry_after: float | None = None


class WrongApplication(BackendlessFault):
    """2002: wrong application id or API key, or the version is disabled."""

    CODE = int(Code.WRONG_APP)
    MEANING = "wrong application id or API key, or the version is disabled"


class LoginDisabled(BackendlessFault):
    """3000: login is disabled for this account."""

    CODE = int(Code.LOGIN_DISABLED)
    MEANING = "login is disabled for this account"


class SecondLoginRefused(BackendlessFault):
    """3002: multiple logins are disabled and this account is logged in already."""

    CODE = int(Code.SECOND_LOGIN_REFUSED)
    MEANING = "multiple logins are disabled and this account is logged in already"


class InvalidLogin(BackendlessFault):
    """3003: invalid login or password."""

    CODE = int(Code.INVALID_LOGIN)
    MEANING = "invalid login or password"


class EmptyLogin(BackendlessFault):
    """3006: login or password is empty."""

    CODE = int(Code.EMPTY_LOGIN)
    MEANING = "login or password is empty"


class LogoutInvalidApp(BackendlessFault):
    """3007: logout: invalid application."""

    CODE = int(Code.LOGOUT_INVALID_APP)
    MEANING = "logout: invalid application"


class RegistrationDisabled(BackendlessFault):
    """3009: user registration is disabled for this application."""

    CODE = int(Code.REGISTRATION_DISABLED)
    MEANING = "user registration is disabled for this application"


class UnknownProperty(BackendlessFault):
    """3010: a property is not in the schema and dynamic schema is disabled."""

    CODE = int(Code.REGISTER_UNKNOWN_PROPERTY)
    MEANING = "a property is not in the schema and dynamic schema is disabled"


class MissingPassword(BackendlessFault):
    """3011: the password is missing."""

    CODE = int(Code.REGISTER_NO_PASSWORD)
    MEANING = "the password is missing"


class RequiredPropertyMissing(BackendlessFault):
    """3012: a required property is missing."""

    CODE = int(Code.REGISTER_REQUIRED_MISSING)
    MEANING = "a required property is missing"


class MissingIdentity(BackendlessFault):
    """3013: the identity property has no value."""

    CODE = int(Code.REGISTER_NO_IDENTITY)
    MEANING = "the identity property has no value"


class IdentityConflict(BackendlessFault):
    """3018: another user already has this identity (email by default)."""

    CODE = int(Code.IDENTITY_CONFLICT)
    MEANING = "another user already has this identity (email by default)"


class GeneralRegistrationError(BackendlessFault):
    """3021: general registration error."""

    CODE = int(Code.REGISTER_GENERAL)
    MEANING = "general registration error"


class LogoutFailed(SessionOver):
    """3023: general logout error; session over."""

    CODE = int(Code.LOGOUT_GENERAL)
    MEANING = "general logout error; session over"


class UpdateFailed(BackendlessFault):
    """3024: general update error; the message says what went wrong."""

    CODE = int(Code.UPDATE_GENERAL)
    MEANING = "general update error; the message says what went wrong"


class UserNotLoggedIn(BackendlessFault):
    """3028: no user is logged in."""

    CODE = int(Code.NOT_LOGGED_IN)
    MEANING = "no user is logged in"


class CannotModifyAnotherUser(BackendlessFault):
    """3029: the session belongs to another user."""

    CODE = int(Code.ANOTHER_USER)
    MEANING = "the session belongs to another user"


class EntityNotFound(BackendlessFault):
    """1000: no object has that objectId (``find_by_id`` of an unknown user, the Data service's
    answer). :class:`UserNotFound` (3030, the Users service's answer) is a subclass, so
    ``except EntityNotFound`` catches an unknown user whichever route answered."""

    CODE = int(Code.ENTITY_NOT_FOUND)
    MEANING = "no object has that objectId (the Data service's answer)"


class UserNotFound(EntityNotFound):
    """3030: no user has that objectId."""

    CODE = int(Code.USER_NOT_FOUND)
    MEANING = "no user has that objectId"


class UnknownPropertyOnUpdate(BackendlessFault):
    """3031: the update would create a property while dynamic schema is disabled."""

    CODE = int(Code.UPDATE_UNKNOWN_PROPERTY)
    MEANING = "the update would create a property while dynamic schema is disabled"


class UserAlreadyExists(BackendlessFault):
    """3033: a user with this identity already exists."""

    CODE = int(Code.USER_EXISTS)
    MEANING = "a user with this identity already exists"


class AccountLocked(BackendlessFault):
    """3036: the account is locked after too many failed logins."""

    CODE = int(Code.ACCOUNT_LOCKED)
    MEANING = "the account is locked after too many failed logins"


class IdNotAllowed(BackendlessFault):
    """3039: 'id' may not be used as a property at registration."""

    CODE = int(Code.REGISTER_ID_PROPERTY)
    MEANING = "'id' may not be used as a property at registration"


class MalformedEmail(BackendlessFault):
    """3040: the email address is malformed."""

    CODE = int(Code.MALFORMED_EMAIL)
    MEANING = "the email address is malformed"


class TooManySessions(BackendlessFault):
    """3044: too many concurrent sessions for this account."""

    CODE = int(Code.TOO_MANY_SESSIONS)
    MEANING = "too many concurrent sessions for this account"


class RequiredPropertyWouldBeEmpty(BackendlessFault):
    """3045: the update would leave a required property without a value."""

    CODE = int(Code.UPDATE_REQUIRED_MISSING)
    MEANING = "the update would leave a required property without a value"


class ServerKeyRequired(BackendlessFault):
    """The operation is allowed only with the app's server-side (CloudCode, ``BL``) API key:
    the parent of 2011, 2014, 3054 and 3122."""

    MEANING = "only the app's server-side (CloudCode) API key may do this"


class StatusChangeNotAllowed(ServerKeyRequired):
    """3054: only a server-side API key may change a user's status."""

    CODE = int(Code.STATUS_NOT_ALLOWED)
    MEANING = "only a server-side API key may change a user's status"


class InvalidUserToken(SessionOver):
    """3064: the user token does not exist or has expired; log in again."""

    CODE = int(Code.INVALID_TOKEN)
    MEANING = "the user token does not exist or has expired; log in again"


class AccountDisabled(SessionOver):
    """3090: the account is disabled."""

    CODE = int(Code.ACCOUNT_DISABLED)
    MEANING = "the account is disabled"


class AccountStatusInvalid(SessionOver):
    """3091: the account's status does not allow this; session over."""

    CODE = int(Code.ACCOUNT_STATUS_INVALID)
    MEANING = "the account's status does not allow this; session over"


class QueryRefused(BackendlessFault):
    """A find or count query the server refused: the parent of 1004, 1005, 1006 and 1017."""

    MEANING = "the server refused the query"


class InvalidOffset(QueryRefused):
    """1004: the query's offset is not a whole number of 0 or more."""

    CODE = int(Code.INVALID_OFFSET)
    MEANING = "the query's offset is not a whole number of 0 or more"


class InvalidPageSize(QueryRefused):
    """1005: the query's page size is not a whole number from 1 to 100."""

    CODE = int(Code.INVALID_PAGE_SIZE)
    MEANING = "the query's page size is not a whole number from 1 to 100"


class UnknownColumn(QueryRefused):
    """1006: ``props`` or ``sort_by`` names a column the table does not have."""

    CODE = int(Code.UNKNOWN_COLUMN)
    MEANING = "props or sort_by names a column the table does not have"


class InvalidWhereClause(QueryRefused):
    """1017: the whereClause is malformed, names an unknown column or compares a column with a
    value of another type."""

    CODE = int(Code.INVALID_WHERE)
    MEANING = "the whereClause is malformed, names an unknown column or mismatches a type"


class TableNotFound(BackendlessFault):
    """1009: the Data service has no table of that name."""

    CODE = int(Code.TABLE_NOT_FOUND)
    MEANING = "the Data service has no table of that name"


class RoleNotFound(BackendlessFault):
    """2005: no role has that name."""

    CODE = int(Code.ROLE_NOT_FOUND)
    MEANING = "no role has that name"


class SystemRoleNotAssignable(BackendlessFault):
    """2007: a system role (``AuthenticatedUser``, ``NotAuthenticatedUser``...) cannot be
    assigned."""

    CODE = int(Code.ASSIGN_SYSTEM_ROLE)
    MEANING = "a system role cannot be assigned"


class SystemRoleNotUnassignable(BackendlessFault):
    """2008: a system role cannot be unassigned."""

    CODE = int(Code.UNASSIGN_SYSTEM_ROLE)
    MEANING = "a system role cannot be unassigned"


class RolesNeedServerKey(ServerKeyRequired):
    """2011: only the server-side API key may assign or unassign roles."""

    CODE = int(Code.ROLES_NEED_SERVER_KEY)
    MEANING = "only the server-side API key may assign or unassign roles"


class LoginByIdNeedsServerKey(ServerKeyRequired):
    """2014: only the server-side (Code Runner) API key may log in by objectId."""

    CODE = int(Code.LOGIN_BY_ID_NEEDS_SERVER_KEY)
    MEANING = "only the server-side API key may log in by objectId"


class RoleArgumentMissing(BackendlessFault):
    """3038: the user or the role name is missing."""

    CODE = int(Code.ROLE_ARGUMENT_MISSING)
    MEANING = "the user or the role name is missing"


class RoleUserNotFound(BackendlessFault):
    """3057: no user has that objectId or identity (roles)."""

    CODE = int(Code.ROLE_USER_NOT_FOUND)
    MEANING = "no user has that objectId or identity (roles)"


class EmailAlreadyConfirmed(BackendlessFault):
    """3102: the user's email address is confirmed already."""

    CODE = int(Code.EMAIL_ALREADY_CONFIRMED)
    MEANING = "the user's email address is confirmed already"


class EmailConfirmationNotRequired(BackendlessFault):
    """3103: the app does not require email confirmation."""

    CODE = int(Code.CONFIRMATION_NOT_REQUIRED)
    MEANING = "the app does not require email confirmation"


class ConfirmationUserNotFound(BackendlessFault):
    """3104: no user has that identity (email confirmation)."""

    CODE = int(Code.CONFIRMATION_USER_NOT_FOUND)
    MEANING = "no user has that identity (email confirmation)"


class PasswordCheckNeedsServerKey(ServerKeyRequired):
    """3122: only the server-side (CloudCode) API key may verify a password."""

    CODE = int(Code.VERIFY_PASSWORD_NEEDS_SERVER_KEY)
    MEANING = "only the server-side API key may verify a password"


_BY_CODE: dict[int, type[BackendlessFault]] = {
    cls.CODE: cls
    for cls in (
        RateLimited, EntityNotFound, WrongApplication, LoginDisabled, SecondLoginRefused,
        InvalidLogin, EmptyLogin, LogoutInvalidApp, RegistrationDisabled, UnknownProperty,
        MissingPassword, RequiredPropertyMissing, MissingIdentity, IdentityConflict,
        GeneralRegistrationError, LogoutFailed, UpdateFailed, UserNotLoggedIn,
        CannotModifyAnotherUser, UserNotFound, UnknownPropertyOnUpdate, UserAlreadyExists,
        AccountLocked, IdNotAllowed, MalformedEmail, TooManySessions, RequiredPropertyWouldBeEmpty,
        StatusChangeNotAllowed, InvalidUserToken, AccountDisabled, AccountStatusInvalid,
        InvalidOffset, InvalidPageSize, UnknownColumn, InvalidWhereClause, TableNotFound,
        RoleNotFound, SystemRoleNotAssignable, SystemRoleNotUnassignable, RolesNeedServerKey,
        LoginByIdNeedsServerKey, RoleArgumentMissing, RoleUserNotFound, EmailAlreadyConfirmed,
        EmailConfirmationNotRequired, ConfirmationUserNotFound, PasswordCheckNeedsServerKey,
    )
    if cls.CODE is not None
}


class RequestTooLarge(BackendlessFault):
    """413: the request body is larger than the server accepts (the emulator answers code 413
    with HTTP 413; a proxy's bare HTTP 413 reads as this class too)."""

    CODE = int(Code.REQUEST_TOO_LARGE)
    MEANING = "the request body is larger than the server accepts"


class UserTooLarge(BackendlessFault):
    """3413 (the emulator's own code): the update would make the stored user larger than the
    emulator's user size limit; nothing was changed."""

    CODE = int(Code.USER_TOO_LARGE)
    MEANING = "the update would make the user larger than the size limit"


#: Codes of the local emulator's own faults (not Backendless's table).
_EMULATOR_CODES: dict[int, type[BackendlessFault]] = {
    int(Code.REQUEST_TOO_LARGE): RequestTooLarge,
    int(Code.USER_TOO_LARGE): UserTooLarge,
}


def fault_class(code: int | None) -> type[BackendlessFault]:
    """The class for a fault code: its own where documented, else :class:`BackendlessFault`."""
    if code is None:
        return BackendlessFault
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = _EMULATOR_CODES.get(code, BackendlessFault)
    return cls


def fault_table() -> list[tuple[int, str, str]]:
    """``(code, class name, meaning)`` for every documented code, sorted by code."""
    return sorted((code, cls.__name__, cls.MEANING) for code, cls in _BY_CODE.items())


class TransportError(BackendlessError):
    """No usable answer arrived: the connection failed, timed out, or the answer made no sense.

    ``operation`` is the library operation (``users.update``), ``route`` the route template.
    """

    def __init__(self, message: str, *, operation: str | None = None,
                 route: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.route = route

    def __str__(self) -> str:
        if self.route:
            return f"{self.message} ({self.route})"
        return self.message


class ConnectionFailed(TransportError):
    """The connection could not be made, or was dropped before the whole answer arrived."""


class BackendlessTimeout(TransportError, TimeoutError):
    """The operation took longer than its timeout."""


class MalformedResponse(TransportError):
    """An answer arrived that is not what the contract says: not JSON, truncated, an HTML page,
    an error without a code, an empty body where a user was expected, or far too large.

    ``status`` is the HTTP status; ``snippet`` a short, redacted quote of what arrived.
    """

    def __init__(self, message: str, *, status: int | None = None, snippet: str = "",
                 operation: str | None = None, route: str | None = None) -> None:
        super().__init__(message, operation=operation, route=route)
        self.status = status
        self.snippet = snippet


class UnexpectedStatus(MalformedResponse):
    """An HTTP error status whose body is not a Backendless fault (e.g. a proxy's 502 page)."""


class PropertyTypeMismatch(BackendlessError, TypeError):
    """A property value does not fit a typed model's field (``model=``): the server sent
    something else than the field's type says, or nothing for a field without a default.

    ``model`` is the class name, ``property`` the property name, ``expected`` the field's type
    and ``got`` the name of the type that came (``"missing"`` when the property was absent).
    """

    def __init__(self, message: str, *, model: str, property: str, expected: str,
                 got: str) -> None:
        super().__init__(message)
        self.model = model
        self.property = property
        self.expected = expected
        self.got = got


class OperationCancelled(BackendlessError):
    """The operation was cancelled before it finished (reported to callback fault handlers)."""


class CallbackHandlerError(BackendlessError):
    """A callback's response or fault handler raised; the handler's exception is the cause."""


class SessionStoreUnavailable(BackendlessError):
    """The session store (Redis, say) could not be reached, refused the command or did not answer
    within its timeout. Nothing was sent to Backendless because of it, and no server fault hides
    behind it.

    ``operation`` is the store operation (``load``, ``save``, ``delete``, ``discard``, ``touch``)
    and ``session_key`` the scope's key. The text names the cause's type, never a token, a
    password or the store's URL.
    """

    operation: str | None
    session_key: str | None

    def __init__(self, message: str, *, operation: str | None = None,
                 session_key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.session_key = session_key

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_store_error, (type(self), self.message, self.operation, self.session_key))


def _rebuild_store_error(cls: type[SessionStoreUnavailable], message: str, operation: str | None,
                         session_key: str | None) -> SessionStoreUnavailable:
    return cls(message, operation=operation, session_key=session_key)
