"""The emulator's console API: developer login, apps, app settings and what each one does, user
edits and roles, all over real sockets on the same port as the REST API."""

from __future__ import annotations

from typing import Any

import aiohttp
import attrs
import pytest
from conftest import Answer, RawClient

from backendless_aio._codes import Code
from backendless_aio.emulator import Emulator, EmulatorSettings

PW = "pw-123456"


class ConsoleClient:
    """Plain HTTP against the console routes, carrying the auth-key once logged in."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.auth_key: str | None = None

    async def call(self, method: str, path: str, json: Any = None, *,
                   auth_key: str | None = None) -> Answer:
        headers = {}
        key = auth_key if auth_key is not None else self.auth_key
        if key is not None:
            headers["auth-key"] = key
        async with self.http.request(method, f"{self.url}{path}", json=json,
                                     headers=headers) as resp:
            return Answer(resp.status, dict(resp.headers), await resp.read())

    async def login(self, login: str = "foo@foo.com", password: str = "secret") -> Answer:
        answer = await self.call("POST", "/console/home/login",
                                 {"login": login, "password": password})
        if answer.status == 200:
            self.auth_key = answer.headers["auth-key"]
        return answer

    async def create_app(self, name: str = "test_app") -> tuple[str, dict[str, str]]:
        """A new app's id and its keys by device type."""
        created = await self.call("POST", "/console/applications", {"appName": name,
                                                                     "refCode": None})
        assert created.status == 200, created.body
        app_id = created.json["id"]
        settings = await self.call("GET", f"/{app_id}/console/appsettings")
        assert settings.status == 200, settings.body
        return app_id, {k["deviceType"]: k["apiKey"] for k in settings.json["apiKeys"]}


@pytest.fixture
async def console(emulator: Emulator, emu_http: aiohttp.ClientSession) -> ConsoleClient:
    client = ConsoleClient(emu_http, emulator.url)
    assert (await client.login()).status == 200
    return client


async def _app(console: ConsoleClient, kind: str = "JS") -> tuple[str, dict[str, str], RawClient]:
    app_id, keys = await console.create_app()
    return app_id, keys, RawClient(console.http, f"{console.url}/{app_id}/{keys[kind]}")


def assert_json_error(answer: Answer, code: int, status: int) -> None:
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json["code"] == code and isinstance(answer.json["message"], str)


# -- the developer and the auth-key ------------------------------------------------------------


async def test_developer_login_and_auth_key(emulator: Emulator,
                                           emu_http: aiohttp.ClientSession) -> None:
    console = ConsoleClient(emu_http, emulator.url)
    # /console/home/login is a console route, not app "console" with key "home" (2002)
    wrong = await console.login(password="not-it")
    assert_json_error(wrong, Code.INVALID_LOGIN, 401)
    assert "auth-key" not in wrong.headers and b"not-it" not in wrong.body
    assert_json_error(await console.call("GET", "/console/applications"), 401, 401)
    bad_key = await console.call("GET", "/console/applications", auth_key="made-up")
    assert_json_error(bad_key, 401, 401)
    right = await console.login(login="FOO@foo.com")  # the login is case-insensitive
    assert right.status == 200 and right.json["email"] == "foo@foo.com"
    assert console.auth_key
    apps = await console.call("GET", "/console/applications")
    assert apps.json == [{"id": emulator.app_id, "name": "default"}]
    assert_json_error(await console.call("GET", "/console/home/login"), 405, 405)
    assert_json_error(await console.call("GET", "/console/nothing"), 404, 404)


async def test_developer_account_is_a_setting(emulator_settings: EmulatorSettings) -> None:
    settings = attrs.evolve(emulator_settings, console_login="dev@x.co", console_password="s3")
    assert "s3" not in repr(settings)
    async with Emulator(settings) as emu, aiohttp.ClientSession() as http:
        console = ConsoleClient(http, emu.url)
        assert (await console.login()).status == 401  # the defaults no longer work
        assert (await console.login("dev@x.co", "s3")).status == 200


# -- apps ---------------------------------------------------------------------------------------


