"""Hardening of the client (issue 12, items 1-5 and 13): what an attacker's probe found.

A small garbage-answering aiohttp server of our own stands in for a hostile or broken
Backendless where the emulator cannot produce the case; the rest runs against the emulator.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Iterator
from types import TracebackType
from typing import Any

import pytest
import structlog
from aiohttp import web
from conftest import Handler, exception_chain, serving

import backendless_aio as bl
from backendless_aio import wire
from backendless_aio.emulator import Emulator, EmulatorSettings

KEY = f"CanaryKey{uuid.uuid4().hex}"
TOKEN = f"CanaryToken{uuid.uuid4().hex}"
NEW_TOKEN = f"CanaryNewToken{uuid.uuid4().hex}"
PASSWORD = f"CanaryPassword{uuid.uuid4().hex}"
SECRETS = (KEY, TOKEN, NEW_TOKEN, PASSWORD)
NO_SLEEP = bl.RetryPolicy(backoff=False, max_attempts=2)

def app_at(url: str, **kwargs: Any) -> bl.Backendless:
    kwargs.setdefault("retry", NO_SLEEP)
    return bl.Backendless(app_id="app", api_key=KEY, server_url=url, **kwargs)


def json_answer(text: str, status: int = 200, **headers: str) -> Handler:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(status=status, text=text, content_type="application/json",
                            headers=headers)
    return handler


# -- item 1: no secret in the frames of a raised error or its chain ------------------------------

def frame_locals(error: BaseException) -> Iterator[tuple[str, str]]:
    """``(where, repr)`` of every local of every frame of ``error`` and of its whole chain."""
    for exc in exception_chain(error):
        tb: TracebackType | None = exc.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            for name, value in tb.tb_frame.f_locals.items():
                try:
                    shown = repr(value)
                except Exception as broken:  # noqa: BLE001 - a repr that fails shows nothing
                    shown = f"<repr failed: {broken!r}>"
                yield f"{type(exc).__name__} {code.co_name}:{name}", shown
            tb = tb.tb_next


def assert_no_secret_in_frames(error: BaseException) -> None:
    leaks = [where for where, shown in frame_locals(error) for s in SECRETS if s in shown]
    assert leaks == []
    # structlog's dict_tracebacks (locals shown), as an app that logs exceptions renders them
    rendered = structlog.processors.dict_tracebacks(
        None, "error", {"event": "failed", "exc_info": (type(error), error, error.__traceback__)})
    text = repr(rendered)
    assert "locals" in text or "frames" in text
    assert [s for s in SECRETS if s in text] == []


async def raised(call: Awaitable[Any], kind: type[BaseException]) -> BaseException:
    try:
        await call
    except kind as error:
        return error
    raise AssertionError(f"{kind.__name__} was not raised")


async def test_no_secret_in_traceback_locals_of_faults_malformed_answers_and_timeouts() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.endswith("/userroles"):
            return web.json_response({"code": 3064, "message": "Not existing user token - "
                                      + request.headers.get("user-token", "") + ". Relogin"},
                                     status=400)
        if "isvalidusertoken" in path:  # echoes the URL: the key and the token
            return web.Response(text=f"not a bool: {request.path}", content_type="text/plain")
        if path.endswith("/verifypassword"):
            await asyncio.sleep(1.0)
        if path.endswith("/logout"):
            return web.Response(status=502, text=f"<p>{request.path}</p>",
                                content_type="text/html")
        return web.Response(status=200, text="{\"objectId\": \"x\", ", content_type="text/plain")

    async with serving(handler) as url, app_at(url) as app:
        scope = app.users.session(user_token=TOKEN, object_id="someone")
        errors = [
            await raised(scope.get_user_roles(), bl.InvalidUserToken),
            await raised(app.users.session(user_token=TOKEN, object_id="x").is_valid_login(),
                         bl.MalformedResponse),
            await raised(app.users.session(user_token=TOKEN, object_id="x").verify_password(
                PASSWORD, timeout=0.2), bl.BackendlessTimeout),
            await raised(app.users.session(user_token=TOKEN, object_id="x").logout(),
                         bl.UnexpectedStatus),
            await raised(app.users.find_by_id("someone"), bl.MalformedResponse),
            await raised(app.users.login("a@example.com", PASSWORD), bl.MalformedResponse),
        ]
    # connection refused: the port of a stopped server
    async with serving(handler) as url:
        pass
    async with app_at(url) as app:
        errors.append(await raised(app.users.session(user_token=TOKEN, object_id="x")
                                   .is_valid_login(), bl.ConnectionFailed))
    for error in errors:
        assert error.__traceback__ is not None
        assert_no_secret_in_frames(error)
    # the chains were really walked: a timeout keeps its cause (without frames)
    timeout = errors[2]
    assert timeout.__cause__ is not None and timeout.__cause__.__traceback__ is None


# -- item 2: a new session token quoted in an error -----------------------------------------------

@pytest.mark.parametrize("answer", [
    f'[{{"objectId": "x", "user-token": "{NEW_TOKEN}"}}]',  # not a user object
    f'{{"objectId": "x", "user-token": "{NEW_TOKEN}", "name": "cut o',  # cut off
    f'{{"objectId": "x", "user-token": "{NEW_TOKEN[:20]}',  # cut inside the token
    f'{{"userToken": "{NEW_TOKEN}", "code": "x"}}',
])
async def test_a_login_answer_that_is_not_a_user_never_quotes_its_token(answer: str) -> None:
    async with serving(json_answer(answer)) as url, app_at(url) as app:
        error = await raised(app.users.login("a@example.com", PASSWORD), bl.MalformedResponse)
    text = f"{error} {error!r} {getattr(error, 'snippet', '')}"
    assert NEW_TOKEN[:20] not in text
    assert "<redacted>" in text


def test_snippets_and_details_redact_token_like_values() -> None:
    text = wire.snippet(f'{{"user-token":"{NEW_TOKEN}","password": "{PASSWORD}"'.encode())
    assert NEW_TOKEN not in text and PASSWORD not in text and "objectId" not in text
    request = wire.login("a@example.com", "pw")
    fault = wire.fault_from_body(request, 400, {"code": 3003, "message": "no", "errorData": {
        "userToken": NEW_TOKEN, "nested": {"api-key": KEY}}}, ())
    assert fault is not None and NEW_TOKEN not in repr(fault.detail)
    assert KEY not in repr(fault.detail)


# -- item 3: odd answers become typed errors or documented Nones ----------------------------------

@pytest.mark.parametrize("code", ["²", "٣٠٦٤", "9" * 40, "-3", 3.5, None, True])
def test_an_odd_fault_code_is_a_typed_error(code: Any) -> None:
    request = wire.user_roles()
    body = wire.dumps({"code": code, "message": "odd"})
    with pytest.raises(bl.MalformedResponse):
        wire.parse_answer(request, 400, body)


def test_a_numeric_string_code_still_reads() -> None:
    with pytest.raises(bl.InvalidUserToken):
        wire.parse_answer(wire.user_roles(), 400, b'{"code": "3064", "message": "gone"}')


@pytest.mark.parametrize("props", [
    {"created": 10**15, "lastLogin": 10**18, "updated": -10**17},
    {"created": "yesterday", "updated": 1.5e12, "lastLogin": [1]},
    {"created": True, "updated": {"ms": 1}, "lastLogin": 2**63 - 1},
])
async def test_reading_a_user_with_odd_dates_never_raises(props: dict[str, Any]) -> None:
    answer = wire.dumps({"objectId": "u1", "email": "a@example.com", **props})
    async with serving(json_answer(answer.decode())) as url, app_at(url) as app:
        user = await app.users.find_by_id("u1")
    assert user.created is None and user.updated is None and user.last_login is None
    shown = dict(user.properties)
    for key, value in props.items():  # as it arrived: the odd value is there to be seen
        assert shown[key] == value and user.get_property(key) == value
    assert "u1" in repr(user)


# -- item 4: no call outlives its deadline --------------------------------------------------------

async def test_an_endless_retry_after_fails_at_once_with_rate_limited() -> None:
    seen: list[int] = []

    async def handler(_request: web.Request) -> web.Response:
        seen.append(1)
        return web.json_response({"code": 999, "message": "slow down"}, status=429,
                                 headers={"Retry-After": "1e999"})

    async with serving(handler) as url, app_at(url, retry=bl.RetryPolicy()) as app:
        started = time.monotonic()
        error = await raised(app.users.login("a@example.com", PASSWORD, timeout=2),
                             bl.RateLimited)
        elapsed = time.monotonic() - started
    assert elapsed < 5.0 and len(seen) == 1  # (it slept the 30 s cap, twice, before)
    assert isinstance(error, bl.RateLimited) and error.retry_after == float("inf")


async def test_a_retry_after_within_the_deadline_is_still_slept() -> None:
    seen: list[float] = []

    async def handler(_request: web.Request) -> web.Response:
        seen.append(time.monotonic())
        if len(seen) == 1:
            return web.json_response({"code": 999, "message": "wait"}, status=429,
                                     headers={"Retry-After": "0.2"})
        return web.json_response(False)

    async with serving(handler) as url, app_at(url, retry=bl.RetryPolicy()) as app:
        scope = app.users.session(user_token=TOKEN, object_id="x")
        assert await scope.is_valid_login(timeout=2) is False
    assert len(seen) == 2 and seen[1] - seen[0] >= 0.19


async def test_the_deadline_bounds_every_attempt_and_wait() -> None:
    attempts: list[float] = []

    async def handler(_request: web.Request) -> web.Response:
        attempts.append(time.monotonic())
        await asyncio.sleep(5)
        return web.json_response(True)

    timeout = bl.Timeout(total=1.0, connect=1.0, deadline=1.2)
    policy = bl.RetryPolicy(max_attempts=5, backoff=False)
    async with serving(handler) as url, app_at(url, retry=policy) as app:
        scope = app.users.session(user_token=TOKEN, object_id="x")
        started = time.monotonic()
        await raised(scope.is_valid_login(timeout=timeout), bl.BackendlessTimeout)
        elapsed = time.monotonic() - started
    assert len(attempts) == 2  # 1 s, then only the 0.2 s left (not another whole second)
    assert 1.15 <= elapsed < 1.7


def test_the_default_deadline_is_total_times_attempts() -> None:
    assert bl.Timeout().budget(3) == 90.0
    assert bl.Timeout.of(2).budget(3) == 6.0
    assert bl.Timeout(total=5, deadline=7).budget(3) == 7.0
    assert bl.Timeout(total=None).budget(3) is None
    with pytest.raises(bl.ConfigurationError):
        bl.Timeout(deadline=0)


async def test_a_backoff_longer_than_the_time_left_is_not_slept() -> None:
    async def handler(_request: web.Request) -> web.Response:
        return web.json_response({"code": 503, "message": "busy"}, status=503,
                                 headers={"Retry-After": "5"})

    policy = bl.RetryPolicy(max_attempts=3, retry_after_cap=5)
    async with serving(handler) as url, app_at(url, retry=policy) as app:
        started = time.monotonic()
        error = await raised(app.users.find_by_id("x", timeout=bl.Timeout(total=1, deadline=2)),
                             bl.BackendlessFault)
    assert time.monotonic() - started < 3.0  # the 5 s wait would end past the 2 s deadline
    assert isinstance(error, bl.BackendlessFault) and error.status == 503


# -- item 5: a wrong type is a TypeError ----------------------------------------------------------

@pytest.mark.parametrize(("login", "password"), [(123, None), ("a@example.com", None),
                                                 (None, "pw"), (b"a@example.com", "pw")])
async def test_login_with_a_wrong_type_is_a_type_error(login: Any, password: Any) -> None:
    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({})

    async with serving(handler) as url, app_at(url) as app:
        with pytest.raises(TypeError, match="strings"):
            await app.users.login(login, password)
        with pytest.raises(bl.EmptyLogin):
            await app.users.login("", "pw")
    assert hits == []


# -- item 13 (client side): a too-large body is its own typed fault -------------------------------

async def test_the_emulators_413_is_request_too_large(tmp_path: Any) -> None:
    settings = EmulatorSettings(fast_password_hashing=True, max_body_bytes=2048,
                                db_path=str(tmp_path / "e.sqlite3"))
    async with Emulator(settings) as emu, bl.Backendless(
            app_id=emu.app_id, api_key=emu.api_key, server_url=emu.url) as app:
        with pytest.raises(bl.RequestTooLarge) as info:
            await app.users.register({"email": "big@example.com", "password": "pw-123456",
                                      "bio": "x" * 4096})
    assert info.value.status == 413 and info.value.code == 413
    assert not isinstance(info.value, bl.MalformedResponse)


async def test_a_proxys_bare_413_is_request_too_large() -> None:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(status=413, text="<h1>413 Request Entity Too Large</h1>",
                            content_type="text/html")

    async with serving(handler) as url, app_at(url) as app:
        with pytest.raises(bl.RequestTooLarge) as info:
            await app.users.register({"email": "big@example.com", "password": PASSWORD})
    assert info.value.status == 413


def test_the_limits_page_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/limits.md's Python block, as written."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "limits.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1
    started = time.monotonic()
    exec(compile(blocks[0], "docs/limits.md", "exec"), {"__name__": "docs"})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "rate limited; retry after 3600.0 s"
    assert out[1].startswith("gave up: users.describe_user_class: no answer within the timeout")
    assert time.monotonic() - started < 10


async def test_a_cancelled_call_leaves_no_secret_in_its_frames() -> None:
    started = asyncio.Event()

    async def handler(_request: web.Request) -> web.Response:
        started.set()
        await asyncio.sleep(5)
        return web.json_response(True)

    async with serving(handler) as url, app_at(url) as app:
        scope = app.users.session(user_token=TOKEN, object_id="x")
        task = asyncio.ensure_future(scope.is_valid_login())
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        error = await raised(task, asyncio.CancelledError)
    assert error.__traceback__ is not None
    assert_no_secret_in_frames(error)
