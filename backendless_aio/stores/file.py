"""FileSessionStore: sessions in one local JSON file (mode 0600), for one process."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from ._base import StoredSession, session_entry, session_from_entry

__all__ = ["FileSessionStore"]


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
        return session_from_entry(self._read().get(key))

    async def save(self, key: str, session: StoredSession) -> None:
        with self._lock:
            data = self._read()
            data[key] = session_entry(session)
            self._write(data)

    async def delete(self, key: str) -> None:
        with self._lock:
            data = self._read()
            if data.pop(key, None) is not None:
                self._write(data)

    async def discard(self, key: str, session: StoredSession) -> None:
        """Delete the entry only while it still holds ``session``'s token."""
        with self._lock:
            data = self._read()
            entry = data.get(key)
            if isinstance(entry, dict) and entry.get("user_token") == session.user_token:
                del data[key]
                self._write(data)

    def __repr__(self) -> str:
        return f"FileSessionStore({str(self.path)!r})"
