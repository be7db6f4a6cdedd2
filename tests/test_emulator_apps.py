"""Many apps in one emulator: isolation, keys, deletion, reset, hashed tokens, the v1 migration."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import aiohttp
import attrs
import orjson
from conftest import RawClient

from backendless_aio._codes import Code
from backendless_aio.emulator import Emulator, EmulatorSettings
from backendless_aio.emulator.passwords import hash_password
from backendless_aio.emulator.settings import AppSettings
from backendless_aio.emulator.state import EmulatorState

PW = "pw-123456"


def rows(path: str, sql: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _second_app(emu: Emulator) -> None:
    state: EmulatorState = emu._state
    state.put_app("APP-TWO", "two", {"KEY-JS": "JS", "KEY-BL": "BL"})


async def test_apps_are_isolated(emulator: Emulator, emu_http: aiohttp.ClientSession) -> None:
    _second_app(emulator)
    one = RawClient(emu_http, emulator.root_url)
    two = RawClient(emu_http, f"{emulator.url}/APP-TWO/KEY-JS")
    first = await one.register("same@x.co", city="Oslo")
    second = await two.register("same@x.co")  # the same identity in another app
    assert first["objectId"] != second["objectId"]
    session = await two.login("same@x.co")
    # the other app's token means nothing here, and an app's users are its own
    mine = await one.call("GET", "users/isvalidusertoken/" + session["user-token"])
    assert mine.json is False
    assert (await one.call("GET", f"data/Users/{second['objectId']}")).code == 1000
    assert (await two.call("GET", f"data/Users/{first['objectId']}")).code == 1000
    # columns are per app: "city" exists in the first app only
    names = {p["name"] for p in (await two.call("GET", "users/userclassprops")).json}
    assert "city" not in names
    # a key of another app, or of no app, is refused
    wrong = await emu_http.get(f"{emulator.url}/APP-TWO/{emulator.api_key}/users/userroles")
    assert (await wrong.json())["code"] == Code.WRONG_APP
    wrong.release()


async def test_key_kinds_reach_the_service(
    emulator: Emulator, emu_http: aiohttp.ClientSession
) -> None:
    _second_app(emulator)
    js = RawClient(emu_http, f"{emulator.url}/APP-TWO/KEY-JS")
    bl = RawClient(emu_http, f"{emulator.url}/APP-TWO/KEY-BL")
    user = await js.register("k@x.co")
    body = {"userStatus": "DISABLED"}
    refused = await js.call("PUT", f"users/{user['objectId']}/status", body)
    assert refused.code == Code.STATUS_NOT_ALLOWED
    allowed = await bl.call("PUT", f"users/{user['objectId']}/status", body)
    assert allowed.status == 200
    assert (await js.call("GET", f"data/Users/{user['objectId']}")).json["userStatus"] == (
        "DISABLED"
    )


async def test_deleting_an_app_deletes_its_data(emulator_settings: EmulatorSettings) -> None:
    async with Emulator(emulator_settings) as emu, aiohttp.ClientSession() as http:
        _second_app(emu)
        two = RawClient(http, f"{emu.url}/APP-TWO/KEY-JS")
        await two.register("gone@x.co", shoe=44)
        await two.login("gone@x.co")
        await RawClient(http, emu.root_url).register("stays@x.co")
        assert emu._state.delete_app("APP-TWO")
        answer = await two.call("POST", "users/login", {"login": "gone@x.co", "password": PW})
        assert answer.code == Code.WRONG_APP
    path = emulator_settings.db_path
    for table in ("users", "sessions", "columns", "api_keys", "apps"):
        assert rows(path, f"SELECT count(*) FROM {table} WHERE app_id = 'APP-TWO'") == [(0,)]
    assert rows(path, "SELECT count(*) FROM users") == [(1,)]


async def test_reset_keeps_only_the_default_app(
    emulator: Emulator, emu_http: aiohttp.ClientSession
) -> None:
    _second_app(emulator)
    await RawClient(emu_http, emulator.root_url).register("a@x.co")
    await emulator.reset()
    assert [app.app_id for app in emulator._state.apps()] == [emulator.app_id]
    again = await RawClient(emu_http, emulator.root_url).register("a@x.co")
    assert again["email"] == "a@x.co"


async def test_app_settings_apply_per_app(
    emulator: Emulator, emu_http: aiohttp.ClientSession
) -> None:
    _second_app(emulator)
    emulator._state.set_app_settings("APP-TWO", AppSettings(dynamic_schema="drop"))
    one = RawClient(emu_http, emulator.root_url)
    two = RawClient(emu_http, f"{emulator.url}/APP-TWO/KEY-JS")
    assert (await one.register("a@x.co", extra=1))["extra"] == 1
    dropped = await two.register("a@x.co", extra=1)
    assert "extra" not in dropped and dropped["email"] == "a@x.co"
    # the settings survive a reload from the store
    emulator._state._load()
    assert emulator._state.app_settings("APP-TWO") == AppSettings(dynamic_schema="drop")


async def test_dynamic_schema_drop_on_update(tmp_path: Path) -> None:
    settings = EmulatorSettings(
        fast_password_hashing=True, db_path=str(tmp_path / "e.sqlite3"), dynamic_schema="drop"
    )
    async with Emulator(settings) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        await client.register("a@x.co")
        user = await client.login("a@x.co")
        answer = await client.call(
            "PUT", f"users/{user['objectId']}", {"name": "Al", "unknown": 1},
            token=user["user-token"],
        )
        assert answer.status == 200
        assert answer.json["name"] == "Al" and "unknown" not in answer.json


async def test_session_tokens_are_stored_hashed(emulator_settings: EmulatorSettings) -> None:
    async with Emulator(emulator_settings) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        await client.register("h@x.co")
        token = (await client.login("h@x.co"))["user-token"]
        assert (await client.call("GET", f"users/isvalidusertoken/{token}")).json is True
    for suffix in ("", "-wal", "-shm"):
        path = Path(emulator_settings.db_path + suffix)
        if path.exists():
            assert token.encode() not in path.read_bytes()
    stored = rows(emulator_settings.db_path, "SELECT token_hash FROM sessions")
    assert len(stored) == 1 and len(str(stored[0][0])) == 64


_V1_SCHEMA = """
CREATE TABLE users (object_id TEXT PRIMARY KEY, identity_key TEXT UNIQUE, password_hash TEXT,
    created INTEGER NOT NULL, updated INTEGER, last_login INTEGER, owner_id TEXT,
    user_status TEXT NOT NULL, failed_logins INTEGER NOT NULL DEFAULT 0, locked_until REAL,
    props TEXT NOT NULL);