async def test_create_list_and_delete_apps(console: ConsoleClient, emulator: Emulator) -> None:
    app_id, keys = await console.create_app("test_one")
    assert set(keys) == {"JS", "REST", "ANDROID", "IOS", "WP", "AS", "BL"}
    assert len(set(keys.values())) == 7
    names = {a["name"] for a in (await console.call("GET", "/console/applications")).json}
    assert names == {"default", "test_one"}
    dup = await console.call("POST", "/console/applications", {"appName": "test_one"})
    assert_json_error(dup, 400, 400)
    for body in ({}, {"appName": ""}, {"appName": 7}):
        assert_json_error(await console.call("POST", "/console/applications", body), 400, 400)
    # every key of the new app works on the REST API; the app has its own users
    for kind, key in keys.items():
        raw = RawClient(console.http, f"{console.url}/{app_id}/{key}")
        await raw.register(f"{kind.lower()}@x.co")
    default = RawClient(console.http, emulator.root_url)
    assert (await default.call("POST", "users/login",
                               {"login": "js@x.co", "password": PW})).code == Code.INVALID_LOGIN
    # deleting the app deletes its data and its keys
    assert (await console.call("DELETE", f"/{app_id}/console/application")).status == 200
    gone = RawClient(console.http, f"{console.url}/{app_id}/{keys['JS']}")
    assert (await gone.call("GET", "users/userroles")).code == Code.WRONG_APP
    assert_json_error(await console.call("GET", f"/{app_id}/console/appsettings"),
                      Code.WRONG_APP, 404)
    # the default app stays
    refused = await console.call("DELETE", f"/{emulator.app_id}/console/application")
    assert_json_error(refused, 400, 400)


# -- settings and their effects -----------------------------------------------------------------


async def test_user_registration_settings(console: ConsoleClient) -> None:
    app_id, _keys, raw = await _app(console)
    path = f"/{app_id}/console/userregistration"
    initial = (await console.call("GET", path)).json
    assert initial == {"userRegistrationEnabled": True, "emailConfirmationRequired": False}
    off = await console.call("PUT", path, {**initial, "userRegistrationEnabled": False})
    assert off.json["userRegistrationEnabled"] is False
    denied = await raw.call("POST", "users/register", {"email": "a@x.co", "password": PW})
    assert_json_error(denied, Code.REGISTRATION_DISABLED, 403)
    assert "User registration is denied for this version of application" in denied.json["message"]
    # a partial edit keeps the rest
    await console.call("PUT", path, {"emailConfirmationRequired": True})
    assert (await console.call("GET", path)).json == {
        "userRegistrationEnabled": False, "emailConfirmationRequired": True}
    await console.call("PUT", path, initial)
    assert (await raw.register("a@x.co"))["userStatus"] == "ENABLED"
    assert_json_error(await console.call("PUT", path, {"userRegistrationEnabled": "no"}), 400, 400)
    assert_json_error(await console.call("PUT", path, [1]), 400, 400)


async def test_user_login_settings(console: ConsoleClient) -> None:
    app_id, _keys, raw = await _app(console)
    path = f"/{app_id}/console/userlogin"
    defaults = (await console.call("GET", path)).json
    assert defaults["enableMultipleLogins"] is False and defaults["logoutLastUser"] is False
    assert defaults["failedLoginsLock"] == 0
    await raw.register("a@x.co")

    async def login(password: str = PW) -> Answer:
        return await raw.call("POST", "users/login", {"login": "a@x.co", "password": password})

    # default: a second login ends the first session
    first, second = (await login()).json, (await login()).json
    assert (await raw.call("GET", f"users/isvalidusertoken/{first['user-token']}")).json is False
    assert (await raw.call("GET", f"users/isvalidusertoken/{second['user-token']}")).json is True
    # logoutLastUser: a second login is refused while a session is alive
    await console.call("POST", path, {**defaults, "logoutLastUser": True})
    assert_json_error(await login(), Code.SECOND_LOGIN_REFUSED, 400)
    assert (await raw.call("GET", f"users/isvalidusertoken/{second['user-token']}")).json is True
    await raw.call("GET", "users/logout", token=second["user-token"])
    # enableMultipleLogins with a cap of 2: the third login gets 3044
    await console.call("POST", path, {**defaults, "enableMultipleLogins": True,
                                      "maxConcurrentLogins": 2})
    tokens = [(await login()).json["user-token"] for _ in range(2)]
    assert_json_error(await login(), Code.TOO_MANY_SESSIONS, 400)
    for token in tokens:
        assert (await raw.call("GET", f"users/isvalidusertoken/{token}")).json is True
    # failedLoginsLock: two failures in a row lock the account; a success resets the count
    await console.call("POST", path, {**defaults, "failedLoginsLock": 2})
    assert (await login("wrong")).code == Code.INVALID_LOGIN
    assert (await login()).status == 200
    assert (await login("wrong")).code == Code.INVALID_LOGIN
    assert (await login("wrong")).code == Code.INVALID_LOGIN
    assert_json_error(await login(), Code.ACCOUNT_LOCKED, 400)
    # the defaults come back as they were
    await console.call("POST", path, defaults)
    assert (await console.call("GET", path)).json == defaults
    for bad in ({"maxConcurrentLogins": 0}, {"failedLoginsLock": -1},
                {"enableMultipleLogins": 1}, {"sessionTimeout": 0}):
        assert_json_error(await console.call("POST", path, bad), 400, 400)
    assert (await console.call("GET", path)).json == defaults  # nothing half-applied


