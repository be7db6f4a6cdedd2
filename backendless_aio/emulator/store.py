"""The emulator's state in SQLite: apps and their keys, and each app's users, sessions and
dynamic columns, all in one file.

Every per-app row carries its app id, and deleting an app deletes them all. Session tokens are
stored as SHA-256 hashes only. User properties live in one JSON column, so no SQL is ever
built from a property name; the normalised identity value has its own UNIQUE column (per app),
so SQLite itself keeps identities unique whatever the interleaving of requests. Every write is
its own transaction, committed before the answer is sent (WAL journal): an answered write
survives a kill -9 of the process.

All methods are synchronous and short; the emulator calls them from the event loop thread, so a
read-check-write sequence inside one method (or one `transaction()` block) is never interleaved
with another request.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import orjson

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS apps (
    app_id   TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    settings TEXT NOT NULL,
    identity TEXT,
    created  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    app_id  TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    api_key TEXT NOT NULL,
    kind    TEXT NOT NULL,
    PRIMARY KEY (app_id, api_key)
);
CREATE TABLE IF NOT EXISTS users (
    object_id     TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    identity_key  TEXT,
    password_hash TEXT,
    created       INTEGER NOT NULL,
    updated       INTEGER,
    last_login    INTEGER,
    owner_id      TEXT,
    user_status   TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  REAL,
    props         TEXT NOT NULL,
    UNIQUE (app_id, identity_key)
);
CREATE INDEX IF NOT EXISTS users_by_app ON users(app_id, created);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL,
    object_id  TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,
    created    REAL NOT NULL,
    last_used  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(object_id);
CREATE TABLE IF NOT EXISTS columns (
    position   INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id     TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    table_name TEXT NOT NULL,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,
    UNIQUE (app_id, table_name, name)
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS roles (
    app_id  TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    role_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (app_id, name)
);
CREATE TABLE IF NOT EXISTS user_roles (
    object_id TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,
    app_id    TEXT NOT NULL,
    role      TEXT NOT NULL,
    PRIMARY KEY (object_id, role)
);
CREATE INDEX IF NOT EXISTS user_roles_by_role ON user_roles(app_id, role);
CREATE TABLE IF NOT EXISTS confirmations (
    token_hash TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL,
    object_id  TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,
    created    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS data_tables (
    app_id  TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (app_id, name)
);
CREATE TABLE IF NOT EXISTS records (
    object_id  TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    table_name TEXT NOT NULL,
    owner_id   TEXT,
    created    INTEGER NOT NULL,
    updated    INTEGER,
    props      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_table ON records(app_id, table_name, created);
"""

#: Version 1 (one app per file, plain-text tokens) is migrated in place on open.
_MIGRATE_FROM_1 = """
ALTER TABLE users RENAME TO users_v1;
ALTER TABLE sessions RENAME TO sessions_v1;
ALTER TABLE columns RENAME TO columns_v1;
DROP INDEX IF EXISTS sessions_by_user;
"""

_USER_COLUMNS = (
    "object_id, identity_key, password_hash, created, updated, last_login, owner_id, "
    "user_status, failed_logins, locked_until, props"
)
#: The table whose columns are the Users class's properties.
USERS_TABLE = "Users"
#: The users table's own columns for the system properties a query may name (SQL text: constant).
USER_SYSTEM_SQL = {
    "objectId": "object_id",
    "ownerId": "owner_id",
    "created": "created",
    "updated": "updated",
    "lastLogin": "last_login",
    "userStatus": "user_status",
}
#: How a query reads a property kept in the props JSON: the path is a bound parameter.
PROP_SQL = "json_extract(props, ?)"
#: Ties in a sorted query go by insertion order.
TIEBREAK_SQL = "rowid"


def prop_path(name: str) -> str:
    """The JSON path of property `name` in the props column (bound, never spliced in SQL)."""
    if '"' in name or "\\" in name:
        raise ValueError(f"a property name usable in a query has no quote: {name!r}")
    return f'$."{name}"'


