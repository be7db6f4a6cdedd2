"""Key kinds, roles, email confirmation, the Data slice and the documented divergences, on an
app the console creates (Backendless's rules in full) and on the default app."""

from __future__ import annotations

from typing import Any

import aiohttp
import attrs
import pytest
from conftest import Answer, RawClient
from test_emulator_console import ConsoleClient

from backendless_aio._codes import Code
from backendless_aio.emulator import Emulator, EmulatorSettings

PW = "pw-123456"


@attrs.define
class App:
    """An app made through the console, with a client on its JS and on its BL key."""

    console: ConsoleClient
    app_id: str
    js: RawClient
    bl: RawClient

    async def setting(self, what: str, body: dict[str, Any], method: str = "PUT") -> None:
        answer = await self.console.call(method, f"/{self.app_id}/console/{what}", body)
        assert answer.status == 200, answer.body

    async def role(self, name: str) -> None:
        answer = await self.console.call("PUT", f"/{self.app_id}/console/security/roles/{name}")
        assert answer.status == 200, answer.body


@pytest.fixture
async def app(emulator: Emulator, emu_http: aiohttp.ClientSession) -> App:
    console = ConsoleClient(emu_http, emulator.url)
    await console.login()
    app_id, keys = await console.create_app()
    root = f"{emulator.url}/{app_id}"
    return App(console, app_id, RawClient(emu_http, f"{root}/{keys['JS']}"),
               RawClient(emu_http, f"{root}/{keys['BL']}"))


def fault(answer: Answer, code: int, message: str | None = None) -> None:
    assert answer.status == 400, answer.body
    assert answer.json["code"] == code, answer.json
    if message is not None:
        assert answer.json["message"] == message


# -- key kinds ----------------------------------------------------------------------------------


async def test_login_by_object_id_needs_the_cloudcode_key(app: App) -> None:
    user = await app.js.register("a@x.co")
    body = {"objectId": user["objectId"]}
    fault(await app.js.call("POST", "users/login", body), Code.LOGIN_BY_ID_NEEDS_SERVER_KEY,
          "Login by object id is allowed only for Code Runner API key")
    session = await app.bl.call("POST", "users/login", body)
    assert session.status == 200 and session.json["objectId"] == user["objectId"]
    assert "password" not in session.json and session.json["user-token"]
    fault(await app.bl.call("POST", "users/login", {"objectId": "NOPE"}), Code.INVALID_LOGIN)
    fault(await app.bl.call("POST", "users/login", {"objectId": 5}), Code.INVALID_LOGIN)


async def test_status_and_verify_password_need_the_cloudcode_key(app: App) -> None:
    user = await app.js.register("a@x.co")
    token = (await app.js.login("a@x.co"))["user-token"]
    status = {"userStatus": "DISABLED"}
    fault(await app.js.call("PUT", f"users/{user['objectId']}/status", status, token=token),
          Code.STATUS_NOT_ALLOWED, "Operation allowed only for BL logic.")
    fault(await app.js.call("POST", "users/verifypassowrd", {"password": PW}, token=token),
          Code.VERIFY_PASSWORD_NEEDS_SERVER_KEY,
          "Password verification allowed only from CloudCode")
    right = await app.bl.call("POST", "users/verifypassowrd", {"password": PW}, token=token)
    assert right.json == {"valid": True}
    wrong = await app.bl.call("POST", "users/verifypassowrd", {"password": "x"}, token=token)
    assert wrong.json == {"valid": False}
    fault(await app.bl.call("POST", "users/verifypassowrd", {"password": PW},
                            token="invalid-token"), Code.INVALID_TOKEN,
          "Not existing user token - invalid-token. Relogin user to update your user token")


async def test_default_app_keeps_verify_password_on_its_key(emu_raw: RawClient) -> None:
    await emu_raw.register("a@x.co")
    token = (await emu_raw.login("a@x.co"))["user-token"]
    answer = await emu_raw.call("POST", "users/verifypassword", {"password": PW}, token=token)
    assert answer.json == {"valid": True}


