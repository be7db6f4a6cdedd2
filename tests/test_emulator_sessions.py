"""Sessions: inactivity timeout (reset on use), logout, the multiple-login policies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from conftest import RawClient

from backendless_aio._codes import Code
from backendless_aio.emulator import Emulator, EmulatorSettings

PW = "pw-123456"


async def valid(client: RawClient, token: str) -> bool:
    answer = await client.call("GET", f"users/isvalidusertoken/{token}")
    assert answer.status == 200
    result: bool = answer.json
    return result


async def test_token_expires_after_inactivity(emu_raw: RawClient, emulator: Emulator) -> None:
    await emu_raw.register("a@b.co")
    token = (await emu_raw.login("a@b.co"))["user-token"]
    emulator.advance_clock(3599)
    assert await valid(emu_raw, token)  # ...and that use resets the clock
    emulator.advance_clock(3599)
    roles = await emu_raw.call("GET", "users/userroles", token=token)
    assert roles.json == ["AuthenticatedUser"]  # any call with the token resets it
    emulator.advance_clock(3599)
    assert await valid(emu_raw, token)
    emulator.advance_clock(3601)
    assert not await valid(emu_raw, token)
    answer = await emu_raw.call("GET", "users/userroles", token=token)
    assert answer.code == Code.INVALID_TOKEN


async def test_custom_session_timeout(tmp_path: Path) -> None:
    settings = EmulatorSettings(fast_password_hashing=True, session_timeout=60)
    async with Emulator(settings) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        await client.register("a@b.co")
        token = (await client.login("a@b.co"))["user-token"]
        emu.advance_clock(59)
        assert await valid(client, token)
        emu.advance_clock(61)
        assert not await valid(client, token)


async def test_tokens_are_opaque_and_unique(emu_raw: RawClient) -> None:
    await emu_raw.register("a@b.co")
    await emu_raw.register("b@b.co")
    tokens = set()
    for email in ("a@b.co", "b@b.co") * 5:
        tokens.add((await emu_raw.login(email))["user-token"])
    assert len(tokens) == 10
    for token in tokens:
        assert "a@b.co" not in token and len(token) >= 32


async def test_first_session_loses_by_default(emu_raw: RawClient) -> None:
    await emu_raw.register("a@b.co")
    first = (await emu_raw.login("a@b.co"))["user-token"]
    second = (await emu_raw.login("a@b.co"))["user-token"]
    assert not await valid(emu_raw, first) and await valid(emu_raw, second)
    user = await emu_raw.call("GET", "users/userroles", token=first)
    assert user.code == Code.INVALID_TOKEN


async def test_allow_keeps_every_session(tmp_path: Path) -> None:
    settings = EmulatorSettings(fast_password_hashing=True, multiple_logins="allow")
    async with Emulator(settings) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        await client.register("a@b.co")
        tokens = [(await client.login("a@b.co"))["user-token"] for _ in range(4)]
        assert all([await valid(client, t) for t in tokens])
        await client.call("GET", "users/logout", token=tokens[1])
        assert [await valid(client, t) for t in tokens] == [True, False, True, True]
        # expired sessions do not count toward the limit
        emu.advance_clock(4000)
        settings_max = emu.settings.max_sessions
        more = [(await client.login("a@b.co"))["user-token"] for _ in range(settings_max)]
        assert len(set(more)) == settings_max


async def test_logout_only_ends_its_own_session(tmp_path: Path) -> None:
    settings = EmulatorSettings(fast_password_hashing=True, multiple_logins="allow")
    async with Emulator(settings) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        await client.register("a@b.co")
        await client.register("b@b.co")
        a1 = (await client.login("a@b.co"))["user-token"]
        a2 = (await client.login("a@b.co"))["user-token"]
        b1 = (await client.login("b@b.co"))["user-token"]
        out = await client.call("GET", "users/logout", token=a1)
        assert out.status == 200 and out.body == b""
        assert [await valid(client, t) for t in (a1, a2, b1)] == [False, True, True]


async def test_session_of_a_user_who_changed_password_stays(emu_raw: RawClient) -> None:
    await emu_raw.register("a@b.co")
    user: dict[str, Any] = await emu_raw.login("a@b.co")
    answer = await emu_raw.call(
        "PUT", f"users/{user['objectId']}", {"password": "other-pw"}, token=user["user-token"]
    )
    assert answer.status == 200
    assert await valid(emu_raw, user["user-token"])


async def test_sessions_survive_a_restart(emulator_settings: EmulatorSettings) -> None:
    async with Emulator(emulator_settings) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        await client.register("a@b.co")
        token = (await client.login("a@b.co"))["user-token"]
    async with Emulator(emulator_settings) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        assert await valid(client, token)
        await client.call("GET", "users/logout", token=token)
        assert not await valid(client, token)
