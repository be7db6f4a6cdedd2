"""The blocking facade (issue #6): scripts, threads, running loops, hooks, callbacks, closing.

The facade runs its own loop in a daemon thread, so the emulator it talks to must not run on the
test's thread (a blocking call would stop the very loop that has to answer it): the
``emu`` fixture serves it from a loop in a background thread instead.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Coroutine, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import aiohttp
import pytest
import structlog

import backendless_aio as bl
from backendless_aio.emulator import Emulator, EmulatorSettings, FaultRule

T = TypeVar("T")
PASSWORD = "pw-123456"
LOOP_THREAD = "backendless-aio-loop"


class ThreadedEmulator:
    """An emulator served by an event loop in a background thread, usable from sync code."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="emulator-loop",
                                       daemon=True)
        self.thread.start()
        self.emu = Emulator(settings)
        self.run(self.emu.start())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def on_loop(self, function: Callable[[], T]) -> T:
        async def call() -> T:
            return function()
        return self.run(call())

    def stored(self, object_id: str) -> dict[str, Any]:
        user = self.run(self.emu.get_stored_user(object_id))
        assert user is not None
        return user

    def add_fault(self, rule: FaultRule) -> None:
        self.on_loop(lambda: self.emu.faults.add(rule))

    def close(self) -> None:
        try:
            self.run(self.emu.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture
def emu() -> Iterator[ThreadedEmulator]:
    emulator = ThreadedEmulator(EmulatorSettings(fast_password_hashing=True,
                                                 record_requests=True))
    try:
        yield emulator
    finally:
        emulator.close()


def make_app(emu: ThreadedEmulator, **kwargs: Any) -> bl.BlockingBackendless:
    kwargs.setdefault("retry", bl.RetryPolicy(backoff=False))
    return bl.BlockingBackendless(app_id=emu.emu.app_id, api_key=emu.emu.api_key,
                                  server_url=emu.emu.url, **kwargs)


@pytest.fixture
def app(emu: ThreadedEmulator) -> Iterator[bl.BlockingBackendless]:
    with make_app(emu) as application:
        yield application


def register_and_login(users: bl.BlockingUserService, email: str,
                       **props: Any) -> bl.BackendlessUser:
    users.register({"email": email, "password": PASSWORD, **props})
    return users.login(email, PASSWORD)


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == LOOP_THREAD and t.is_alive()]


def open_connections(connector: aiohttp.BaseConnector) -> int:
    """Connections the pool holds (in use + idle). aiohttp internals: read on the loop thread."""
    acquired = len(connector._acquired)
    idle = sum(len(conns) for conns in connector._conns.values())
    return acquired + idle


# -- script use -----------------------------------------------------------------------------------

def test_script_use(app: bl.BlockingBackendless, emu: ThreadedEmulator) -> None:
    registered = app.users.register(
        bl.BackendlessUser({"email": "bob@example.com", "password": PASSWORD, "name": "Bob"}))
    assert isinstance(registered, bl.BackendlessUser) and registered.object_id
    assert app.users.current_user is None
    user = app.users.login("bob@example.com", PASSWORD)
    assert isinstance(user, bl.BackendlessUser) and app.users.current_user is user
    assert app.users.is_logged_in and app.users.user_token
    assert app.users.object_id == user.object_id and app.users.key == "default"
    user.set_property("phoneNumber", "5551212")
    updated = app.users.update(user)
    assert updated is user and user.changed == frozenset()
    assert emu.stored(user.object_id or "")["phoneNumber"] == "5551212"
    assert app.users.get_current_user() is user
    assert app.users.is_valid_login() is True
    assert app.users.logout() is None
    assert app.users.user_token is None and app.users.is_valid_login() is False
    assert "Blocking" in repr(app) and "logged out" in repr(app.users)


# -- every operation: the same objects and the same faults as the async API -----------------------

Step = tuple[str, Callable[[], Any]]
VOLATILE = {"objectId", "created", "updated", "lastLogin", "ownerId"}


