"""Every fault code of the contract that the emulator answers, with its HTTP status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from conftest import RawClient

from backendless_aio._codes import Code
from backendless_aio.emulator import Emulator, EmulatorSettings

PW = "pw-123456"
TOKEN_MESSAGE = "Not existing user token - {}. Relogin user to update your user token"


def assert_error(answer: Any, code: int, status: int = 400) -> None:
    assert (answer.status, answer.code) == (status, code), answer.body
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json["errorData"] == {} and answer.json["message"]


@pytest.fixture
async def custom() -> AsyncIterator[Any]:
    """Start emulators with other settings: `client = await custom(identity="name")`."""
    stack: list[tuple[Emulator, aiohttp.ClientSession]] = []

    async def start(**overrides: Any) -> RawClient:
        settings = EmulatorSettings(fast_password_hashing=True, **overrides)
        emu = Emulator(settings)
        await emu.start()
        http = aiohttp.ClientSession()
        stack.append((emu, http))
        client = RawClient(http, emu.root_url)
        client.emulator = emu  # type: ignore[attr-defined]
        return client

    yield start
    for emu, http in reversed(stack):
        await http.close()
        await emu.stop()


# -- register --------------------------------------------------------------------------------


async def test_3009_registration_disabled_is_403(custom: Any) -> None:
    client = await custom(registration_enabled=False)
    answer = await client.call("POST", "users/register", {"email": "a@b.co", "password": PW})
    assert_error(answer, Code.REGISTRATION_DISABLED, status=403)


async def test_3010_unknown_property_with_dynamic_schema_off(custom: Any) -> None:
    client = await custom(dynamic_schema=False, required=("phone",))
    answer = await client.call(
        "POST", "users/register", {"email": "a@b.co", "password": PW, "phone": "1", "zz": 1}
    )
    assert_error(answer, Code.REGISTER_UNKNOWN_PROPERTY)
    assert "zz" in answer.json["message"]
    # the default columns, the identity and the required properties are known
    ok = await client.call(
        "POST",
        "users/register",
        {"email": "a@b.co", "password": PW, "name": "A", "blUserLocale": "en", "phone": "1"},
    )
    assert ok.status == 200


async def test_3010_not_raised_with_dynamic_schema_on(emu_raw: RawClient) -> None:
    assert (await emu_raw.register("a@b.co", brandNew=1))["brandNew"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@b.co"},
        {"email": "a@b.co", "password": ""},
        {"email": "a@b.co", "password": None},
        {"email": "a@b.co", "password": "   "},
    ],
)
async def test_3011_password_missing(emu_raw: RawClient, body: dict[str, Any]) -> None:
    assert_error(await emu_raw.call("POST", "users/register", body), Code.REGISTER_NO_PASSWORD)


async def test_3012_required_property_missing(custom: Any) -> None:
    client = await custom(required=("name", "phone"))
    for body in (
        {"email": "a@b.co", "password": PW, "name": "A"},
        {"email": "a@b.co", "password": PW, "name": "A", "phone": None},
        {"email": "a@b.co", "password": PW, "name": "", "phone": "1"},
    ):
        assert_error(await client.call("POST", "users/register", body), 3012)
    ok = await client.call(
        "POST", "users/register", {"email": "a@b.co", "password": PW, "name": "A", "phone": "1"}
    )
    assert ok.status == 200


@pytest.mark.parametrize(
    "body",
    [{"password": PW}, {"password": PW, "email": ""}, {"password": PW, "email": None}],
)
async def test_3013_identity_missing(emu_raw: RawClient, body: dict[str, Any]) -> None:
    assert_error(await emu_raw.call("POST", "users/register", body), Code.REGISTER_NO_IDENTITY)


async def test_3013_with_another_identity(custom: Any) -> None:
    client = await custom(identity="name")
    answer = await client.call("POST", "users/register", {"email": "a@b.co", "password": PW})
    assert_error(answer, Code.REGISTER_NO_IDENTITY)
    ok = await client.call("POST", "users/register", {"name": "alice", "password": PW})
    assert ok.status == 200 and ok.json["email"] is None
    logged = await client.call("POST", "users/login", {"login": "ALICE", "password": PW})
    assert logged.status == 200
    dup = await client.call("POST", "users/register", {"name": "Alice", "password": PW})
    assert_error(dup, Code.USER_EXISTS)


async def test_3021_general_registration_error(emu_raw: RawClient) -> None:
    for body in (
        {"email": "a@b.co", "password": 12345},
        {"email": "a@b.co", "password": PW, "name": {"a": 1}},  # name is a STRING column
        {"email": "a@b.co", "password": PW, "name": 5},
        {"email": "a@b.co", "password": PW, "": 1},
        {"email": True, "password": PW},
    ):
        assert_error(await emu_raw.call("POST", "users/register", body), Code.REGISTER_GENERAL)


async def test_3033_user_exists(emu_raw: RawClient) -> None:
    await emu_raw.register("dup@example.com")
    for email in ("dup@example.com", "DUP@Example.COM"):
        answer = await emu_raw.call("POST", "users/register", {"email": email, "password": PW})
        assert_error(answer, Code.USER_EXISTS)


async def test_3039_id_property(emu_raw: RawClient) -> None:
    answer = await emu_raw.call(
        "POST", "users/register", {"email": "a@b.co", "password": PW, "id": 1}
    )
    assert_error(answer, Code.REGISTER_ID_PROPERTY)


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "a b@c.de", "@b.co", "a@@b.co"])
async def test_3040_malformed_email(emu_raw: RawClient, email: str) -> None:
    answer = await emu_raw.call("POST", "users/register", {"email": email, "password": PW})
    assert_error(answer, Code.MALFORMED_EMAIL)


async def test_3040_when_email_is_not_the_identity(custom: Any) -> None:
    client = await custom(identity="name")
    answer = await client.call(
        "POST", "users/register", {"name": "n", "email": "nope", "password": PW}
    )
    assert_error(answer, Code.MALFORMED_EMAIL)


# -- login -----------------------------------------------------------------------------------


async def test_3000_login_disabled(custom: Any) -> None:
    client = await custom(login_enabled=False)
    await client.register("a@b.co")
    answer = await client.call("POST", "users/login", {"login": "a@b.co", "password": PW})
    assert_error(answer, Code.LOGIN_DISABLED)


async def test_3002_second_login_refused(custom: Any) -> None:
    client = await custom(multiple_logins="second-refused")
    await client.register("a@b.co")
    first = await client.login("a@b.co")
    answer = await client.call("POST", "users/login", {"login": "a@b.co", "password": PW})
    assert_error(answer, Code.SECOND_LOGIN_REFUSED)
    # once the first session ends, a new login works
    await client.call("GET", "users/logout", token=first["user-token"])
    second = await client.login("a@b.co")
    # an expired session does not block a login either
    client.emulator.advance_clock(3601)
    third = await client.login("a@b.co")
    assert second["user-token"] != third["user-token"]


async def test_3003_invalid_login(emu_raw: RawClient) -> None:
    await emu_raw.register("a@b.co")
    wrong_pw = await emu_raw.call("POST", "users/login", {"login": "a@b.co", "password": "x"})
    unknown = await emu_raw.call("POST", "users/login", {"login": "z@b.co", "password": PW})
    assert_error(wrong_pw, Code.INVALID_LOGIN)
    assert_error(unknown, Code.INVALID_LOGIN)
    assert wrong_pw.json == unknown.json  # no hint which one was wrong


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"login": "a@b.co"},
        {"password": PW},
        {"login": "", "password": PW},
        {"login": "a@b.co", "password": ""},
        {"login": None, "password": None},
    ],
)
async def test_3006_empty_login(emu_raw: RawClient, body: dict[str, Any]) -> None:
    assert_error(await emu_raw.call("POST", "users/login", body), Code.EMPTY_LOGIN)


async def test_3036_lockout(custom: Any) -> None:
    client = await custom(lockout_after=3, lockout_seconds=60)
    await client.register("a@b.co")
    bad = {"login": "a@b.co", "password": "wrong"}
    for _ in range(3):
        assert_error(await client.call("POST", "users/login", bad), Code.INVALID_LOGIN)
    locked = await client.call("POST", "users/login", {"login": "a@b.co", "password": PW})
    assert_error(locked, Code.ACCOUNT_LOCKED)
    client.emulator.advance_clock(61)
    assert (await client.login("a@b.co"))["user-token"]


async def test_lockout_counts_consecutive_failures_only(custom: Any) -> None:
    client = await custom(lockout_after=2)
    await client.register("a@b.co")
    bad = {"login": "a@b.co", "password": "wrong"}
    assert_error(await client.call("POST", "users/login", bad), Code.INVALID_LOGIN)
    await client.login("a@b.co")  # a success resets the count
    assert_error(await client.call("POST", "users/login", bad), Code.INVALID_LOGIN)
    assert (await client.login("a@b.co"))["user-token"]


async def test_3044_too_many_sessions(custom: Any) -> None:
    client = await custom(multiple_logins="allow", max_sessions=3)
    await client.register("a@b.co")
    tokens = [(await client.login("a@b.co"))["user-token"] for _ in range(3)]
    answer = await client.call("POST", "users/login", {"login": "a@b.co", "password": PW})
    assert_error(answer, Code.TOO_MANY_SESSIONS)
    for token in tokens:  # every session is still alive
        assert (await client.call("GET", f"users/isvalidusertoken/{token}")).json is True
    await client.call("GET", "users/logout", token=tokens[0])
    assert (await client.login("a@b.co"))["user-token"]


async def test_3090_account_disabled(custom: Any) -> None:
    client = await custom(server_api_key="SRV")
    user = await client.register("a@b.co")
    emu = client.emulator
    server = f"{emu.url}/{emu.app_id}/SRV"
    done = await client.call(
        "PUT", f"users/{user['objectId']}/status", {"userStatus": "DISABLED"}, root=server
    )
    assert done.status == 200
    answer = await client.call("POST", "users/login", {"login": "a@b.co", "password": PW})
    assert_error(answer, Code.ACCOUNT_DISABLED)
    wrong = await client.call("POST", "users/login", {"login": "a@b.co", "password": "x"})
    assert_error(wrong, Code.INVALID_LOGIN)  # the password is checked first


# -- update ----------------------------------------------------------------------------------


async def _two_users(client: RawClient) -> tuple[dict[str, Any], dict[str, Any]]:
    await client.register("one@example.com", name="One")
    await client.register("two@example.com", name="Two")
    return await client.login("one@example.com"), await client.login("two@example.com")


async def test_3018_identity_conflict(emu_raw: RawClient) -> None:
    one, _two = await _two_users(emu_raw)
    for taken in ("two@example.com", "TWO@EXAMPLE.COM"):
        answer = await emu_raw.call(
            "PUT", f"users/{one['objectId']}", {"email": taken}, token=one["user-token"]
        )
        assert_error(answer, Code.IDENTITY_CONFLICT)
    # changing the case of one's own identity, or to a free value, is fine
    own = await emu_raw.call(
        "PUT", f"users/{one['objectId']}", {"email": "ONE@example.com"}, token=one["user-token"]
    )
    assert own.status == 200
    free = await emu_raw.call(
        "PUT", f"users/{one['objectId']}", {"email": "uno@example.com"}, token=one["user-token"]
    )
    assert free.status == 200
    # the old identity is free again, the new one taken
    assert (await emu_raw.register("one@example.com"))["email"] == "one@example.com"
    dup = await emu_raw.call("POST", "users/register", {"email": "uno@example.com", "password": PW})
    assert_error(dup, Code.USER_EXISTS)


async def test_3024_general_update_error(emu_raw: RawClient) -> None:
    one, _ = await _two_users(emu_raw)
    route, token = f"users/{one['objectId']}", one["user-token"]
    for body in (
        {"password": ""},
        {"password": None},
        {"password": 5},
        {"id": 3},
        {"name": {"a": 1}},  # name is a STRING column
        {"name": 7},
        {"email": "not-an-email"},
        {"email": False},
    ):
        assert_error(await emu_raw.call("PUT", route, body, token=token), Code.UPDATE_GENERAL)
    stored = await emu_raw.call("GET", f"data/Users/{one['objectId']}")
    assert stored.json["email"] == "one@example.com" and stored.json["name"] == "One"


async def test_3028_no_token(emu_raw: RawClient) -> None:
    one, _ = await _two_users(emu_raw)
    answer = await emu_raw.call("PUT", f"users/{one['objectId']}", {"name": "x"})
    assert_error(answer, Code.NOT_LOGGED_IN)
    blank = await emu_raw.call("PUT", f"users/{one['objectId']}", {"name": "x"}, token="")
    assert_error(blank, Code.NOT_LOGGED_IN)


async def test_3029_another_user(emu_raw: RawClient, emulator: Emulator) -> None:
    one, two = await _two_users(emu_raw)
    answer = await emu_raw.call(
        "PUT", f"users/{two['objectId']}", {"name": "hacked"}, token=one["user-token"]
    )
    assert_error(answer, Code.ANOTHER_USER)
    stored = await emulator.get_stored_user(two["objectId"])
    assert stored is not None and stored["name"] == "Two"


async def test_cross_user_allow(custom: Any) -> None:
    client = await custom(cross_user="allow")
    one, two = await _two_users(client)
    answer = await client.call(
        "PUT", f"users/{two['objectId']}", {"name": "changed"}, token=one["user-token"]
    )
    assert answer.status == 200 and answer.json["name"] == "changed"
    assert answer.json["objectId"] == two["objectId"]


async def test_3030_no_such_user(emu_raw: RawClient) -> None:
    one, _ = await _two_users(emu_raw)
    answer = await emu_raw.call(
        "PUT", "users/00000000-0000-0000-0000-000000000000", {"a": 1}, token=one["user-token"]
    )
    assert_error(answer, Code.USER_NOT_FOUND)


async def test_3031_unknown_property_on_update(custom: Any) -> None:
    client = await custom(dynamic_schema=False)
    await client.register("a@b.co")
    user = await client.login("a@b.co")
    answer = await client.call(
        "PUT", f"users/{user['objectId']}", {"name": "ok", "brandNew": 1}, token=user["user-token"]
    )
    assert_error(answer, Code.UPDATE_UNKNOWN_PROPERTY)
    assert "brandNew" in answer.json["message"]
    known = await client.call(
        "PUT", f"users/{user['objectId']}", {"name": "ok"}, token=user["user-token"]
    )
    assert known.status == 200


async def test_3045_required_would_be_empty(custom: Any) -> None:
    client = await custom(required=("name",))
    await client.register("a@b.co", name="A")
    user = await client.login("a@b.co")
    route, token = f"users/{user['objectId']}", user["user-token"]
    for body in ({"name": None}, {"name": ""}, {"email": None}, {"email": ""}):
        assert_error(
            await client.call("PUT", route, body, token=token), Code.UPDATE_REQUIRED_MISSING
        )
    assert (await client.call("PUT", route, {"name": "B"}, token=token)).status == 200


async def test_3064_unknown_and_expired_tokens(emu_raw: RawClient, emulator: Emulator) -> None:
    one, _ = await _two_users(emu_raw)
    route = f"users/{one['objectId']}"
    unknown = await emu_raw.call("PUT", route, {"a": 1}, token="NO-SUCH-TOKEN")
    assert_error(unknown, Code.INVALID_TOKEN)
    assert unknown.json["message"] == TOKEN_MESSAGE.format("NO-SUCH-TOKEN")
    token = one["user-token"]
    emulator.advance_clock(3601)
    expired = await emu_raw.call("PUT", route, {"a": 1}, token=token)
    assert_error(expired, Code.INVALID_TOKEN)
    assert expired.json["message"] == TOKEN_MESSAGE.format(token)
    # token-using routes answer 3064 to a dead token too
    for method, path in [
        ("GET", "users/logout"),
        ("GET", "users/userroles"),
        ("GET", f"data/Users/{one['objectId']}"),
        ("GET", "users/userclassprops"),
    ]:
        assert_error(await emu_raw.call(method, path, token=token), Code.INVALID_TOKEN)
    verify = await emu_raw.call("POST", "users/verifypassword", {"password": PW}, token=token)
    assert_error(verify, Code.INVALID_TOKEN)
    # routes that need no session ignore a stale token
    assert (await emu_raw.call("GET", "info", token=token)).status == 200
    relogin = await emu_raw.call(
        "POST", "users/login", {"login": "one@example.com", "password": PW}, token=token
    )
    assert relogin.status == 200


async def test_3054_status_without_server_key(emu_raw: RawClient) -> None:
    one, _ = await _two_users(emu_raw)
    answer = await emu_raw.call(
        "PUT",
        f"users/{one['objectId']}/status",
        {"userStatus": "DISABLED"},
        token=one["user-token"],
    )
    assert_error(answer, Code.STATUS_NOT_ALLOWED)


async def test_fault_check_order(emu_raw: RawClient) -> None:
    """Authentication first (3028/3064), then the body (3024), then the target (3030/3029)."""
    one, two = await _two_users(emu_raw)
    bad = {"data": b"[1]", "headers": {"Content-Type": "application/json"}}
    assert_error(await emu_raw.call("PUT", "users/NOPE", **bad), Code.NOT_LOGGED_IN)  # type: ignore[arg-type]
    assert_error(
        await emu_raw.call("PUT", "users/NOPE", token="dead", **bad),  # type: ignore[arg-type]
        Code.INVALID_TOKEN,
    )
    assert_error(
        await emu_raw.call("PUT", "users/NOPE", token=one["user-token"], **bad),  # type: ignore[arg-type]
        Code.UPDATE_GENERAL,
    )
    assert_error(
        await emu_raw.call("PUT", "users/NOPE", {"x": 1}, token=one["user-token"]),
        Code.USER_NOT_FOUND,
    )
    assert_error(
        await emu_raw.call("PUT", f"users/{two['objectId']}", {"id": 1}, token=one["user-token"]),
        Code.ANOTHER_USER,
    )
