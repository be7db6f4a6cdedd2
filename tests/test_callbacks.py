"""AsyncCallback, the Call handle and awaitable_from_callback, against the emulator over loopback.

Exactly one handler runs, exactly once, on success, on a fault and on cancellation; a handler
that raises is logged and reported by the handle; nothing leaks a warning or a pending task.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import threading
import traceback
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import pytest
import structlog

import backendless_aio as bl
from backendless_aio.emulator import Emulator, FaultRule
from backendless_aio.testing import TEST_PASSWORD

DESCRIBE_PATH = "users/userclassprops"
KINDS = ["sync", "async"]


# -- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _structlog_unconfigured() -> Iterator[None]:
    """Log events take the stdlib path (another test may have left structlog configured)."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture(autouse=True)
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Everything the loop would report: "Task exception was never retrieved", "Task was
    destroyed but it is pending", "Future exception was never retrieved"... must stay empty."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield seen
    gc.collect()
    await asyncio.sleep(0)
    loop.set_exception_handler(previous)
    assert seen == []


@pytest.fixture
def no_unawaited_coroutines() -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []


class Spy:
    """A response and a fault handler of one kind (plain or coroutine function) that record
    every call; ``raising`` makes one of them raise after recording."""

    def __init__(self, kind: str, raising: str | None = None) -> None:
        self.kind = kind
        self.raising = raising
        self.responses: list[Any] = []
        self.faults: list[BaseException] = []
        self.finished: list[str] = []

    def _record(self, which: str, value: Any) -> None:
        (self.responses if which == "response" else self.faults).append(value)
        if self.raising == which:
            raise ValueError(f"a bug in the {which} handler")
        self.finished.append(which)

    def callback(self) -> bl.AsyncCallback[Any]:
        if self.kind == "sync":
            def on_response(value: Any) -> None:
                self._record("response", value)

            def on_fault(error: BaseException) -> None:
                self._record("fault", error)

            return bl.AsyncCallback(on_response, on_fault)

        async def on_response_async(value: Any) -> None:
            await asyncio.sleep(0)
            self._record("response", value)

        async def on_fault_async(error: BaseException) -> None:
            await asyncio.sleep(0)
            self._record("fault", error)

        return bl.AsyncCallback(on_response_async, on_fault_async)

    @property
    def calls(self) -> int:
        return len(self.responses) + len(self.faults)


async def settle() -> None:
    """Let anything already scheduled (a second, wrong delivery) happen."""
    for _ in range(5):
        await asyncio.sleep(0)


async def wait_for_request(emu: Emulator, fragment: str) -> None:
    """Until the emulator received a request whose path contains ``fragment``."""
    for _ in range(200):
        if any(fragment in r.path for r in emu.requests):
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"no request to {fragment} arrived")


# -- exactly once: success and fault ------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
async def test_response_handler_runs_once_with_the_result(
        kind: str, backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser) -> None:
    spy = Spy(kind)
    backendless_user.set_property("phoneNumber", "5551212")
    handle = backendless_app.users.update(backendless_user, spy.callback())
    assert isinstance(handle, bl.Call)
    assert not handle.done()
    assert await handle is backendless_user
    # the handler ran (to its end, async or not) before the await returned
    assert spy.responses == [backendless_user] and spy.finished == ["response"]
    assert spy.faults == []
    assert backendless_user.get_property("phoneNumber") == "5551212"
    assert handle.done() and handle.result() is backendless_user
    assert handle.exception() is None and handle.handler_error is None
    assert handle.cancel() is False
    assert await handle is backendless_user  # awaiting again gives the same answer
    await settle()
    assert spy.calls == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_fault_handler_runs_once_with_the_fault(
        kind: str, backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser) -> None:
    spy = Spy(kind)
    handle = backendless_app.users.login("test-user@example.com", "wrong-password",
                                         spy.callback())
    with pytest.raises(bl.InvalidLogin) as raised:
        await handle
    assert spy.responses == [] and spy.finished == ["fault"]
    [fault] = spy.faults
    assert fault is raised.value
    assert isinstance(fault, bl.InvalidLogin) and fault.code == 3003
    assert fault.route == "POST users/login" and fault.operation == "users.login"
    assert handle.exception() is fault
    with pytest.raises(bl.InvalidLogin):
        handle.result()
    await settle()
    assert spy.calls == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_a_client_side_refusal_reaches_the_fault_handler(
        kind: str, backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser) -> None:
    spy = Spy(kind)
    logged_out = backendless_app.users.session()
    with pytest.raises(bl.UserNotLoggedIn):
        await logged_out.update(backendless_user, spy.callback())
    assert [type(f) for f in spy.faults] == [bl.UserNotLoggedIn] and spy.responses == []