def scenario(users: Any, emulator: Emulator) -> Generator[Step, Any, None]:
    """Every operation, successes and faults; ``users`` is a blocking or an async service.

    Each step yields a thunk; the driver runs it (awaiting it on the async side) and sends back
    the result, or the exception it raised.
    """
    alice = bl.BackendlessUser({"email": "alice@example.com", "password": PASSWORD,
                                "name": "Alice", "age": 30})
    registered = yield "register", lambda: users.register(alice)
    yield "register returns the given user", lambda: registered is alice
    yield "register again", lambda: users.register({"email": "alice@example.com",
                                                    "password": PASSWORD})
    yield "register without password", lambda: users.register({"email": "p@example.com"})
    other = yield "register a mapping", lambda: users.register(
        {"email": "other@example.com", "password": PASSWORD, "name": "Other"})
    yield "wrong password", lambda: users.login("alice@example.com", "wrong")
    yield "empty login", lambda: users.login("", PASSWORD)
    yield "update logged out", lambda: users.update(alice)
    user = yield "login", lambda: users.login("alice@example.com", PASSWORD)
    yield "current user", lambda: users.get_current_user()
    yield "reload current user", lambda: users.get_current_user(reload=True)
    user.set_property("age", 31)
    updated = yield "update", lambda: users.update(user)
    yield "update returns the given user", lambda: updated is user
    yield "valid login", lambda: users.is_valid_login()
    yield "find by id", lambda: users.find_by_id(user.object_id)
    yield "find by id with props", lambda: users.find_by_id(user.object_id, props=["age"])
    yield "find nobody", lambda: users.find_by_id("NO-SUCH-ID")
    yield "describe", lambda: users.describe_user_class()
    yield "roles", lambda: users.get_user_roles()
    yield "verify right", lambda: users.verify_password(PASSWORD)
    yield "verify wrong", lambda: users.verify_password("nope")
    yield "verify empty", lambda: users.verify_password("")
    yield "restore password", lambda: users.restore_password("alice@example.com")
    yield "resend confirmation", lambda: users.resend_email_confirmation("alice@example.com")
    yield "set status without server key", lambda: users.set_user_status(user.object_id,
                                                                          "DISABLED")
    yield "set status GUEST", lambda: users.set_user_status(user.object_id, "GUEST")
    victim = yield "find the other user", lambda: users.find_by_id(other.object_id)
    victim.set_property("name", "hacked")
    yield "update another user", lambda: users.update(victim)
    ghost = bl.BackendlessUser._from_wire({"objectId": "NO-SUCH-ID"})
    ghost.set_property("name", "x")
    yield "update nobody", lambda: users.update(ghost)
    taken = yield "find alice again", lambda: users.find_by_id(user.object_id)
    taken.email = "other@example.com"
    yield "identity conflict", lambda: users.update(taken)
    yield "update without objectId", lambda: users.update(bl.BackendlessUser({"name": "x"}))
    yield "update a dict", lambda: users.update({"objectId": "x"})
    yield "logout", lambda: users.logout()
    yield "current user logged out", lambda: users.get_current_user()
    yield "valid login logged out", lambda: users.is_valid_login()
    yield "guest", lambda: users.login_as_guest()
    yield "login again", lambda: users.login("alice@example.com", PASSWORD)
    emulator.advance_clock(3601)
    yield "expired session", lambda: users.is_valid_login()
    yield "update with an expired session", lambda: users.update(user)
    yield "after expiry", lambda: (users.user_token, users.current_user)


def describe(value: Any) -> Any:
    """What must be equal between the two APIs (ids and timestamps differ from run to run)."""
    if isinstance(value, bl.BackendlessUser):
        return ("user", sorted((k, repr(v)) for k, v in value.properties.items()
                               if k not in VOLATILE))
    if isinstance(value, bl.BackendlessFault):
        return ("fault", type(value).__name__, value.code, value.status, value.route,
                value.operation)
    if isinstance(value, BaseException):
        return ("error", type(value).__name__)
    if isinstance(value, list) and value and isinstance(value[0], bl.UserClassProperty):
        return ("properties", sorted(p.name for p in value))
    if isinstance(value, tuple):
        return tuple(describe(v) for v in value)
    return ("value", type(value).__name__, value)