async def test_dynamic_schema_setting(console: ConsoleClient, emulator: Emulator) -> None:
    app_id, _keys, raw = await _app(console)
    path = f"/{app_id}/console/data/config"
    assert (await console.call("GET", path)).json == {"dynamicSchema": True}
    await console.call("PUT", path, {"dynamicSchema": False})
    # unknown properties are dropped silently, on register and on update
    user = await raw.register("a@x.co", foo2="x")
    assert "foo2" not in user
    session = await raw.login("a@x.co")
    updated = await raw.call("PUT", f"users/{user['objectId']}", {"data2": 1, "name": "N"},
                             token=session["user-token"])
    assert updated.status == 200 and "data2" not in updated.json and updated.json["name"] == "N"
    await console.call("PUT", path, {"dynamicSchema": True})
    assert (await raw.register("b@x.co", foo2="x"))["foo2"] == "x"
    assert_json_error(await console.call("PUT", path, {"dynamicSchema": None}), 400, 400)


async def test_dynamic_schema_off_keeps_refuse(emulator_settings: EmulatorSettings) -> None:
    """An app that refuses unknown properties (--no-dynamic-schema) keeps refusing after a
    console dynamicSchema=false: both are 'off', the documented faults stay."""
    settings = attrs.evolve(emulator_settings, dynamic_schema="refuse")
    async with Emulator(settings) as emu, aiohttp.ClientSession() as http:
        console = ConsoleClient(http, emu.url)
        await console.login()
        path = f"/{emu.app_id}/console/data/config"
        assert (await console.call("PUT", path, {"dynamicSchema": False})).status == 200
        raw = RawClient(http, emu.root_url)
        refused = await raw.call("POST", "users/register",
                                 {"email": "a@x.co", "password": PW, "foo": 1})
        assert refused.code == Code.REGISTER_UNKNOWN_PROPERTY


async def test_console_edits_user_status(console: ConsoleClient) -> None:
    app_id, _keys, raw = await _app(console)
    user = await raw.register("a@x.co")
    path = f"/{app_id}/console/data/Users/{user['objectId']}"
    edited = await console.call("PUT", path, {"objectId": user["objectId"],
                                              "userStatus": "DISABLED"})
    assert edited.status == 200 and edited.json["userStatus"] == "DISABLED"
    denied = await raw.call("POST", "users/login", {"login": "a@x.co", "password": PW})
    assert denied.code == Code.ACCOUNT_DISABLED
    for bad in ({"userStatus": "GUEST"}, {"userStatus": "ENABLED", "name": "x"},
                {"objectId": "OTHER", "userStatus": "ENABLED"}):
        assert_json_error(await console.call("PUT", path, bad), 400, 400)
    missing = await console.call("PUT", f"/{app_id}/console/data/Users/NOPE",
                                 {"userStatus": "ENABLED"})
    assert_json_error(missing, Code.USER_NOT_FOUND, 404)
    await console.call("PUT", path, {"userStatus": "ENABLED"})
    assert (await raw.login("a@x.co"))["userStatus"] == "ENABLED"


async def test_console_creates_roles(console: ConsoleClient) -> None:
    app_id, _keys, _raw = await _app(console)
    made = await console.call("PUT", f"/{app_id}/console/security/roles/Custom%20Role")
    assert made.status == 200 and made.json["rolename"] == "Custom Role"
    again = await console.call("PUT", f"/{app_id}/console/security/roles/Custom%20Role")
    assert again.json["roleId"] == made.json["roleId"]  # creating it again answers the role
    listed = (await console.call("GET", f"/{app_id}/console/security/roles")).json
    assert {"roleId": made.json["roleId"], "rolename": "Custom Role", "system": False} in listed
    assert any(r["rolename"] == "AuthenticatedUser" and r["system"] for r in listed)
    system = await console.call("PUT", f"/{app_id}/console/security/roles/GuestUser")
    assert_json_error(system, 400, 400)


async def test_session_timeout_and_lockout_seconds(console: ConsoleClient,
                                                  emulator: Emulator) -> None:
    app_id, _keys, raw = await _app(console)
    path = f"/{app_id}/console/userlogin"
    changed = await console.call("PUT", path, {"sessionTimeout": 60, "failedLoginsLock": 1,
                                               "lockoutSeconds": 30})
    assert changed.json["sessionTimeout"] == 60 and changed.json["lockoutSeconds"] == 30
    await raw.register("a@x.co")
    token = (await raw.login("a@x.co"))["user-token"]
    emulator.advance_clock(61)
    assert (await raw.call("GET", f"users/isvalidusertoken/{token}")).json is False
    wrong = await raw.call("POST", "users/login", {"login": "a@x.co", "password": "x"})
    assert wrong.code == Code.INVALID_LOGIN
    locked = await raw.call("POST", "users/login", {"login": "a@x.co", "password": PW})
    assert locked.code == Code.ACCOUNT_LOCKED
    emulator.advance_clock(31)
    assert (await raw.login("a@x.co"))["user-token"]