async def test_every_operation_takes_a_callback(backendless_app: bl.Backendless,
                                                backendless_user: bl.BackendlessUser) -> None:
    users = backendless_app.users
    object_id = backendless_user.object_id or ""
    spy = Spy("sync")
    handles = [
        users.find_by_id(object_id, spy.callback()),
        users.find_by_id(object_id, spy.callback(), props=["email"]),
        users.get_current_user(spy.callback(), reload=True),
        users.is_valid_login(spy.callback()),
        users.describe_user_class(spy.callback()),
        users.get_user_roles(spy.callback()),
        users.verify_password(TEST_PASSWORD, spy.callback()),
        users.restore_password("test-user@example.com", spy.callback()),
        users.resend_email_confirmation("test-user@example.com", spy.callback()),
        users.register({"email": "second@example.com", "password": TEST_PASSWORD},
                       spy.callback()),
        users.session().login_as_guest(spy.callback()),
    ]
    results = await asyncio.gather(*handles)
    assert spy.faults == []
    assert len(spy.responses) == len(handles)
    # each handle's result is what its response handler got (in completion order)
    assert all(any(r is seen or r == seen for seen in spy.responses) for r in results)
    status = users.set_user_status(object_id, bl.UserStatus.DISABLED, spy.callback())
    with pytest.raises(bl.StatusChangeNotAllowed):  # the client key may not do this
        await status
    logout = users.logout(spy.callback())
    assert await logout is None
    assert len(spy.faults) == 1 and spy.responses[-1] is None


async def test_a_handler_may_be_missing(backendless_app: bl.Backendless,
                                        backendless_user: bl.BackendlessUser) -> None:
    ok = backendless_app.users.describe_user_class(bl.AsyncCallback())
    assert isinstance(await ok, list)
    fault = backendless_app.users.login("test-user@example.com", "wrong", bl.AsyncCallback())
    with pytest.raises(bl.InvalidLogin):
        await fault


# -- exactly once: cancellation -----------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
async def test_cancel_in_flight_reports_operation_cancelled_once(
        kind: str, backendless_emulator: Emulator, backendless_app: bl.Backendless) -> None:
    backendless_emulator.faults.add(FaultRule(kind="latency", delay=0.3,
                                              path_contains=DESCRIBE_PATH))
    spy = Spy(kind)
    handle = backendless_app.users.describe_user_class(spy.callback())
    await wait_for_request(backendless_emulator, DESCRIBE_PATH)
    assert handle.cancel() is True
    with pytest.raises(asyncio.CancelledError):
        await handle
    assert spy.responses == [] and spy.finished == ["fault"]
    [fault] = spy.faults
    assert isinstance(fault, bl.OperationCancelled) and isinstance(fault, bl.BackendlessError)
    assert handle.done() and handle.cancel() is False
    with pytest.raises(asyncio.CancelledError):
        handle.result()
    with pytest.raises(asyncio.CancelledError):
        handle.exception()
    await settle()
    assert spy.calls == 1
    # the app is fine afterwards, and its pool has no connection stuck
    assert isinstance(await backendless_app.users.describe_user_class(), list)


@pytest.mark.parametrize("kind", KINDS)
async def test_cancel_before_the_first_step_still_reports_once(
        kind: str, backendless_emulator: Emulator, backendless_app: bl.Backendless,
        no_unawaited_coroutines: None) -> None:
    spy = Spy(kind)
    handle = backendless_app.users.describe_user_class(spy.callback())
    assert handle.cancel() is True  # before the task ran at all
    assert handle.cancel() is True  # asking again is harmless
    with pytest.raises(asyncio.CancelledError):
        await handle
    assert [type(f) for f in spy.faults] == [bl.OperationCancelled] and spy.responses == []
    assert not any(DESCRIBE_PATH in r.path for r in backendless_emulator.requests)
    await settle()
    assert spy.calls == 1


