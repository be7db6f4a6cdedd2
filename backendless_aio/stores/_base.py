"""What every session store keeps and answers to: :class:`StoredSession` and the protocol."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

__all__ = ["SessionStore", "StoredSession"]


@attrs.frozen(kw_only=True)
class StoredSession:
    """What a store keeps for one session. The token never shows in ``repr``."""

    user_token: str = attrs.field(repr=False)
    object_id: str


def session_entry(session: StoredSession) -> dict[str, str]:
    """The JSON object a file or Redis store keeps for ``session``."""
    return {"user_token": session.user_token, "object_id": session.object_id}


def session_from_entry(entry: object) -> StoredSession | None:
    """The session a stored JSON entry holds; None if it is not one a store wrote."""
    if not isinstance(entry, dict):
        return None
    token, object_id = entry.get("user_token"), entry.get("object_id")
    if not isinstance(token, str) or not isinstance(object_id, str):
        return None
    return StoredSession(user_token=token, object_id=object_id)


@runtime_checkable
class SessionStore(Protocol):
    """Where "stay logged in" sessions live: memory (default), a file, Redis, the app's DB...

    Keys are the scope keys the app chooses (``"telegram:12345"``); the default scope's key is
    ``"default"``.

    Two optional methods refine what the scopes do with a store that has them:

    - ``async def discard(key, session)``: delete the entry only while it still holds
      ``session`` (same token). A scope whose session the server ended calls it instead of
      ``delete``, so that a newer session another process saved under the same key survives.
    - ``async def touch(key)`` with an attribute ``renew_interval`` (seconds, or ``None``):
      push the entry's expiry back. A scope that keeps a stored session calls it after a
      successful request once ``renew_interval`` seconds have passed since it last loaded,
      saved or touched the entry.
    """

    async def load(self, key: str) -> StoredSession | None: ...

    async def save(self, key: str, session: StoredSession) -> None: ...

    async def delete(self, key: str) -> None: ...
