"""Who is logged in: a scope's session state.

The stores that keep "stay logged in" sessions live in :mod:`backendless_aio.stores`; their
names are re-exported here, where they used to live.
"""

from __future__ import annotations

import attrs

from .models import BackendlessUser
from .stores import FileSessionStore, MemorySessionStore, SessionStore, StoredSession

__all__ = ["FileSessionStore", "MemorySessionStore", "SessionState", "SessionStore",
           "StoredSession"]


@attrs.define(repr=False)
class SessionState:
    """A scope's live session: its token, its user id and, once loaded, its user."""

    key: str
    user_token: str | None = None
    object_id: str | None = None
    user: BackendlessUser | None = None
    persistent: bool = False
    #: When (``time.monotonic()``) a used session should push its store entry's expiry back;
    #: None when the store has no expiry to push.
    renew_at: float | None = None

    def set(self, token: str, user: BackendlessUser) -> None:
        self.user_token = token
        self.object_id = user.object_id
        self.user = user

    def clear(self) -> None:
        self.user_token = None
        self.object_id = None
        self.user = None
        self.renew_at = None

    def __repr__(self) -> str:
        state = "logged in" if self.user_token else "logged out"
        return f"SessionState(key={self.key!r}, object_id={self.object_id!r}, {state})"