def drive_blocking(users: bl.BlockingUserService, emulator: Emulator) -> list[Any]:
    steps = scenario(users, emulator)
    results: list[Any] = []
    value: Any = None
    while True:
        try:
            label, thunk = steps.send(value)
        except StopIteration:
            return results
        try:
            value = thunk()
        except Exception as exc:  # noqa: BLE001 - compared below
            value = exc
        results.append((label, describe(value)))


async def drive_async(users: bl.AsyncUserService, emulator: Emulator) -> list[Any]:
    steps = scenario(users, emulator)
    results: list[Any] = []
    value: Any = None
    while True:
        try:
            label, thunk = steps.send(value)
        except StopIteration:
            return results
        try:
            value = thunk()
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:  # noqa: BLE001 - compared below
            value = exc
        results.append((label, describe(value)))


def test_every_operation_matches_the_async_api(emu: ThreadedEmulator) -> None:
    with make_app(emu) as app:
        blocking = drive_blocking(app.users, emu.emu)
    emu.run(emu.emu.reset())

    async def run_async() -> list[Any]:
        async with bl.Backendless(app_id=emu.emu.app_id, api_key=emu.emu.api_key,
                                  server_url=emu.emu.url,
                                  retry=bl.RetryPolicy(backoff=False)) as async_app:
            return await drive_async(async_app.users, emu.emu)

    asynchronous = asyncio.run(run_async())
    assert [label for label, _ in blocking] == [label for label, _ in asynchronous]
    for (label, got), (_, want) in zip(blocking, asynchronous, strict=True):
        assert got == want, label
    # and the outcomes are the right ones, not merely the same on both sides
    outcome = dict(blocking)
    assert outcome["register returns the given user"] == ("value", "bool", True)
    assert outcome["update returns the given user"] == ("value", "bool", True)
    expected_faults = {
        "register again": ("UserAlreadyExists", 3033),
        "register without password": ("MissingPassword", 3011),
        "wrong password": ("InvalidLogin", 3003),
        "empty login": ("EmptyLogin", 3006),
        "update logged out": ("UserNotLoggedIn", 3028),
        "set status without server key": ("StatusChangeNotAllowed", 3054),
        "update another user": ("CannotModifyAnotherUser", 3029),
        "update nobody": ("UserNotFound", 3030),
        "identity conflict": ("IdentityConflict", 3018),
        "update with an expired session": ("InvalidUserToken", 3064),
    }
    for label, (name, code) in expected_faults.items():
        assert outcome[label][:3] == ("fault", name, code), label
    assert outcome["update without objectId"] == ("error", "ConfigurationError")
    assert outcome["update a dict"] == ("error", "TypeError")
    assert outcome["verify empty"] == ("error", "ConfigurationError")
    assert outcome["set status GUEST"] == ("error", "ConfigurationError")
    assert outcome["verify right"] == ("value", "bool", True)
    assert outcome["verify wrong"] == ("value", "bool", False)
    assert outcome["expired session"] == ("value", "bool", False)
    assert outcome["after expiry"] == (("value", "NoneType", None), ("value", "NoneType", None))
    assert outcome["logout"] == ("value", "NoneType", None)
    assert outcome["describe"][0] == "properties"
    assert ("age", "31") in outcome["update"][1]


def test_faults_are_the_very_classes_and_chain(app: bl.BlockingBackendless) -> None:
    with pytest.raises(bl.InvalidLogin) as info:
        app.users.login("nobody@example.com", PASSWORD)
    assert type(info.value) is bl.InvalidLogin and info.value.code == 3003
    with pytest.raises(TypeError, match="AsyncCallback"):
        app.users.is_valid_login(lambda ok: None)  # type: ignore[call-overload]


# -- threads --------------------------------------------------------------------------------------

