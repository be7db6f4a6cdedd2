"""Who is logged in: a scope's session state, and pluggable stores for "stay logged in".

A session is a user token and the user's objectId; that is all a store keeps and all it takes
to resume a session after a restart.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs

from .models import BackendlessUser

__all__ = ["FileSessionStore", "MemorySessionStore", "SessionStore", "StoredSession"]


@attrs.frozen(kw_only=True)
class StoredSession:
    """What a store keeps for one session. The token never shows in ``repr``."""

    user_token: str = attrs.field(repr=False)
    object_id: str


@runtime_checkable
class SessionStore(Protocol):
    """Where "stay logged in" sessions live: memory (default), a file, Redis, the app's DB...

    Keys are the scope keys the app chooses (``"telegram:12345"``); the default scope's key is
    ``"default"``.
    """

    async def load(self, key: str) -> StoredSession | None: ...

    async def save(self, key: str, session: StoredSession) -> None: ...

    async def delete(self, key: str) -> None: ...


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

    def __len__(self) -> int:
        return len(self._sessions)

    def __bool__(self) -> bool:
        # An empty store is still a store: ``store or MemorySessionStore()`` must keep it.
        return True

    def __repr__(self) -> str:
        return f"MemorySessionStore({len(self._sessions)} sessions)"


class FileSessionStore:
    """Sessions in a JSON file, written atomically with mode 0600. The tokens are in clear text
    in that file: keep it where only its owner can read it.

    One instance may be shared by several apps, loops and threads of one process (a
    read-modify-write holds a thread lock and never awaits). Several *processes* writing one
    file may lose each other's entries: give each its own file, or use a database-backed store.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        # A thread lock, not an asyncio.Lock: the store may serve several event loops (an async
        # app and a BlockingBackendless, say), and an asyncio.Lock contended across threads
        # hangs or fails. The critical section is short, synchronous file I/O.
        self._lock = threading.Lock()

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise OSError(f"the session file {self.path} cannot be read: {exc}") from exc
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, dict[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".sessions-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:  # owns fd from here on
                json.dump(data, handle)
            os.chmod(tmp, 0o600)  # mkstemp's mode already; explicit for the reader
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def load(self, key: str) -> StoredSession | None:
        entry = self._read().get(key)
        if not isinstance(entry, dict):
            return None
        token, object_id = entry.get("user_token"), entry.get("object_id")
        if not isinstance(token, str) or not isinstance(object_id, str):
            return None
        return StoredSession(user_token=token, object_id=object_id)

    async def save(self, key: str, session: StoredSession) -> None:
        with self._lock:
            data = self._read()
            data[key] = {"user_token": session.user_token, "object_id": session.object_id}
            self._write(data)

    async def delete(self, key: str) -> None:
        with self._lock:
            data = self._read()
            if data.pop(key, None) is not None:
                self._write(data)

    def __repr__(self) -> str:
        return f"FileSessionStore({str(self.path)!r})"


@attrs.define(repr=False)
class SessionState:
    """A scope's live session: its token, its user id and, once loaded, its user."""

    key: str
    user_token: str | None = None
    object_id: str | None = None
    user: BackendlessUser | None = None
    persistent: bool = False

    def set(self, token: str, user: BackendlessUser) -> None:
        self.user_token = token
        self.object_id = user.object_id
        self.user = user

    def clear(self) -> None:
        self.user_token = None
        self.object_id = None
        self.user = None

    def __repr__(self) -> str:
        state = "logged in" if self.user_token else "logged out"
        return f"SessionState(key={self.key!r}, object_id={self.object_id!r}, {state})"