async def test_a_task_cancelled_before_its_first_step_by_someone_else(
        backendless_app: bl.Backendless, no_unawaited_coroutines: None) -> None:
    """As the loop does when it shuts down: the task itself is cancelled, not the handle."""
    for kind in KINDS:
        spy = Spy(kind)
        handle = backendless_app.users.describe_user_class(spy.callback())
        task = handle._task
        assert task is not None
        task.cancel()
        await asyncio.wait((task,))
        await settle()
        assert [type(f) for f in spy.faults] == [bl.OperationCancelled]
        assert spy.finished == ["fault"]
        with pytest.raises(asyncio.CancelledError):
            handle.result()


async def test_cancelling_the_awaiting_task_does_not_cancel_the_operation(
        backendless_emulator: Emulator, backendless_app: bl.Backendless) -> None:
    backendless_emulator.faults.add(FaultRule(kind="latency", delay=0.2,
                                              path_contains=DESCRIBE_PATH))
    spy = Spy("sync")
    handle = backendless_app.users.describe_user_class(spy.callback())

    async def waiter() -> Any:
        return await handle

    waiting = asyncio.ensure_future(waiter())
    await wait_for_request(backendless_emulator, DESCRIBE_PATH)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not handle.done()
    properties = await handle
    assert spy.responses == [properties] and spy.faults == []


# -- a handler that raises ----------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("which", ["response", "fault"])
async def test_a_raising_handler_is_logged_and_reported_by_the_handle(
        kind: str, which: str, backendless_app: bl.Backendless,
        backendless_user: bl.BackendlessUser, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="backendless_aio")
    spy = Spy(kind, raising=which)
    password = TEST_PASSWORD if which == "response" else "wrong-password"
    handle = backendless_app.users.login("test-user@example.com", password, spy.callback())
    with pytest.raises(bl.CallbackHandlerError) as raised:
        await handle
    bug = handle.handler_error
    assert isinstance(bug, ValueError) and str(bug) == f"a bug in the {which} handler"
    assert raised.value.__cause__ is bug
    assert "ValueError" in str(raised.value)
    # the handler's exception is its own, not chained to the operation's fault
    assert bug.__context__ is None
    with pytest.raises(bl.CallbackHandlerError):
        handle.result()
    assert isinstance(handle.exception(), bl.CallbackHandlerError)
    assert spy.calls == 1 and spy.finished == []

    [record] = [r for r in caplog.records if r.getMessage().startswith(
        "backendless.callback_failed")]
    assert record.name == "backendless_aio" and record.levelno == logging.ERROR
    assert record.exc_info is not None and record.exc_info[1] is bug
    assert record.backendless["error"] == "ValueError"  # type: ignore[attr-defined]
    assert "on_" in record.backendless["handler"]  # type: ignore[attr-defined]
    text = caplog.text
    assert "Traceback" in text and f"a bug in the {which} handler" in text
    # the loop keeps running: the next operation works
    assert isinstance(await backendless_app.users.describe_user_class(), list)


async def test_a_dropped_handle_with_a_raising_handler_leaves_nothing_behind(
        backendless_emulator: Emulator, caplog: pytest.LogCaptureFixture,
        loop_errors: list[dict[str, Any]]) -> None:
    caplog.set_level(logging.ERROR, logger="backendless_aio")
    seen: list[Any] = []

    def on_response(value: Any) -> None:
        seen.append(value)
        raise RuntimeError("nobody awaits this handle")

    async with bl.Backendless(app_id=backendless_emulator.app_id,
                              api_key=backendless_emulator.api_key,
                              server_url=backendless_emulator.url) as app:
        app.users.describe_user_class(bl.AsyncCallback(on_response))  # the handle is dropped
        gc.collect()  # the app keeps the task referenced until it finishes
        await asyncio.sleep(0)
    # aclose() let the call finish
    assert len(seen) == 1
    assert any("callback_failed" in r.getMessage() for r in caplog.records)
    gc.collect()
    assert loop_errors == []


# -- the Call without a callback, and misuse ----------------------------------------------------

async def test_without_a_callback_a_call_is_a_plain_coroutine(
        backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser,
        no_unawaited_coroutines: None) -> None:
    call = backendless_app.users.describe_user_class()
    assert isinstance(call, Coroutine) and "coroutine" in repr(call)
    assert not call.done()
    with pytest.raises(asyncio.InvalidStateError):
        call.result()
    task = asyncio.ensure_future(call)
    roles, properties = await asyncio.gather(backendless_app.users.get_user_roles(), task)
    assert isinstance(roles, list) and isinstance(properties, list)
    unused = backendless_app.users.describe_user_class()
    assert unused.cancel() is False  # closes it: no "never awaited" warning
    another = backendless_app.users.get_user_roles()
    another.close()