async def test_a_disabled_users_token_can_only_log_out(app: App) -> None:
    user = await app.bl.call("PUT", "data/Users", {"email": "a@x.co", "password": PW,
                                                   "___class": "Users"})
    oid = user.json["objectId"]
    token = (await app.bl.call("POST", "users/login", {"objectId": oid})).json["user-token"]
    done = await app.bl.call("PUT", f"users/{oid}/status", {"userStatus": "DISABLED"},
                             token=token)
    assert done.status == 200
    fault(await app.js.call("GET", "users/userroles", token=token), Code.ACCOUNT_DISABLED)
    assert (await app.js.call("GET", f"users/isvalidusertoken/{token}")).json is False
    assert (await app.bl.call("GET", "users/logout", token=token)).status == 200
    # the logout ended it: now the token is unknown
    fault(await app.js.call("GET", "users/userroles", token=token), Code.INVALID_TOKEN)
    assert (await app.js.call("GET", f"data/Users/{oid}")).json["userStatus"] == "DISABLED"
    await app.bl.call("PUT", f"users/{oid}/status", {"userStatus": "ENABLED"})
    assert (await app.js.call("GET", f"data/Users/{oid}")).json["userStatus"] == "ENABLED"


# -- roles --------------------------------------------------------------------------------------


async def test_assign_and_unassign_roles(app: App) -> None:
    await app.role("CustomRole")
    user = await app.js.register("a@x.co")
    other = await app.js.register("b@x.co")
    body = {"user": "a@x.co", "roleName": "CustomRole"}
    fault(await app.js.call("POST", "users/assignRole", body), Code.ROLES_NEED_SERVER_KEY)
    fault(await app.js.call("POST", "users/unassignRole", body), Code.ROLES_NEED_SERVER_KEY)
    system = {"user": "a@x.co", "roleName": "AuthenticatedUser"}
    fault(await app.bl.call("POST", "users/assignRole", system), Code.ASSIGN_SYSTEM_ROLE)
    fault(await app.bl.call("POST", "users/unassignRole", system), Code.UNASSIGN_SYSTEM_ROLE)
    unknown = {"user": "a@x.co", "roleName": "NonexistentRole"}
    fault(await app.bl.call("POST", "users/assignRole", unknown), Code.ROLE_NOT_FOUND)
    fault(await app.bl.call("POST", "users/unassignRole", unknown), Code.ROLE_NOT_FOUND)
    fault(await app.bl.call("POST", "users/assignRole", {"user": "nobody@x.co",
                                                         "roleName": "CustomRole"}),
          Code.ROLE_USER_NOT_FOUND)
    for partial in ({"user": "a@x.co"}, {"roleName": "CustomRole"}, {"user": "", "roleName": "x"}):
        fault(await app.bl.call("POST", "users/assignRole", partial), Code.ROLE_ARGUMENT_MISSING)
    # by identity, and by objectId
    assert (await app.bl.call("POST", "users/assignRole", body)).status == 200
    by_id = {"user": other["objectId"], "roleName": "CustomRole"}
    assert (await app.bl.call("POST", "users/assignRole", by_id)).status == 200
    token = (await app.js.login("a@x.co"))["user-token"]
    roles = await app.js.call("GET", "users/userroles", token=token)
    assert roles.json == ["AuthenticatedUser", "CustomRole"]
    # one's own roles by id; another user's only with the CloudCode key
    mine = await app.js.call("GET", f"users/userroles/{user['objectId']}", token=token)
    assert mine.json == ["AuthenticatedUser", "CustomRole"]
    fault(await app.js.call("GET", f"users/userroles/{other['objectId']}", token=token),
          Code.ANOTHER_USER)
    theirs = await app.bl.call("GET", f"users/userroles/{other['objectId']}")
    assert theirs.json == ["AuthenticatedUser", "CustomRole"]
    # find by role, with and without the roles
    found = await app.bl.call("GET", "users/role/CustomRole?loadRoles=true")
    assert [u["objectId"] for u in found.json] == [user["objectId"], other["objectId"]]
    assert all("CustomRole" in u["roles"] and "password" not in u for u in found.json)
    plain = await app.bl.call("GET", "users/role/CustomRole")
    assert all("roles" not in u for u in plain.json)
    paged = await app.bl.call("GET", "users/role/CustomRole?pageSize=1&offset=1")
    assert [u["objectId"] for u in paged.json] == [other["objectId"]]
    fault(await app.bl.call("GET", "users/role/Nope"), Code.ROLE_NOT_FOUND)
    fault(await app.bl.call("GET", "users/role/CustomRole?loadRoles=maybe"), 400)
    everyone = await app.bl.call("GET", "users/role/AuthenticatedUser")
    assert len(everyone.json) == 2
    # unassigning takes the role away (and again changes nothing)
    for _ in range(2):
        assert (await app.bl.call("POST", "users/unassignRole", body)).status == 200
    assert (await app.js.call("GET", "users/userroles", token=token)).json == [
        "AuthenticatedUser"]


