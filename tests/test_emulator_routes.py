"""The emulator's routes over real sockets: answers, user shape, URL forms, malformed input."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
from conftest import RawClient

from backendless_aio._codes import SYSTEM_KEYS, Code
from backendless_aio.emulator import (
    DEFAULT_API_KEY,
    DEFAULT_APP_ID,
    Emulator,
    EmulatorSettings,
)

GUID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
PW = "pw-123456"


def assert_error(answer: object, code: int, status: int = 400) -> None:
    assert answer.status == status, (answer.status, answer.body)  # type: ignore[attr-defined]
    assert answer.headers["Content-Type"] == "application/json"  # type: ignore[attr-defined]
    body = answer.json  # type: ignore[attr-defined]
    assert set(body) == {"code", "message", "errorData"}
    assert body["code"] == code and body["errorData"] == {}
    assert isinstance(body["message"], str) and body["message"]


# -- defaults and the user object ------------------------------------------------------------


def test_defaults_are_readable_guids() -> None:
    settings = EmulatorSettings()
    assert settings.app_id == DEFAULT_APP_ID and settings.api_key == DEFAULT_API_KEY
    assert GUID.match(DEFAULT_APP_ID) and GUID.match(DEFAULT_API_KEY)
    assert settings.db_path == ":memory:" and settings.port == 0
    assert settings.fast_password_hashing is False
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    with pytest.raises(ValueError):
        EmulatorSettings(cross_user="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EmulatorSettings(multiple_logins="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EmulatorSettings(identity="objectId")
    with pytest.raises(TypeError):
        EmulatorSettings("positional")  # type: ignore[call-arg]


async def test_emulator_properties(emulator: Emulator) -> None:
    assert re.match(r"^http://127\.0\.0\.1:\d+$", emulator.url)
    assert emulator.root_url == f"{emulator.url}/{emulator.app_id}/{emulator.api_key}"
    assert emulator.api_url == f"{emulator.url}/api"
    assert emulator.settings.record_requests and emulator.running


async def test_register_answers_the_stored_user(emu_raw: RawClient, emulator: Emulator) -> None:
    answer = await emu_raw.call(
        "POST",
        "users/register",
        {"email": "Ann@Example.com", "password": PW, "name": "Ann", "blUserLocale": "en"},
    )
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/json"
    user = answer.json
    assert GUID.match(user["objectId"])
    assert user["___class"] == "Users"
    assert user["email"] == "Ann@Example.com" and user["name"] == "Ann"
    assert user["blUserLocale"] == "en"
    assert isinstance(user["created"], int) and user["created"] > 1_600_000_000_000
    assert user["updated"] is None and user["lastLogin"] is None
    assert user["ownerId"] == user["objectId"]
    assert user["userStatus"] == "ENABLED"
    assert user["socialAccount"] == "BACKENDLESS" and user["accountType"] == "BACKENDLESS"
    assert "password" not in user and "user-token" not in user
    assert await emulator.get_stored_user(user["objectId"]) == user
    assert await emulator.get_stored_user("NOPE") is None


async def test_register_without_locale_has_no_locale_key(emu_raw: RawClient) -> None:
    user = await emu_raw.register("b@example.com")
    assert "blUserLocale" not in user and user["name"] is None


async def test_login_adds_token_and_last_login(emu_raw: RawClient) -> None:
    registered = await emu_raw.register("c@example.com")
    user = await emu_raw.login("C@EXAMPLE.COM")  # identities compare case-insensitively
    assert user["objectId"] == registered["objectId"]
    token = user["user-token"]
    assert isinstance(token, str) and len(token) >= 32
    assert isinstance(user["lastLogin"], int) and user["lastLogin"] >= registered["created"]
    assert "password" not in user
    second = await emu_raw.login("c@example.com")
    assert second["user-token"] != token


async def test_guest_login(emu_raw: RawClient) -> None:
    answer = await emu_raw.call("POST", "users/register/guest")
    assert answer.status == 200
    guest = answer.json
    assert guest["userStatus"] == "GUEST" and guest["user-token"]
    assert GUID.match(guest["objectId"]) and guest["email"] is None
    valid = await emu_raw.call("GET", f"users/isvalidusertoken/{guest['user-token']}")
    assert valid.json is True
    roles = await emu_raw.call("GET", "users/userroles", token=guest["user-token"])
    assert roles.json == ["GuestUser"]
    # a guest cannot take an identity by an update (issue 12, item 8): registration does that
    claimed = await emu_raw.call(
        "PUT",
        f"users/{guest['objectId']}",
        {"email": "g@example.com", "password": PW},
        token=guest["user-token"],
    )
    assert claimed.status == 400 and claimed.code == Code.UPDATE_GENERAL
    assert "guest" in claimed.json["message"]
    assert (await emu_raw.register("g@example.com")).get("objectId") != guest["objectId"]
    # ...as Backendless does it: a registration naming the guest's objectId
    upgraded = await emu_raw.register("g2@example.com", objectId=guest["objectId"])
    assert upgraded["objectId"] == guest["objectId"] and upgraded["userStatus"] == "ENABLED"


async def test_logout_and_isvalidusertoken(emu_raw: RawClient) -> None:
    await emu_raw.register("d@example.com")
    token = (await emu_raw.login("d@example.com"))["user-token"]
    valid = await emu_raw.call("GET", f"users/isvalidusertoken/{token}")
    assert valid.status == 200 and valid.body == b"true"
    assert valid.headers["Content-Type"] == "application/json"
    out = await emu_raw.call("GET", "users/logout", token=token)
    assert out.status == 200 and out.body == b""
    assert (await emu_raw.call("GET", f"users/isvalidusertoken/{token}")).body == b"false"
    assert (await emu_raw.call("GET", "users/isvalidusertoken/no-such-token")).body == b"false"
    # a stale token in the header is ignored by isvalidusertoken
    stale = await emu_raw.call("GET", f"users/isvalidusertoken/{token}", token=token)
    assert stale.status == 200 and stale.body == b"false"
    # logging out again with the dead token: 3064; without any token: nothing to do
    assert_error(await emu_raw.call("GET", "users/logout", token=token), Code.INVALID_TOKEN)
    assert (await emu_raw.call("GET", "users/logout")).status == 200


async def test_update_is_partial(emu_raw: RawClient) -> None:
    await emu_raw.register("e@example.com", name="Eve", age=30, city="Oslo")
    user = await emu_raw.login("e@example.com")
    token, oid = user["user-token"], user["objectId"]
    answer = await emu_raw.call("PUT", f"users/{oid}", {"age": 31, "city": None}, token=token)
    assert answer.status == 200
    updated = answer.json
    assert updated["age"] == 31 and updated["city"] is None and updated["name"] == "Eve"
    assert isinstance(updated["updated"], int) and updated["updated"] >= updated["created"]
    assert "user-token" not in updated and "password" not in updated
    found = await emu_raw.call("GET", f"data/Users/{oid}")
    assert found.json == updated


async def test_update_ignores_system_keys(emu_raw: RawClient) -> None:
    await emu_raw.register("f@example.com")
    user = await emu_raw.login("f@example.com")
    token, oid = user["user-token"], user["objectId"]
    # the official SDKs send the whole object back, system keys and all
    body = {**user, "objectId": "OTHER", "created": 1, "ownerId": "X", "userStatus": "DISABLED"}
    body |= {"___class": "Nope", "lastLogin": 5, "socialAccount": "FB", "accountType": "FB"}
    answer = await emu_raw.call("PUT", f"users/{oid}", body, token=token)
    assert answer.status == 200
    updated = answer.json
    for key in SYSTEM_KEYS - {"updated", "user-token"}:
        assert updated[key] == user[key], key
    assert "user-token" not in updated


async def test_update_password_rehashes(emu_raw: RawClient, emulator: Emulator) -> None:
    await emu_raw.register("g@example.com")
    user = await emu_raw.login("g@example.com")
    answer = await emu_raw.call(
        "PUT", f"users/{user['objectId']}", {"password": "new-pass"}, token=user["user-token"]
    )
    assert answer.status == 200 and "password" not in answer.json
    bad = await emu_raw.call("POST", "users/login", {"login": "g@example.com", "password": PW})
    assert_error(bad, Code.INVALID_LOGIN)
    assert (await emu_raw.login("g@example.com", "new-pass"))["objectId"] == user["objectId"]


async def test_types_round_trip(emu_raw: RawClient) -> None:
    values: dict[str, Any] = {
        "s": "text ünïcödé ✓",
        "i": 42,
        "neg": -7,
        "big": 2**53 - 1,  # the largest integer an INT column keeps
        "f": 1.5,
        "tiny": 1e-300,
        "t": True,
        "no": False,
        "n": None,
        "date": 1715947200000,
        "empty": "",
    }
    await emu_raw.register("h@example.com", **values)
    user = await emu_raw.login("h@example.com")
    found = (await emu_raw.call("GET", f"data/Users/{user['objectId']}")).json
    for key, value in values.items():
        assert found[key] == value and type(found[key]) is type(value), key
    changed = {k: v for k, v in values.items() if k != "n"}
    changed = {f"{k}2": v for k, v in changed.items()}
    answer = await emu_raw.call(
        "PUT", f"users/{user['objectId']}", changed, token=user["user-token"]
    )
    for key, value in changed.items():
        assert answer.json[key] == value and type(answer.json[key]) is type(value), key


async def test_find_by_id_both_routes(emu_raw: RawClient) -> None:
    user = await emu_raw.register("i@example.com", age=7, city="Rome")
    oid = user["objectId"]
    by_data = await emu_raw.call("GET", f"data/Users/{oid}")
    by_users = await emu_raw.call("GET", f"users/{oid}")
    assert by_data.status == by_users.status == 200
    assert by_data.json == by_users.json == user
    partial = await emu_raw.call("GET", f"users/{oid}?props=age,city")
    assert partial.json == {"objectId": oid, "___class": "Users", "age": 7, "city": "Rome"}
    assert_error(await emu_raw.call("GET", "users/NO-SUCH-ID"), Code.USER_NOT_FOUND)
    missing = await emu_raw.call("GET", "data/Users/NO-SUCH-ID")
    assert_error(missing, 1000)


async def test_describe_user_class(emu_raw: RawClient) -> None:
    await emu_raw.register("j@example.com", age=3, score=1.5, vip=True, nick="x")
    answer = await emu_raw.call("GET", "users/userclassprops")
    assert answer.status == 200
    props = {p["name"]: p for p in answer.json}
    assert {"objectId", "email", "name", "created", "updated", "ownerId"} <= set(props)
    assert "password" not in props
    assert props["email"]["identity"] is True and props["email"]["required"] is True
    assert props["name"]["identity"] is False
    assert (props["age"]["type"], props["score"]["type"]) == ("INT", "DOUBLE")
    assert (props["vip"]["type"], props["nick"]["type"]) == ("BOOLEAN", "STRING")
    for prop in props.values():
        assert {"name", "type", "required", "identity", "defaultValue"} <= set(prop)


async def test_restore_password_and_resend_confirmation(emu_raw: RawClient) -> None:
    await emu_raw.register("k+tag@example.com")
    restore = await emu_raw.call("GET", "users/restorepassword/k%2Btag%40example.com")
    assert restore.status == 200 and restore.body == b""
    resend = await emu_raw.call("POST", "users/resendconfirmation/k+tag@example.com")
    assert resend.status == 200 and resend.body == b""
    assert_error(await emu_raw.call("GET", "users/restorepassword/nobody%40x.com"), 3020)
    # resend has its own documented code for an unknown account (not 3020)
    assert_error(await emu_raw.call("POST", "users/resendconfirmation/nobody@x.com"), 3104)


@pytest.mark.parametrize("spelling", ["verifypassword", "verifypassowrd"])
async def test_verify_password_both_spellings(emu_raw: RawClient, spelling: str) -> None:
    await emu_raw.register("l@example.com")
    token = (await emu_raw.login("l@example.com"))["user-token"]
    good = await emu_raw.call("POST", f"users/{spelling}", {"password": PW}, token=token)
    assert good.status == 200 and good.json == {"valid": True}
    bad = await emu_raw.call("POST", f"users/{spelling}", {"password": "nope"}, token=token)
    assert bad.json == {"valid": False}
    anonymous = await emu_raw.call("POST", f"users/{spelling}", {"password": PW})
    assert_error(anonymous, Code.NOT_LOGGED_IN)


async def test_user_roles(emu_raw: RawClient) -> None:
    await emu_raw.register("m@example.com")
    token = (await emu_raw.login("m@example.com"))["user-token"]
    assert (await emu_raw.call("GET", "users/userroles", token=token)).json == ["AuthenticatedUser"]
    assert (await emu_raw.call("GET", "users/userroles")).json == ["NotAuthenticatedUser"]


async def test_info(emu_raw: RawClient, emulator: Emulator) -> None:
    answer = await emu_raw.call("GET", "info")
    assert answer.status == 200
    info = answer.json
    assert info["appId"] == emulator.app_id and info["loggers"] == []
    api = await emu_raw.call("GET", "info", root=emulator.api_url)
    assert api.status == 200 and api.json["appId"] == emulator.app_id


async def test_status_needs_the_server_key(tmp_path: Path) -> None:
    settings = EmulatorSettings(
        fast_password_hashing=True, server_api_key="SERVER-KEY", extra_api_keys=("REST-KEY",)
    )
    async with Emulator(settings) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        server = f"{emu.url}/{emu.app_id}/SERVER-KEY"
        assert emu.server_root_url == server
        user = await client.register("n@example.com")
        token = (await client.login("n@example.com"))["user-token"]
        oid = user["objectId"]
        for root in (emu.root_url, f"{emu.url}/{emu.app_id}/REST-KEY", emu.api_url):
            refused = await client.call(
                "PUT", f"users/{oid}/status", {"userStatus": "DISABLED"}, token=token, root=root
            )
            assert_error(refused, Code.STATUS_NOT_ALLOWED)
        done = await client.call(
            "PUT", f"users/{oid}/status", {"userStatus": "DISABLED"}, root=server
        )
        assert done.status == 200 and done.body == b""
        stored = await emu.get_stored_user(oid)
        assert stored is not None and stored["userStatus"] == "DISABLED"
        # disabling ends the account's sessions and refuses logins
        assert (await client.call("GET", f"users/isvalidusertoken/{token}")).json is False
        denied = await client.call(
            "POST", "users/login", {"login": "n@example.com", "password": PW}
        )
        assert_error(denied, Code.ACCOUNT_DISABLED)
        bad = await client.call("PUT", f"users/{oid}/status", {"userStatus": "X"}, root=server)
        assert bad.status == 400
        ghost = await client.call(
            "PUT", "users/NOPE/status", {"userStatus": "ENABLED"}, root=server
        )
        assert_error(ghost, Code.USER_NOT_FOUND)
        again = await client.call(
            "PUT", f"users/{oid}/status", {"userStatus": "ENABLED"}, root=server
        )
        assert again.status == 200
        assert (await client.login("n@example.com"))["userStatus"] == "ENABLED"
        # the server key may update any user without a session
        other = await client.call("PUT", f"users/{oid}", {"age": 9}, root=server)
        assert other.status == 200 and other.json["age"] == 9
        # the extra client key works like the main one
        extra = RawClient(http, f"{emu.url}/{emu.app_id}/REST-KEY")
        assert (await extra.login("n@example.com"))["objectId"] == oid


# -- URL forms -------------------------------------------------------------------------------


async def test_api_form_serves_every_route(
    emulator: Emulator, emu_http: aiohttp.ClientSession
) -> None:
    client = RawClient(emu_http, emulator.api_url)
    user = await client.register("o@example.com")
    token = (await client.login("o@example.com"))["user-token"]
    put = await client.call("PUT", f"users/{user['objectId']}", {"a": 1}, token=token)
    assert put.status == 200
    assert (await client.call("GET", f"data/Users/{user['objectId']}")).json["a"] == 1
    assert [r.path for r in emulator.requests][-4:] == [
        "/api/users/register",
        "/api/users/login",
        f"/api/users/{user['objectId']}",
        f"/api/data/Users/{user['objectId']}",
    ]


@pytest.mark.parametrize(
    ("app_id", "api_key"),
    [("WRONG-APP", DEFAULT_API_KEY), (DEFAULT_APP_ID, "WRONG-KEY"), ("WRONG", "WRONG")],
)
async def test_wrong_app_or_key_is_2002(
    emulator: Emulator, emu_http: aiohttp.ClientSession, app_id: str, api_key: str
) -> None:
    client = RawClient(emu_http, f"{emulator.url}/{app_id}/{api_key}")
    for method, route, body in [
        ("POST", "users/login", {"login": "a@b.co", "password": "x"}),
        ("POST", "users/register", {"email": "a@b.co", "password": "x"}),
        ("PUT", "users/X", {"a": 1}),
        ("GET", "users/logout", None),
        ("GET", "no/such/route", None),
    ]:
        assert_error(await client.call(method, route, body), Code.WRONG_APP)


# -- malformed input -------------------------------------------------------------------------


async def test_unknown_routes_and_methods(emu_raw: RawClient, emulator: Emulator) -> None:
    for method, route in [("GET", "nothing"), ("GET", "users/a/b/c"), ("POST", "data/Other/x/y")]:
        assert_error(await emu_raw.call(method, route), 404, status=404)
    async with emu_raw.http.get(f"{emulator.url}/") as resp:
        assert resp.status == 404 and (await resp.json())["code"] == 404
    wrong = await emu_raw.call("GET", "users/register")
    assert_error(wrong, 405, status=405)
    assert wrong.headers["Allow"] == "POST"
    assert_error(await emu_raw.call("DELETE", "users/SOMEID"), 405, status=405)
    # the server keeps serving
    assert (await emu_raw.call("GET", "info")).status == 200


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not an array"),
        (b'"text"', "not a string"),
        (b"42", "not a number"),
        (b"null", "not null"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
async def test_bad_bodies_get_the_route_general_code(
    emu_raw: RawClient, body: bytes, what: str
) -> None:
    await emu_raw.register("p@example.com")
    user = await emu_raw.login("p@example.com")
    headers = {"Content-Type": "application/json"}
    register = await emu_raw.call("POST", "users/register", data=body, headers=headers)
    assert_error(register, Code.REGISTER_GENERAL)
    assert what.split(" ", 1)[1] in register.json["message"]
    login = await emu_raw.call("POST", "users/login", data=body, headers=headers)
    assert_error(login, Code.EMPTY_LOGIN)
    update = await emu_raw.call(
        "PUT", f"users/{user['objectId']}", data=body, token=user["user-token"], headers=headers
    )
    assert_error(update, Code.UPDATE_GENERAL)
    verify = await emu_raw.call(
        "POST", "users/verifypassword", data=body, token=user["user-token"], headers=headers
    )
    assert_error(verify, 400)


async def test_empty_bodies(emu_raw: RawClient) -> None:
    await emu_raw.register("q@example.com")
    user = await emu_raw.login("q@example.com")
    assert_error(await emu_raw.call("POST", "users/register"), Code.REGISTER_NO_PASSWORD)
    assert_error(await emu_raw.call("POST", "users/register", {}), Code.REGISTER_NO_PASSWORD)
    assert_error(await emu_raw.call("POST", "users/login"), Code.EMPTY_LOGIN)
    update = await emu_raw.call("PUT", f"users/{user['objectId']}", token=user["user-token"])
    assert_error(update, Code.UPDATE_GENERAL)
    # an empty object is a valid (empty) update
    noop = await emu_raw.call("PUT", f"users/{user['objectId']}", {}, token=user["user-token"])
    assert noop.status == 200


async def test_objects_and_arrays_make_json_columns(emu_raw: RawClient) -> None:
    user = await emu_raw.register("r@example.com", x={"nested": [1, "a", None]})
    assert user["x"] == {"nested": [1, "a", None]}
    logged = await emu_raw.login("r@example.com")
    route = f"users/{user['objectId']}"
    answer = await emu_raw.call("PUT", route, {"x": [1, {"b": True}]}, token=logged["user-token"])
    assert answer.status == 200 and answer.json["x"] == [1, {"b": True}]
    types = {p["name"]: p["type"] for p in (await emu_raw.call("GET", "users/userclassprops")).json}
    assert types["x"] == "JSON"
    # a JSON column takes any JSON value, but still no NaN-like or unsafe numbers
    answer = await emu_raw.call("PUT", route, {"x": [2**53]}, token=logged["user-token"])
    assert_error(answer, Code.UPDATE_GENERAL)
    assert "'x'" in answer.json["message"]


async def test_oversized_body_is_413(tmp_path: Path) -> None:
    settings = EmulatorSettings(fast_password_hashing=True, max_body_bytes=4096)
    async with Emulator(settings) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        big = {"email": "s@example.com", "password": PW, "blob": "x" * 5000}
        answer = await client.call("POST", "users/register", big)
        assert_error(answer, 413, status=413)

        async def chunks() -> object:
            for _ in range(10):
                yield b"x" * 1000

        async with http.post(f"{emu.root_url}/users/register", data=chunks()) as resp:
            assert resp.status == 413 and (await resp.json())["code"] == 413
        # the server keeps serving, and a body under the limit is fine
        ok = await client.call("POST", "users/register", {**big, "blob": "x" * 1000})
        assert ok.status == 200


INJECTION_NAMES = [
    "name'; DROP TABLE users; --",
    'x") OR 1=1 --',
    "props",
    "object_id",
    "identity_key",
    "a.b",
    "$where",
    "__proto__",
    "with space",
    "ключ",
    "🙂",
    "Robert'); DELETE FROM sessions;--",
]


async def test_injection_looking_property_names(emu_raw: RawClient, emulator: Emulator) -> None:
    props = {name: f"v{i}" for i, name in enumerate(INJECTION_NAMES)}
    user = await emu_raw.register("t@example.com", **props)
    logged = await emu_raw.login("t@example.com")
    for name, value in props.items():
        assert user[name] == value
    numbers = {name: f"w{i}" for i, name in enumerate(INJECTION_NAMES)}
    answer = await emu_raw.call(
        "PUT", f"users/{user['objectId']}", numbers, token=logged["user-token"]
    )
    assert answer.status == 200
    found = (await emu_raw.call("GET", f"data/Users/{user['objectId']}")).json
    for name, number in numbers.items():
        assert found[name] == number
    # the tables are intact and the session still works
    assert (await emu_raw.call("GET", "users/userroles", token=logged["user-token"])).json == [
        "AuthenticatedUser"
    ]
    with sqlite3.connect(emulator.settings.db_path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        users = db.execute("SELECT count(*) FROM users").fetchone()[0]
    db.close()
    assert {"users", "sessions", "columns", "meta"} <= tables and users == 1
    names = {p["name"] for p in (await emu_raw.call("GET", "users/userclassprops")).json}
    assert set(INJECTION_NAMES) <= names


async def test_reset_wipes_everything(emu_raw: RawClient, emulator: Emulator) -> None:
    user = await emu_raw.register("u@example.com", age=1)
    token = (await emu_raw.login("u@example.com"))["user-token"]
    emulator.advance_clock(10)
    assert emulator.requests
    await emulator.reset()
    assert emulator.requests == [] and emulator.faults.stats["status"] == 0
    assert await emulator.get_stored_user(user["objectId"]) is None
    assert (await emu_raw.call("GET", f"users/isvalidusertoken/{token}")).json is False
    names = {p["name"] for p in (await emu_raw.call("GET", "users/userclassprops")).json}
    assert "age" not in names
    again = await emu_raw.register("u@example.com")
    assert again["objectId"] != user["objectId"]


async def test_recorded_requests(emu_raw: RawClient, emulator: Emulator) -> None:
    await emu_raw.register("v@example.com")
    user = await emu_raw.login("v@example.com")
    await emu_raw.call("GET", "users/logout", token=user["user-token"])
    register, login, logout = emulator.requests[-3:]
    assert (register.method, login.method, logout.method) == ("POST", "POST", "GET")
    assert register.path == f"/{emulator.app_id}/{emulator.api_key}/users/register"
    assert register.headers["content-type"] == "application/json"
    assert register.json == {"email": "v@example.com", "password": PW}
    assert logout.headers["user-token"] == user["user-token"] and logout.body == b""


async def test_recording_is_capped(tmp_path: Path) -> None:
    settings = EmulatorSettings(record_requests=True)
    async with Emulator(settings) as emu, aiohttp.ClientSession() as http:
        for _ in range(1005):
            async with http.get(f"{emu.api_url}/info") as resp:
                await resp.read()
        assert len(emu.requests) == 1000
    async with Emulator() as emu, aiohttp.ClientSession() as http:
        async with http.get(f"{emu.api_url}/info") as resp:
            await resp.read()
        assert emu.requests == []


async def test_start_stop_and_restart(tmp_path: Path) -> None:
    emu = Emulator(EmulatorSettings(fast_password_hashing=True, db_path=str(tmp_path / "x.db")))
    with pytest.raises(RuntimeError):
        _ = emu.url
    await emu.start()
    with pytest.raises(RuntimeError):
        await emu.start()
    first_url = emu.url
    await emu.stop()
    await emu.stop()  # idempotent
    assert not emu.running
    await emu.start()
    assert emu.running and emu.url.startswith("http://127.0.0.1:")
    await emu.stop()
    assert first_url


async def test_cors_for_browser_apps(emu_raw: RawClient, emulator: Emulator) -> None:
    preflight = await emu_raw.call(
        "OPTIONS",
        "users/login",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "user-token" in preflight.headers["Access-Control-Allow-Headers"]
    answer = await emu_raw.call("GET", "info")
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    error = await emu_raw.call("GET", "users/NOPE")
    assert error.headers["Access-Control-Allow-Origin"] == "*"
    admin = await emu_raw.call("GET", "nope", root=f"{emulator.url}/__emulator__")
    assert admin.status == 404 and admin.code == 404
