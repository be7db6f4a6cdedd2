"""Email confirmation: confirmation URLs that really confirm when fetched.

`users/createEmailConfirmationURL/{identity}` answers `{"confirmationURL": ...}`; fetching that
URL (GET `/email-confirmation/{appId}/{token}`, no API key, as from a mail client) turns the
user from EMAIL_CONFIRMATION_PENDING to ENABLED. A link works once and for
CONFIRMATION_LIFETIME seconds. The store keeps only the token's hash.
"""

from __future__ import annotations

import secrets
from typing import Any

from .._codes import UserStatus
from .service import UsersService

#: The path prefix of confirmation links (matched before the `/{appId}/{apiKey}/...` form).
CONFIRMATION_PREFIX = "/email-confirmation"
#: How long a confirmation link stays valid: two days.
CONFIRMATION_LIFETIME = 48 * 3600.0


def create_url(service: UsersService, identity: str, server_url: str) -> dict[str, Any]:
    """A fresh confirmation link for the user with this identity value (resend's faults)."""
    user = service.confirmation_target(identity)
    token = secrets.token_urlsafe(24)
    service.store.add_confirmation(token, user.object_id, service.clock.now())
    return {"confirmationURL": f"{server_url}{CONFIRMATION_PREFIX}/{service.app_id}/{token}"}


def confirm(service: UsersService, token: str) -> tuple[int, str]:
    """Use a confirmation link: the HTTP status and the page to show."""
    found = service.store.take_confirmation(token)
    if found is None:
        return 404, "This confirmation link is unknown or was already used."
    object_id, created = found
    if service.clock.now() - created > CONFIRMATION_LIFETIME:
        return 410, "This confirmation link has expired; ask for a new one."
    user = service.store.get_user(object_id)
    if user is None:
        return 404, "The account of this confirmation link no longer exists."
    if user.user_status == UserStatus.EMAIL_CONFIRMATION_PENDING.value:
        service.change_status(user, UserStatus.ENABLED.value)
    elif user.user_status != UserStatus.ENABLED.value:
        return 409, f"The account is {user.user_status}; the link changed nothing."
    return 200, "Your email address is confirmed."


def page(status: int, text: str) -> str:
    title = "Email confirmed" if status == 200 else "Email not confirmed"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>{text}</p></body></html>"
    )