def test_eight_threads_update_different_users_through_one_pool(emu: ThreadedEmulator) -> None:
    pool_size, threads, rounds = 4, 8, 5
    with make_app(emu, pool_size=pool_size) as app:
        emails = [f"t{i}@example.com" for i in range(threads)]
        for email in emails:
            app.users.register({"email": email, "password": PASSWORD})
        first = app.async_app.connector
        assert first is not None and first.limit == pool_size
        seen_open: list[int] = []
        seen_connectors: set[int] = set()
        handler_threads: set[str] = set()

        def sample(event: bl.Event) -> None:  # runs on the loop thread: safe to read the pool
            connector = app.async_app.connector
            assert connector is not None
            seen_connectors.add(id(connector))
            seen_open.append(open_connections(connector))
            handler_threads.add(threading.current_thread().name)

        app.on(bl.RequestSent, sample)
        app.on(bl.ResponseReceived, sample)
        barrier = threading.Barrier(threads)
        tokens: dict[str, str] = {}

        def worker(i: int) -> tuple[str, bl.BackendlessUser]:
            scope = app.users.session(key=f"thread:{i}")
            user = scope.login(emails[i], PASSWORD)
            tokens[user.object_id or ""] = scope.user_token or ""
            barrier.wait(10)
            for n in range(rounds):
                user.set_properties({"counter": n, "owner": f"thread-{i}"})
                assert scope.update(user) is user
            return threading.current_thread().name, user

        with ThreadPoolExecutor(threads) as executor:
            results = list(executor.map(worker, range(threads)))

        assert len({name for name, _ in results}) == threads
        assert app.async_app.connector is first and not first.closed
        assert seen_connectors == {id(first)}
        assert max(seen_open) <= pool_size
        assert handler_threads == {LOOP_THREAD}
        for i, (_, user) in enumerate(results):
            stored = emu.stored(user.object_id or "")
            assert (stored["counter"], stored["owner"]) == (rounds - 1, f"thread-{i}")
        puts = [r for r in emu.emu.requests if r.method == "PUT"]
        assert len(puts) == threads * rounds
        for put in puts:
            assert put.headers["user-token"] == tokens[put.path.rsplit("/", 1)[1]]
        assert app.users.user_token is None  # the default scope never logged in
    assert first.closed


def test_blocking_scopes_restore_from_the_store(emu: ThreadedEmulator) -> None:
    store = bl.MemorySessionStore()
    with make_app(emu, session_store=store) as app:
        assert app.session_store is store
        scope = app.users.session("cli:alice")
        scope.register({"email": "alice@example.com", "password": PASSWORD})
        user = scope.login("alice@example.com", PASSWORD, stay_logged_in=True)
        token = scope.user_token
    with make_app(emu, session_store=store) as again:
        scope = again.users.session("cli:alice")
        assert scope.key == "cli:alice" and scope.restore() is True
        assert scope.user_token == token
        current = scope.get_current_user()
        assert current is not None and current.object_id == user.object_id
        current.set_property("city", "Oslo")
        scope.update(current)
    assert emu.stored(user.object_id or "")["city"] == "Oslo"
    assert [r.method for r in emu.emu.requests if r.path.endswith("users/login")] == ["POST"]


def test_a_user_service_outlives_a_dropped_facade(emu: ThreadedEmulator) -> None:
    users = make_app(emu).users  # the facade itself is garbage at once
    gc.collect()
    users.register({"email": "keep@example.com", "password": PASSWORD})
    scope = users.session()
    del users
    gc.collect()
    assert scope.login("keep@example.com", PASSWORD).email == "keep@example.com"
    del scope
    gc.collect()  # now nothing holds it: the finaliser closes it and its thread ends
    deadline = time.monotonic() + 5
    while loop_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert loop_threads() == []


# -- inside a running event loop ------------------------------------------------------------------

async def test_use_from_inside_a_running_loop(emu: ThreadedEmulator) -> None:
    asyncio.get_running_loop()  # a notebook cell, or sync code called from async code
    with make_app(emu) as app:
        user = register_and_login(app.users, "nb@example.com")
        user.set_property("cell", 1)
        assert app.users.update(user, timeout=10) is user

        def sync_helper() -> bool:
            return app.users.is_valid_login(timeout=10)

        assert sync_helper() is True
        # callback style from a running loop: a concurrent future, awaitable with wrap_future
        got: list[bl.BackendlessUser | None] = []
        future = app.users.get_current_user(bl.AsyncCallback(got.append))
        assert isinstance(future, Future)
        assert await asyncio.wrap_future(future) is user and got == [user]
    assert emu.stored(user.object_id or "")["cell"] == 1


