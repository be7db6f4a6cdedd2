"""The official Backendless JS SDK (npm `backendless` v8) against the emulator.

Runs tests/js/check.js with Node (skipped only when `node` is not on PATH; installs the pinned
SDK with npm first when node_modules is missing), then checks what the SDK got back and what it
put on the wire.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from conftest import make_role

import backendless_aio as bl
from backendless_aio.emulator import Emulator, EmulatorSettings, RecordedRequest

JS_DIR = Path(__file__).resolve().parent / "js"
NODE = shutil.which("node")
TOKEN_MESSAGE = "Not existing user token - {}. Relogin user to update your user token"

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH")


async def ensure_sdk_installed() -> None:
    if (JS_DIR / "node_modules" / "backendless" / "package.json").exists():
        return
    npm = shutil.which("npm")
    assert npm is not None, "node_modules is missing and npm is not on PATH"
    command = "ci" if (JS_DIR / "package-lock.json").exists() else "install"
    proc = await asyncio.create_subprocess_exec(
        npm,
        command,
        "--no-audit",
        "--no-fund",
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, (out.decode()[-2000:], err.decode()[-2000:])


SERVER_KEY = "JS-SDK-SERVER-KEY"
ROLE = "CheckRole"


async def run_check(emu: Emulator) -> dict[str, Any]:
    assert NODE is not None
    extra = [] if emu.settings.server_api_key is None else [emu.settings.server_api_key, ROLE]
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(JS_DIR / "check.js"),
        emu.url,
        emu.app_id,
        emu.api_key,
        *extra,
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    # the SDK reports a failed start-up `info` call on stderr: there must be none
    assert b"could not load backendless app info" not in err, err.decode()
    report: dict[str, Any] = json.loads(out)
    return report


@pytest.fixture(scope="module")
def sdk_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[Any], Any]:
    """Run the SDK once for the whole module: (report, recorded requests, emulator settings)."""
    db = tmp_path_factory.mktemp("js") / "emu.sqlite3"
    settings = EmulatorSettings(fast_password_hashing=True, record_requests=True, db_path=str(db),
                                server_api_key=SERVER_KEY)

    async def go() -> tuple[dict[str, Any], list[RecordedRequest], EmulatorSettings]:
        await ensure_sdk_installed()
        async with Emulator(settings) as emu:
            await make_role(emu, ROLE)
            report = await run_check(emu)
            sdk_requests = [r for r in emu.requests if "/console/" not in r.path]
            return report, sdk_requests, emu.settings

    return asyncio.run(go())


def fault(entry: dict[str, Any]) -> tuple[int | None, int | None]:
    assert entry["ok"] is False, entry
    return entry["code"], entry["status"]


def test_sdk_version(sdk_run: Any) -> None:
    report, _, _ = sdk_run
    assert report["sdkVersion"].split(".")[0] == "8"


def test_register_login_update_find_logout(sdk_run: Any) -> None:
    report, _, _ = sdk_run
    r = report["classic"]
    assert r["appInfo"]["ok"] and r["appInfo"]["value"]["loggers"] == []
    assert r["findOther"]["email"]
    reg = r["register"]
    assert reg["___class"] == "Users" and reg["userStatus"] == "ENABLED"
    assert not reg["hasPassword"] and not reg["hasToken"]
    assert reg["updated"] is None and reg["lastLogin"] is None and reg["ownerId"] == reg["objectId"]
    assert r["currentUserAfterRegister"] is None  # register does not log in
    login = r["login"]
    assert login["objectId"] == reg["objectId"] and login["hasToken"] and r["tokenKept"]
    assert isinstance(login["lastLogin"], int)
    assert r["isValidLogin"] == {"ok": True, "value": True}
    upd = r["update"]
    assert upd["shoeSize"] == 44 and upd["name"] == "JS" and isinstance(upd["updated"], int)
    assert not upd["hasToken"] and not upd["hasPassword"]
    assert r["findById"]["shoeSize"] == 44 and r["findById"]["updated"] == upd["updated"]
    # every column comes back in a user object, unset ones as null (as Backendless answers)
    assert r["findOther"]["shoeSize"] is None and r["findOther"]["name"] == "Other"
    assert r["currentUserReload"]["shoeSize"] == 44
    assert r["verifyPassword"] == {"ok": True, "value": True}
    assert r["verifyWrongPassword"] == {"ok": True, "value": False}
    assert r["userRoles"] == {"ok": True, "value": ["AuthenticatedUser"]}
    assert {"email", "name", "shoeSize", "objectId"} <= set(r["describe"]["value"])
    assert r["restorePassword"]["ok"]
    assert r["logout"] == {"ok": True} and r["tokenAfterLogout"] is None
    assert r["isValidLoginAfterLogout"] == {"ok": True, "value": False}


def test_finding_users(sdk_run: Any) -> None:
    report, _, _ = sdk_run
    r = report["classic"]
    email = r["register"]["email"]
    # sorted by name: "JS" before "Other"
    assert r["dataFind"] == {"ok": True, "value": [email, r["findOther"]["email"]]}
    assert r["dataFindDefault"] == {"ok": True, "value": 2}
    assert r["dataCount"] == {"ok": True, "value": 1}
    assert r["dataCountAll"] == {"ok": True, "value": 2}
    assert r["dataFindFirst"] == {"ok": True, "value": email}
    assert r["dataFindLast"] == {"ok": True, "value": r["findOther"]["email"]}
    assert fault(r["dataFindBadWhere"]) == (1017, 400)


def test_update_faults(sdk_run: Any) -> None:
    report, _, _ = sdk_run
    r = report["classic"]
    assert fault(r["updateNotLoggedIn"]) == (3028, 400)
    assert fault(r["updateAnotherUser"]) == (3029, 400)
    assert fault(r["updateMissingUser"]) == (3030, 400)
    assert fault(r["updateIdentityTaken"]) == (3018, 400)
    assert fault(r["loginWrongPassword"]) == (3003, 400)
    # after a login elsewhere ended the session: 3064 with the documented message
    stale = r["updateStaleToken"]
    assert fault(stale) == (3064, 400)
    token = stale["message"].split(" - ", 1)[1].split(".", 1)[0]
    assert stale["message"] == TOKEN_MESSAGE.format(token)
    assert r["isValidLoginStale"] == {"ok": True, "value": False}
    # the SDK's logout drops its local session on 3064 and passes the error on
    assert fault(r["logoutStale"]) == (3064, 400)
    assert r["currentUserAfterStaleLogout"] is None


def test_domain_form(sdk_run: Any) -> None:
    report, _, _ = sdk_run
    d = report["domain"]
    assert d["appPath"].endswith("/api")
    assert d["appInfo"]["ok"]
    assert d["login"]["objectId"] == d["register"]["objectId"] and d["login"]["hasToken"]
    assert d["update"]["shoeSize"] == 45 and d["findById"]["shoeSize"] == 45
    assert d["logout"] == {"ok": True} and d["tokenAfterLogout"] is None
    assert d["resendConfirmation"]["ok"]
    assert d["guest"]["userStatus"] == "GUEST" and d["guest"]["hasToken"]
    assert d["guestRoles"] == {"ok": True, "value": ["GuestUser"]}
    assert d["guestLogout"] == {"ok": True}


def _route(request: RecordedRequest, settings: EmulatorSettings) -> str:
    classic = f"/{settings.app_id}/{settings.api_key}/"
    if request.path.startswith(classic):
        return "classic " + request.path[len(classic) :]
    server = f"/{settings.app_id}/{settings.server_api_key}/"
    if request.path.startswith(server):
        return "server " + request.path[len(server) :]
    assert request.path.startswith("/api/"), request.path
    return "domain " + request.path[len("/api/") :]


def test_what_the_sdk_sent(sdk_run: Any) -> None:
    _report, requests, settings = sdk_run
    routes = [f"{r.method} {_route(r, settings)}" for r in requests]
    # start-up: initApp asks for the app info before anything else
    assert routes[0] == "GET classic info"
    assert "GET domain info" in routes
    # the JS SDK's spelling of verifypassword
    assert routes.count("POST classic users/verifypassowrd") == 2
    assert "POST classic users/verifypassword" not in routes
    for request, route in zip(requests, routes, strict=True):
        headers = request.headers
        # no application headers, ever; Content-Type only with a body
        assert "application-id" not in headers and "secret-key" not in headers
        if request.body:
            assert headers["content-type"] == "application/json", route
            json.loads(request.body)
        else:
            assert "content-type" not in headers, route
    # no token before the first login; every call after it carries the session's token
    first_login = routes.index("POST classic users/login")
    assert all("user-token" not in r.headers for r in requests[: first_login + 1])
    token = requests[first_login + 1].headers["user-token"]
    assert routes[first_login + 1] == f"GET classic users/isvalidusertoken/{token}"
    # the full-object update: the SDK sends the object back, system keys and the token included
    full_updates = [
        r for r in requests if r.method == "PUT" and r.json is not None and "shoeSize" in r.json
    ]
    assert len(full_updates) == 2
    body = full_updates[0].json
    assert isinstance(body, dict)
    assert {"___class", "objectId", "created", "ownerId", "user-token", "userStatus"} <= set(body)
    assert body["user-token"] == full_updates[0].headers["user-token"]
    assert "password" not in body
    # restorepassword percent-encodes the identity; resendconfirmation does not
    restore = next(r for r in requests if "restorepassword" in r.path)
    assert "%40" in restore.path
    resend = next(r for r in requests if "resendconfirmation" in r.path)
    assert "@" in resend.path
    # bodyless POSTs (guest login, resend confirmation) carry Content-Length: 0
    guest = next(r for r in requests if r.path.endswith("/users/register/guest"))
    assert guest.body == b"" and guest.headers.get("content-length") == "0"
    # the SDK keeps sending a dead token to routes that need none (login, isvalidusertoken):
    # the emulator ignores it there
    stale = [r for r in requests if r.path.endswith("/users/login") and "user-token" in r.headers]
    assert stale, "expected the SDK to send user-token with a login"


# -- our client against the SDK's own requests ------------------------------------------------

_ID = re.compile(r"users/[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")


def _shape(request: RecordedRequest, settings: EmulatorSettings) -> tuple[str, str, bool, str]:
    """(method, route template, carries user-token, content-type) of one request."""
    route = _route(request, settings).split(" ", 1)[1]
    route = re.sub(r"^users/isvalidusertoken/.+$", "users/isvalidusertoken/{token}", route)
    route = _ID.sub("users/{objectId}", route)
    return (request.method, route, "user-token" in request.headers,
            request.headers.get("content-type", "") if request.body else "")


def _first(shapes: list[tuple[str, str, bool, str]], method: str, route: str,
           after: int = 0) -> tuple[str, str, bool, str]:
    return next(s for s in shapes[after:] if s[0] == method and s[1] == route)


def test_our_client_sends_what_the_sdk_sends(sdk_run: Any) -> None:
    """register, login, is_valid_login, update and logout: same method, path and headers."""
    _report, sdk_requests, sdk_settings = sdk_run
    sdk = [_shape(r, sdk_settings) for r in sdk_requests if _route(r, sdk_settings)
           .startswith("classic ")]

    async def ours() -> tuple[list[RecordedRequest], EmulatorSettings]:
        settings = EmulatorSettings(fast_password_hashing=True, record_requests=True)
        async with Emulator(settings) as emu, bl.Backendless(
                app_id=emu.app_id, api_key=emu.api_key, server_url=emu.url) as app:
            await app.users.register({"email": "w@example.com", "password": "pw-123456"})
            user = await app.users.login("w@example.com", "pw-123456")
            assert await app.users.is_valid_login()
            user.set_property("shoeSize", 44)
            await app.users.update(user)
            await app.users.logout()
            return emu.requests, emu.settings

    requests, settings = asyncio.run(ours())
    mine = [_shape(r, settings) for r in requests]
    login_at = sdk.index(_first(sdk, "POST", "users/login"))
    for method, route in [("POST", "users/register"), ("POST", "users/login"),
                          ("GET", "users/isvalidusertoken/{token}"), ("PUT", "users/{objectId}"),
                          ("GET", "users/logout")]:
        after = login_at if route != "users/register" else 0
        assert _first(mine, method, route) == _first(sdk, method, route, after), route


def test_our_finds_send_what_the_sdk_sends(sdk_run: Any) -> None:
    """find (with a DataQueryBuilder), find with no query, getObjectCount with and without a
    condition, findFirst and findLast: same method, route, headers and JSON body (the SDK
    also sends ``"distinct": false``, which is Backendless's default)."""
    _report, sdk_requests, sdk_settings = sdk_run

    def bodies(requests: list[RecordedRequest], settings: EmulatorSettings,
               route: str) -> list[tuple[tuple[str, str, bool, str], Any]]:
        out = []
        for r in requests:
            if _route(r, settings) != f"classic {route}":
                continue
            body = r.json
            if isinstance(body, dict):
                body.pop("distinct", None)
            out.append((_shape(r, settings), body))
        return out

    email = "w@example.com"

    async def ours() -> tuple[list[RecordedRequest], EmulatorSettings]:
        settings = EmulatorSettings(fast_password_hashing=True, record_requests=True)
        async with Emulator(settings) as emu, bl.Backendless(
                app_id=emu.app_id, api_key=emu.api_key, server_url=emu.url) as app:
            await app.users.register({"email": email, "password": "pw-123456"})
            await app.users.login(email, "pw-123456")
            await app.users.find(f"email = '{email}' or name = 'Other'",
                                 sort_by=["name", "created DESC"], props=["email", "name"],
                                 page_size=5, offset=0)
            await app.users.find()
            await app.users.count("name = 'Other'")
            await app.users.count()
            await app.users.find_first()
            await app.users.find_last()
            return emu.requests, emu.settings

    requests, settings = asyncio.run(ours())
    for route in ("data/Users/find", "data/Users/count"):
        mine = bodies(requests, settings, route)
        sdk = bodies(sdk_requests, sdk_settings, route)
        if route == "data/Users/find":
            sdk = sdk[:-1]  # the SDK's malformed-clause probe
        for (my_shape, my_body), (sdk_shape, sdk_body) in zip(mine, sdk, strict=True):
            assert my_shape == sdk_shape, route
            if isinstance(sdk_body, dict) and sdk_body.get("where", "").startswith("email"):
                sdk_email = sdk_body["where"].split("'")[1]  # the SDK's run has its own
                sdk_body["where"] = sdk_body["where"].replace(sdk_email, email)
            assert my_body == sdk_body, route


# -- what only the CloudCode key may do: roles, login by objectId, confirmation URLs ------------


def test_server_key_operations(sdk_run: Any) -> None:
    report, _, _ = sdk_run
    r = report["server"]
    assert r["assignRole"]["ok"] and r["unassignRole"]["ok"]
    assert r["findByRole"]["value"] == [{"objectId": r["objectId"],
                                         "roles": ["AuthenticatedUser", ROLE]}]
    assert r["rolesOf"] == {"ok": True, "value": ["AuthenticatedUser", ROLE]}
    login = r["loginByObjectId"]["value"]
    assert login["objectId"] == r["objectId"] and login["hasToken"] and not login["hasPassword"]
    assert r["confirmationURL"]["value"]["confirmationURL"].startswith("http://")


def _server_shapes(requests: list[RecordedRequest], settings: EmulatorSettings,
                   object_id: str) -> list[tuple[str, str, str, Any]]:
    """(method, path with the objectId as {objectId}, query, JSON body) of the server-key
    requests, the identity percent-decoded (the SDK sends it raw, we encode it)."""
    out = []
    for request in requests:
        route = _route(request, settings)
        if not route.startswith("server ") or route.endswith(" info"):
            continue
        path = unquote(route.split(" ", 1)[1]).replace(object_id, "{objectId}")
        path = re.sub(r"[^/]+@example\.com$", "{identity}", path)
        body = request.json
        if isinstance(body, dict):
            body = {k: ("{identity}" if k == "user" else "{objectId}" if k == "objectId" else v)
                    for k, v in body.items()}
        out.append((request.method, path, request.query, body))
    return out


def test_our_server_key_operations_send_what_the_sdk_sends(sdk_run: Any) -> None:
    report, sdk_requests, sdk_settings = sdk_run
    sdk = _server_shapes(sdk_requests, sdk_settings, report["server"]["objectId"])

    async def ours() -> tuple[list[RecordedRequest], EmulatorSettings, str]:
        settings = EmulatorSettings(fast_password_hashing=True, record_requests=True,
                                    server_api_key=SERVER_KEY)
        async with Emulator(settings) as emu, bl.Backendless(
                app_id=emu.app_id, api_key=SERVER_KEY, server_url=emu.url,
                server_key=True) as app:
            await make_role(emu, ROLE)
            email = "w@example.com"
            user = await app.users.register({"email": email, "password": "pw-123456"})
            await app.users.assign_role(email, ROLE)
            await app.users.find_by_role(ROLE, load_roles=True)
            await app.users.get_user_roles(object_id=user.object_id)
            await app.users.unassign_role(email, ROLE)
            await app.users.login_by_object_id(user.object_id or "")
            await app.users.create_email_confirmation_url(email)
            mine = [r for r in emu.requests if "/console/" not in r.path]
            return mine, emu.settings, user.object_id or ""

    requests, settings, object_id = asyncio.run(ours())
    mine = _server_shapes(requests, settings, object_id)
    assert [m[:2] for m in mine][1:] == [s[:2] for s in sdk][1:]  # after the registration
    assert mine[1:] == sdk[1:]
    # the same headers: a token only once logged in, Content-Type only with a body
    for request in requests:
        if request.body:
            assert request.headers["content-type"] == "application/json"
        else:
            assert "content-type" not in request.headers
