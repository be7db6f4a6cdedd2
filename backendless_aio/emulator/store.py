"""The emulator's state in SQLite: users, sessions and the Users table's dynamic columns.

User properties live in one JSON column, so no SQL is ever built from a property name; the
normalised identity value has its own UNIQUE column, so SQLite itself keeps identities unique
whatever the interleaving of requests. Every write is its own transaction, committed before the
answer is sent (WAL journal): an answered write survives a kill -9 of the process.

All methods are synchronous and short; the emulator calls them from the event loop thread, so a
read-check-write sequence inside one method (or one `transaction()` block) is never interleaved
with another request.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import orjson

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    object_id     TEXT PRIMARY KEY,
    identity_key  TEXT UNIQUE,
    password_hash TEXT,
    created       INTEGER NOT NULL,
    updated       INTEGER,
    last_login    INTEGER,
    owner_id      TEXT,
    user_status   TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  REAL,
    props         TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token     TEXT PRIMARY KEY,
    object_id TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,
    created   REAL NOT NULL,
    last_used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(object_id);
CREATE TABLE IF NOT EXISTS columns (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    name     TEXT NOT NULL UNIQUE,
    type     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_USER_COLUMNS = (
    "object_id, identity_key, password_hash, created, updated, last_login, owner_id, "
    "user_status, failed_logins, locked_until, props"
)


class IdentityTaken(Exception):
    """Another user already has this identity value (the UNIQUE constraint refused the write)."""


@attrs.define(kw_only=True)
class StoredUser:
    """One row of the users table. `props` holds every non-system property except the password."""

    object_id: str
    identity_key: str | None
    password_hash: str | None
    created: int
    updated: int | None
    last_login: int | None
    owner_id: str | None
    user_status: str
    failed_logins: int = 0
    locked_until: float | None = None
    props: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class StoredSession:
    token: str
    object_id: str
    created: float
    last_used: float


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


def _row_to_user(row: tuple[Any, ...]) -> StoredUser:
    props = orjson.loads(row[10])
    return StoredUser(
        object_id=row[0],
        identity_key=row[1],
        password_hash=row[2],
        created=row[3],
        updated=row[4],
        last_login=row[5],
        owner_id=row[6],
        user_status=row[7],
        failed_logins=row[8],
        locked_until=row[9],
        props=props if isinstance(props, dict) else {},
    )


class Store:
    """SQLite persistence. Open with `open()`, close with `close()`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._depth = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        if self._db is not None:
            return
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout = 5000")
            if self.path != ":memory:" and not self.path.startswith("file::memory:"):
                db.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a committed transaction is in the OS's hands (survives the
            # process being killed); only a power loss could take the last commits back.
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            db.executescript(_SCHEMA)
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path}: emulator database schema version {version}, "
                    f"this emulator uses version {SCHEMA_VERSION}"
                )
        except BaseException:
            db.close()
            raise
        self._db = db

    def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            db.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the emulator store is not open")
        return self._db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write; nested blocks join the outer one. Committed on leaving."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            db.execute("ROLLBACK")
            raise
        self._depth = 0
        db.execute("COMMIT")

    def reset(self) -> None:
        """Delete every user, session and dynamic column."""
        with self.transaction():
            self.db.execute("DELETE FROM sessions")
            self.db.execute("DELETE FROM users")
            self.db.execute("DELETE FROM columns")

    # -- meta --------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def rekey_identities(self, key_of: Callable[[dict[str, Any]], str | None]) -> None:
        """Recompute every user's identity key (after the identity property changed)."""
        with self.transaction():
            rows = self.db.execute("SELECT object_id, props FROM users").fetchall()
            self.db.execute("UPDATE users SET identity_key = NULL")
            for object_id, props in rows:
                try:
                    self.db.execute(
                        "UPDATE users SET identity_key = ? WHERE object_id = ?",
                        (key_of(orjson.loads(props)), object_id),
                    )
                except sqlite3.IntegrityError as exc:
                    raise IdentityTaken(object_id) from exc

    # -- users -------------------------------------------------------------------------------

    def get_user(self, object_id: str) -> StoredUser | None:
        row = self.db.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE object_id = ?",  # noqa: S608 (constant)
            (object_id,),
        ).fetchone()
        return None if row is None else _row_to_user(row)

    def find_by_identity(self, identity_key: str) -> StoredUser | None:
        row = self.db.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE identity_key = ?",  # noqa: S608 (constant)
            (identity_key,),
        ).fetchone()
        return None if row is None else _row_to_user(row)

    def identity_taken(self, identity_key: str, *, besides: str | None = None) -> bool:
        row = self.db.execute(
            "SELECT object_id FROM users WHERE identity_key = ?", (identity_key,)
        ).fetchone()
        return row is not None and row[0] != besides

    def insert_user(self, user: StoredUser) -> None:
        try:
            with self.transaction():
                self.db.execute(
                    f"INSERT INTO users({_USER_COLUMNS}) "  # noqa: S608 (constant)
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        user.object_id,
                        user.identity_key,
                        user.password_hash,
                        user.created,
                        user.updated,
                        user.last_login,
                        user.owner_id,
                        user.user_status,
                        user.failed_logins,
                        user.locked_until,
                        _dumps(user.props),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise IdentityTaken(user.identity_key) from exc

    def save_user(self, user: StoredUser) -> None:
        """Write every field of an existing user."""
        try:
            with self.transaction():
                self.db.execute(
                    "UPDATE users SET identity_key = ?, password_hash = ?, updated = ?, "
                    "last_login = ?, owner_id = ?, user_status = ?, failed_logins = ?, "
                    "locked_until = ?, props = ? WHERE object_id = ?",
                    (
                        user.identity_key,
                        user.password_hash,
                        user.updated,
                        user.last_login,
                        user.owner_id,
                        user.user_status,
                        user.failed_logins,
                        user.locked_until,
                        _dumps(user.props),
                        user.object_id,
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise IdentityTaken(user.identity_key) from exc

    def count_users(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM users").fetchone()[0])

    # -- sessions ----------------------------------------------------------------------------

    def create_session(self, token: str, object_id: str, now: float) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO sessions(token, object_id, created, last_used) VALUES (?, ?, ?, ?)",
                (token, object_id, now, now),
            )

    def get_session(self, token: str) -> StoredSession | None:
        row = self.db.execute(
            "SELECT token, object_id, created, last_used FROM sessions WHERE token = ?", (token,)
        ).fetchone()
        return None if row is None else StoredSession(*row)

    def user_sessions(self, object_id: str) -> list[StoredSession]:
        rows = self.db.execute(
            "SELECT token, object_id, created, last_used FROM sessions WHERE object_id = ? "
            "ORDER BY created",
            (object_id,),
        ).fetchall()
        return [StoredSession(*row) for row in rows]

    def touch_session(self, token: str, now: float) -> None:
        with self.transaction():
            self.db.execute("UPDATE sessions SET last_used = ? WHERE token = ?", (now, token))

    def delete_session(self, token: str) -> bool:
        with self.transaction():
            cursor = self.db.execute("DELETE FROM sessions WHERE token = ?", (token,))
        return cursor.rowcount > 0

    def delete_user_sessions(self, object_id: str) -> int:
        with self.transaction():
            cursor = self.db.execute("DELETE FROM sessions WHERE object_id = ?", (object_id,))
        return cursor.rowcount

    # -- the Users table's dynamic columns ---------------------------------------------------

    def columns(self) -> dict[str, str]:
        """Dynamic columns in creation order: name -> Backendless type name."""
        rows = self.db.execute("SELECT name, type FROM columns ORDER BY position").fetchall()
        return {str(name): str(kind) for name, kind in rows}

    def add_columns(self, columns: dict[str, str]) -> None:
        if not columns:
            return
        with self.transaction():
            self.db.executemany(
                "INSERT INTO columns(name, type) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
                list(columns.items()),
            )
