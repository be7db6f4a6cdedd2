"""State: persistence across restarts, identity uniqueness under concurrency, password storage."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiohttp
import attrs
import pytest
from conftest import RawClient

from backendless_aio._codes import Code
from backendless_aio.emulator import Emulator, EmulatorSettings
from backendless_aio.emulator.passwords import hash_password, verify_password

PW = "pw-123456"


def rows(path: str, sql: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


async def test_state_survives_a_restart(emulator_settings: EmulatorSettings) -> None:
    async with Emulator(emulator_settings) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        registered = await client.register("a@b.co", age=1, ratio=0.5, vip=False)
        user = await client.login("a@b.co")
        answer = await client.call(
            "PUT", f"users/{user['objectId']}", {"age": 2, "city": "Oslo"}, token=user["user-token"]
        )
        assert answer.status == 200
        expected = answer.json
    assert rows(emulator_settings.db_path, "PRAGMA journal_mode") == [("wal",)]
    async with Emulator(emulator_settings) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        found = await client.call("GET", f"data/Users/{registered['objectId']}")
        assert found.json == expected
        assert (await client.login("a@b.co"))["objectId"] == registered["objectId"]
        dup = await client.call("POST", "users/register", {"email": "A@B.CO", "password": PW})
        assert dup.code == Code.USER_EXISTS
        names = {p["name"] for p in (await client.call("GET", "users/userclassprops")).json}
        assert {"age", "ratio", "vip", "city"} <= names


async def test_dynamic_columns_persist_and_count_with_schema_off(
    emulator_settings: EmulatorSettings,
) -> None:
    async with Emulator(emulator_settings) as emu, aiohttp.ClientSession() as http:
        await RawClient(http, emu.root_url).register("a@b.co", shoeSize=44)
    strict = attrs.evolve(emulator_settings, dynamic_schema=False)
    async with Emulator(strict) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        ok = await client.call(
            "POST", "users/register", {"email": "b@b.co", "password": PW, "shoeSize": 40}
        )
        assert ok.status == 200
        new = await client.call(
            "POST", "users/register", {"email": "c@b.co", "password": PW, "hat": 1}
        )
        assert new.code == Code.REGISTER_UNKNOWN_PROPERTY


async def test_changing_the_identity_property_rekeys(emulator_settings: EmulatorSettings) -> None:
    async with Emulator(emulator_settings) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        await client.register("a@b.co", name="alice")
        await client.register("b@b.co", name="bob")
    by_name = attrs.evolve(emulator_settings, identity="name")
    async with Emulator(by_name) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        assert (await client.login("Alice"))["email"] == "a@b.co"
        dup = await client.call("POST", "users/register", {"name": "BOB", "password": PW})
        assert dup.code == Code.USER_EXISTS


async def test_passwords_are_salted_hashes(emulator_settings: EmulatorSettings) -> None:
    secret = "Sup3r-Secret-Passw0rd"
    async with Emulator(emulator_settings) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        await client.register("a@b.co", password=secret)
        await client.register("b@b.co", password=secret)
    hashes = [r[0] for r in rows(emulator_settings.db_path, "SELECT password_hash FROM users")]
    assert len(hashes) == 2 and hashes[0] != hashes[1]  # salted
    assert all(isinstance(h, str) and h.startswith("scrypt$") for h in hashes)
    for suffix in ("", "-wal", "-shm"):
        path = Path(emulator_settings.db_path + suffix)
        if path.exists():
            assert secret.encode() not in path.read_bytes()


def test_password_hash_functions() -> None:
    secure = hash_password("pw")
    fast = hash_password("pw", fast=True)
    assert secure.split("$")[1:4] == ["16384", "8", "5"]
    assert fast.split("$")[1:4] == ["16", "1", "1"]
    assert verify_password("pw", secure) and verify_password("pw", fast)
    assert not verify_password("PW", secure) and not verify_password("pw ", fast)
    assert not verify_password("pw", "garbage") and not verify_password("pw", "md5$1$1$1$AA==$AA==")


async def test_secure_hashing_by_default(tmp_path: Path) -> None:
    async with Emulator(EmulatorSettings()) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        user = await client.register("a@b.co")
        assert (await client.login("a@b.co"))["objectId"] == user["objectId"]
        bad = await client.call("POST", "users/login", {"login": "a@b.co", "password": "x"})
        assert bad.code == Code.INVALID_LOGIN


@pytest.mark.parametrize(("fast", "racers"), [(True, 60), (False, 6)])
async def test_concurrent_registrations_of_one_identity(
    emulator_settings: EmulatorSettings, fast: bool, racers: int
) -> None:
    # With secure hashing the hashes run in threads: every racer passes the early check
    # and only the UNIQUE constraint decides.
    settings = attrs.evolve(emulator_settings, fast_password_hashing=fast)
    connector = aiohttp.TCPConnector(limit=100)
    async with Emulator(settings) as emu, aiohttp.ClientSession(connector=connector) as http:
        client = RawClient(http, emu.root_url)
        variants = ["race@example.com", "RACE@example.com", "Race@Example.Com"]
        answers = await asyncio.gather(
            *(
                client.call(
                    "POST",
                    "users/register",
                    {"email": variants[i % 3], "password": f"pw-{i}", "n": i},
                )
                for i in range(racers)
            )
        )
        winners = [a for a in answers if a.status == 200]
        assert len(winners) == 1
        assert all(a.code == Code.USER_EXISTS for a in answers if a.status != 200)
        winner = winners[0].json
        logged = await client.login(winner["email"], f"pw-{winner['n']}")
        assert logged["objectId"] == winner["objectId"]
    count = rows(
        settings.db_path, "SELECT count(*) FROM users WHERE identity_key = 'race@example.com'"
    )
    assert count == [(1,)]


async def test_concurrent_updates_to_one_identity(emulator: Emulator) -> None:
    connector = aiohttp.TCPConnector(limit=50)
    async with aiohttp.ClientSession(connector=connector) as http:
        client = RawClient(http, emulator.root_url)
        users = []
        for i in range(30):
            await client.register(f"u{i}@example.com")
            users.append(await client.login(f"u{i}@example.com"))

        async def claim(user: dict[str, object], i: int) -> object:
            body: dict[str, object] = {"email": "wanted@example.com", "n": i}
            if i % 2:
                body["password"] = f"new-{i}"  # some updates also re-hash a password
            return await client.call(
                "PUT", f"users/{user['objectId']}", body, token=str(user["user-token"])
            )

        updates = [claim(u, i) for i, u in enumerate(users)]
        registers = [
            client.call("POST", "users/register", {"email": "wanted@example.com", "password": PW})
            for _ in range(10)
        ]
        answers = await asyncio.gather(*updates, *registers)
    update_answers, register_answers = answers[:30], answers[30:]
    won = [a for a in update_answers if a.status == 200]  # type: ignore[attr-defined]
    won += [a for a in register_answers if a.status == 200]  # type: ignore[attr-defined]
    assert len(won) == 1
    for answer in update_answers:
        assert answer.status == 200 or answer.code == Code.IDENTITY_CONFLICT  # type: ignore[attr-defined]
    for answer in register_answers:
        assert answer.status == 200 or answer.code == Code.USER_EXISTS  # type: ignore[attr-defined]
    holders = rows(
        emulator.settings.db_path,
        "SELECT count(*) FROM users WHERE identity_key = 'wanted@example.com'",
    )
    assert holders == [(1,)]
    everyone = rows(
        emulator.settings.db_path, "SELECT count(*), count(DISTINCT identity_key) FROM users"
    )
    assert everyone[0][0] == everyone[0][1]


async def test_concurrent_updates_of_one_user_do_not_lose_properties(
    emulator: Emulator,
) -> None:
    async with aiohttp.ClientSession() as http:
        client = RawClient(http, emulator.root_url)
        await client.register("a@b.co")
        user = await client.login("a@b.co")
        answers = await asyncio.gather(
            *(
                client.call(
                    "PUT",
                    f"users/{user['objectId']}",
                    {f"p{i}": i, **({"password": f"pw{i}"} if i % 4 == 0 else {})},
                    token=user["user-token"],
                )
                for i in range(24)
            )
        )
    assert all(a.status == 200 for a in answers)
    stored = await emulator.get_stored_user(user["objectId"])
    assert stored is not None
    assert all(stored[f"p{i}"] == i for i in range(24))


async def test_memory_database() -> None:
    settings = EmulatorSettings(fast_password_hashing=True)
    assert settings.db_path == ":memory:"
    for _ in range(2):  # nothing survives a restart in memory
        async with Emulator(settings) as emu, aiohttp.ClientSession() as http:
            again = await RawClient(http, emu.root_url).register("a@b.co")
            assert again["email"] == "a@b.co"