async def test_async_and_blocking_apps_side_by_side(emu: ThreadedEmulator) -> None:
    async with bl.Backendless(app_id=emu.emu.app_id, api_key=emu.emu.api_key,
                              server_url=emu.emu.url) as async_app:
        await async_app.users.register({"email": "mix@example.com", "password": PASSWORD})
        with make_app(emu) as app:
            user = app.users.login("mix@example.com", PASSWORD)
            found = await async_app.users.find_by_id(user.object_id or "")
            assert found.email == "mix@example.com"


def test_blocking_call_in_a_hook_is_refused_not_deadlocked(app: bl.BlockingBackendless) -> None:
    refused: list[BaseException] = []

    def hook(event: bl.UserLoggedIn) -> None:
        try:
            app.users.get_user_roles()
        except bl.BackendlessError as exc:
            refused.append(exc)

    app.on(bl.UserLoggedIn, hook)
    started = time.monotonic()
    register_and_login(app.users, "hook@example.com")
    assert time.monotonic() - started < 5
    assert len(refused) == 1 and "deadlock" in str(refused[0])
    assert "AsyncCallback" in str(refused[0])
    assert app.users.is_valid_login() is True  # the facade still works


def test_blocking_call_in_a_callback_handler_is_refused(app: bl.BlockingBackendless) -> None:
    register_and_login(app.users, "cb@example.com")
    future = app.users.get_current_user(bl.AsyncCallback(lambda u: app.users.is_valid_login()))
    with pytest.raises(bl.CallbackHandlerError) as info:
        future.result(10)
    assert isinstance(info.value.__cause__, bl.BackendlessError)
    assert "deadlock" in str(info.value.__cause__)


def test_callbacks_chain_from_a_handler(app: bl.BlockingBackendless) -> None:
    """The SDKs' callback style: the next call starts in the previous call's handler."""
    app.users.register({"email": "chain@example.com", "password": PASSWORD})
    done = threading.Event()
    trail: list[Any] = []

    def logged_in(user: bl.BackendlessUser) -> None:
        trail.append(("login", threading.current_thread().name))
        user.set_property("chained", True)
        app.users.update(user, bl.AsyncCallback(updated, failed))

    def updated(user: bl.BackendlessUser) -> None:
        trail.append(("update", user.get_property("chained")))
        done.set()

    def failed(error: BaseException) -> None:
        trail.append(("fault", error))
        done.set()

    app.users.login("chain@example.com", PASSWORD, bl.AsyncCallback(logged_in, failed))
    assert done.wait(10)
    assert trail == [("login", LOOP_THREAD), ("update", True)]


# -- callbacks, hooks and log events --------------------------------------------------------------

def test_callbacks_and_hooks_run_on_the_loop_thread(app: bl.BlockingBackendless) -> None:
    app.users.register({"email": "cbk@example.com", "password": PASSWORD})
    calls: list[tuple[str, str, Any]] = []

    def on_user(user: bl.BackendlessUser) -> None:
        calls.append(("response", threading.current_thread().name, user.email))

    async def on_fault(error: BaseException) -> None:  # coroutine handlers work too
        calls.append(("fault", threading.current_thread().name, type(error).__name__))

    events: list[tuple[str, str, Any]] = []
    app.on(bl.UserLoggedIn, lambda e: events.append(
        ("app", threading.current_thread().name, e.object_id)))

    async def scope_hook(event: bl.UserUpdated) -> None:
        events.append(("scope", threading.current_thread().name, event.changed))

    app.users.on(bl.UserUpdated, scope_hook)

    bad = app.users.login("cbk@example.com", "wrong", bl.AsyncCallback(on_user, on_fault))
    assert isinstance(bad, Future)
    with pytest.raises(bl.InvalidLogin):
        bad.result(10)
    good = app.users.login("cbk@example.com", PASSWORD, bl.AsyncCallback(on_user, on_fault))
    user = good.result(10)
    assert isinstance(user, bl.BackendlessUser) and app.users.current_user is user
    user.set_property("phone", "1")
    assert app.users.update(user).get_property("phone") == "1"
    assert calls == [("fault", LOOP_THREAD, "InvalidLogin"),
                     ("response", LOOP_THREAD, "cbk@example.com")]
    assert events == [("app", LOOP_THREAD, user.object_id), ("scope", LOOP_THREAD, ("phone",))]