# -- email confirmation -------------------------------------------------------------------------


async def test_email_confirmation(app: App, emu_http: aiohttp.ClientSession,
                                  emulator: Emulator) -> None:
    registration = "userregistration"
    fault(await app.js.call("POST", "users/resendconfirmation/a@x.co"),
          Code.CONFIRMATION_NOT_REQUIRED)
    await app.setting(registration, {"emailConfirmationRequired": True})
    user = await app.js.register("a@x.co")
    assert user["userStatus"] == "EMAIL_CONFIRMATION_PENDING"
    resend = await app.js.call("POST", "users/resendconfirmation/a@x.co")
    assert resend.status == 200 and resend.body == b""
    fault(await app.js.call("POST", "users/resendconfirmation/nobody@x.co"),
          Code.CONFIRMATION_USER_NOT_FOUND)
    # an unconfirmed user may log in by default (see docs/emulator.md)
    assert (await app.js.login("a@x.co"))["userStatus"] == "EMAIL_CONFIRMATION_PENDING"
    made = await app.js.call("POST", "users/createEmailConfirmationURL/a@x.co")
    url = made.json["confirmationURL"]
    assert url.startswith(emulator.url) and app.app_id in url
    async with emu_http.get(url) as page:
        assert page.status == 200 and "confirmed" in await page.text()
    async with emu_http.get(url) as again:  # a link works once
        assert again.status == 404
    assert (await app.js.login("a@x.co"))["userStatus"] == "ENABLED"
    fault(await app.js.call("POST", "users/resendconfirmation/a@x.co"),
          Code.EMAIL_ALREADY_CONFIRMED)
    fault(await app.js.call("POST", "users/createEmailConfirmationURL/a@x.co"),
          Code.EMAIL_ALREADY_CONFIRMED)
    async with emu_http.get(f"{emulator.url}/email-confirmation/{app.app_id}/forged") as forged:
        assert forged.status == 404
    async with emu_http.get(f"{emulator.url}/email-confirmation/NO-APP/x") as no_app:
        assert no_app.status == 404
    # a link expires
    await app.js.register("b@x.co")
    late = (await app.js.call("POST", "users/createEmailConfirmationURL/b@x.co")).json
    emulator.advance_clock(49 * 3600)
    async with emu_http.get(late["confirmationURL"]) as expired:
        assert expired.status == 410


async def test_unconfirmed_login_can_be_refused(emulator_settings: EmulatorSettings) -> None:
    settings = attrs.evolve(emulator_settings, email_confirmation=True, unconfirmed_login=False)
    async with Emulator(settings) as emu, aiohttp.ClientSession() as http:
        raw = RawClient(http, emu.root_url)
        await raw.register("a@x.co")
        refused = await raw.call("POST", "users/login", {"login": "a@x.co", "password": PW})
        fault(refused, Code.ACCOUNT_STATUS_INVALID)
        made = await raw.call("POST", "users/createEmailConfirmationURL/a%40x.co")
        async with http.get(made.json["confirmationURL"]) as page:
            assert page.status == 200
        assert (await raw.login("a@x.co"))["userStatus"] == "ENABLED"


# -- the guest becomes a registered user --------------------------------------------------------