CREATE TABLE sessions (token TEXT PRIMARY KEY,
    object_id TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,
    created REAL NOT NULL, last_used REAL NOT NULL);
CREATE INDEX sessions_by_user ON sessions(object_id);
CREATE TABLE columns (position INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
PRAGMA user_version = 1;
"""


async def test_a_version_1_file_is_migrated(tmp_path: Path) -> None:
    """A database written by the one-app emulator opens with its users, sessions and columns
    belonging to the default app, and its plain-text tokens replaced by hashes."""
    path = str(tmp_path / "old.sqlite3")
    db = sqlite3.connect(path)
    db.executescript(_V1_SCHEMA)
    now = time.time()
    db.execute(
        "INSERT INTO users VALUES (?, ?, ?, ?, NULL, NULL, ?, 'ENABLED', 0, NULL, ?)",
        ("OID-1", "old@x.co", hash_password(PW, fast=True), int(now * 1000), "OID-1",
         orjson.dumps({"email": "old@x.co", "shoe": 44}).decode()),
    )
    db.execute("INSERT INTO sessions VALUES ('OLD-TOKEN', 'OID-1', ?, ?)", (now, now))
    db.execute("INSERT INTO columns(name, type) VALUES ('shoe', 'INT')")
    db.execute("INSERT INTO meta VALUES ('identity', 'email')")
    db.commit()
    db.close()
    settings = EmulatorSettings(fast_password_hashing=True, db_path=path)
    async with Emulator(settings) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        valid = await client.call("GET", "users/isvalidusertoken/OLD-TOKEN")
        assert valid.json is True
        assert (await client.login("old@x.co"))["shoe"] == 44
        names = {p["name"]: p["type"] for p in (await client.call(
            "GET", "users/userclassprops")).json}
        assert names["shoe"] == "INT"
        dup = await client.call("POST", "users/register", {"email": "OLD@x.co", "password": PW})
        assert dup.code == Code.USER_EXISTS
    assert rows(path, "PRAGMA user_version") == [(2,)]
    assert b"OLD-TOKEN" not in Path(path).read_bytes()
    tables = {r[0] for r in rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not {"users_v1", "sessions_v1", "columns_v1"} & tables
    # and a restart with another default app id keeps the old app's rows where they are
    other = attrs.evolve(settings, app_id="ANOTHER-APP")
    async with Emulator(other) as emu:
        assert {a.app_id for a in emu._state.apps()} == {settings.app_id, "ANOTHER-APP"}