def token_hash(token: str) -> str:
    """What the store keeps of a session token: its SHA-256, so the file never holds a token
    that could be replayed."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@attrs.frozen
class StoredApp:
    """One application: its id, name, settings (JSON) and API keys (key -> kind)."""

    app_id: str
    name: str
    settings: dict[str, Any]
    api_keys: dict[str, str]
    created: int


class QueryFailed(Exception):
    """SQLite refused a compiled query (too complex, say): the request's fault, not a crash."""


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
    """One session; `key` is the token's hash (the token itself is never stored)."""

    key: str
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
    """SQLite persistence for every app of one emulator. Open with `open()`, close with `close()`.

    App-level rows (apps, keys) are managed here; each app's users, sessions and columns through
    the `AppStore` that `for_app()` gives, which shares this connection and its transactions.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._depth = 0
        #: (app id, table) -> name -> type, as last read: every user object lists every column,
        #: so an update or a page of users reads none of them from SQLite. Dropped by whatever
        #: writes the columns table (add_columns, delete_app, reset) and by a rolled-back
        #: transaction (it may have added columns). One process owns the file.
        self._columns: dict[tuple[str, str], dict[str, str]] = {}

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
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 1, SCHEMA_VERSION):
                raise RuntimeError(
                    f"{self.path}: emulator database schema version {version}, "
                    f"this emulator uses version {SCHEMA_VERSION}"
                )
            # One transaction: the old tables are renamed, the new ones made and the version
            # written together. The old rows move to the first app put (`_adopt_v1_rows`).
            migrate = _MIGRATE_FROM_1 if version == 1 else ""
            db.executescript(
                f"BEGIN IMMEDIATE; {migrate} {_SCHEMA} "
                f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            )
            db.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            db.close()
            raise
        self._db = db

    def close(self) -> None:
        self._columns.clear()
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
            self._columns.clear()
            raise
        self._depth = 0
        db.execute("COMMIT")

    def reset(self) -> None:
        """Delete every app with all its users, sessions and columns."""
        self._columns.clear()
        with self.transaction():
            for table in (
                "confirmations", "user_roles", "roles", "records", "data_tables",
                "sessions", "users", "columns", "api_keys", "apps",
            ):
                self.db.execute(f"DELETE FROM {table}")  # noqa: S608 (constant names)

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

    # -- apps --------------------------------------------------------------------------------

    def apps(self) -> list[StoredApp]:
        """Every app, oldest first."""
        rows = self.db.execute(
            "SELECT app_id, name, settings, created FROM apps ORDER BY created, app_id"
        ).fetchall()
        keys: dict[str, dict[str, str]] = {}
        for app_id, api_key, kind in self.db.execute(
            "SELECT app_id, api_key, kind FROM api_keys ORDER BY rowid"
        ):
            keys.setdefault(app_id, {})[api_key] = kind
        return [
            StoredApp(app_id, name, _loads_dict(settings), keys.get(app_id, {}), created)
            for app_id, name, settings, created in rows
        ]

    def get_app(self, app_id: str) -> StoredApp | None:
        return next((app for app in self.apps() if app.app_id == app_id), None)

    def put_app(
        self,
        app_id: str,
        name: str,
        settings: dict[str, Any],
        api_keys: dict[str, str],
        created: int,
    ) -> None:
        """Create an app, or replace the name, settings and keys of an existing one (its data
        stays)."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO apps(app_id, name, settings, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(app_id) DO UPDATE SET name = excluded.name, "
                "settings = excluded.settings",
                (app_id, name, _dumps(settings), created),
            )
            self.db.execute("DELETE FROM api_keys WHERE app_id = ?", (app_id,))
            self.db.executemany(
                "INSERT INTO api_keys(app_id, api_key, kind) VALUES (?, ?, ?)",
                [(app_id, key, kind) for key, kind in api_keys.items()],
            )
            self._adopt_v1_rows(app_id)

    def set_app_settings(self, app_id: str, settings: dict[str, Any]) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE apps SET settings = ? WHERE app_id = ?", (_dumps(settings), app_id)
            )

    def delete_app(self, app_id: str) -> bool:
        """Delete an app and everything it holds."""
        self._columns.clear()
        with self.transaction():
            # sessions, roles and confirmations reference users, which the app's cascade deletes
            for table in ("sessions", "user_roles", "confirmations"):
                self.db.execute(
                    f"DELETE FROM {table} WHERE app_id = ?", (app_id,)  # noqa: S608 (constants)
                )
            cursor = self.db.execute("DELETE FROM apps WHERE app_id = ?", (app_id,))
        return cursor.rowcount > 0

    def for_app(self, app_id: str) -> AppStore:
        """The users, sessions and columns of one app."""
        return AppStore(self, app_id)

    def _adopt_v1_rows(self, app_id: str) -> None:
        """A version-1 file held one app: its rows become this (the first-put) app's."""
        db = self.db
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "users_v1" not in names:
            return
        db.execute(
            f"INSERT INTO users(app_id, {_USER_COLUMNS}) "  # noqa: S608 (constant)
            f"SELECT ?, {_USER_COLUMNS} FROM users_v1",
            (app_id,),
        )
        old = db.execute("SELECT token, object_id, created, last_used FROM sessions_v1").fetchall()
        db.executemany(
            "INSERT INTO sessions(token_hash, app_id, object_id, created, last_used) "
            "VALUES (?, ?, ?, ?, ?)",
            [(token_hash(t), app_id, o, c, u) for t, o, c, u in old],
        )
        db.execute(
            "INSERT INTO columns(app_id, table_name, name, type) "
            "SELECT ?, ?, name, type FROM columns_v1 ORDER BY position",
            (app_id, USERS_TABLE),
        )
        identity = db.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()
        if identity is not None:
            db.execute("UPDATE apps SET identity = ? WHERE app_id = ?", (identity[0], app_id))
            db.execute("DELETE FROM meta WHERE key = 'identity'")
        for table in ("sessions_v1", "users_v1", "columns_v1"):
            db.execute(f"DROP TABLE {table}")