def test_a_failing_response_handler_is_reported_on_the_future(
        app: bl.BlockingBackendless) -> None:
    def boom(_: Any) -> None:
        raise ValueError("handler bug")

    future = app.users.is_valid_login(bl.AsyncCallback(boom))
    with pytest.raises(bl.CallbackHandlerError) as info:
        future.result(10)
    assert isinstance(info.value.__cause__, ValueError)


def test_log_events_carry_the_callers_context(app: bl.BlockingBackendless,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="backendless_aio")
    structlog.contextvars.bind_contextvars(request_id="req-42")
    try:
        app.users.describe_user_class()
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
    records = [r for r in caplog.records if getattr(r, "backendless", None)]
    assert records, "no log event"
    event = records[-1].backendless  # type: ignore[attr-defined]
    assert event["event"] == "backendless.users.describe_user_class"
    assert event["request_id"] == "req-42"
    assert records[-1].threadName == LOOP_THREAD


# -- closing --------------------------------------------------------------------------------------

def test_close_stops_the_thread_and_the_pool(emu: ThreadedEmulator) -> None:
    before = set(loop_threads())
    app = make_app(emu)
    thread = app._portal.thread
    assert thread.is_alive() and thread.daemon
    register_and_login(app.users, "close@example.com")
    connector = app.async_app.connector
    assert connector is not None
    # a callback call still running when close() starts is finished first
    answered: list[bool] = []
    emu.add_fault(FaultRule(kind="latency", delay=0.3, methods=("GET",)))
    app.users.is_valid_login(bl.AsyncCallback(answered.append))
    app.close()
    assert answered == [True]
    assert app.closed and connector.closed and not thread.is_alive()
    assert app._portal.loop.is_closed()
    assert set(loop_threads()) == before
    app.close()  # twice is harmless
    with pytest.raises(bl.BackendlessError, match="closed"):
        app.users.is_valid_login()
    with pytest.raises(bl.BackendlessError, match="closed"):
        app.users.is_valid_login(bl.AsyncCallback())
    with pytest.raises(bl.BackendlessError, match="closed"):
        app.users.restore()


def test_with_block_closes(emu: ThreadedEmulator) -> None:
    with make_app(emu) as app:
        app.users.register({"email": "with@example.com", "password": PASSWORD})
        connector = app.async_app.connector
    assert app.closed and connector is not None and connector.closed
    assert not app._portal.thread.is_alive()


def test_close_while_another_thread_waits(emu: ThreadedEmulator) -> None:
    app = make_app(emu, retry=bl.RetryPolicy())  # default backoff
    user = register_and_login(app.users, "wait@example.com")
    emu.add_fault(FaultRule(kind="latency", delay=1.5, methods=("PUT",)))
    outcome: list[BaseException | str] = []

    def waiting() -> None:
        user.set_property("x", 1)
        try:
            app.users.update(user)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome.append(exc)
        else:
            outcome.append("answered")

    thread = threading.Thread(target=waiting)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    app.close()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 1.5
    assert len(outcome) == 1 and isinstance(outcome[0], bl.BackendlessError), outcome


@pytest.mark.skipif(os.name != "posix" or threading.current_thread() is not
                    threading.main_thread(), reason="needs SIGINT delivered to the main thread")
