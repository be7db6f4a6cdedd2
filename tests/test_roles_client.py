"""The client's roles, login-by-objectId and confirmation-URL operations in all three faces
(await, callback, blocking) and on the CLI, against an emulator app made through its console."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import console_app_blocking
from test_blocking import ThreadedEmulator
from test_emulator_console import ConsoleClient

import backendless_aio as bl
from backendless_aio import cli
from backendless_aio.emulator import Emulator, EmulatorSettings

PW = "pw-123456"
ROLE = "CustomRole"


async def console_app(emu: Emulator, http: aiohttp.ClientSession) -> tuple[str, dict[str, str]]:
    """A new app (id, keys by device type) with the role ROLE."""
    console = ConsoleClient(http, emu.url)
    await console.login()
    app_id, keys = await console.create_app()
    made = await console.call("PUT", f"/{app_id}/console/security/roles/{ROLE}")
    assert made.status == 200
    return app_id, keys


def client(emu: Emulator, app_id: str, key: str, **kwargs: Any) -> bl.Backendless:
    return bl.Backendless(app_id=app_id, api_key=key, server_url=emu.url,
                          retry=bl.RetryPolicy(backoff=False), **kwargs)


async def test_await_face(emulator: Emulator, emu_http: aiohttp.ClientSession) -> None:
    app_id, keys = await console_app(emulator, emu_http)
    async with client(emulator, app_id, keys["JS"]) as app, \
            client(emulator, app_id, keys["BL"], server_key=True) as admin:
        alice = await app.users.register({"email": "alice@x.co", "password": PW})
        bob = await app.users.register({"email": "bob@x.co", "password": PW})
        with pytest.raises(bl.BackendlessFault) as refused:
            await app.users.assign_role("alice@x.co", ROLE)
        assert refused.value.code == 2011
        await admin.users.assign_role("alice@x.co", ROLE)
        await admin.users.assign_role(bob.object_id or "", ROLE)
        assert await admin.users.get_user_roles(object_id=alice.object_id) == [
            "AuthenticatedUser", ROLE]
        found = await admin.users.find_by_role(ROLE, load_roles=True)
        assert [u.object_id for u in found] == [alice.object_id, bob.object_id]
        assert all(isinstance(u, bl.BackendlessUser) for u in found)
        assert found[0].get_property("roles") == ["AuthenticatedUser", ROLE]
        assert (await admin.users.find_by_role(ROLE))[0].get_property("roles") is None
        with pytest.raises(bl.BackendlessFault) as system:
            await admin.users.assign_role("alice@x.co", "AuthenticatedUser")
        assert system.value.code == 2007
        with pytest.raises(bl.BackendlessFault) as unknown:
            await admin.users.find_by_role("Nope")
        assert unknown.value.code == 2005
        await admin.users.unassign_role("bob@x.co", ROLE)
        assert [u.object_id for u in await admin.users.find_by_role(ROLE)] == [alice.object_id]
        # the logged-in user's roles now include the assigned one
        await app.users.login("alice@x.co", PW)
        assert await app.users.get_user_roles() == ["AuthenticatedUser", ROLE]
        # login by objectId: the CloudCode key only
        with pytest.raises(bl.ConfigurationError, match="CloudCode"):
            await app.users.login_by_object_id(alice.object_id or "")
        before = len(emulator.requests)
        with pytest.raises(bl.ConfigurationError):
            await app.users.login_by_object_id(bob.object_id or "")
        assert len(emulator.requests) == before  # refused before anything was sent
        me = await admin.users.login_by_object_id(bob.object_id or "")
        assert me.object_id == bob.object_id and admin.users.is_logged_in
        assert (await admin.users.get_current_user()) is not None
        # bad arguments are refused before sending
        for call in (lambda: admin.users.assign_role("", ROLE),
                     lambda: admin.users.unassign_role("alice@x.co", ""),
                     lambda: admin.users.find_by_role(""),
                     lambda: admin.users.find_by_role(ROLE, load_roles="yes")):  # type: ignore
            with pytest.raises(bl.ConfigurationError):
                call()


async def test_confirmation_url(emulator: Emulator, emu_http: aiohttp.ClientSession) -> None:
    app_id, keys = await console_app(emulator, emu_http)
    console = ConsoleClient(emu_http, emulator.url)
    await console.login()
    await console.call("PUT", f"/{app_id}/console/userregistration",
                       {"emailConfirmationRequired": True})
    async with client(emulator, app_id, keys["JS"]) as app:
        user = await app.users.register({"email": "c@x.co", "password": PW})
        assert user.user_status == "EMAIL_CONFIRMATION_PENDING"
        url = await app.users.create_email_confirmation_url("c@x.co")
        assert url.startswith(emulator.url)
        async with emu_http.get(url) as page:
            assert page.status == 200
        assert (await app.users.login("c@x.co", PW)).user_status == "ENABLED"
        with pytest.raises(bl.BackendlessFault) as done:
            await app.users.create_email_confirmation_url("c@x.co")
        assert done.value.code == 3102
        with pytest.raises(bl.BackendlessFault) as nobody:
            await app.users.resend_email_confirmation("nobody@x.co")
        assert nobody.value.code == 3104


async def test_callback_face(emulator: Emulator, emu_http: aiohttp.ClientSession) -> None:
    app_id, keys = await console_app(emulator, emu_http)
    got: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def ok(value: Any) -> None:
        got.put_nowait(("ok", value))

    def failed(fault: BaseException) -> None:
        got.put_nowait(("fault", fault))

    async with client(emulator, app_id, keys["JS"]) as app, \
            client(emulator, app_id, keys["BL"], server_key=True) as admin:
        await app.users.register({"email": "d@x.co", "password": PW})
        app.users.assign_role("d@x.co", ROLE, bl.AsyncCallback(ok, failed))
        kind, fault = await asyncio.wait_for(got.get(), 10)
        assert kind == "fault" and fault.code == 2011
        admin.users.assign_role("d@x.co", ROLE, bl.AsyncCallback(ok, failed))
        assert await asyncio.wait_for(got.get(), 10) == ("ok", None)
        admin.users.find_by_role(ROLE, bl.AsyncCallback(ok, failed), load_roles=True)
        kind, users = await asyncio.wait_for(got.get(), 10)
        assert kind == "ok" and users[0].get_property("roles") == ["AuthenticatedUser", ROLE]
        app.users.login_by_object_id(users[0].object_id, bl.AsyncCallback(ok, failed))
        kind, error = await asyncio.wait_for(got.get(), 10)
        assert kind == "fault" and isinstance(error, bl.ConfigurationError)
        admin.users.get_user_roles(bl.AsyncCallback(ok, failed), object_id=users[0].object_id)
        assert await asyncio.wait_for(got.get(), 10) == ("ok", ["AuthenticatedUser", ROLE])


# -- blocking and the CLI: an emulator on a background loop --------------------------------------


@pytest.fixture
def threaded() -> Iterator[tuple[ThreadedEmulator, str, dict[str, str]]]:
    emu = ThreadedEmulator(EmulatorSettings(fast_password_hashing=True))
    try:
        app_id, keys = console_app_blocking(emu.emu.url, ROLE)
        yield emu, app_id, keys
    finally:
        emu.close()


def test_blocking_face(threaded: tuple[ThreadedEmulator, str, dict[str, str]]) -> None:
    emu, app_id, keys = threaded
    url = emu.emu.url
    with bl.BlockingBackendless(app_id=app_id, api_key=keys["BL"], server_url=url,
                                server_key=True) as admin:
        user = admin.users.register({"email": "e@x.co", "password": PW})
        assert admin.users.assign_role("e@x.co", ROLE) is None
        assert admin.users.get_user_roles(object_id=user.object_id) == ["AuthenticatedUser", ROLE]
        found = admin.users.find_by_role(ROLE, load_roles=True)
        assert [u.object_id for u in found] == [user.object_id]
        me = admin.users.login_by_object_id(user.object_id or "")
        assert me.email == "e@x.co" and admin.users.is_logged_in
        admin.users.unassign_role("e@x.co", ROLE)
        assert admin.users.find_by_role(ROLE) == []
        future = admin.users.find_by_role(ROLE, bl.AsyncCallback(lambda _: None))
        assert future.result(10) == []
        with pytest.raises(bl.BackendlessFault) as off:
            admin.users.create_email_confirmation_url("e@x.co")
        assert off.value.code == 3103  # this app does not require confirmation


def test_cli_commands(threaded: tuple[ThreadedEmulator, str, dict[str, str]], tmp_path: Path,
                      capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    emu, app_id, keys = threaded
    for name in ("BACKENDLESS_DOMAIN", "BACKENDLESS_SERVER_URL", "BACKENDLESS_APP_ID",
                 "BACKENDLESS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    sessions = str(tmp_path / "sessions.json")

    def run(key: str, *args: str) -> tuple[int, str, str]:
        code = cli.main(["users", *args, "--server-url", emu.emu.url, "--app-id", app_id,
                         "--api-key", keys[key], "--session-file", sessions])
        out, err = capsys.readouterr()
        assert keys[key] not in out + err
        return code, out, err

    async def register() -> str:
        async with bl.Backendless(app_id=app_id, api_key=keys["JS"],
                                  server_url=emu.emu.url) as app:
            user = await app.users.register({"email": "f@x.co", "password": PW})
            return user.object_id or ""

    object_id = emu.run(register())
    code, _, err = run("JS", "assign-role", "f@x.co", ROLE)
    assert code == cli.EXIT_FAULT and "[2011]" in err
    code, out, _ = run("BL", "assign-role", "f@x.co", ROLE)
    assert code == 0 and f"assigned role {ROLE} to f@x.co" in out
    code, out, _ = run("BL", "find-by-role", ROLE, "--load-roles")
    assert code == 0 and object_id in out and ROLE in out
    code, out, _ = run("BL", "find-by-role", ROLE, "--json")
    assert code == 0 and json.loads(out)[0]["objectId"] == object_id
    code, out, _ = run("BL", "roles", "--object-id", object_id, "--json")
    assert code == 0 and json.loads(out) == ["AuthenticatedUser", ROLE]
    code, _, err = run("JS", "login-as", object_id)
    assert code == cli.EXIT_FAULT and "[2014]" in err
    code, out, _ = run("BL", "login-as", object_id)
    assert code == 0 and "logged in as f@x.co" in out
    code, out, _ = run("BL", "roles")
    assert code == 0 and out.split() == ["AuthenticatedUser", ROLE]
    code, out, _ = run("BL", "unassign-role", "f@x.co", ROLE)
    assert code == 0 and "unassigned" in out
    code, _, err = run("JS", "confirmation-url", "f@x.co")
    assert code == cli.EXIT_FAULT and "[3103]" in err
