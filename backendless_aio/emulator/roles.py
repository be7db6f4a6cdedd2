"""Security roles of one app: the system roles every app has, the roles the console creates,
and the Users API operations on them (assign, unassign, find users by role, a user's roles).

Assigning and unassigning are the CloudCode key's privilege (2011), as in Backendless.
"""

from __future__ import annotations

from typing import Any

from multidict import MultiMapping

from .._codes import Code
from .errors import Fault
from .service import Caller, UsersService, identity_key, new_object_id, parse_object
from .store import StoredUser

#: The roles Backendless gives every app; none of them can be assigned or unassigned.
SYSTEM_ROLES = frozenset(
    {
        "ASUser",
        "AndroidUser",
        "AuthenticatedUser",
        "DotNetUser",
        "FacebookUser",
        "GooglePlusUser",
        "GuestUser",
        "IOSUser",
        "JSUser",
        "NotAuthenticatedUser",
        "RestUser",
        "ServerCodeUser",
        "SocialUser",
        "TwitterUser",
    }
)
MAX_ROLE_NAME = 255
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


def check_role_name(name: str) -> None:
    """A name a new role may have (the console refuses others with 400)."""
    if not name.strip() or len(name) > MAX_ROLE_NAME:
        raise Fault(400, "A role name must have 1 to 255 characters")
    if name in SYSTEM_ROLES:
        raise Fault(400, f"'{name}' is a system role and cannot be created")


def create_role(service: UsersService, name: str) -> dict[str, Any]:
    """The console's role creation; creating an existing role answers that role."""
    check_role_name(name)
    role_id = service.store.create_role(name, new_object_id(), service.clock.now_ms())
    return {"roleId": role_id, "rolename": name, "description": None, "system": False}


def list_roles(service: UsersService) -> list[dict[str, Any]]:
    own = [
        {"roleId": role_id, "rolename": name, "system": False}
        for name, role_id in service.store.roles().items()
    ]
    system = [{"roleId": name, "rolename": name, "system": True} for name in sorted(SYSTEM_ROLES)]
    return system + own


def change_role(service: UsersService, body: bytes, caller: Caller, *, assign: bool) -> None:
    """POST users/assignRole or users/unassignRole with `{user, roleName}`; `user` is the
    identity value or the objectId. Unassigning a role the user lacks changes nothing."""
    if not caller.server:
        verb = "assign" if assign else "unassign"
        raise Fault(
            Code.ROLES_NEED_SERVER_KEY,
            f"Unable to {verb} a role: role assignment is allowed only with the CloudCode "
            "(Business Logic) API key",
        )
    data = parse_object(body, Code.ROLE_ARGUMENT_MISSING, "Unable to change the user's roles")
    identity, role = data.get("user"), data.get("roleName")
    if not isinstance(role, str) or not role or identity in (None, ""):
        raise Fault(
            Code.ROLE_ARGUMENT_MISSING,
            "One of the required parameters (user identity or roleName) is null",
        )
    if role in SYSTEM_ROLES:
        if assign:
            raise Fault(Code.ASSIGN_SYSTEM_ROLE, f"Unable to assign system role '{role}'")
        raise Fault(Code.UNASSIGN_SYSTEM_ROLE, f"Unable to unassign system role '{role}'")
    if role not in service.store.roles():
        raise Fault(Code.ROLE_NOT_FOUND, f"Could not find role '{role}'.")
    user = _user_by_identity_or_id(service, identity)
    if assign:
        service.store.assign_role(user.object_id, role)
    else:
        service.store.unassign_role(user.object_id, role)


def _user_by_identity_or_id(service: UsersService, value: Any) -> StoredUser:
    key = identity_key(value)
    user = None if key is None else service.store.find_by_identity(key)
    if user is None and isinstance(value, str):
        user = service.store.get_user(value)
    if user is None:
        raise Fault(Code.ROLE_USER_NOT_FOUND, "Could not find user by id or identity.")
    return user


def _page(query: MultiMapping[str]) -> tuple[int, int]:
    try:
        size = int(query.get("pageSize", DEFAULT_PAGE_SIZE))
        offset = int(query.get("offset", 0))
    except ValueError:
        raise Fault(400, "pageSize and offset must be whole numbers") from None
    if not 1 <= size <= MAX_PAGE_SIZE or offset < 0:
        raise Fault(400, f"pageSize must be in 1..{MAX_PAGE_SIZE} and offset at least 0")
    return size, offset


def find_by_role(
    service: UsersService, role: str, query: MultiMapping[str], caller: Caller
) -> list[dict[str, Any]]:
    """GET users/role/{role}[?loadRoles=true&pageSize=&offset=]: the users who have the role,
    oldest first, each with `roles` when loadRoles is true."""
    service.validate_session(caller)
    load = query.get("loadRoles", "false").lower()
    if load not in ("true", "false"):
        raise Fault(400, "loadRoles must be true or false")
    size, offset = _page(query)
    if role in SYSTEM_ROLES:
        everyone = service.store.users(limit=-1)
        users = [user for user in everyone if role in service.roles_of(user)]
        users = users[offset : offset + size]
    elif role in service.store.roles():
        users = service.store.users_with_role(role)[offset : offset + size]
    else:
        raise Fault(Code.ROLE_NOT_FOUND, f"Could not find role '{role}'.")
    answer = []
    for user in users:
        item = service.to_wire(user)
        if load == "true":
            item["roles"] = service.roles_of(user)
        answer.append(item)
    return answer


def roles_of_user(service: UsersService, object_id: str, caller: Caller) -> list[str]:
    """GET users/userroles/{objectId}: another user's roles need the CloudCode key; one's own
    are open to the logged-in user."""
    session_user = service.validate_session(caller)
    own = session_user is not None and session_user.object_id == object_id
    if not (caller.server or own):
        raise Fault(
            Code.ANOTHER_USER,
            "Unable to list the roles of another user: that needs the CloudCode API key",
        )
    user = service.store.get_user(object_id)
    if user is None:
        raise Fault(Code.USER_NOT_FOUND, f"User not found: no user has id {object_id}")
    return service.roles_of(user)