def test_an_interrupted_wait_cancels_the_operation(app: bl.BlockingBackendless,
                                                   emu: ThreadedEmulator) -> None:
    user = register_and_login(app.users, "ctrl-c@example.com")
    emu.add_fault(FaultRule(kind="latency", delay=1.5, methods=("PUT",)))
    user.set_property("x", 1)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            app.users.update(user)  # Ctrl-C while waiting
    finally:
        timer.join()

    async def others() -> int:
        current = asyncio.current_task()
        return len([t for t in asyncio.all_tasks() if t is not current])

    deadline = time.monotonic() + 0.5  # well before the server would have answered
    while app._portal.call(others()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert app._portal.call(others()) == 0  # the update is not left running unattended
    assert app.users.is_valid_login() is True  # and the facade goes on working


def test_close_from_a_handler_does_not_deadlock(emu: ThreadedEmulator) -> None:
    app = make_app(emu)
    closed = threading.Event()

    def close_here(_: bool) -> None:
        app.close()  # on the loop thread: it cannot wait for the loop, so it must not block
        closed.set()

    app.users.is_valid_login(bl.AsyncCallback(close_here))
    assert closed.wait(5)
    app._portal.thread.join(5)
    assert app.closed and not app._portal.thread.is_alive()


def test_the_constructor_failing_leaves_no_thread() -> None:
    before = set(loop_threads())
    with pytest.raises(bl.ConfigurationError):
        bl.BlockingBackendless(api_key="only-a-key")
    time.sleep(0.05)
    assert set(loop_threads()) == before


async def test_a_call_running_when_the_app_closes_fails_with_a_backendless_error(
        backendless_emulator: Emulator) -> None:
    # The async side of test_close_while_another_thread_waits: there the retry's backoff sleep
    # is cut short by the facade's loop stopping; with no backoff, the facade leaks it too.
    app = bl.Backendless(app_id=backendless_emulator.app_id, api_key=backendless_emulator.api_key,
                         server_url=backendless_emulator.url,
                         retry=bl.RetryPolicy(backoff=False))
    await app.users.register({"email": "late@example.com", "password": PASSWORD})
    user = await app.users.login("late@example.com", PASSWORD)
    backendless_emulator.faults.add(FaultRule(kind="latency", delay=1.0, methods=("PUT",)))
    user.set_property("x", 1)
    running = asyncio.ensure_future(app.users.update(user))
    await asyncio.sleep(0.2)
    await app.aclose()
    with pytest.raises(bl.BackendlessError):
        await running


SCRIPT = """
import sys
import backendless_aio as bl

url, app_id, api_key, mode = sys.argv[1:]
app = bl.BlockingBackendless(app_id=app_id, api_key=api_key, server_url=url)
app.users.register({"email": "exit-" + mode + "@example.com", "password": "pw-123456"})
if mode == "callback-in-flight":
    app.users.describe_user_class(
        bl.AsyncCallback(lambda props: print("answered", len(props) > 0, flush=True)))
elif mode == "dropped":
    del app
print("done", flush=True)
"""


@pytest.mark.parametrize("mode", ["global", "callback-in-flight", "dropped"])
def test_forgetting_to_close_does_not_hang_exit(emu: ThreadedEmulator, mode: str) -> None:
    if mode == "callback-in-flight":
        emu.add_fault(FaultRule(kind="latency", delay=0.5, methods=("GET",)))
    env = {**os.environ, "PYTHONWARNINGS": "default::ResourceWarning"}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), emu.emu.url, emu.emu.app_id,
         emu.emu.api_key, mode],
        capture_output=True, text=True, timeout=30, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 15
    assert "done" in proc.stdout
    if mode == "callback-in-flight":
        assert "answered True" in proc.stdout  # the exit let the running call finish
    assert "Unclosed" not in proc.stderr and "ResourceWarning" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


@pytest.fixture(autouse=True)
def _no_leftover_loop_threads() -> Iterator[None]:
    """Every facade a test makes has stopped its thread by the end of the test."""
    before = {t.ident for t in loop_threads()}
    yield
    gc.collect()
    deadline = time.monotonic() + 5
    while {t.ident for t in loop_threads()} - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not {t.ident for t in loop_threads()} - before, "a facade thread outlived its test"
