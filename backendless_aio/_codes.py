"""Wire-level constants shared by the client and the emulator: fault codes and route names.

Nothing else is shared between the two halves, so that a bug cannot hide on both sides at once.
"""

from __future__ import annotations

import enum


class Code(enum.IntEnum):
    """Backendless fault codes used by the Users API (see the wire contract, sections 4 and 5)."""

    RATE_LIMIT = 999
    ENTITY_NOT_FOUND = 1000
    INVALID_OFFSET = 1004
    INVALID_PAGE_SIZE = 1005
    UNKNOWN_COLUMN = 1006
    TABLE_NOT_FOUND = 1009
    INVALID_WHERE = 1017
    WRONG_APP = 2002
    ROLE_NOT_FOUND = 2005
    ASSIGN_SYSTEM_ROLE = 2007
    UNASSIGN_SYSTEM_ROLE = 2008
    ROLES_NEED_SERVER_KEY = 2011
    LOGIN_BY_ID_NEEDS_SERVER_KEY = 2014
    LOGIN_DISABLED = 3000
    SECOND_LOGIN_REFUSED = 3002
    INVALID_LOGIN = 3003
    EMPTY_LOGIN = 3006
    LOGOUT_INVALID_APP = 3007
    REGISTRATION_DISABLED = 3009
    REGISTER_UNKNOWN_PROPERTY = 3010
    REGISTER_NO_PASSWORD = 3011
    REGISTER_REQUIRED_MISSING = 3012
    REGISTER_NO_IDENTITY = 3013
    IDENTITY_CONFLICT = 3018
    REGISTER_GENERAL = 3021
    LOGOUT_GENERAL = 3023
    UPDATE_GENERAL = 3024
    NOT_LOGGED_IN = 3028
    ANOTHER_USER = 3029
    USER_NOT_FOUND = 3030
    UPDATE_UNKNOWN_PROPERTY = 3031
    USER_EXISTS = 3033
    ACCOUNT_LOCKED = 3036
    REGISTER_ID_PROPERTY = 3039
    ROLE_ARGUMENT_MISSING = 3038
    MALFORMED_EMAIL = 3040
    TOO_MANY_SESSIONS = 3044
    UPDATE_REQUIRED_MISSING = 3045
    STATUS_NOT_ALLOWED = 3054
    ROLE_USER_NOT_FOUND = 3057
    INVALID_TOKEN = 3064
    ACCOUNT_DISABLED = 3090
    ACCOUNT_STATUS_INVALID = 3091
    EMAIL_ALREADY_CONFIRMED = 3102
    CONFIRMATION_NOT_REQUIRED = 3103
    CONFIRMATION_USER_NOT_FOUND = 3104
    VERIFY_PASSWORD_NEEDS_SERVER_KEY = 3122
    #: The emulator's own codes (Backendless's limits and their codes differ).
    REQUEST_TOO_LARGE = 413
    USER_TOO_LARGE = 3413


#: Codes on which the official SDKs consider the session over and drop it locally.
SESSION_OVER_CODES = frozenset(
    {Code.LOGOUT_GENERAL, Code.INVALID_TOKEN, Code.ACCOUNT_DISABLED, Code.ACCOUNT_STATUS_INVALID}
)

#: The header that carries the session token.
USER_TOKEN_HEADER = "user-token"
#: The key under which login answers carry the session token.
USER_TOKEN_KEY = "user-token"
#: The class name of user objects.
USERS_CLASS = "Users"

#: System properties of a user: ignored in an update body, never created as dynamic properties.
SYSTEM_KEYS = frozenset(
    {
        "objectId",
        "___class",
        "created",
        "updated",
        "ownerId",
        "user-token",
        "lastLogin",
        "socialAccount",
        "accountType",
        "userStatus",
    }
)

#: Date properties sent as integer milliseconds since the epoch.
DATE_KEYS = frozenset({"created", "updated", "lastLogin"})


class UserStatus(str, enum.Enum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"
    EMAIL_CONFIRMATION_PENDING = "EMAIL_CONFIRMATION_PENDING"
    GUEST = "GUEST"


class Route(str, enum.Enum):
    """Route templates, relative to the root (`{server}/{appId}/{apiKey}` or `{domain}/api`)."""

    REGISTER = "users/register"
    LOGIN = "users/login"
    GUEST_LOGIN = "users/register/guest"
    LOGOUT = "users/logout"
    IS_VALID_TOKEN = "users/isvalidusertoken/{token}"
    UPDATE = "users/{objectId}"
    FIND_BY_ID = "data/Users/{objectId}"
    USER_BY_ID = "users/{objectId}"  # noqa: PIE796 - GET form of the same path
    DESCRIBE = "users/userclassprops"
    RESTORE_PASSWORD = "users/restorepassword/{identity}"
    RESEND_CONFIRMATION = "users/resendconfirmation/{identity}"
    VERIFY_PASSWORD = "users/verifypassword"
    VERIFY_PASSWORD_JS = "users/verifypassowrd"
    USER_ROLES = "users/userroles"
    STATUS = "users/{objectId}/status"
    ASSIGN_ROLE = "users/assignRole"
    UNASSIGN_ROLE = "users/unassignRole"
    USERS_BY_ROLE = "users/role/{role}"
    ROLES_OF_USER = "users/userroles/{objectId}"
    CONFIRMATION_URL = "users/createEmailConfirmationURL/{identity}"
    INFO = "info"
