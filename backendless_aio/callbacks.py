"""AsyncCallback and the bridges between awaitables and the callback style of the official SDKs.

Every operation returns a :class:`Call`. Without a callback it is a plain coroutine: await it,
``asyncio.create_task`` it, ``gather`` it. With an :class:`AsyncCallback` it starts at once on the
running loop and delivers exactly one handler call: ``response_handler(result)`` or
``fault_handler(error)`` (a cancellation is reported as :class:`OperationCancelled`).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator
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
    return "None" if handler is None else getattr(handler, "__qualname__", repr(handler))


async def _call_handler(handler: Callable[[Any], Any] | None, value: Any) -> None:
    if handler is None:
        return
    result = handler(value)
    if inspect.isawaitable(result):
        await result


class Call(Coroutine[Any, Any, T]):
    """What every operation returns: a coroutine, or with a callback a running handle.

    As a handle (``update(user, AsyncCallback(...))``): ``await handle`` gives the result or
    raises the error, after the handler ran; ``cancel()``, ``done()``, ``result()`` and
    ``exception()`` work as on a future. A handler that raised makes the handle's outcome a
    :class:`CallbackHandlerError` (the handler's exception is its cause); it is also logged.
    """

    __slots__ = ("_callback", "_coro", "_error", "_handler_error", "_result", "_task")

    def __init__(self, coro: Coroutine[Any, Any, T], callback: AsyncCallback[T] | None = None,
                 tasks: set[asyncio.Task[Any]] | None = None) -> None:
        self._coro = coro
        self._callback = callback
        self._task: asyncio.Task[None] | None = None
        self._result: Any = None
        self._error: BaseException | None = None
        self._handler_error: BaseException | None = None
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
            if tasks is not None:
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    async def _deliver(self) -> None:
        callback = self._callback
        assert callback is not None
        try:
            self._result = await self._coro
        except asyncio.CancelledError:
            self._error = OperationCancelled("the operation was cancelled before it finished")
            await self._run_handler(callback.fault_handler, self._error)
            raise
        except Exception as exc:  # noqa: BLE001 - delivered to the fault handler
            self._error = exc
            await self._run_handler(callback.fault_handler, exc)
        else:
            await self._run_handler(callback.response_handler, self._result)

    async def _run_handler(self, handler: Callable[[Any], Any] | None, value: Any) -> None:
        try:
            await _call_handler(handler, value)
        except Exception as exc:  # noqa: BLE001 - logged and kept on the handle
            self._handler_error = exc
            logs.emit("callback_failed", {"handler": _name(handler),
                                          "error": type(exc).__name__},
                      level="error", exc_info=exc)

    # -- the coroutine protocol (no callback) ---------------------------------------------------
    def send(self, value: Any) -> Any:
        if self._task is not None:
            raise RuntimeError("this call already runs with a callback; await it instead")
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        if self._task is not None:
            raise RuntimeError("this call already runs with a callback; await it instead")
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)

    def close(self) -> None:
        if self._task is None:
            self._coro.close()

    def __await__(self) -> Generator[Any, None, T]:
        if self._task is None:
            return self._coro.__await__()
        return self._await_handle().__await__()

    async def _await_handle(self) -> T:
        assert self._task is not None
        await asyncio.shield(self._task) if not self._task.done() else None
        return self.result()

    # -- the handle ---------------------------------------------------------------------------
    def cancel(self) -> bool:
        """Cancel the operation (the fault handler hears of it). False if already finished."""
        if self._task is None:
            self._coro.close()
            return False
        return self._task.cancel()

    def done(self) -> bool:
        return self._task is not None and self._task.done()

    def result(self) -> T:
        """The result, or raise the error (or CallbackHandlerError if a handler raised)."""
        if self._task is None or not self._task.done():
            raise asyncio.InvalidStateError("the call has not finished")
        if self._task.cancelled():
            raise asyncio.CancelledError
        if self._handler_error is not None:
            raise CallbackHandlerError(
                f"a callback handler raised {type(self._handler_error).__name__}"
            ) from self._handler_error
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[no-any-return]

    def exception(self) -> BaseException | None:
        try:
            self.result()
        except asyncio.CancelledError:
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

    For code migrating from the official SDKs: the callback may be invoked from any thread, once;
    its response becomes the result, its fault is raised (wrapped in BackendlessError if it is
    not an exception).
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
        else:
            loop.call_soon_threadsafe(settle, ok, value)

    returned = function(*args, AsyncCallback(lambda v: deliver(True, v),
                                             lambda e: deliver(False, e)), **kwargs)
    if inspect.isawaitable(returned) and not isinstance(returned, Call):
        await returned
    return await future
