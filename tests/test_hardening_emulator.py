"""Hardening of the emulator (issue 12, items 6-16): what an attacker's probe found.

Protocol cases go over raw sockets (no HTTP client would send them); the rest over plain HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import unicodedata
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from conftest import RawClient

import backendless_aio as bl
from backendless_aio._codes import Code
from backendless_aio.emulator import Emulator, EmulatorSettings
from backendless_aio.emulator.service import MAX_USER_BYTES, UsersService

PW = "pw-123456"


async def raw(port: int, data: bytes, *, wait: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection; everything the server answers until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), wait)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def request(method: str, path: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", "Connection: close", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# -- item 6: admin routes and web pages -----------------------------------------------------------

async def test_a_web_page_cannot_wipe_the_emulator(emulator: Emulator, emu_raw: RawClient) -> None:
    user = await emu_raw.register("keep@example.com")
    port = emulator.port
    page = "Origin: http://evil.example"
    for sent in (
        request("POST", "/__emulator__/reset", page, "Content-Type: text/plain", body=b"x"),
        request("POST", "/__emulator__/reset", page, "Content-Type: application/json"),
        request("POST", "/__emulator__/clock", "Content-Type: text/plain",
                body=b'{"advance": 99999}'),
        request("POST", "/__emulator__/faults", body=b'{"kind": "status"}'),
        request("POST", "/__emulator__/reset", "Content-Type: application/x-www-form-urlencoded",
                body=b"a=1"),
    ):
        status, headers, body = parse(await raw(port, sent))
        assert status in (403, 415)
        assert orjson.loads(body)["code"] == status
        assert not any(h.startswith("access-control-") for h in headers)
    # a preflight gets no CORS headers: the browser will not send the real request
    status, headers, _ = parse(await raw(port, request(
        "OPTIONS", "/__emulator__/reset", page, "Access-Control-Request-Method: POST")))
    assert status >= 400 and not any(h.startswith("access-control-") for h in headers)
    # nothing was wiped, faulted or moved
    assert await emulator.get_stored_user(user["objectId"]) is not None
    assert emulator.faults.describe() == [] and emulator._state.clock.offset == 0
    # a JSON POST without Origin (curl, test suites) still works, and carries no CORS header
    status, headers, body = parse(await raw(port, request(
        "POST", "/__emulator__/reset", "Content-Type: application/json")))
    assert status == 200 and orjson.loads(body) == {"reset": True}
    assert "access-control-allow-origin" not in headers
    # the Users API keeps its CORS header for browser apps
    _, headers, _ = parse(await raw(port, request("GET", "/api/info", page)))
    assert headers["access-control-allow-origin"] == "*"


async def test_the_admin_token(tmp_path: Path) -> None:
    settings = EmulatorSettings(fast_password_hashing=True, admin_token="let-me-in",
                                db_path=str(tmp_path / "e.sqlite3"))
    assert "let-me-in" not in repr(settings)
    async with Emulator(settings) as emu:
        json_type = "Content-Type: application/json"
        for token_header in ((), ("X-Emulator-Admin-Token: wrong",)):
            status, _, body = parse(await raw(emu.port, request(
                "POST", "/__emulator__/reset", json_type, *token_header)))
            assert status == 401 and b"X-Emulator-Admin-Token" in body
        status, _, _ = parse(await raw(emu.port, request(
            "GET", "/__emulator__/faults", "X-Emulator-Admin-Token: let-me-in")))
        assert status == 200


async def test_beyond_loopback_admin_routes_need_a_token(tmp_path: Path) -> None:
    settings = EmulatorSettings(fast_password_hashing=True, host="0.0.0.0",
                                db_path=str(tmp_path / "e.sqlite3"))
    async with Emulator(settings) as emu:
        status, _, body = parse(await raw(emu.port, request("GET", "/__emulator__/faults")))
        assert status == 401 and b"admin token" in body
        status, _, _ = parse(await raw(emu.port, request("GET", "/api/info")))
        assert status == 200
    async with Emulator(settings, admin_token="t0k") as emu:
        status, _, _ = parse(await raw(emu.port, request(
            "GET", "/__emulator__/faults", "X-Emulator-Admin-Token: t0k")))
        assert status == 200


# -- item 7: identity checks ----------------------------------------------------------------------

@pytest.mark.parametrize("email", ["bob@x.com\n", "bob@x.com\r\n", "bob\x00@x.com",
                                   "bob@x.com\x00", " bob@x.com", "bo\u200bb@x.com",
                                   "bob@x.com\u2028"])
async def test_an_email_with_control_characters_is_refused(emu_raw: RawClient,
                                                           email: str) -> None:
    await emu_raw.register("bob@x.com")
    answer = await emu_raw.call("POST", "users/register", {"email": email, "password": PW})
    assert answer.status == 400 and answer.code == Code.MALFORMED_EMAIL
    carol = await emu_raw.register("carol@x.com")
    token = (await emu_raw.login("carol@x.com"))["user-token"]
    taken = await emu_raw.call("PUT", f"users/{carol['objectId']}", {"email": email},
                               token=token)
    assert taken.status == 400 and taken.code == Code.UPDATE_GENERAL
    stored = await emu_raw.call("GET", f"users/{carol['objectId']}", token=token)
    assert stored.json["email"] == "carol@x.com"


async def test_a_name_identity_with_a_nul_is_refused(tmp_path: Path) -> None:
    settings = EmulatorSettings(fast_password_hashing=True, identity="name",
                                db_path=str(tmp_path / "e.sqlite3"))
    async with Emulator(settings) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu.root_url)
        answer = await client.call("POST", "users/register", {"name": "bob\x00", "password": PW})
        assert answer.status == 400 and answer.code == Code.REGISTER_GENERAL
        assert (await client.call("POST", "users/register",
                                  {"name": "bob", "password": PW})).status == 200


async def test_unicode_look_alikes_are_one_identity(emu_raw: RawClient) -> None:
    nfc = unicodedata.normalize("NFC", "josé@example.com")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    first = await emu_raw.register(nfc)
    again = await emu_raw.call("POST", "users/register", {"email": nfd, "password": PW})
    assert again.status == 400 and again.code == Code.USER_EXISTS
    assert (await emu_raw.login(nfd))["objectId"] == first["objectId"]


# -- item 8: a guest cannot claim an email --------------------------------------------------------

async def test_a_guest_cannot_claim_an_identity(emu_raw: RawClient) -> None:
    guest = (await emu_raw.call("POST", "users/register/guest")).json
    token, object_id = guest["user-token"], guest["objectId"]
    for body in ({"email": "owner@example.com"}, {"email": "owner@example.com", "password": PW}):
        claimed = await emu_raw.call("PUT", f"users/{object_id}", body, token=token)
        assert claimed.status == 400 and claimed.code == Code.UPDATE_GENERAL
        assert "guest user cannot set the identity property 'email'" in claimed.json["message"]
    other = await emu_raw.call("PUT", f"users/{object_id}", {"nick": "g"}, token=token)
    assert other.status == 200 and other.json["userStatus"] == "GUEST"
    assert other.json["email"] is None
    # the real owner registers, and restore-password answers for them
    owner = await emu_raw.register("owner@example.com")
    assert owner["objectId"] != object_id
    assert (await emu_raw.call("GET", "users/restorepassword/owner@example.com")).status == 200


# -- item 9: integers beyond what is stored exactly -------------------------------------------

async def test_integers_beyond_64_bits_are_refused_naming_the_property(
        emu_raw: RawClient) -> None:
    huge = b"123456789012345678901234567890"
    answer = await emu_raw.call("POST", "users/register", data=b'{"email": "i@x.com", '
                                b'"password": "pw-123456", "big": ' + huge + b"}",
                                headers={"Content-Type": "application/json"})
    assert answer.status == 400 and answer.code == Code.REGISTER_GENERAL
    assert "'big'" in answer.json["message"]
    # an INT column holds what a JSON number carries exactly (±(2**53 - 1), docs/properties.md);
    # a 64-bit integer beyond that is refused too, naming the property, never rounded
    beyond = await emu_raw.call("POST", "users/register",
                                {"email": "j@x.com", "password": "pw-123456", "wide": 2**63 - 1})
    assert beyond.status == 400 and beyond.code == Code.REGISTER_GENERAL
    assert "wide" in beyond.json["message"]
    user = await emu_raw.register("i@x.com", edge=2**53 - 1, low=-(2**53 - 1), phone="1" * 30)
    token = (await emu_raw.login("i@x.com"))["user-token"]
    refused = await emu_raw.call("PUT", f"users/{user['objectId']}", data=b'{"n": -' + huge +
                                 b"}", token=token, headers={"Content-Type": "application/json"})
    assert refused.status == 400 and refused.code == Code.UPDATE_GENERAL
    assert "'n'" in refused.json["message"]
    stored = (await emu_raw.call("GET", f"users/{user['objectId']}", token=token)).json
    assert stored["edge"] == 2**53 - 1 and stored["low"] == -(2**53 - 1)
    assert stored["phone"] == "1" * 30 and "n" not in stored


# -- item 10: a non-UTF-8 user-token --------------------------------------------------------------

@pytest.mark.parametrize(("method", "route", "body"), [
    ("GET", "users/userroles", b""), ("PUT", "users/SOMEONE", b'{"x": 1}'),
    ("GET", "users/logout", b""), ("GET", "users/SOMEONE", b"")])
async def test_a_non_utf8_user_token_gets_a_json_fault(emulator: Emulator, method: str,
                                                       route: str, body: bytes) -> None:
    sent = request(method, f"/api/{route}", "Content-Type: application/json", body=body)
    sent = sent.replace(b"Host: localhost", b"Host: localhost\r\nuser-token: \xff\xfe\x80tok")
    status, headers, answer = parse(await raw(emulator.port, sent))
    assert 400 <= status < 500 and headers["content-type"].startswith("application/json")
    assert orjson.loads(answer)["code"] == Code.INVALID_TOKEN


# -- item 11: session tokens are stored hashed ----------------------------------------------------

async def test_session_tokens_are_stored_as_sha256_only(emulator: Emulator,
                                                        emu_raw: RawClient) -> None:
    await emu_raw.register("h@x.com")
    token = (await emu_raw.login("h@x.com"))["user-token"]
    guest = (await emu_raw.call("POST", "users/register/guest")).json["user-token"]
    assert (await emu_raw.call("GET", "users/userroles", token=token)).json == [
        "AuthenticatedUser"]
    db = sqlite3.connect(emulator.settings.db_path)
    try:
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    for plain in (token, guest):
        assert plain not in dump and plain.lower() not in dump
        assert hashlib.sha256(plain.encode()).hexdigest() in dump


# -- item 12: half-open connections and the connection cap ----------------------------------------

async def test_a_connection_whose_headers_never_finish_is_closed(tmp_path: Path) -> None:
    async with Emulator(fast_password_hashing=True, header_timeout=0.5,
                        db_path=str(tmp_path / "e.sqlite3")) as emu:
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await raw(emu.port, b"GET /api/info HTTP/1.1\r\nHost: x\r\nX-Slow: ", wait=5)
        assert answer == b"" and loop.time() - started < 3
        # a body that never finishes: 408, closed
        started = loop.time()
        status, _, body = parse(await raw(emu.port, b"PUT /api/users/X HTTP/1.1\r\nHost: x\r\n"
                                          b"Content-Length: 100\r\n\r\n{\"a\"", wait=5))
        assert status == 408 and orjson.loads(body)["code"] == 408
        assert loop.time() - started < 3
        status, _, _ = parse(await raw(emu.port, request("GET", "/api/info")))
        assert status == 200


async def test_a_connection_that_sends_nothing_is_closed(tmp_path: Path) -> None:
    async with Emulator(fast_password_hashing=True, header_timeout=0.5,
                        db_path=str(tmp_path / "e.sqlite3")) as emu:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await raw(emu.port, b"", wait=5) == b""
        assert 0.4 < loop.time() - started < 3


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One answer with a Content-Length from a kept-alive connection: (status, body)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status, headers, _ = parse(head)
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
    return status, body


async def test_headers_late_after_an_answer_close_the_connection(tmp_path: Path) -> None:
    """The header time counts from connecting, then from each answer (aiohttp's keep-alive)."""
    async with Emulator(fast_password_hashing=True, header_timeout=0.5,
                        db_path=str(tmp_path / "e.sqlite3")) as emu:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
        try:
            for _ in range(2):  # kept alive, within the time
                await asyncio.sleep(0.3)
                writer.write(b"GET /api/info HTTP/1.1\r\nHost: x\r\n\r\n")
                assert (await read_answer(reader))[0] == 200
            started = loop.time()
            writer.write(b"GET /api/info HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            assert await asyncio.wait_for(reader.read(), 5) == b""
            assert loop.time() - started < 3
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def test_the_header_time_does_not_cut_a_slow_answer(tmp_path: Path) -> None:
    """Once the headers are in, the header timer is off: an answer may take longer."""
    async with Emulator(fast_password_hashing=True, header_timeout=0.3, latency=1.0,
                        db_path=str(tmp_path / "e.sqlite3")) as emu:
        status, _, body = parse(await raw(emu.port, request("GET", "/api/info"), wait=5))
        assert status == 200 and orjson.loads(body)["appId"] == emu.app_id
    # headers finished late but in time, then a body within its own time (from the headers):
    # the header timer (which counts from connecting) no longer applies
    async with Emulator(fast_password_hashing=True, header_timeout=1.0,
                        db_path=str(tmp_path / "e.sqlite3")) as emu:
        body = b'{"email": "slow@x.com", "password": "pw-123456"}'
        reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
        try:
            writer.write(b"POST /api/users/register HTTP/1.1\r\nHost: x\r\n")
            await asyncio.sleep(0.6)
            writer.write(b"Content-Type: application/json\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body))
            await asyncio.sleep(0.6)
            writer.write(body)
            status, _, answer = parse(await asyncio.wait_for(reader.read(), 5))
            assert status == 200 and orjson.loads(answer)["email"] == "slow@x.com"
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

async def serves_again(port: int) -> int:
    """The status of GET info once the emulator answers 200 again (polled for up to 2.5 s)."""
    for _ in range(50):
        await asyncio.sleep(0.05)
        status, _, _ = parse(await raw(port, request("GET", "/api/info")))
        if status == 200:
            break
    return status



async def test_connections_over_the_cap_get_503_and_normal_service_resumes(
        tmp_path: Path) -> None:
    async with Emulator(fast_password_hashing=True, max_connections=4,
                        db_path=str(tmp_path / "e.sqlite3")) as emu:
        idle = [await asyncio.open_connection("127.0.0.1", emu.port) for _ in range(4)]
        for _, writer in idle:
            writer.write(b"GET /api/info HTTP/1.1\r\nHost: x\r\n")  # never finished
            await writer.drain()
        await asyncio.sleep(0.1)
        status, headers, body = parse(await raw(emu.port, request("GET", "/api/info")))
        assert status == 503 and headers["retry-after"] == "1"
        assert orjson.loads(body)["code"] == 503
        for _, writer in idle:
            writer.close()
            await writer.wait_closed()
        assert await serves_again(emu.port) == 200


async def test_a_burst_of_connections_is_capped_exactly(tmp_path: Path) -> None:
    """The cap is counted as connections are made, so a burst cannot slip past it."""
    async with Emulator(fast_password_hashing=True, max_connections=4,
                        db_path=str(tmp_path / "e.sqlite3")) as emu:
        opened = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", emu.port)
                                        for _ in range(10)))
        try:
            async def answered(reader: asyncio.StreamReader) -> bytes:
                try:
                    return await asyncio.wait_for(reader.read(), 1.0)
                except asyncio.TimeoutError:
                    return b""  # served: waiting for its request

            answers = await asyncio.gather(*(answered(reader) for reader, _ in opened))
            refused = [parse(answer)[0] for answer in answers if answer]
            assert refused == [503] * 6
        finally:
            for _, writer in opened:
                writer.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.wait_closed()
        assert await serves_again(emu.port) == 200


def test_the_connection_guard_uses_no_private_aiohttp_names() -> None:
    """protocol.py relies on public aiohttp API only, so it works the same on every version
    from the floor up: no `obj._name` but on its own objects."""
    import ast

    import backendless_aio.emulator.protocol as protocol

    tree = ast.parse(Path(protocol.__file__).read_text(encoding="utf-8"))
    private = [
        f"{ast.unparse(node.value)}.{node.attr} (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    ]
    assert private == []
    imports = [node.module for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aiohttp")]
    assert set(imports) <= {"aiohttp", "aiohttp.typedefs"}


# -- item 13: JSON answers where aiohttp lets us --------------------------------------------------

@pytest.mark.parametrize("sent", [
    request("GET", "/api/info", "X-Big: " + "a" * 9000),
    request("FOO", "/api/info"),
    request("CONNECT", "/api/info"),
    b"GET /api/inf\x01o HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /api/users/\xff\x7f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GARBAGE\r\n\r\n",
])
async def test_protocol_errors_are_json_faults(emulator: Emulator, sent: bytes) -> None:
    status, headers, body = parse(await raw(emulator.port, sent))
    assert 400 <= status < 500
    assert headers["content-type"].startswith("application/json")
    fault = orjson.loads(body)
    assert fault["code"] == status and isinstance(fault["message"], str)
    assert b"aaaaaaaa" not in body  # the offending bytes are not echoed


async def test_the_admin_routes_413_is_json(emulator: Emulator) -> None:
    big = b'{"kind": "status", "body": "' + b"x" * (emulator.settings.max_body_bytes + 10) + b'"}'
    status, _, body = parse(await raw(emulator.port, request(
        "POST", "/__emulator__/faults", "Content-Type: application/json", body=big)))
    assert status == 413 and orjson.loads(body)["code"] == 413
    assert emulator.faults.describe() == []


# -- item 14: a user cannot grow past what can be read back ---------------------------------------

async def test_a_user_cannot_grow_past_the_size_limit(tmp_path: Path) -> None:
    settings = EmulatorSettings(fast_password_hashing=True, db_path=str(tmp_path / "e.sqlite3"))
    async with Emulator(settings) as emu, bl.Backendless(
            app_id=emu.app_id, api_key=emu.api_key, server_url=emu.url) as app:
        await app.users.register({"email": "big@example.com", "password": PW})
        user = await app.users.login("big@example.com", PW)
        chunk = "x" * (settings.max_body_bytes - 1000)
        stored = 0
        with pytest.raises(bl.UserTooLarge) as info:
            for i in range(MAX_USER_BYTES // len(chunk) + 2):
                user.set_property(f"part{i}", chunk)
                await app.users.update(user)
                stored += 1
        assert info.value.code == Code.USER_TOO_LARGE and str(MAX_USER_BYTES) in str(info.value)
        assert stored == MAX_USER_BYTES // len(chunk)
        again = await app.users.find_by_id(user.object_id or "")
        assert f"part{stored}" not in again and f"part{stored - 1}" in again


# -- item 15: an update cannot land after a logout ------------------------------------------------

async def test_an_update_waiting_on_its_hash_does_not_land_after_logout(
        emulator: Emulator, emu_raw: RawClient, monkeypatch: pytest.MonkeyPatch) -> None:
    user = await emu_raw.register("race@example.com")
    token = (await emu_raw.login("race@example.com"))["user-token"]
    hashing, release = asyncio.Event(), asyncio.Event()
    real_hash = UsersService._hash

    async def gated(self: UsersService, password: str) -> str:
        hashing.set()
        await release.wait()  # the logout below is answered meanwhile
        return await real_hash(self, password)

    monkeypatch.setattr(UsersService, "_hash", gated)
    update = asyncio.create_task(emu_raw.call(
        "PUT", f"users/{user['objectId']}", {"password": "new-pw-1", "late": True},
        token=token))
    await asyncio.wait_for(hashing.wait(), 5)
    assert (await emu_raw.call("GET", "users/logout", token=token)).status == 200
    release.set()
    answer = await update
    assert answer.status == 400 and answer.code == Code.INVALID_TOKEN
    stored = await emulator.get_stored_user(user["objectId"])
    assert stored is not None and "late" not in stored
    assert (await emu_raw.login("race@example.com"))["objectId"] == user["objectId"]  # old pw


# -- item 16: info does not echo the API key ------------------------------------------------------

async def test_info_answers_without_any_key(tmp_path: Path) -> None:
    settings = EmulatorSettings(api_key="client-key-123", server_api_key="server-key-456",
                                extra_api_keys=("js-key-789",), db_path=str(tmp_path / "e.db"))
    async with Emulator(settings) as emu, aiohttp.ClientSession() as http:
        for url in (f"{emu.url}/api/info", f"{emu.root_url}/info",
                    f"{emu.server_root_url}/info"):
            async with http.get(url) as resp:
                assert resp.status == 200
                text = await resp.text()
                info: Any = orjson.loads(text)
            assert info["appId"] == emu.app_id
            for key in settings.api_keys:
                assert key not in text


def test_the_connection_cap_stays_under_the_open_file_limit() -> None:
    """With `ulimit -n 100`, 256 connections would starve normal requests of descriptors."""
    import subprocess
    import sys

    code = ("import resource\n"
            "_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (100, hard))\n"
            "from backendless_aio.emulator.server import FD_RESERVE, connection_cap\n"
            "print(connection_cap(256), connection_cap(10), FD_RESERVE)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    capped, small, reserve = map(int, done.stdout.split())
    assert capped == 100 - reserve and small == 10
