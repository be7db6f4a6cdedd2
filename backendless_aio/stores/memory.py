"""MemorySessionStore: sessions in a dict, for as long as the process lives."""

from __future__ import annotations

from ._base import StoredSession

__all__ = ["MemorySessionStore"]


class MemorySessionStore:
    """Sessions in a dict: they last as long as the process."""

    def __init__(self) -> None:
        self._sessions: dict[str, StoredSession] = {}

    async def load(self, key: str) -> StoredSession | None:
        return self._sessions.get(key)

    async def save(self, key: str, session: StoredSession) -> None:
        self._sessions[key] = session

    async def delete(self, key: str) -> None:
        self._sessions.pop(key, None)

    async def discard(self, key: str, session: StoredSession) -> None:
        """Delete the entry only while it still holds ``session``'s token."""
        stored = self._sessions.get(key)
        if stored is not None and stored.user_token == session.user_token:
            del self._sessions[key]

    def __len__(self) -> int:
        return len(self._sessions)

    def __bool__(self) -> bool:
        # An empty store is still a store: ``store or MemorySessionStore()`` must keep it.
        return True

    def __repr__(self) -> str:
        return f"MemorySessionStore({len(self._sessions)} sessions)"
