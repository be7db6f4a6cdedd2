"""The async core against the emulator over loopback: every operation and every update fault."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import aiohttp
import attrs
import pytest

import backendless_aio as bl
from backendless_aio.emulator import Emulator, EmulatorSettings

PASSWORD = "s3cret-pass"


@pytest.fixture
async def emu(tmp_path: object) -> AsyncIterator[Emulator]:
    settings = EmulatorSettings(fast_password_hashing=True, record_requests=True,
                                db_path=str(tmp_path) + "/emu.sqlite3",  # type: ignore[operator]
                                server_api_key="SERVER-KEY")
    async with Emulator(settings) as emulator:
        yield emulator


def make_app(emu: Emulator, **kwargs: object) -> bl.Backendless:
    return bl.Backendless(app_id=emu.app_id, api_key=emu.api_key, server_url=emu.url,
                          retry=bl.RetryPolicy(backoff=False), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def app(emu: Emulator) -> AsyncIterator[bl.Backendless]:
    async with make_app(emu) as application:
        yield application


async def register_and_login(app: bl.Backendless, email: str = "bob@example.com",
                             **props: object) -> bl.BackendlessUser:
    await app.users.register(bl.BackendlessUser({"email": email, "password": PASSWORD,
                                                 "name": "Bob", **props}))
    return await app.users.login(email, PASSWORD)


async def test_quick_start_flow(app: bl.Backendless) -> None:
    registered = await app.users.register(
        bl.BackendlessUser({"email": "bob@example.com", "password": PASSWORD, "name": "Bob"}))
    assert registered.object_id and registered.email == "bob@example.com"
    assert app.users.current_user is None  # register does not log in
    user = await app.users.login("bob@example.com", PASSWORD)
    assert app.users.current_user is user and app.users.user_token
    user.set_property("phoneNumber", "5551212")
    updated = await app.users.update(user)
    assert updated is user
    assert updated.get_property("phoneNumber") == "5551212"
    assert isinstance(updated.updated, dt.datetime) and updated.updated.tzinfo is not None
    assert updated.changed == frozenset()
    assert await app.users.is_valid_login() is True
    await app.users.logout()
    assert app.users.current_user is None and app.users.user_token is None
    assert await app.users.is_valid_login() is False


async def test_update_sends_only_changed_properties(app: bl.Backendless, emu: Emulator) -> None:
    user = await register_and_login(app, age=30)
    other = await app.users.find_by_id(user.object_id or "")
    user.set_property("phoneNumber", "1")
    await app.users.update(user)
    put = [r for r in emu.requests if r.method == "PUT"][-1]
    assert put.body == b'{"phoneNumber":"1"}'
    assert put.headers.get("user-token") == app.users.user_token
    assert put.headers.get("content-type") == "application/json"
    assert other.get_property("age") == 30


async def test_update_does_not_clobber_concurrent_changes(emu: Emulator) -> None:
    async with make_app(emu) as a:
        await a.users.register({"email": "x@example.com", "password": PASSWORD, "age": 1,
                                "city": "Oslo"})
        ua = await a.users.login("x@example.com", PASSWORD)
        ua.set_property("age", 2)
        fresh = await a.users.find_by_id(ua.object_id or "")
        fresh.set_property("city", "Bergen")
        await a.users.update(ua)
        await a.users.update(fresh)  # only "city" goes: "age" stays 2
        stored = await emu.get_stored_user(ua.object_id or "")
        assert stored is not None
        assert (stored["age"], stored["city"]) == (2, "Bergen")


async def test_types_round_trip(app: bl.Backendless) -> None:
    user = await register_and_login(app)
    when = dt.datetime(2024, 5, 17, 12, 0, tzinfo=dt.timezone.utc)
    user.set_properties({"s": "text", "i": 42, "f": 1.5, "b": True, "n": None, "d": when})
    await app.users.update(user)
    again = await app.users.find_by_id(user.object_id or "")
    assert [again.get_property(k) for k in "sifbn"] == ["text", 42, 1.5, True, None]
    assert again.get_property("d") == when and user.get_property("d") == when


async def test_update_password_changes_login(app: bl.Backendless) -> None:
    user = await register_and_login(app)
    user.password = "new-pass-123"
    await app.users.update(user)
    assert "password" not in user.changed
    await app.users.logout()
    with pytest.raises(bl.InvalidLogin) as info:
        await app.users.login("bob@example.com", PASSWORD)
    assert info.value.code == 3003
    assert (await app.users.login("bob@example.com", "new-pass-123")).object_id == user.object_id


# -- every update fault ---------------------------------------------------------------------------

async def test_3028_refused_by_the_client_when_logged_out(app: bl.Backendless,
                                                          emu: Emulator) -> None:
    user = await register_and_login(app)
    await app.users.logout()
    sent = len(emu.requests)
    user.set_property("x", 1)
    with pytest.raises(bl.UserNotLoggedIn) as info:
        await app.users.update(user)
    assert info.value.code == 3028 and info.value.status is None
    assert len(emu.requests) == sent  # nothing was sent


async def test_3028_from_the_server_is_the_same_class(app: bl.Backendless, emu: Emulator) -> None:
    user = await register_and_login(app)
    # the server's own 3028: an update with no user-token at all
    async with aiohttp.ClientSession() as http, \
            http.put(f"{emu.root_url}/users/{user.object_id}", json={"a": 1}) as resp:
        body = await resp.json()
    assert body["code"] == 3028
    fault = bl.errors.fault_class(body["code"])("m", code=body["code"])
    assert isinstance(fault, bl.UserNotLoggedIn)


async def test_3029_cannot_modify_another_user(app: bl.Backendless) -> None:
    await app.users.register({"email": "other@example.com", "password": PASSWORD})
    other = await app.users.find_by_id(
        (await app.users.register({"email": "o2@example.com", "password": PASSWORD})).object_id
        or "")
    await register_and_login(app)
    other.set_property("name", "hacked")
    with pytest.raises(bl.CannotModifyAnotherUser) as info:
        await app.users.update(other)
    assert (info.value.code, info.value.status) == (3029, 400)
    assert info.value.route == "PUT users/{objectId}"


async def test_3030_no_such_user(app: bl.Backendless) -> None:
    await register_and_login(app)
    ghost = bl.BackendlessUser._from_wire({"objectId": "NO-SUCH-ID"})
    ghost.set_property("name", "x")
    with pytest.raises(bl.UserNotFound) as info:
        await app.users.update(ghost)
    assert info.value.code == 3030


async def test_3018_identity_conflict(app: bl.Backendless) -> None:
    await app.users.register({"email": "taken@example.com", "password": PASSWORD})
    user = await register_and_login(app)
    user.email = "taken@example.com"
    with pytest.raises(bl.IdentityConflict) as info:
        await app.users.update(user)
    assert info.value.code == 3018


async def test_3024_general_update_error(app: bl.Backendless, emu: Emulator) -> None:
    user = await register_and_login(app)
    headers = {"user-token": app.users.user_token or "", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http, \
            http.put(f"{emu.root_url}/users/{user.object_id}", data=b"[1, 2]",
                     headers=headers) as resp:
        body = await resp.json()
    assert (resp.status, body["code"]) == (400, 3024)
    assert isinstance(bl.errors.fault_class(3024)("m"), bl.UpdateFailed)


async def test_3031_unknown_property_with_dynamic_schema_off(tmp_path: object) -> None:
    settings = EmulatorSettings(fast_password_hashing=True, dynamic_schema=False)
    async with Emulator(settings) as emu, make_app(emu) as app:
        await app.users.register({"email": "d@example.com", "password": PASSWORD, "name": "D"})
        user = await app.users.login("d@example.com", PASSWORD)
        user.set_property("brandNew", 1)
        with pytest.raises(bl.UnknownPropertyOnUpdate) as info:
            await app.users.update(user)
        assert info.value.code == 3031
        with pytest.raises(bl.UnknownProperty) as reg:
            await app.users.register({"email": "e@example.com", "password": PASSWORD, "zz": 1})
        assert reg.value.code == 3010


async def test_3045_required_property(tmp_path: object) -> None:
    settings = EmulatorSettings(fast_password_hashing=True, required=("name",))
    async with Emulator(settings) as emu, make_app(emu) as app:
        with pytest.raises(bl.RequiredPropertyMissing) as reg:
            await app.users.register({"email": "r@example.com", "password": PASSWORD})
        assert reg.value.code == 3012
        user = await register_and_login(app, "r@example.com")
        user.set_property("name", None)
        with pytest.raises(bl.RequiredPropertyWouldBeEmpty) as info:
            await app.users.update(user)
        assert info.value.code == 3045


async def test_3064_expired_token_drops_the_session(app: bl.Backendless, emu: Emulator) -> None:
    user = await register_and_login(app)
    token = app.users.user_token or ""
    seen: list[bl.SessionExpired] = []
    app.on(bl.SessionExpired, seen.append)
    emu.advance_clock(3601)
    user.set_property("x", 1)
    with pytest.raises(bl.InvalidUserToken) as info:
        await app.users.update(user)
    fault = info.value
    assert fault.code == 3064 and isinstance(fault, bl.SessionOver)
    assert token not in str(fault) and token not in repr(fault) and token not in fault.message
    assert "<redacted>" in fault.message
    assert app.users.user_token is None and app.users.current_user is None
    assert [e.fault_code for e in seen] == [3064]


async def test_2002_wrong_api_key(emu: Emulator) -> None:
    async with bl.Backendless(app_id=emu.app_id, api_key="WRONG-KEY", server_url=emu.url) as app:
        with pytest.raises(bl.WrongApplication) as info:
            await app.users.login("a@example.com", PASSWORD)
    assert info.value.code == 2002
    assert "WRONG-KEY" not in str(info.value)


# -- the rest of the user service -----------------------------------------------------------------

async def test_domain_form(emu: Emulator) -> None:
    async with bl.Backendless(domain=emu.url, retry=bl.RetryPolicy(backoff=False)) as app:
        user = await register_and_login(app)
        assert user.object_id
    assert any(r.path.startswith("/api/users/login") for r in emu.requests)


async def test_login_faults_and_client_refusals(app: bl.Backendless, emu: Emulator) -> None:
    await app.users.register({"email": "l@example.com", "password": PASSWORD})
    with pytest.raises(bl.InvalidLogin):
        await app.users.login("l@example.com", "wrong")
    with pytest.raises(bl.InvalidLogin):
        await app.users.login("nobody@example.com", "wrong")
    sent = len(emu.requests)
    with pytest.raises(bl.EmptyLogin) as info:
        await app.users.login("", PASSWORD)
    assert info.value.code == 3006 and len(emu.requests) == sent
    with pytest.raises(bl.ConfigurationError, match="objectId"):
        await app.users.update(bl.BackendlessUser({"name": "no id"}))
    with pytest.raises(TypeError):
        await app.users.update({"objectId": "x"})  # type: ignore[arg-type]


async def test_register_faults(app: bl.Backendless) -> None:
    await app.users.register({"email": "u@example.com", "password": PASSWORD})
    with pytest.raises(bl.UserAlreadyExists) as dup:
        await app.users.register({"email": "u@example.com", "password": PASSWORD})
    assert dup.value.code == 3033
    with pytest.raises(bl.MissingPassword):
        await app.users.register({"email": "p@example.com"})
    with pytest.raises(bl.MissingIdentity):
        await app.users.register({"password": PASSWORD, "name": "x"})
    with pytest.raises(bl.MalformedEmail):
        await app.users.register({"email": "not-an-email", "password": PASSWORD})


async def test_guest_login(app: bl.Backendless) -> None:
    guest = await app.users.login_as_guest()
    assert guest.user_status == "GUEST" and app.users.is_logged_in
    assert "user-token" not in guest


async def test_current_user_reload_is_single_flight(app: bl.Backendless, emu: Emulator) -> None:
    user = await register_and_login(app)
    scope = app.users.session(user_token=app.users.user_token, object_id=user.object_id)
    assert scope.current_user is None
    before = len(emu.requests)
    users = await asyncio.gather(*(scope.get_current_user() for _ in range(20)))
    assert all(u is users[0] for u in users) and users[0] is not None
    assert users[0].object_id == user.object_id
    assert len(emu.requests) - before == 1
    assert await scope.get_current_user() is users[0]


async def test_describe_roles_verify_restore(app: bl.Backendless) -> None:
    await register_and_login(app)
    props = await app.users.describe_user_class()
    names = {p.name for p in props}
    assert {"email", "name", "objectId"} <= names
    assert next(p for p in props if p.name == "email").identity is True
    roles = await app.users.get_user_roles()
    assert isinstance(roles, list) and all(isinstance(r, str) for r in roles) and roles
    assert await app.users.verify_password(PASSWORD) is True
    assert await app.users.verify_password("nope") is False
    assert await app.users.restore_password("bob@example.com") is None
    assert await app.users.resend_email_confirmation("bob@example.com") is None


async def test_find_by_id_with_props(app: bl.Backendless) -> None:
    user = await register_and_login(app, age=7)
    partial = await app.users.find_by_id(user.object_id or "", props=["age"])
    assert partial.get_property("age") == 7


async def test_set_user_status_needs_server_key(app: bl.Backendless, emu: Emulator) -> None:
    user = await register_and_login(app)
    with pytest.raises(bl.StatusChangeNotAllowed):
        await app.users.set_user_status(user.object_id or "", "DISABLED")
    async with bl.Backendless(app_id=emu.app_id, api_key="SERVER-KEY",
                              server_url=emu.url) as admin:
        await admin.users.set_user_status(user.object_id or "", bl.UserStatus.DISABLED)
    with pytest.raises(bl.AccountDisabled):
        await app.users.login("bob@example.com", PASSWORD)


async def test_pool_is_reused_and_closed(emu: Emulator) -> None:
    app = make_app(emu)
    assert app.connector is None
    await register_and_login(app)
    connector = app.connector
    assert connector is not None and not connector.closed
    await app.aclose()
    assert connector.closed
    with pytest.raises(bl.BackendlessError, match="closed"):
        await app.users.is_valid_login()


async def test_borrowed_session_is_not_closed(emu: Emulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with make_app(emu, session=http) as app:
            await register_and_login(app)
        assert not http.closed


def test_config_errors() -> None:
    with pytest.raises(bl.ConfigurationError, match="app_id"):
        bl.Backendless(api_key="k")
    with pytest.raises(bl.ConfigurationError, match="not both"):
        bl.Backendless(app_id="a", api_key="k", domain="https://x.backendless.app")
    with pytest.raises(bl.ConfigurationError, match="http"):
        bl.Backendless(domain="x.backendless.app")
    app = bl.Backendless(app_id="a", api_key="SECRET-KEY")
    assert "SECRET-KEY" not in repr(app) and "SECRET-KEY" not in repr(app.config)
    cfg = attrs.evolve(app.config, timeout=5)
    assert cfg.timeout.total == 5
