"""Fuzzing (issue 12) with hypothesis, bounded in time.

- Random answers to ``wire.parse_answer``: a value or a typed ``BackendlessError``, never
  anything else; a user it returns can be read whole without raising.
- Random bodies, headers, methods and paths to a running emulator over raw sockets: never a
  500, the server stays up, and a refused request leaves the stored user as it was.

The emulator runs in a thread of its own (its own event loop) so that hypothesis drives plain
blocking sockets, example after example, against one server.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import backendless_aio as bl
from backendless_aio import wire
from backendless_aio.emulator import Emulator

FUZZ = settings(max_examples=600, deadline=2000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

# -- wire.parse_answer ----------------------------------------------------------------------------

REQUESTS = [wire.register({"email": "a@b.co"}), wire.login("a@b.co", "pw"),
            wire.login_as_guest(), wire.logout(), wire.is_valid_token("tok"),
            wire.update("id1", {"x": 1}, b'{"x":1}'), wire.find_by_id("id1"),
            wire.describe_user_class(), wire.user_roles(), wire.verify_password("pw")]

json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=5),
                           max_leaves=12)
keys = st.sampled_from(["objectId", "code", "message", "errorData", "user-token", "created",
                        "updated", "lastLogin", "email", "valid", "name"])
answer_objects = st.dictionaries(keys, json_values, max_size=6)
bodies = (st.binary(max_size=200)
          | json_values.map(orjson.dumps)
          | answer_objects.map(orjson.dumps)
          | answer_objects.map(lambda d: orjson.dumps(d)[: max(1, len(orjson.dumps(d)) // 2)]))


@FUZZ
@given(request=st.sampled_from(REQUESTS),
       status=st.sampled_from([200, 201, 204, 301, 400, 401, 404, 413, 429, 500, 502, 503])
       | st.integers(min_value=100, max_value=599),
       body=bodies)
def test_parse_answer_gives_a_value_or_a_typed_error(request: wire.Request, status: int,
                                                     body: bytes) -> None:
    try:
        value = wire.parse_answer(request, status, body, ("secret-key",), "secret-token")
    except bl.BackendlessError as error:
        text = f"{error} {error!r}"
        assert "secret-key" not in text and "secret-token" not in text
        return
    if request.expect in (wire.Expect.USER, wire.Expect.SESSION):
        assert isinstance(value, dict) and isinstance(value["objectId"], str)
        user = bl.BackendlessUser._from_wire(value)
        for name in ("created", "updated", "last_login", "email", "name", "user_status",
                     "object_id", "properties", "changed"):
            getattr(user, name)
        repr(user)
        dict(user.properties)


# -- the emulator, over raw sockets ---------------------------------------------------------------

class Running:
    """An emulator serving from a thread with its own event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.emu = Emulator(fast_password_hashing=True, multiple_logins="allow",
                            max_sessions=10_000)
        self.run(self.emu.start())

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def close(self) -> None:
        self.run(self.emu.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def call(port: int, method: bytes, path: bytes, headers: list[bytes], body: bytes) -> tuple[
        int, bytes, bytes]:
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: localhost", b"Connection: close",
             *headers, b"Content-Length: " + str(len(body)).encode()]
    answer = exchange(port, b"\r\n".join(lines) + b"\r\n\r\n" + body)
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1."), answer[:200]
    return int(head.split()[1]), head, rest


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    server = Running()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def victim(running: Running) -> dict[str, str]:
    """A registered, logged-in user whose token and objectId the fuzzer may use."""
    port = running.emu.port
    status, _, body = call(port, b"POST", b"/api/users/register",
                           [b"Content-Type: application/json"],
                           b'{"email": "victim@example.com", "password": "pw-123456"}')
    assert status == 200
    object_id = orjson.loads(body)["objectId"]
    status, _, body = call(port, b"POST", b"/api/users/login", [b"Content-Type: application/json"],
                           b'{"login": "victim@example.com", "password": "pw-123456"}')
    assert status == 200
    return {"objectId": object_id, "token": orjson.loads(body)["user-token"]}


def assert_answered_sanely(status: int, head: bytes, body: bytes) -> None:
    assert status < 500 or (status == 503 and b"Too many connections" in body), (status, body)
    if b"application/json" in head.lower() and body:
        orjson.loads(body)


segments = st.sampled_from(["users", "register", "login", "logout", "guest", "userroles",
                            "isvalidusertoken", "restorepassword", "verifypassword", "status",
                            "data", "Users", "info", "userclassprops", "__emulator__", "faults",
                            "reset", "clock", "OBJECT", "TOKEN", "", "..", "%00", "%ff", "%2F"])