class AppStore:
    """One app's users, sessions and dynamic columns, over the shared `Store`.

    All methods are synchronous and short; see the module's note on interleaving.
    """

    __slots__ = ("app_id", "store")

    def __init__(self, store: Store, app_id: str) -> None:
        self.store = store
        self.app_id = app_id

    @property
    def db(self) -> sqlite3.Connection:
        return self.store.db

    @property
    def path(self) -> str:
        return self.store.path

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self.store.transaction()

    # -- the identity property ---------------------------------------------------------------

    def get_identity(self) -> str | None:
        """The identity property the users were last keyed by (None: never keyed)."""
        row = self.db.execute("SELECT identity FROM apps WHERE app_id = ?", (self.app_id,))
        found = row.fetchone()
        return None if found is None or found[0] is None else str(found[0])

    def set_identity(self, name: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE apps SET identity = ? WHERE app_id = ?", (name, self.app_id))

    def rekey_identities(self, key_of: Callable[[dict[str, Any]], str | None]) -> None:
        """Recompute every user's identity key (after the identity property changed)."""
        with self.transaction():
            rows = self.db.execute(
                "SELECT object_id, props FROM users WHERE app_id = ?", (self.app_id,)
            ).fetchall()
            self.db.execute("UPDATE users SET identity_key = NULL WHERE app_id = ?", (self.app_id,))
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
            f"SELECT {_USER_COLUMNS} FROM users "  # noqa: S608 (constant)
            "WHERE object_id = ? AND app_id = ?",
            (object_id, self.app_id),
        ).fetchone()
        return None if row is None else _row_to_user(row)

    def find_by_identity(self, identity_key: str) -> StoredUser | None:
        row = self.db.execute(
            f"SELECT {_USER_COLUMNS} FROM users "  # noqa: S608 (constant)
            "WHERE app_id = ? AND identity_key = ?",
            (self.app_id, identity_key),
        ).fetchone()
        return None if row is None else _row_to_user(row)

    def identity_taken(self, identity_key: str, *, besides: str | None = None) -> bool:
        row = self.db.execute(
            "SELECT object_id FROM users WHERE app_id = ? AND identity_key = ?",
            (self.app_id, identity_key),
        ).fetchone()
        return row is not None and row[0] != besides

    def insert_user(self, user: StoredUser) -> None:
        try:
            with self.transaction():
                self.db.execute(
                    f"INSERT INTO users(app_id, {_USER_COLUMNS}) "  # noqa: S608 (constant)
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        self.app_id,
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
                    "locked_until = ?, props = ? WHERE object_id = ? AND app_id = ?",
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
                        self.app_id,
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise IdentityTaken(user.identity_key) from exc

    def select_users(
        self,
        where: str | None,
        params: tuple[Any, ...],
        order: str,
        order_params: tuple[Any, ...],
        limit: int,
        offset: int,
    ) -> list[StoredUser]:
        """One page of users matching `where` (a SQL expression made of constant fragments and
        `?` marks, from the query compiler), in `order`."""
        condition = f"AND ({where}) " if where else ""
        try:
            rows = self.db.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE app_id = ? {condition}"  # noqa: S608
                f"ORDER BY {order} LIMIT ? OFFSET ?",
                (self.app_id, *params, *order_params, limit, offset),
            ).fetchall()
        except (sqlite3.OperationalError, OverflowError) as exc:
            raise QueryFailed(str(exc)) from None
        return [_row_to_user(row) for row in rows]

    def count_matching(self, where: str | None, params: tuple[Any, ...]) -> int:
        """How many users match `where` (see `select_users`)."""
        condition = f"AND ({where})" if where else ""
        try:
            row = self.db.execute(
                f"SELECT count(*) FROM users WHERE app_id = ? {condition}",  # noqa: S608
                (self.app_id, *params),
            ).fetchone()
        except (sqlite3.OperationalError, OverflowError) as exc:
            raise QueryFailed(str(exc)) from None
        return int(row[0])

    def count_users(self) -> int:
        row = self.db.execute("SELECT count(*) FROM users WHERE app_id = ?", (self.app_id,))
        return int(row.fetchone()[0])

    # -- sessions ----------------------------------------------------------------------------

    def create_session(self, token: str, object_id: str, now: float) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO sessions(token_hash, app_id, object_id, created, last_used) "
                "VALUES (?, ?, ?, ?, ?)",
                (token_hash(token), self.app_id, object_id, now, now),
            )

    def get_session(self, token: str) -> StoredSession | None:
        row = self.db.execute(
            "SELECT token_hash, object_id, created, last_used FROM sessions "
            "WHERE token_hash = ? AND app_id = ?",
            (token_hash(token), self.app_id),
        ).fetchone()
        return None if row is None else StoredSession(*row)

    def user_sessions(self, object_id: str) -> list[StoredSession]:
        rows = self.db.execute(
            "SELECT token_hash, object_id, created, last_used FROM sessions "
            "WHERE object_id = ? AND app_id = ? ORDER BY created",
            (object_id, self.app_id),
        ).fetchall()
        return [StoredSession(*row) for row in rows]

    def touch_session(self, session: StoredSession, now: float) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE sessions SET last_used = ? WHERE token_hash = ?", (now, session.key)
            )

    def delete_session(self, session: StoredSession) -> bool:
        with self.transaction():
            cursor = self.db.execute("DELETE FROM sessions WHERE token_hash = ?", (session.key,))
        return cursor.rowcount > 0

    def delete_user_sessions(self, object_id: str) -> int:
        with self.transaction():
            cursor = self.db.execute(
                "DELETE FROM sessions WHERE object_id = ? AND app_id = ?", (object_id, self.app_id)
            )
        return cursor.rowcount

    # -- dynamic columns ---------------------------------------------------------------------

    def columns(self, table: str = USERS_TABLE) -> dict[str, str]:
        """A table's dynamic columns in creation order: name -> Backendless type name.

        Cached until the columns table is written (see `Store._columns`)."""
        key = (self.app_id, table)
        cached = self.store._columns.get(key)
        if cached is not None:
            return dict(cached)
        rows = self.db.execute(
            "SELECT name, type FROM columns WHERE app_id = ? AND table_name = ? ORDER BY position",
            (self.app_id, table),
        ).fetchall()
        columns = {str(name): str(kind) for name, kind in rows}
        self.store._columns[key] = columns
        return dict(columns)

    def add_columns(self, columns: dict[str, str], table: str = USERS_TABLE) -> None:
        if not columns:
            return
        self.store._columns.pop((self.app_id, table), None)
        with self.transaction():
            self.db.executemany(
                "INSERT INTO columns(app_id, table_name, name, type) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(app_id, table_name, name) DO NOTHING",
                [(self.app_id, table, name, kind) for name, kind in columns.items()],
            )

    # -- roles -------------------------------------------------------------------------------

    def roles(self) -> dict[str, str]:
        """The app's own roles, oldest first: name -> role id."""
        rows = self.db.execute(
            "SELECT name, role_id FROM roles WHERE app_id = ? ORDER BY created, name",
            (self.app_id,),
        ).fetchall()
        return {str(name): str(role_id) for name, role_id in rows}

    def create_role(self, name: str, role_id: str, created: int) -> str:
        """Create a role (an existing one is kept); its role id."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO roles(app_id, name, role_id, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(app_id, name) DO NOTHING",
                (self.app_id, name, role_id, created),
            )
        return self.roles()[name]

    def assign_role(self, object_id: str, role: str) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO user_roles(object_id, app_id, role) VALUES (?, ?, ?) "
                "ON CONFLICT(object_id, role) DO NOTHING",
                (object_id, self.app_id, role),
            )

    def unassign_role(self, object_id: str, role: str) -> None:
        with self.transaction():
            self.db.execute(
                "DELETE FROM user_roles WHERE object_id = ? AND app_id = ? AND role = ?",
                (object_id, self.app_id, role),
            )

    def roles_of(self, object_id: str) -> list[str]:
        rows = self.db.execute(
            "SELECT role FROM user_roles WHERE object_id = ? AND app_id = ? ORDER BY rowid",
            (object_id, self.app_id),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def users_with_role(self, role: str) -> list[StoredUser]:
        rows = self.db.execute(
            f"SELECT {_PREFIXED_USER_COLUMNS} FROM users u "  # noqa: S608 (constant)
            "JOIN user_roles r ON r.object_id = u.object_id "
            "WHERE r.app_id = ? AND r.role = ? ORDER BY u.created, u.rowid",
            (self.app_id, role),
        ).fetchall()
        return [_row_to_user(row) for row in rows]

    def users(self, *, limit: int, offset: int = 0) -> list[StoredUser]:
        """Users, oldest first, one page."""
        rows = self.db.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE app_id = ? "  # noqa: S608 (constant)
            "ORDER BY created, rowid LIMIT ? OFFSET ?",
            (self.app_id, limit, offset),
        ).fetchall()
        return [_row_to_user(row) for row in rows]

    # -- email confirmations -----------------------------------------------------------------

    def add_confirmation(self, token: str, object_id: str, now: float) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO confirmations(token_hash, app_id, object_id, created) "
                "VALUES (?, ?, ?, ?)",
                (token_hash(token), self.app_id, object_id, now),
            )

    def take_confirmation(self, token: str) -> tuple[str, float] | None:
        """The user id and creation time of a confirmation token, which is used up."""
        key = token_hash(token)
        with self.transaction():
            row = self.db.execute(
                "SELECT object_id, created FROM confirmations WHERE token_hash = ? AND app_id = ?",
                (key, self.app_id),
            ).fetchone()
            if row is None:
                return None
            self.db.execute("DELETE FROM confirmations WHERE token_hash = ?", (key,))
        return str(row[0]), float(row[1])

    # -- data tables (the Data service slice) ------------------------------------------------

    def has_table(self, name: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM data_tables WHERE app_id = ? AND name = ?", (self.app_id, name)
        ).fetchone()
        return row is not None

    def create_table(self, name: str, created: int) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO data_tables(app_id, name, created) VALUES (?, ?, ?) "
                "ON CONFLICT(app_id, name) DO NOTHING",
                (self.app_id, name, created),
            )

    def put_record(self, table: str, record: StoredRecord) -> None:
        """Insert a record, or replace an existing one of the same table."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO records(object_id, app_id, table_name, owner_id, created, updated, "
                "props) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(object_id) DO UPDATE SET "
                "updated = excluded.updated, props = excluded.props",
                (
                    record.object_id,
                    self.app_id,
                    table,
                    record.owner_id,
                    record.created,
                    record.updated,
                    _dumps(record.props),
                ),
            )

    def get_record(self, table: str, object_id: str) -> StoredRecord | None:
        row = self.db.execute(
            "SELECT object_id, owner_id, created, updated, props FROM records "
            "WHERE object_id = ? AND app_id = ? AND table_name = ?",
            (object_id, self.app_id, table),
        ).fetchone()
        return None if row is None else _row_to_record(row)

    def records(self, table: str, *, limit: int, offset: int = 0) -> list[StoredRecord]:
        rows = self.db.execute(
            "SELECT object_id, owner_id, created, updated, props FROM records "
            "WHERE app_id = ? AND table_name = ? ORDER BY created, rowid LIMIT ? OFFSET ?",
            (self.app_id, table, limit, offset),
        ).fetchall()
        return [_row_to_record(row) for row in rows]


@attrs.define(kw_only=True)
class StoredRecord:
    """One record of a data table other than Users."""

    object_id: str
    owner_id: str | None
    created: int
    updated: int | None
    props: dict[str, Any] = attrs.field(factory=dict)


def _row_to_record(row: tuple[Any, ...]) -> StoredRecord:
    props = orjson.loads(row[4])
    return StoredRecord(
        object_id=row[0],
        owner_id=row[1],
        created=row[2],
        updated=row[3],
        props=props if isinstance(props, dict) else {},
    )


_PREFIXED_USER_COLUMNS = ", ".join(f"u.{name.strip()}" for name in _USER_COLUMNS.split(","))


def _loads_dict(text: str) -> dict[str, Any]:
    value = orjson.loads(text)
    return value if isinstance(value, dict) else {}