async def test_guest_registers_with_its_object_id(app: App) -> None:
    guest = (await app.js.call("POST", "users/register/guest")).json
    oid = guest["objectId"]
    await app.js.call("PUT", f"users/{oid}", {"nick": "g"}, token=guest["user-token"])
    body = {"objectId": oid, "email": "g@x.co", "password": PW}
    user = await app.js.call("POST", "users/register", body)
    assert user.status == 200 and user.json["objectId"] == oid
    assert user.json["userStatus"] == "ENABLED" and user.json["nick"] == "g"
    assert (await app.js.login("g@x.co"))["objectId"] == oid
    # a registered user's objectId, or an unknown one, is refused
    fault(await app.js.call("POST", "users/register", {**body, "email": "h@x.co"}),
          Code.USER_EXISTS)
    fault(await app.js.call("POST", "users/register", {**body, "objectId": "NOPE",
                                                       "email": "h@x.co"}),
          Code.REGISTER_GENERAL)


# -- the Data slice -----------------------------------------------------------------------------


async def test_data_save_and_find(app: App) -> None:
    guest = (await app.js.call("POST", "users/register/guest")).json
    saved = await app.js.call("PUT", "data/TestTable", {}, token=guest["user-token"])
    assert saved.status == 200
    record = saved.json
    assert record["___class"] == "TestTable" and record["ownerId"] == guest["objectId"]
    anonymous = (await app.js.call("PUT", "data/TestTable", {"n": 1, "s": "x"})).json
    assert anonymous["ownerId"] is None and anonymous["n"] == 1
    # an objectId that exists updates that record
    changed = (await app.js.call("PUT", "data/TestTable",
                                 {"objectId": record["objectId"], "n": 2})).json
    assert changed["objectId"] == record["objectId"] and changed["n"] == 2
    assert changed["ownerId"] == guest["objectId"] and isinstance(changed["updated"], int)
    found = await app.js.call("POST", "data/TestTable/find", {})
    assert [r["objectId"] for r in found.json] == [record["objectId"], anonymous["objectId"]]
    page = await app.js.call("POST", "data/TestTable/find", {"pageSize": 1, "offset": 1})
    assert [r["objectId"] for r in page.json] == [anonymous["objectId"]]
    one = await app.js.call("GET", f"data/TestTable/{anonymous['objectId']}")
    assert one.json == anonymous
    fault(await app.js.call("GET", "data/TestTable/NOPE"), Code.ENTITY_NOT_FOUND)
    fault(await app.js.call("POST", "data/Missing/find", {}), Code.TABLE_NOT_FOUND)
    fault(await app.js.call("PUT", "data/1bad", {}), Code.TABLE_NOT_FOUND)
    fault(await app.js.call("PUT", "data/TestTable", {"nested": {"a": 1}}), 400)
    fault(await app.js.call("PUT", "data/TestTable", [1]), 400)
    fault(await app.js.call("POST", "data/TestTable/find", {"pageSize": 0}), 400)
    fault(await app.js.call("PUT", "data/TestTable", {}, token="dead"), Code.INVALID_TOKEN)
    # with dynamic schema off, no new tables and unknown columns are dropped
    await app.setting("data/config", {"dynamicSchema": False})
    fault(await app.js.call("PUT", "data/Other", {}), Code.TABLE_NOT_FOUND)
    dropped = (await app.js.call("PUT", "data/TestTable", {"n": 3, "brand_new": 1})).json
    assert dropped["n"] == 3 and "brand_new" not in dropped


async def test_data_users_creates_users(app: App) -> None:
    await app.setting("userregistration", {"userRegistrationEnabled": False,
                                           "emailConfirmationRequired": True})
    body = {"email": "d@x.co", "password": PW, "___class": "Users"}
    made = await app.js.call("PUT", "data/Users", body)
    assert made.status == 200 and "password" not in made.json
    assert made.json["userStatus"] == "ENABLED"  # no registration rules on the Data route
    fault(await app.js.call("PUT", "data/Users", body), Code.USER_EXISTS)
    session = await app.js.login("d@x.co")
    renamed = await app.js.call("PUT", "data/Users", {"objectId": made.json["objectId"],
                                                      "name": "D"}, token=session["user-token"])
    assert renamed.json["name"] == "D" and renamed.json["objectId"] == made.json["objectId"]
    listed = await app.js.call("POST", "data/Users/find", {})
    assert [u["objectId"] for u in listed.json] == [made.json["objectId"]]
    assert all("password" not in u for u in listed.json)