methods = st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"HEAD"])
fuzz_bodies = (st.binary(max_size=120) | answer_objects.map(orjson.dumps)
               | st.dictionaries(st.sampled_from(["email", "password", "name", "login", "id",
                                                  "objectId", "userStatus", "x", "advance"]),
                                 json_values, max_size=4).map(orjson.dumps))
header_values = st.binary(max_size=40).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"")) | st.sampled_from(
    [b"application/json", b"text/plain", b"TOKEN", b"http://evil.example"])
header_names = st.sampled_from([b"user-token", b"Content-Type", b"Origin", b"X-Any",
                                b"X-Emulator-Admin-Token", b"Accept"])


ROUTES = ["users/register", "users/login", "users/logout", "users/register/guest",
          "users/OBJECT", "users/isvalidusertoken/TOKEN", "users/userroles",
          "users/verifypassword", "users/OBJECT/status", "data/Users/OBJECT", "info",
          "users/userclassprops", "users/restorepassword/victim@example.com",
          "users/resendconfirmation/victim@example.com", "faults", "reset", "clock",
          "users/OBJECT"]
routes = st.sampled_from(ROUTES) | st.lists(segments, min_size=1, max_size=5).map("/".join)
tokens = st.sampled_from([b"TOKEN", b"\xff\xfe\x80", b"\x00", b"\x7f\x01", b"x" * 300]) | (
    st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")))
token_headers = st.lists(tokens.map(lambda t: (b"user-token", t)), max_size=1)


@FUZZ
@example(method=b"GET", route="users/userroles", body=b"", headers=[],  # the probe's finds
         token=[(b"user-token", b"\xff\xfe\x80")], root="/api")
@example(method=b"PUT", route="users/OBJECT", body=b'{"n": 123456789012345678901234567890}',
         headers=[(b"Content-Type", b"application/json")], token=[(b"user-token", b"TOKEN")],
         root="/api")
@example(method=b"PUT", route="users/OBJECT", body=b'{"email": "victim@example.com\\n"}',
         headers=[], token=[(b"user-token", b"TOKEN")], root="/api")
@example(method=b"POST", route="reset", body=b"x", headers=[(b"Content-Type", b"text/plain"),
         (b"Origin", b"http://evil.example")], token=[], root="/__emulator__")
@given(method=methods, route=routes, body=fuzz_bodies,
       headers=st.lists(st.tuples(header_names, header_values), max_size=3),
       token=token_headers, root=st.sampled_from(["/api", "/APP/KEY", "/__emulator__", ""]))
def test_random_requests_never_get_a_500_nor_change_a_user_when_refused(
        running: Running, victim: dict[str, str], method: bytes, route: str, body: bytes,
        headers: list[tuple[bytes, bytes]], token: list[tuple[bytes, bytes]], root: str) -> None:
    emu = running.emu
    headers = token + headers
    path = root.replace("APP", emu.app_id).replace("KEY", emu.api_key) + "/" + route.replace(
        "OBJECT", victim["objectId"]).replace("TOKEN", victim["token"])
    sent = [name + b": " + value.replace(b"TOKEN", victim["token"].encode())
            for name, value in headers]
    before = running.run(emu.get_stored_user(victim["objectId"]))
    status, head, answer = call(emu.port, method, path.encode(), sent, body)
    assert_answered_sanely(status, head, answer)
    if status >= 400:
        assert running.run(emu.get_stored_user(victim["objectId"])) == before


@FUZZ
@given(method=st.binary(min_size=1, max_size=8).filter(lambda m: b" " not in m
                                                      and b"\r" not in m and b"\n" not in m),
       path=st.binary(max_size=60).filter(lambda p: b" " not in p and b"\r" not in p
                                          and b"\n" not in p),
       header=st.binary(max_size=60).filter(lambda h: b"\r" not in h and b"\n" not in h))
def test_random_request_lines_and_headers_get_an_answer_and_the_server_stays_up(
        running: Running, method: bytes, path: bytes, header: bytes) -> None:
    port = running.emu.port
    try:
        answer = exchange(port, method + b" /" + path + b" HTTP/1.1\r\nHost: x\r\n" + header
                          + b"\r\nConnection: close\r\n\r\n")
    except ConnectionResetError:  # the server may drop what it cannot parse at all
        answer = b""
    if answer:
        head, _, body = answer.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        assert_answered_sanely(status, head, body)
    status, _, info = call(port, b"GET", b"/api/info", [], b"")
    assert status == 200 and orjson.loads(info)["appId"] == running.emu.app_id