async def test_a_callback_that_is_not_an_async_callback_is_refused(
        backendless_app: bl.Backendless, no_unawaited_coroutines: None) -> None:
    with pytest.raises(TypeError, match="AsyncCallback"):
        backendless_app.users.describe_user_class(lambda v: v)  # type: ignore[arg-type]


def test_a_callback_needs_a_running_loop(no_unawaited_coroutines: None) -> None:
    app = bl.Backendless(app_id="app", api_key="key")
    with pytest.raises(RuntimeError, match="running event loop"):
        app.users.describe_user_class(bl.AsyncCallback())


def test_async_callback_checks_its_handlers() -> None:
    with pytest.raises(TypeError):
        bl.AsyncCallback(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bl.AsyncCallback(None, "not callable")  # type: ignore[arg-type]

    def on_ok(value: Any) -> None: ...

    assert repr(bl.AsyncCallback(on_ok)) == (
        "AsyncCallback(test_async_callback_checks_its_handlers.<locals>.on_ok, None)")


async def test_a_handler_is_named_never_shown(backendless_app: bl.Backendless,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """A handler's repr may show what it is bound to (a token, say): reprs and logs name it."""
    caplog.set_level(logging.ERROR, logger="backendless_aio")
    secret = "bound-secret-value"

    def on_ok(bound: str, value: Any) -> None:
        raise ValueError("bug")

    class Handler:
        def __call__(self, value: Any) -> None: ...

        def __repr__(self) -> str:
            return f"Handler({secret})"

    callback = bl.AsyncCallback(functools.partial(on_ok, secret), Handler())
    assert secret not in repr(callback) and "partial(" in repr(callback)
    with pytest.raises(bl.CallbackHandlerError):
        await backendless_app.users.describe_user_class(callback)
    assert caplog.records and secret not in caplog.text


async def test_a_running_handle_works_with_gather_wait_for_and_tasks(
        backendless_app: bl.Backendless, no_unawaited_coroutines: None) -> None:
    spy = Spy("sync")
    handle = backendless_app.users.describe_user_class(spy.callback())
    assert "running" in repr(handle)
    with pytest.raises(asyncio.InvalidStateError):
        handle.result()
    with pytest.raises(asyncio.InvalidStateError):
        handle.exception()
    properties = await asyncio.wait_for(handle, 5)
    assert "done" in repr(handle)
    roles = backendless_app.users.get_user_roles(spy.callback())
    again = backendless_app.users.describe_user_class(spy.callback())
    assert await asyncio.gather(roles, asyncio.ensure_future(again)) == [
        ["NotAuthenticatedUser"], properties]
    assert spy.calls == 3
    unused = backendless_app.users.get_user_roles(spy.callback())
    unused.close()  # closes nothing but a waiter: the operation still runs and reports
    assert await unused == ["NotAuthenticatedUser"]
    assert spy.calls == 4


async def test_result_raises_the_same_error_without_growing_its_traceback(
        backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser) -> None:
    handle = backendless_app.users.login("test-user@example.com", "wrong", bl.AsyncCallback())
    with pytest.raises(bl.InvalidLogin):
        await handle
    lengths = []
    for _ in range(3):
        try:
            handle.result()
        except bl.InvalidLogin as fault:
            lengths.append(len(traceback.extract_tb(fault.__traceback__)))
    assert len(set(lengths)) == 1


# -- awaitable_from_callback --------------------------------------------------------------------

async def test_the_bridge_over_our_own_operations(backendless_app: bl.Backendless,
                                                  backendless_user: bl.BackendlessUser) -> None:
    properties = await bl.awaitable_from_callback(backendless_app.users.describe_user_class)
    assert isinstance(properties, list) and properties
    found = await bl.awaitable_from_callback(backendless_app.users.find_by_id,
                                             backendless_user.object_id, props=["email"])
    assert found.email == "test-user@example.com"
    with pytest.raises(bl.InvalidLogin):
        await bl.awaitable_from_callback(backendless_app.users.login, "test-user@example.com",
                                         "wrong")


def _later_in_a_thread(action: Callable[[], None], delay: float = 0.02) -> threading.Thread:
    def run() -> None:
        threading.Event().wait(delay)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


async def test_the_bridge_with_a_callback_invoked_from_another_thread() -> None:
    threads: list[threading.Thread] = []
    loop_thread = threading.get_ident()
    ran_in: list[int] = []

    def sdk_call(value: str, callback: bl.AsyncCallback[str], *, fail: Any = None) -> None:
        """An SDK-style function: returns at once, answers later from its own thread."""
        assert callback.response_handler is not None and callback.fault_handler is not None
        if fail is None:
            threads.append(_later_in_a_thread(lambda: callback.response_handler(value.upper())))
        else:
            threads.append(_later_in_a_thread(lambda: callback.fault_handler(fail)))

    def on_loop(value: str) -> str:
        ran_in.append(threading.get_ident())
        return value

    assert await bl.awaitable_from_callback(sdk_call, "hello") == "HELLO"
    with pytest.raises(bl.BackendlessError, match="no such thing"):
        await bl.awaitable_from_callback(sdk_call, "x", fail="no such thing")
    error = KeyError("k")
    with pytest.raises(KeyError) as raised:
        await bl.awaitable_from_callback(sdk_call, "x", fail=error)
    assert raised.value is error
    for thread in threads:
        thread.join()
    # the future was settled on the loop's thread (call_soon_threadsafe), not the SDK's
    result = await bl.awaitable_from_callback(
        lambda cb: cb.response_handler(on_loop("same thread")))
    assert result == "same thread" and ran_in == [loop_thread]


async def test_the_bridge_takes_the_first_answer_only() -> None:
    def chatty(callback: bl.AsyncCallback[int]) -> None:
        assert callback.response_handler is not None and callback.fault_handler is not None
        callback.response_handler(1)
        callback.response_handler(2)
        callback.fault_handler(ValueError("too late"))

    assert await bl.awaitable_from_callback(chatty) == 1


async def test_the_bridge_awaits_what_the_function_returns() -> None:
    async def coroutine_style(delay: float, callback: bl.AsyncCallback[str]) -> None:
        await asyncio.sleep(delay)
        assert callback.response_handler is not None
        callback.response_handler("done")

    assert await bl.awaitable_from_callback(coroutine_style, 0.01) == "done"

    async def answers_then_raises(callback: bl.AsyncCallback[str]) -> None:
        assert callback.fault_handler is not None
        callback.fault_handler(ValueError("reported"))
        raise RuntimeError("and then broke")

    # the function's own error wins; the reported fault is not left "never retrieved"
    with pytest.raises(RuntimeError, match="and then broke"):
        await bl.awaitable_from_callback(answers_then_raises)


async def test_the_bridge_cancelled_then_called_back_late(
        loop_errors: list[dict[str, Any]]) -> None:
    callbacks: list[bl.AsyncCallback[str]] = []
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(bl.awaitable_from_callback(callbacks.append), 0.02)
    [callback] = callbacks
    assert callback.response_handler is not None
    thread = _later_in_a_thread(lambda: callback.response_handler("late"), delay=0)
    thread.join()
    await settle()
    callback.response_handler("late, same thread")
    assert loop_errors == []


async def test_cancelling_the_bridge_cancels_our_call(
        backendless_emulator: Emulator, backendless_app: bl.Backendless) -> None:
    backendless_emulator.faults.add(FaultRule(kind="latency", delay=0.3,
                                              path_contains=DESCRIBE_PATH))
    calls: list[bl.Call[Any]] = []

    def start(callback: bl.AsyncCallback[Any]) -> bl.Call[Any]:
        call = backendless_app.users.describe_user_class(callback)
        calls.append(call)
        return call

    bridge = asyncio.ensure_future(bl.awaitable_from_callback(start))
    await wait_for_request(backendless_emulator, DESCRIBE_PATH)
    bridge.cancel()
    with pytest.raises(asyncio.CancelledError):
        await bridge
    [call] = calls
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_aclose_waits_for_calls_chained_from_a_handler(
        backendless_emulator: Emulator) -> None:
    outcome: list[Any] = []
    app = bl.Backendless(app_id=backendless_emulator.app_id,
                         api_key=backendless_emulator.api_key,
                         server_url=backendless_emulator.url)

    def on_registered(user: bl.BackendlessUser) -> None:
        app.users.login("chain@example.com", TEST_PASSWORD,
                        bl.AsyncCallback(outcome.append, outcome.append))

    async with app:
        app.users.register({"email": "chain@example.com", "password": TEST_PASSWORD},
                           bl.AsyncCallback(on_registered, outcome.append))
    assert [type(o) for o in outcome] == [bl.BackendlessUser]
