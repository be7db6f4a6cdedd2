"""AsyncCallback and the bridges between awaitables and the callback style of the official SDKs.

Every operation returns a :class:`Call`. Without a callback it is a plain coroutine: await it,
``asyncio.create_task`` it, ``gather`` it. With an :class:`AsyncCallback` it starts at once on the
running loop and delivers exactly one handler call: ``response_handler(result)`` or
``fault_handler(error)`` (a cancellation is reported as :class:`OperationCancelled`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import TracebackType
from typing import Any, Generic, TypeVar

from . import logs
from .errors import BackendlessError, CallbackHandlerError, OperationCancelled

__all__ = ["AsyncCallback", "Call", "awaitable_from_callback"]

T = TypeVar("T")

ResponseHandler = Callable[[T], "Awaitable[object] | object"]
FaultHandler = Callable[[BaseException], "Awaitable[object] | object"]


class AsyncCallback(Generic[T]):
    """``AsyncCallback(response_handler, fault_handler)``, as in the official SDKs.

    Each handler may be a plain function or a coroutine function. Either may be None (the
    outcome is then only in the returned handle).
    """

    __slots__ = ("fault_handler", "response_handler")

    def __init__(self, response_handler: ResponseHandler[T] | None = None,
                 fault_handler: FaultHandler | None = None) -> None:
        if response_handler is not None and not callable(response_handler):
            raise TypeError("response_handler must be callable")
        if fault_handler is not None and not callable(fault_handler):
            raise TypeError("fault_handler must be callable")
        self.response_handler = response_handler
        self.fault_handler = fault_handler

    def __repr__(self) -> str:
        return (f"AsyncCallback({_name(self.response_handler)}, "
                f"{_name(self.fault_handler)})")


def _name(handler: Any) -> str:
    """A handler's name for reprs and logs: never its repr, which may show bound arguments
    (``functools.partial(on_ok, token)``)."""
    if handler is None:
        return "None"
    name = getattr(handler, "__qualname__", None)
    if isinstance(name, str):
        return name
    if isinstance(handler, functools.partial):
        return f"partial({_name(handler.func)})"
    return type(handler).__name__


async def _call_handler(handler: Callable[[Any], Any] | None, value: Any) -> None:
    if handler is None:
        return
    result = handler(value)
    if inspect.isawaitable(result):
        await result


class Call(Coroutine[Any, Any, T]):
    """What every operation returns: a coroutine, or with a callback a running handle.

    As a handle (``update(user, AsyncCallback(...))``): ``await handle`` gives the result or
    raises the error, after the handler ran (``asyncio.gather``, ``wait_for`` and
    ``ensure_future`` take it too; cancelling what awaits it leaves the operation running);
    ``cancel()``, ``done()``, ``result()`` and ``exception()`` work as on a future. A handler
    that raised makes the handle's outcome a :class:`CallbackHandlerError` (the handler's
    exception is its cause); it is also logged. ``cancel()`` stops the operation: the fault
    handler gets an :class:`OperationCancelled`, and the handle, like a cancelled future,
    raises ``asyncio.CancelledError``. The app keeps the running task referenced until it ends.
    """

    __slots__ = ("_callback", "_cancel_requested", "_coro", "_delivered", "_error", "_error_tb",
                 "_handler_error", "_result", "_started", "_task", "_tasks", "_waiter")

    def __init__(self, coro: Coroutine[Any, Any, T], callback: AsyncCallback[T] | None = None,
                 tasks: set[asyncio.Task[Any]] | None = None) -> None:
        self._coro = coro
        self._callback = callback
        self._task: asyncio.Task[None] | None = None
        self._tasks = tasks
        self._result: Any = None
        self._error: BaseException | None = None
        self._error_tb: TracebackType | None = None
        self._handler_error: BaseException | None = None
        self._started = False
        self._cancel_requested = False
        self._delivered = False
        self._waiter: Coroutine[Any, Any, T] | None = None
        if callback is not None:
            if not isinstance(callback, AsyncCallback):
                coro.close()
                raise TypeError(f"the callback must be an AsyncCallback, not "
                                f"{type(callback).__name__}")
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                coro.close()
                raise RuntimeError(
                    "a call with an AsyncCallback needs a running event loop; in a script use "
                    "BlockingBackendless, whose calls take callbacks too") from None
            task = self._task = loop.create_task(self._deliver())
            task.add_done_callback(self._finished)
            if tasks is not None:
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    async def _deliver(self) -> None:
        # The handler runs outside the ``except`` blocks: an exception it raises is then its own,
        # not chained to the operation's error (whose traceback holds the library's frames).
        self._started = True
        callback = self._callback
        assert callback is not None
        cancelled: asyncio.CancelledError | None = None
        if self._cancel_requested:  # cancel() came before this task's first step
            self._coro.close()
            cancelled = asyncio.CancelledError()
        else:
            try:
                self._result = await self._coro
            except asyncio.CancelledError as exc:
                cancelled = exc
            except Exception as exc:  # noqa: BLE001 - delivered to the fault handler
                self._set_error(exc)
            else:
                await self._run_handler(callback.response_handler, self._result)
                return
        if cancelled is not None:
            self._set_error(OperationCancelled("the operation was cancelled before it finished"))
        await self._run_handler(callback.fault_handler, self._error)
        if cancelled is not None:
            raise cancelled

    def _set_error(self, error: BaseException) -> None:
        self._error = error
        self._error_tb = error.__traceback__

    async def _run_handler(self, handler: Callable[[Any], Any] | None, value: Any) -> None:
        self._delivered = True
        try:
            await _call_handler(handler, value)
        except Exception as exc:  # noqa: BLE001 - logged and kept on the handle
            self._handler_failed(handler, exc)

    def _handler_failed(self, handler: Callable[[Any], Any] | None, exc: BaseException) -> None:
        self._handler_error = exc
        logs.emit("callback_failed", {"handler": _name(handler), "error": type(exc).__name__},
                  level="error", exc_info=exc)

    def _finished(self, task: asyncio.Task[None]) -> None:
        """The task was cancelled before its first step (by the loop shutting down, say): its
        body never ran, so close the operation and still tell the fault handler, once."""
        if self._started or self._delivered:
            return
        self._started = self._delivered = True
        self._coro.close()
        callback = self._callback
        assert callback is not None
        error = OperationCancelled("the operation was cancelled before it started")
        self._set_error(error)
        handler = callback.fault_handler
        if handler is None:
            return
        try:
            result = handler(error)
        except Exception as exc:  # noqa: BLE001 - logged and kept on the handle
            self._handler_failed(handler, exc)
            return
        if inspect.isawaitable(result):
            follow_up = task.get_loop().create_task(self._await_late_handler(handler, result))
            if self._tasks is not None:
                self._tasks.add(follow_up)
                follow_up.add_done_callback(self._tasks.discard)

    async def _await_late_handler(self, handler: Callable[[Any], Any],
                                  result: Awaitable[Any]) -> None:
        try:
            await result
        except Exception as exc:  # noqa: BLE001 - logged and kept on the handle
            self._handler_failed(handler, exc)

    # -- the coroutine protocol --------------------------------------------------------------
    # Without a callback, the operation itself. With one, a coroutine that awaits the handle:
    # asyncio.gather(), wait_for() and ensure_future() then take a handle as they take a
    # coroutine (the operation already runs; they only wait for it).
    def _driven(self) -> Coroutine[Any, Any, Any]:
        if self._task is None:
            return self._coro
        if self._waiter is None:
            self._waiter = self._await_handle()
        return self._waiter

    def send(self, value: Any) -> Any:
        return self._driven().send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        if val is None and tb is None:
            return self._driven().throw(typ)
        return self._driven().throw(typ, val, tb)

    def close(self) -> None:
        if self._task is None:
            self._coro.close()
        elif self._waiter is not None:
            self._waiter.close()

    def __await__(self) -> Generator[Any, None, T]:
        if self._task is None:
            return self._coro.__await__()
        return self._await_handle().__await__()

    async def _await_handle(self) -> T:
        task = self._task
        assert task is not None
        if not task.done():
            # wait() leaves the operation running if the awaiting task is the one cancelled
            await asyncio.wait((task,))
        return self.result()

    # -- the handle ---------------------------------------------------------------------------
    def cancel(self) -> bool:
        """Cancel the operation (the fault handler hears of it). False if already finished."""
        task = self._task
        if task is None:
            self._coro.close()
            return False
        if task.done():
            return False
        if not self._started:
            # Cancelling a task before its first step skips its body (and so the fault
            # handler): let the body start, see the request, and report the cancellation.
            self._cancel_requested = True
            return True
        return task.cancel()

    def done(self) -> bool:
        return self._task is not None and self._task.done()

    def result(self) -> T:
        """The result, or raise the error (or CallbackHandlerError if a handler raised).

        A cancelled call raises ``asyncio.CancelledError``, as a cancelled future does (its
        fault handler got an :class:`OperationCancelled`).
        """
        task = self._task
        if task is None or not task.done():
            raise asyncio.InvalidStateError("the call has not finished")
        if self._handler_error is not None:
            raise CallbackHandlerError(
                f"a callback handler raised {type(self._handler_error).__name__}"
            ) from self._handler_error
        if task.cancelled():
            raise asyncio.CancelledError
        if self._error is not None:
            raise self._error.with_traceback(self._error_tb)
        return self._result  # type: ignore[no-any-return]

    def exception(self) -> BaseException | None:
        """The error :meth:`result` would raise, or None; raises as :meth:`result` does when
        the call is not finished or was cancelled."""
        try:
            self.result()
        except (asyncio.CancelledError, asyncio.InvalidStateError):
            raise
        except BaseException as exc:  # noqa: BLE001 - returned, as Future.exception does
            return exc
        return None

    @property
    def handler_error(self) -> BaseException | None:
        """What a handler raised, if one did."""
        return self._handler_error

    def __repr__(self) -> str:
        name = getattr(self._coro, "__qualname__", "call")
        state = "coroutine" if self._task is None else (
            "done" if self._task.done() else "running")
        return f"<Call {name} {state}>"


async def awaitable_from_callback(function: Callable[..., Any], /, *args: Any,
                                  **kwargs: Any) -> Any:
    """Await a callback-style function: ``function(*args, AsyncCallback(ok, fault), **kwargs)``.

    For code migrating from the official SDKs: the callback may be invoked from any thread, once
    (later invocations are ignored); its response becomes the result, its fault is raised
    (wrapped in BackendlessError if it is not an exception). If ``function`` returns an
    awaitable, it is awaited first. There is no timeout of its own: a function that never calls
    back is waited for until the awaiting task is cancelled (``asyncio.wait_for``), which also
    cancels a :class:`Call` the function returned.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    owner = threading.get_ident()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            error = value if isinstance(value, BaseException) else BackendlessError(str(value))
            future.set_exception(error)

    def deliver(ok: bool, value: Any) -> None:
        if threading.get_ident() == owner:
            settle(ok, value)
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(settle, ok, value)

    returned: Any = None
    try:
        returned = function(*args, AsyncCallback(lambda v: deliver(True, v),
                                                 lambda e: deliver(False, e)), **kwargs)
        if inspect.isawaitable(returned) and not isinstance(returned, Call):
            await returned
        return await future
    except BaseException:
        if isinstance(returned, Call):
            returned.cancel()
        raise
    finally:
        if not future.done():
            future.cancel()
        elif not future.cancelled():
            future.exception()  # retrieved: no "Future exception was never retrieved"
