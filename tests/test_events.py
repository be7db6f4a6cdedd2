"""Event hooks against the emulator: every event's payload, sync and async handlers, unsubscribe,
isolation of a failing hook, and scope-level subscriptions."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import structlog

import backendless_aio as bl
from backendless_aio.emulator import Emulator, FaultRule
from backendless_aio.events import Hooks
from backendless_aio.testing import TEST_PASSWORD

EVENT_TYPES = [bl.RequestSent, bl.ResponseReceived, bl.RetryScheduled, bl.OperationFailed,
               bl.UserRegistered, bl.UserLoggedIn, bl.UserLoggedOut, bl.UserUpdated,
               bl.SessionExpired]
UPDATE_ROUTE = "PUT users/{objectId}"


@pytest.fixture(autouse=True)
def _structlog_unconfigured() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


class Recorder:
    """Collects events; ``of(T)`` lists those of one class."""

    def __init__(self) -> None:
        self.events: list[bl.Event] = []

    def __call__(self, event: bl.Event) -> None:
        self.events.append(event)

    def of(self, event_type: type[Any]) -> list[Any]:
        return [e for e in self.events if type(e) is event_type]

    @property
    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]

    def clear(self) -> None:
        self.events.clear()


def check_duration(event: Any) -> None:
    assert isinstance(event.duration_ms, float) and 0 <= event.duration_ms < 10_000


# -- the catalogue ------------------------------------------------------------------------------

def test_every_event_class_is_public_frozen_and_keyword_only() -> None:
    for event_type in EVENT_TYPES:
        assert getattr(bl, event_type.__name__) is event_type
        assert issubclass(event_type, bl.Event) and attrs.has(event_type)
        fields = attrs.fields(event_type)
        assert all(f.kw_only for f in fields)
        assert fields[0].name == "operation" and fields[1].name == "route"
    event = bl.UserUpdated(operation="users.update", route=UPDATE_ROUTE, object_id="o",
                           changed=("a",), attempt=1, duration_ms=1.0)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.object_id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        bl.RequestSent("users.update", UPDATE_ROUTE, 1)  # type: ignore[misc]


def test_the_documented_catalogue_is_the_event_classes() -> None:
    """The hooks catalogue (docs/hooks.md, or the README once merged there) lists every event
    class with exactly its fields."""
    root = Path(__file__).resolve().parent.parent
    for candidate in (root / "README.md", root / "docs" / "hooks.md"):
        text = candidate.read_text(encoding="utf-8") if candidate.exists() else ""
        if "<!-- event-catalogue -->" in text:
            break
    else:
        pytest.fail("no <!-- event-catalogue --> table in README.md or docs/hooks.md")
    table = text.split("<!-- event-catalogue -->")[1].split("<!-- /event-catalogue -->")[0]
    rows = re.findall(r"^\| `(\w+)` \| .+ \| (.+) \|$", table, re.MULTILINE)
    documented = {name: re.findall(r"`(\w+)`", fields) for name, fields in rows}
    actual = {t.__name__: [f.name for f in attrs.fields(t)][2:] for t in EVENT_TYPES}
    assert documented == actual


def test_handlers_run_scope_first_then_own_class_first_then_subscription_order() -> None:
    app_hooks = Hooks()
    scope_hooks = Hooks(parent=app_hooks)
    order: list[str] = []
    app_hooks.on(bl.Event, lambda e: order.append("app Event"))
    app_hooks.on(bl.UserLoggedOut, lambda e: order.append("app UserLoggedOut"))
    scope_hooks.on(bl.Event, lambda e: order.append("scope Event 1"))
    scope_hooks.on(bl.UserLoggedOut, lambda e: order.append("scope UserLoggedOut"))
    scope_hooks.on(bl.Event, lambda e: order.append("scope Event 2"))
    asyncio.run(scope_hooks.emit(bl.UserLoggedOut(operation="users.logout",
                                                  route="GET users/logout", object_id=None)))
    assert order == ["scope UserLoggedOut", "scope Event 1", "scope Event 2",
                     "app UserLoggedOut", "app Event"]


def test_no_event_has_a_field_that_could_hold_a_secret() -> None:
    allowed = {"operation", "route", "attempt", "status", "duration_ms", "fault_code", "delay",
               "reason", "error", "object_id", "guest", "changed", "session_key"}
    for event_type in EVENT_TYPES:
        names = {f.name for f in attrs.fields(event_type)}
        assert names <= allowed, (event_type, names - allowed)


# -- payloads -----------------------------------------------------------------------------------

async def test_the_payloads_of_a_whole_session(backendless_app: bl.Backendless) -> None:
    seen = Recorder()
    backendless_app.on(bl.Event, seen)
    users = backendless_app.users

    user = await users.register({"email": "e@example.com", "password": TEST_PASSWORD})
    object_id = user.object_id
    assert object_id
    assert seen.kinds == ["RequestSent", "ResponseReceived", "UserRegistered"]
    sent, received, registered = seen.events
    assert sent == bl.RequestSent(operation="users.register", route="POST users/register",
                                  attempt=1)
    assert (received.operation, received.route, received.attempt, received.status,
            received.fault_code) == ("users.register", "POST users/register", 1, 200, None)
    check_duration(received)
    assert (registered.operation, registered.route, registered.object_id) == (
        "users.register", "POST users/register", object_id)
    check_duration(registered)

    seen.clear()
    user = await users.login("e@example.com", TEST_PASSWORD)
    assert seen.kinds == ["RequestSent", "ResponseReceived", "UserLoggedIn"]
    [logged_in] = seen.of(bl.UserLoggedIn)
    assert (logged_in.operation, logged_in.route, logged_in.object_id, logged_in.guest) == (
        "users.login", "POST users/login", object_id, False)
    check_duration(logged_in)

    seen.clear()
    user.set_property("phoneNumber", "5551212")
    user.set_property("age", 33)
    user.password = "another-password"
    await users.update(user)
    assert seen.kinds == ["RequestSent", "ResponseReceived", "UserUpdated"]
    sent, received, updated = seen.events
    assert sent == bl.RequestSent(operation="users.update", route=UPDATE_ROUTE, attempt=1)
    assert (received.route, received.status, received.attempt) == (UPDATE_ROUTE, 200, 1)
    assert updated.operation == "users.update" and updated.route == UPDATE_ROUTE
    assert updated.object_id == object_id and updated.attempt == 1
    assert updated.changed == ("age", "password", "phoneNumber")  # names only, sorted
    check_duration(updated)

    seen.clear()
    await users.logout()
    assert seen.kinds == ["RequestSent", "ResponseReceived", "UserLoggedOut"]
    assert seen.events[0] == bl.RequestSent(operation="users.logout", route="GET users/logout",
                                            attempt=1)
    assert seen.events[2] == bl.UserLoggedOut(operation="users.logout",
                                              route="GET users/logout", object_id=object_id)


async def test_a_guest_login(backendless_app: bl.Backendless) -> None:
    seen = Recorder()
    backendless_app.on(bl.UserLoggedIn, seen)
    guest = await backendless_app.users.login_as_guest()
    [event] = seen.events
    assert (event.operation, event.route, event.object_id, event.guest) == (
        "users.login_as_guest", "POST users/register/guest", guest.object_id, True)


async def test_the_other_operations_fire_request_and_response_events(
        backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser) -> None:
    seen = Recorder()
    backendless_app.on(bl.Event, seen)
    users = backendless_app.users
    object_id = backendless_user.object_id or ""
    await users.is_valid_login()
    await users.find_by_id(object_id)
    await users.find_by_id(object_id, props=["email"])
    await users.describe_user_class()
    await users.get_user_roles()
    await users.verify_password(TEST_PASSWORD)
    await users.restore_password("test-user@example.com")
    await users.resend_email_confirmation("test-user@example.com")
    routes = [(e.operation, e.route) for e in seen.of(bl.ResponseReceived)]
    assert routes == [
        ("users.is_valid_login", "GET users/isvalidusertoken/{token}"),
        ("users.find_by_id", "GET data/Users/{objectId}"),
        ("users.find_by_id", "GET users/{objectId}"),
        ("users.describe_user_class", "GET users/userclassprops"),
        ("users.get_user_roles", "GET users/userroles"),
        ("users.verify_password", "POST users/verifypassword"),
        ("users.restore_password", "GET users/restorepassword/{identity}"),
        ("users.resend_email_confirmation", "POST users/resendconfirmation/{identity}"),
    ]
    assert [(e.operation, e.route) for e in seen.of(bl.RequestSent)] == routes
    assert all(e.status == 200 and e.fault_code is None for e in seen.of(bl.ResponseReceived))


async def test_retry_payloads(backendless_emulator: Emulator, backendless_app: bl.Backendless,
                              backendless_user: bl.BackendlessUser) -> None:
    seen = Recorder()
    backendless_app.on(bl.Event, seen)
    backendless_emulator.faults.add(FaultRule(kind="status", status=503, methods=("PUT",)))
    backendless_emulator.faults.add(FaultRule(kind="status", status=429, code=999,
                                              methods=("PUT",)))
    backendless_user.set_property("x", 1)
    await backendless_app.users.update(backendless_user)
    assert seen.kinds == ["RequestSent", "ResponseReceived", "RetryScheduled",
                          "RequestSent", "ResponseReceived", "RetryScheduled",
                          "RequestSent", "ResponseReceived", "UserUpdated"]
    first, second = seen.of(bl.RetryScheduled)
    assert first == bl.RetryScheduled(operation="users.update", route=UPDATE_ROUTE, attempt=1,
                                      delay=0.0, reason="BackendlessFault", status=503,
                                      fault_code=503)
    assert second == bl.RetryScheduled(operation="users.update", route=UPDATE_ROUTE, attempt=2,
                                       delay=0.0, reason="RateLimited", status=429,
                                       fault_code=999)
    assert [e.attempt for e in seen.of(bl.RequestSent)] == [1, 2, 3]
    assert [(e.attempt, e.status, e.fault_code) for e in seen.of(bl.ResponseReceived)] == [
        (1, 503, 503), (2, 429, 999), (3, 200, None)]
    [updated] = seen.of(bl.UserUpdated)
    assert updated.attempt == 3 and updated.changed == ("x",)


async def test_fault_payloads(backendless_app: bl.Backendless,
                              backendless_user: bl.BackendlessUser) -> None:
    seen = Recorder()
    backendless_app.on(bl.Event, seen)
    with pytest.raises(bl.InvalidLogin):
        await backendless_app.users.session().login("test-user@example.com", "wrong")
    assert seen.kinds == ["RequestSent", "ResponseReceived", "OperationFailed"]
    _, received, failed = seen.events
    assert (received.status, received.fault_code, received.attempt) == (400, 3003, 1)
    assert (failed.operation, failed.route, failed.error, failed.status, failed.fault_code,
            failed.attempt, failed.object_id) == (
        "users.login", "POST users/login", "InvalidLogin", 400, 3003, 1, None)
    check_duration(failed)

    # 3029: another user's object; the event names the object, the fault code says why
    other = bl.BackendlessUser._from_wire({"objectId": backendless_user.object_id or ""})
    await backendless_app.users.register({"email": "o@example.com", "password": TEST_PASSWORD})
    intruder = backendless_app.users.session()
    await intruder.login("o@example.com", TEST_PASSWORD)
    seen.clear()
    other.set_property("name", "Mallory")
    with pytest.raises(bl.CannotModifyAnotherUser):
        await intruder.update(other)
    [failed] = seen.of(bl.OperationFailed)
    assert (failed.route, failed.fault_code, failed.error, failed.object_id) == (
        UPDATE_ROUTE, 3029, "CannotModifyAnotherUser", backendless_user.object_id)
    assert seen.of(bl.UserUpdated) == [] and seen.of(bl.SessionExpired) == []


async def test_a_transport_failure_payload(backendless_emulator: Emulator,
                                           backendless_app: bl.Backendless) -> None:
    seen = Recorder()
    backendless_app.on(bl.Event, seen)
    backendless_emulator.faults.add(FaultRule(kind="drop_before", count=None))
    with pytest.raises(bl.ConnectionFailed):
        await backendless_app.users.describe_user_class()
    assert seen.kinds == ["RequestSent", "RetryScheduled"] * 2 + ["RequestSent",
                                                                  "OperationFailed"]
    assert {(e.reason, e.status, e.fault_code) for e in seen.of(bl.RetryScheduled)} == {
        ("ConnectionFailed", None, None)}
    [failed] = seen.of(bl.OperationFailed)
    assert (failed.error, failed.attempt, failed.status, failed.fault_code) == (
        "ConnectionFailed", 3, None, None)


@pytest.mark.parametrize("key", [None, "telegram:12345"])
async def test_session_expired_payload(key: str | None, backendless_emulator: Emulator,
                                       backendless_app: bl.Backendless,
                                       backendless_user: bl.BackendlessUser) -> None:
    scope = backendless_app.users if key is None else backendless_app.users.session(key)
    user = backendless_user
    if key is not None:
        user = await scope.login("test-user@example.com", TEST_PASSWORD)
    seen = Recorder()
    backendless_app.on(bl.Event, seen)
    backendless_emulator.advance_clock(3601)
    user.set_property("x", 1)
    with pytest.raises(bl.InvalidUserToken):
        await scope.update(user)
    assert seen.kinds == ["RequestSent", "ResponseReceived", "OperationFailed", "SessionExpired"]
    [expired] = seen.of(bl.SessionExpired)
    assert expired == bl.SessionExpired(operation="users.update", route=UPDATE_ROUTE,
                                        object_id=user.object_id, fault_code=3064,
                                        session_key=key or "default")
    assert not scope.is_logged_in  # the handlers saw the library's state settled


# -- handlers -----------------------------------------------------------------------------------

async def test_sync_and_async_handlers_both_run_before_the_operation_returns(
        backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser) -> None:
    sync_seen = Recorder()
    async_seen: list[bl.Event] = []

    async def async_handler(event: bl.UserUpdated) -> None:
        await asyncio.sleep(0.01)
        async_seen.append(event)

    backendless_app.on(bl.UserUpdated, sync_seen)
    backendless_app.on(bl.UserUpdated, async_handler)
    backendless_user.set_property("x", 1)
    await backendless_app.users.update(backendless_user)
    assert len(sync_seen.events) == 1 and async_seen == sync_seen.events


async def test_a_subscription_sees_its_class_and_subclasses_only(
        backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser) -> None:
    updates, everything = Recorder(), Recorder()
    backendless_app.on(bl.UserUpdated, updates)
    backendless_app.on(bl.Event, everything)
    backendless_user.set_property("x", 1)
    await backendless_app.users.update(backendless_user)
    await backendless_app.users.describe_user_class()
    assert updates.kinds == ["UserUpdated"]
    assert everything.kinds == ["RequestSent", "ResponseReceived", "UserUpdated",
                                "RequestSent", "ResponseReceived"]


async def test_unsubscribe(backendless_app: bl.Backendless,
                           backendless_user: bl.BackendlessUser) -> None:
    seen = Recorder()
    unsubscribe = backendless_app.on(bl.ResponseReceived, seen)
    await backendless_app.users.describe_user_class()
    assert len(seen.events) == 1
    unsubscribe()
    unsubscribe()  # harmless
    await backendless_app.users.describe_user_class()
    assert len(seen.events) == 1
    # the same handler subscribed twice: each unsubscribe removes one subscription, once
    first = backendless_app.on(bl.ResponseReceived, seen)
    backendless_app.on(bl.ResponseReceived, seen)
    first()
    first()
    await backendless_app.users.describe_user_class()
    assert len(seen.events) == 2


def test_subscribing_needs_an_event_class_and_a_callable() -> None:
    hooks = Hooks()
    with pytest.raises(TypeError):
        hooks.on(str, print)  # type: ignore[type-var]
    with pytest.raises(TypeError):
        hooks.on(bl.UserUpdated(operation="o", route="r", object_id="i", changed=(), attempt=1,
                                duration_ms=0.0), print)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        hooks.on(bl.UserUpdated, "not callable")  # type: ignore[arg-type]


async def test_a_subscription_racing_a_resolution_is_not_lost() -> None:
    """BlockingBackendless.on() subscribes from the caller's thread while the loop thread may be
    resolving the handlers of an event: the new subscription must not be hidden by a cache
    filled from what was read before it."""
    hooks = Hooks()
    late = Recorder()

    class Interleaving(dict):  # type: ignore[type-arg]
        raced = False

        def get(self, key: Any, default: Any = None) -> Any:
            # UserLoggedOut's subscriptions were read; the other thread subscribes to it now
            if key is bl.Event and not self.raced:
                self.raced = True
                hooks.on(bl.UserLoggedOut, late)
            return super().get(key, default)

    # another subscription exists, so wants() resolves (an empty registry answers at once)
    hooks._by_type = Interleaving({bl.UserUpdated: (Recorder(),)})
    hooks.wants(bl.UserLoggedOut)  # raced: either answer is fine
    assert hooks.wants(bl.UserLoggedOut)
    await hooks.emit(bl.UserLoggedOut(operation="users.logout", route="GET users/logout",
                                      object_id=None))
    assert late.kinds == ["UserLoggedOut"]


async def test_subscriptions_from_other_threads(backendless_app: bl.Backendless,
                                                backendless_user: bl.BackendlessUser) -> None:
    seen = Recorder()
    unsubscribe = await asyncio.to_thread(backendless_app.on, bl.ResponseReceived, seen)
    await backendless_app.users.describe_user_class()
    await asyncio.to_thread(unsubscribe)
    await backendless_app.users.describe_user_class()
    assert seen.kinds == ["ResponseReceived"]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_failing_hook_is_logged_and_never_breaks_the_operation(
        kind: str, backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="backendless_aio")

    def failing(event: bl.Event) -> None:
        raise RuntimeError(f"hook bug on {type(event).__name__}")

    async def failing_async(event: bl.Event) -> None:
        await asyncio.sleep(0)
        failing(event)

    after = Recorder()
    backendless_app.on(bl.Event, failing if kind == "sync" else failing_async)
    backendless_app.on(bl.Event, after)  # subscribed after the failing one: still runs
    backendless_user.set_property("x", 1)
    assert await backendless_app.users.update(backendless_user) is backendless_user
    assert after.kinds == ["RequestSent", "ResponseReceived", "UserUpdated"]
    with pytest.raises(bl.InvalidLogin):  # a fault stays the fault, not the hook's error
        await backendless_app.users.session().login("test-user@example.com", "wrong")
    records = [r for r in caplog.records
               if r.getMessage().startswith("backendless.hook_failed")]
    assert [r.backendless["hook_event"] for r in records] == [  # type: ignore[attr-defined]
        "RequestSent", "ResponseReceived", "UserUpdated",
        "RequestSent", "ResponseReceived", "OperationFailed"]
    record = records[2]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    fields = record.backendless  # type: ignore[attr-defined]
    assert fields["operation"] == "users.update" and fields["error"] == "RuntimeError"
    assert "failing" in fields["handler"]
    assert "Traceback" in caplog.text and "hook bug on UserUpdated" in caplog.text


# -- scopes -------------------------------------------------------------------------------------

async def test_scope_subscriptions_see_their_scope_only(
        backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser) -> None:
    await backendless_app.users.register({"email": "b@example.com", "password": TEST_PASSWORD})
    alice_scope = backendless_app.users.session("alice")
    bob_scope = backendless_app.users.session("bob")
    alice_seen, bob_seen, app_seen = Recorder(), Recorder(), Recorder()
    unsubscribe_alice = alice_scope.on(bl.Event, alice_seen)
    bob_scope.on(bl.UserLoggedIn, bob_seen)
    backendless_app.on(bl.UserLoggedIn, app_seen)

    alice = await alice_scope.login("test-user@example.com", TEST_PASSWORD)
    bob = await bob_scope.login("b@example.com", TEST_PASSWORD)
    assert [e.object_id for e in alice_seen.of(bl.UserLoggedIn)] == [alice.object_id]
    assert [e.object_id for e in bob_seen.events] == [bob.object_id]
    assert [e.object_id for e in app_seen.events] == [alice.object_id, bob.object_id]
    assert alice_seen.kinds == ["RequestSent", "ResponseReceived", "UserLoggedIn"]

    unsubscribe_alice()
    await alice_scope.logout()
    assert len(alice_seen.events) == 3 and len(app_seen.events) == 2


async def test_default_scope_subscriptions_see_the_default_scope_only(
        backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser) -> None:
    default_seen = Recorder()
    backendless_app.users.on(bl.UserLoggedIn, default_seen)
    await backendless_app.users.session("other").login("test-user@example.com", TEST_PASSWORD)
    assert default_seen.events == []


async def test_hooks_run_without_holding_a_concurrency_slot(
        backendless_emulator: Emulator) -> None:
    async with bl.Backendless(app_id=backendless_emulator.app_id,
                              api_key=backendless_emulator.api_key,
                              server_url=backendless_emulator.url, max_concurrency=1,
                              retry=bl.RetryPolicy(backoff=False)) as app:
        looked_up: list[Any] = []

        async def on_failure(event: bl.OperationFailed) -> None:
            looked_up.append(await app.users.describe_user_class())

        app.on(bl.OperationFailed, on_failure)
        with pytest.raises(bl.InvalidLogin):
            await asyncio.wait_for(app.users.login("nobody@example.com", "wrong"), 0.5)
        assert len(looked_up) == 1


async def test_client_side_refusals_are_announced_and_logged(
        backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser) -> None:
    seen = Recorder()
    backendless_app.on(bl.Event, seen)
    await backendless_app.users.logout()
    seen.events.clear()
    backendless_user.set_property("x", 1)
    with structlog.testing.capture_logs() as logs, pytest.raises(bl.UserNotLoggedIn):
        await backendless_app.users.update(backendless_user)
    assert seen.events == [bl.OperationFailed(
        operation="users.update", route=UPDATE_ROUTE, attempt=0, duration_ms=0.0,
        error="UserNotLoggedIn", status=None, fault_code=3028,
        object_id=backendless_user.object_id)]
    assert [(e["event"], e["fault_code"], e["attempt"], e["status"]) for e in logs] == [
        ("backendless.users.update", 3028, 0, None)]
    with pytest.raises(bl.EmptyLogin):
        await backendless_app.users.login("", "x")
    assert seen.events[-1].fault_code == 3006 and seen.events[-1].attempt == 0
