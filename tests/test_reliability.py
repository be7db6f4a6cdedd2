"""Reliability: retries, timeouts, cancellation and malformed answers, against injected faults."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from conftest import serving

import backendless_aio as bl
from backendless_aio.emulator import Emulator, EmulatorSettings, FaultRule
from backendless_aio.testing import TEST_PASSWORD

NO_SLEEP = bl.RetryPolicy(backoff=False, max_attempts=4)


@pytest.fixture
def backendless_emulator_settings() -> EmulatorSettings:
    return EmulatorSettings(fast_password_hashing=True, fault_seed=7,
                            multiple_logins="allow", max_sessions=1000)


def client(emu: Emulator, **kwargs: Any) -> bl.Backendless:
    kwargs.setdefault("retry", NO_SLEEP)
    return bl.Backendless(app_id=emu.app_id, api_key=emu.api_key, server_url=emu.url, **kwargs)


async def logged_in(app: bl.Backendless, email: str) -> tuple[bl.AsyncUserService,
                                                             bl.BackendlessUser]:
    await app.users.register({"email": email, "password": TEST_PASSWORD})
    scope = app.users.session()
    return scope, await scope.login(email, TEST_PASSWORD)


def acquired(app: bl.Backendless) -> int:
    connector = app.connector
    assert connector is not None
    return len(connector._acquired)  # type: ignore[attr-defined]


# -- retries ------------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", [
    FaultRule(kind="status", status=503, retry_after=0, count=2),
    FaultRule(kind="status", status=429, count=2),
    FaultRule(kind="status", status=200, code=999, count=1),
    FaultRule(kind="html", count=2),
    FaultRule(kind="drop_before", count=2),
    FaultRule(kind="drop_after", count=2),
    FaultRule(kind="truncate", count=2),
    FaultRule(kind="non_json", count=2),
], ids=lambda r: f"{r.kind}-{r.status}")
async def test_idempotent_update_is_retried_through_faults(backendless_emulator: Emulator,
                                                           rule: FaultRule) -> None:
    async with client(backendless_emulator) as app:
        scope, user = await logged_in(app, "r@example.com")
        retries: list[bl.RetryScheduled] = []
        updated: list[bl.UserUpdated] = []
        app.on(bl.RetryScheduled, retries.append)
        app.on(bl.UserUpdated, updated.append)
        backendless_emulator.faults.add(attrs.evolve(rule, methods=("PUT",)))
        user.set_property("n", 1)
        await scope.update(user)
        assert user.get_property("n") == 1
        # aiohttp itself repeats an idempotent request once when a reused keep-alive connection
        # turns out dropped, so a dropped connection may cost one retry of ours less
        expected = {rule.count - 1, rule.count} if rule.kind.startswith("drop") else {rule.count}
        assert len(retries) in expected and updated[0].attempt == len(retries) + 1
        stored = await backendless_emulator.get_stored_user(user.object_id or "")
        assert stored is not None and stored["n"] == 1
        assert acquired(app) == 0


@pytest.mark.parametrize(("rule", "error"), [
    (FaultRule(kind="drop_before"), bl.ConnectionFailed),
    (FaultRule(kind="status", status=503), bl.BackendlessFault),
    (FaultRule(kind="html"), bl.UnexpectedStatus),
    (FaultRule(kind="non_json"), bl.MalformedResponse),
], ids=lambda x: getattr(x, "kind", getattr(x, "__name__", "")))
async def test_login_is_not_retried_blindly(backendless_emulator: Emulator, rule: FaultRule,
                                            error: type[Exception]) -> None:
    async with client(backendless_emulator) as app:
        await app.users.register({"email": "p@example.com", "password": TEST_PASSWORD})
        retries: list[bl.RetryScheduled] = []
        app.on(bl.RetryScheduled, retries.append)
        backendless_emulator.faults.add(attrs.evolve(rule, path_contains="users/login"))
        with pytest.raises(error) as info:
            await app.users.login("p@example.com", TEST_PASSWORD)
        assert retries == []
        assert "users.login" in str(info.value) or info.value.route == "POST users/login"  # type: ignore[attr-defined]
        # the next login works
        assert (await app.users.login("p@example.com", TEST_PASSWORD)).object_id


async def test_login_is_retried_when_it_provably_never_arrived(
        backendless_emulator: Emulator) -> None:
    async with client(backendless_emulator) as app:
        await app.users.register({"email": "q@example.com", "password": TEST_PASSWORD})
        backendless_emulator.faults.add(FaultRule(kind="status", status=429, count=2,
                                                  path_contains="users/login"))
        assert (await app.users.login("q@example.com", TEST_PASSWORD)).object_id
    # connection refused: nothing listens on that port any more
    port = backendless_emulator.port
    await backendless_emulator.stop()
    seen: list[bl.RetryScheduled] = []
    async with bl.Backendless(app_id="a", api_key="k", server_url=f"http://127.0.0.1:{port}",
                              retry=NO_SLEEP) as app:
        app.on(bl.RetryScheduled, seen.append)
        with pytest.raises(bl.ConnectionFailed, match="could not connect"):
            await app.users.login("q@example.com", TEST_PASSWORD)
    assert len(seen) == NO_SLEEP.max_attempts - 1


async def test_retry_after_is_honoured_up_to_the_cap(backendless_emulator: Emulator) -> None:
    policy = bl.RetryPolicy(max_attempts=3, retry_after_cap=0.05)
    async with client(backendless_emulator, retry=policy) as app:
        scope, user = await logged_in(app, "ra@example.com")
        delays: list[float] = []
        app.on(bl.RetryScheduled, lambda e: delays.append(e.delay))
        backendless_emulator.faults.add(FaultRule(kind="status", status=503, retry_after=120,
                                                  methods=("PUT",)))
        user.set_property("x", 1)
        await scope.update(user)
    assert delays == [0.05]


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    from backendless_aio.transport import backoff_delay
    policy = bl.RetryPolicy(backoff_initial=0.1, backoff_max=0.5)
    for attempt, ceiling in ((1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (9, 0.5)):
        delays = {backoff_delay(policy, attempt, None) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays) and len(delays) > 1
    assert backoff_delay(policy, 1, 3.0) == 3.0
    assert backoff_delay(bl.RetryPolicy(backoff=False), 5, 3.0) == 0.0


async def test_retries_are_bounded(backendless_emulator: Emulator) -> None:
    async with client(backendless_emulator) as app:
        scope, user = await logged_in(app, "b@example.com")
        backendless_emulator.faults.add(FaultRule(kind="status", status=503, ratio=1.0,
                                                  methods=("PUT",)))
        user.set_property("x", 1)
        failed: list[bl.OperationFailed] = []
        app.on(bl.OperationFailed, failed.append)
        with pytest.raises(bl.BackendlessFault) as info:
            await scope.update(user)
        assert info.value.status == 503
        assert failed[0].attempt == NO_SLEEP.max_attempts
        assert "x" in user.changed  # nothing was applied: the change is still pending


# -- timeouts -----------------------------------------------------------------------------------

async def test_per_call_timeout_is_typed_and_names_the_operation(
        backendless_emulator: Emulator) -> None:
    async with client(backendless_emulator, retry=bl.RetryPolicy.disabled()) as app:
        scope, user = await logged_in(app, "t@example.com")
        backendless_emulator.faults.add(FaultRule(kind="latency", delay=1.0, methods=("PUT",)))
        user.set_property("x", 1)
        with pytest.raises(bl.BackendlessTimeout, match=r"users\.update") as info:
            await scope.update(user, timeout=0.2)
        assert isinstance(info.value, TimeoutError)
        assert info.value.route == "PUT users/{objectId}"
        assert acquired(app) == 0


async def test_app_timeout_and_retry_after_timeout(backendless_emulator: Emulator) -> None:
    async with client(backendless_emulator, timeout=0.3) as app:
        scope, user = await logged_in(app, "t2@example.com")
        backendless_emulator.faults.add(FaultRule(kind="latency", delay=0.6, methods=("GET",)))
        assert (await scope.find_by_id(user.object_id or "")).object_id == user.object_id


# -- cancellation -------------------------------------------------------------------------------

async def _slow_body(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    resp.content_length = 1000
    await resp.prepare(request)
    await resp.write(b'{"objectId": "')
    await asyncio.sleep(30)
    return resp


@pytest.mark.parametrize("phase", ["before-send", "awaiting-answer", "reading-body"])
async def test_cancellation_releases_the_connection(backendless_emulator: Emulator,
                                                    phase: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if phase == "reading-body":
            url = await stack.enter_async_context(serving(_slow_body))
            app = bl.Backendless(app_id="a", api_key="k", server_url=url)
            scope = app.users.session(user_token="t", object_id="o")
            user = bl.BackendlessUser._from_wire({"objectId": "o"})
        else:
            app = client(backendless_emulator)
            scope, user = await logged_in(app, "c@example.com")
            backendless_emulator.faults.add(FaultRule(kind="latency", delay=5.0,
                                                      methods=("PUT",)))
        stack.push_async_callback(app.aclose)
        await _cancel_and_check(backendless_emulator, app, scope, user, phase)


async def _cancel_and_check(emu: Emulator, app: bl.Backendless, scope: bl.AsyncUserService,
                            user: bl.BackendlessUser, phase: str) -> None:
    user.set_property("x", 1)
    task = asyncio.ensure_future(scope.update(user))
    if phase != "before-send":
        await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    if app.connector is not None:
        assert acquired(app) == 0
    if phase != "reading-body":
        emu.faults.clear()
        user.set_property("x", 2)
        assert (await scope.update(user)).get_property("x") == 2
        assert acquired(app) == 0


# -- malformed answers --------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "body", "error", "says"), [
    (200, b'{"objectId": "A', bl.MalformedResponse, "not JSON"),
    (200, b"hello", bl.MalformedResponse, "not JSON"),
    (502, b"<html><h1>502 Bad Gateway</h1></html>", bl.UnexpectedStatus, "not JSON"),
    (400, b'{"message": "no code"}', bl.UnexpectedStatus, "without a Backendless fault code"),
    (200, b"", bl.MalformedResponse, "empty answer"),
    (200, b"x" * (8 * 1024 * 1024 + 1), bl.MalformedResponse, "limit"),
], ids=["truncated", "not-json", "html", "no-code", "empty", "huge"])
async def test_malformed_answers_become_typed_errors(status: int, body: bytes,
                                                     error: type[Exception], says: str) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, status=status)

    async with serving(answer) as url, bl.Backendless(
            app_id="APP", api_key="SECRET-KEY-9", server_url=url, retry=NO_SLEEP) as app:
        scope = app.users.session(user_token="TOKEN-123", object_id="o")
        with pytest.raises(error) as info:
            await scope.find_by_id("o")
        text = str(info.value)
        assert says in text and "users.find_by_id" in text
        assert "SECRET-KEY-9" not in text and "TOKEN-123" not in text
        assert len(text) < 300
        assert acquired(app) == 0


# -- bounded concurrency ------------------------------------------------------------------------

async def test_max_concurrency_bounds_in_flight_requests() -> None:
    in_flight = peak = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return web.json_response({"objectId": "o", "___class": "Users"})

    async with serving(handler) as url, bl.Backendless(
            app_id="a", api_key="k", max_concurrency=3, server_url=url) as app:
        users = await asyncio.gather(*(app.users.find_by_id("o") for _ in range(20)))
    assert len(users) == 20 and peak == 3


# -- the fault-injection suite ------------------------------------------------------------------

MIX = [
    FaultRule(kind="latency", delay=0.01, ratio=0.05),
    FaultRule(kind="status", status=503, retry_after=0, ratio=0.04),
    FaultRule(kind="status", status=429, ratio=0.03),
    FaultRule(kind="html", ratio=0.03),
    FaultRule(kind="drop_before", ratio=0.03),
    FaultRule(kind="drop_after", ratio=0.03),
    FaultRule(kind="truncate", ratio=0.03),
    FaultRule(kind="non_json", ratio=0.03),
]


async def test_fault_injection_suite(backendless_emulator: Emulator,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A few thousand updates through every fault kind: no hang, no untyped error, and the
    stored state is what the client was told."""
    users_n, calls_each = 40, 60
    report = {"calls": 0, "succeeded": 0, "succeeded_after_retry": 0, "typed_errors": 0,
              "untyped_errors": 0, "hangs": 0}
    async with client(backendless_emulator, retry=bl.RetryPolicy(backoff=False, max_attempts=6),
                      timeout=5) as app:
        scopes = [await logged_in(app, f"f{i}@example.com") for i in range(users_n)]
        for rule in MIX:
            backendless_emulator.faults.add(attrs.evolve(rule, methods=("PUT",)))
        attempts: dict[str, int] = {}
        app.on(bl.UserUpdated, lambda e: attempts.__setitem__(e.object_id, e.attempt))
        told: dict[str, Any] = {}
        uncertain: set[str] = set()

        async def worker(scope: bl.AsyncUserService, user: bl.BackendlessUser) -> None:
            oid = user.object_id or ""
            rng = random.Random(oid)
            for i in range(calls_each):
                value = f"{i}-{rng.random():.6f}"
                user.set_property("counter", value)
                report["calls"] += 1
                try:
                    await asyncio.wait_for(scope.update(user), 30)
                except asyncio.TimeoutError:
                    report["hangs"] += 1
                    uncertain.add(oid)
                except bl.BackendlessError:
                    report["typed_errors"] += 1
                    uncertain.add(oid)
                except Exception:  # noqa: BLE001
                    report["untyped_errors"] += 1
                else:
                    report["succeeded"] += 1
                    told[oid] = value
                    uncertain.discard(oid)
                    if attempts.get(oid, 1) > 1:
                        report["succeeded_after_retry"] += 1

        await asyncio.gather(*(worker(s, u) for s, u in scopes))
        backendless_emulator.faults.clear()
        mismatched = 0
        for _, user in scopes:
            oid = user.object_id or ""
            stored = await backendless_emulator.get_stored_user(oid)
            assert stored is not None
            if oid not in uncertain and stored.get("counter") != told.get(oid):
                mismatched += 1
        stats = dict(backendless_emulator.faults.stats)
        assert acquired(app) == 0
    injected = sum(v for k, v in stats.items() if k != "latency")
    with capsys.disabled():
        print(f"\nfault-injection suite: {report}, faults injected: {stats}, "
              f"state mismatches: {mismatched}")
    assert report["calls"] == users_n * calls_each
    assert report["hangs"] == 0 and report["untyped_errors"] == 0
    assert mismatched == 0
    assert injected > 300 and report["succeeded_after_retry"] > 200
    assert report["succeeded"] + report["typed_errors"] == report["calls"]


async def test_server_keeps_serving_after_garbage(backendless_emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as http, \
            http.post(f"{backendless_emulator.root_url}/users/register", data=b"{not json",
                      headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400
        assert "code" in await resp.json()
    async with client(backendless_emulator) as app:
        _, user = await logged_in(app, "g@example.com")
        assert user.object_id

