"""The blocking facade: the whole user service without ``await``, over the async core.

A :class:`BlockingBackendless` runs one event loop in one daemon thread and hands every call to
it; the async core does all the work (there is no second implementation of any operation). It is
safe from many threads at once (one connection pool), and from code that is itself inside a
running event loop (a notebook cell), since the work never runs on the caller's loop.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Mapping
from concurrent.futures import CancelledError, Future
from types import TracebackType
from typing import Any, TypeVar, overload

from attrs import AttrsInstance

from . import logs
from ._codes import UserStatus
from ._constants import DEFAULT_FIND_ALL_PAGE_SIZE, DEFAULT_PAGE_SIZE
from .callbacks import AsyncCallback, Call
from .client import Backendless
from .errors import BackendlessError
from .events import Event
from .models import BackendlessUser
from .query import Names
from .sessions import SessionStore
from .users import AsyncUserService, TimeoutArg
from .wire import UserClassProperty

__all__ = ["BlockingBackendless", "BlockingUserService"]

T = TypeVar("T")
E = TypeVar("E", bound=Event)
M = TypeVar("M", bound=AttrsInstance)

_CLOSE_TIMEOUT = 30.0


class _Portal:
    """One event loop in one daemon thread, and the way in from any other thread.

    Calls are coroutines handed to the loop with ``run_coroutine_threadsafe`` (which runs them in
    a copy of the caller's contextvars, so structlog's bound context reaches the log events).
    A blocking wait from the loop thread itself is refused: it could never finish.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        # Guards ``closed`` against a close() racing a submit(): once closed is set, nothing new
        # reaches the loop, so no caller can wait on a loop that has stopped. Reentrant, since a
        # garbage collection may run the finaliser (and so stop()) in any thread at any time.
        self._lock = threading.RLock()
        self.closed = False
        self.thread = threading.Thread(target=self._serve, name="backendless-aio-loop", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                # What still runs when the loop stops is cancelled, so that no thread waits
                # forever on it: its caller gets an error (see call()).
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def on_loop_thread(self) -> bool:
        return threading.current_thread() is self.thread

    def _check(self, blocking: bool) -> None:
        if self.closed:
            raise BackendlessError("this BlockingBackendless is closed; make a new one")
        if blocking and self.on_loop_thread():
            raise BackendlessError(
                "a blocking call from inside the facade's own loop (a hook or a callback "
                "handler) would deadlock; there, pass an AsyncCallback (the call then returns "
                "at once) or await the async API (app.async_app)"
            )

    def submit(self, coro: Coroutine[Any, Any, T], *, blocking: bool = False) -> Future[T]:
        """Start ``coro`` on the loop; the returned future settles with its outcome."""
        with self._lock:
            try:
                self._check(blocking)
            except BaseException:
                coro.close()  # never started: no "coroutine was never awaited" warning
                raise
            return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its outcome in this thread."""
        future = self.submit(coro, blocking=True)
        try:
            return future.result()
        except CancelledError:
            if self.closed:
                raise BackendlessError(
                    "this BlockingBackendless was closed while the call was running"
                ) from None
            raise
        except BaseException:
            # KeyboardInterrupt (or any other escape) in the waiting thread: do not leave the
            # operation running unattended on the loop.
            if not future.done():
                future.cancel()
            raise

    def run(self, method: Callable[..., Call[T]], *args: Any, **kwargs: Any) -> T | Future[T]:
        """Run an operation: blocking without a callback; started, as a Future, with one.

        The callback, if any, is the last positional argument. With one, nothing blocks, so it
        may be called from a handler on the loop thread too (chaining calls, as in the SDKs).
        """
        callback = args[-1] if args else None
        if callback is None:
            return self.call(_await(method, args, kwargs))
        if not isinstance(callback, AsyncCallback):
            raise TypeError(f"the callback must be an AsyncCallback, not {type(callback).__name__}")
        return self.submit(_await(method, args, kwargs))

    def stop(self, closing: Coroutine[Any, Any, Any] | None) -> None:
        """Run ``closing`` on the loop, then stop the loop and its thread (once)."""
        with self._lock:
            if self.closed or not self.thread.is_alive():
                self.closed = True
                if closing is not None:
                    closing.close()
                return
            self.closed = True
        loop = self.loop
        if self.on_loop_thread():
            # close() from a handler, or a garbage collection on the loop thread: this thread
            # cannot wait for the loop, so the closing finishes after this handler returns.
            if closing is None:
                loop.stop()
            else:
                loop.create_task(closing).add_done_callback(_stop_after)
            return
        try:
            if closing is not None:
                asyncio.run_coroutine_threadsafe(closing, loop).result(_CLOSE_TIMEOUT)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self.thread.join(_CLOSE_TIMEOUT)


def _stop_after(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logs.emit("close_failed", {"error": type(task.exception()).__name__}, level="error",
                  exc_info=task.exception())
    task.get_loop().stop()


async def _await(
    method: Callable[..., Call[T]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> T:
    return await method(*args, **kwargs)


def _shutdown(portal: _Portal, app: Backendless) -> None:
    portal.stop(app.aclose())


class _Lifetime:
    """Held by the facade and by every BlockingUserService it hands out: when none of them is
    reachable any more, the finaliser closes the app. (A user service kept after its facade is
    dropped keeps working.)"""

    __slots__ = ("__weakref__",)


class BlockingBackendless:
    """``with BlockingBackendless(app_id=..., api_key=..., server_url=...) as app:``

    Takes the same arguments as :class:`~backendless_aio.Backendless`. ``app.users`` is a
    :class:`BlockingUserService`. Close it (or use ``with``); an instance that is never closed
    is closed at garbage collection or interpreter exit, and its thread never holds exit up.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._portal = _Portal()
        try:
            self.async_app = Backendless(*args, **kwargs)
        except BaseException:
            self._portal.stop(None)
            raise
        self._lifetime = _Lifetime()
        self.users = BlockingUserService(self._portal, self.async_app.users, self._lifetime)
        self._finalizer = weakref.finalize(self._lifetime, _shutdown, self._portal, self.async_app)

    @property
    def config(self) -> Any:
        return self.async_app.config

    @property
    def session_store(self) -> SessionStore:
        """The app's session store (see :meth:`BlockingUserService.session`)."""
        return self.async_app.session_store

    def on(self, event_type: type[E], handler: Callable[[E], Any]) -> Callable[[], None]:
        """Subscribe to an event (handlers run on the facade's loop thread)."""
        unsubscribe: Callable[[], None] = self.async_app.on(event_type, handler)
        return unsubscribe

    def close(self) -> None:
        """Finish running callback calls, close the pool and stop the loop thread.

        Blocking calls still running in other threads then fail with a BackendlessError. Called
        from a handler on the loop thread, it cannot wait: the closing finishes just after.
        """
        self._finalizer()

    @property
    def closed(self) -> bool:
        return self._portal.closed

    def __enter__(self) -> BlockingBackendless:
        if self.closed:
            raise BackendlessError("this BlockingBackendless is closed; make a new one")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<BlockingBackendless over {self.async_app!r}>"


class BlockingUserService:
    """The blocking face of an :class:`~backendless_aio.AsyncUserService` scope.

    Every operation blocks and returns the same objects and raises the same faults as the async
    one. With an :class:`~backendless_aio.AsyncCallback` as last argument it returns at once (a
    ``concurrent.futures.Future``) and the handler runs later on the facade's loop thread.
    """

    def __init__(
        self, portal: _Portal, service: AsyncUserService, lifetime: object | None = None
    ) -> None:
        self._portal = portal
        self._service = service
        self._lifetime = lifetime

    def session(
        self, key: str | None = None, *, user_token: str | None = None, object_id: str | None = None
    ) -> BlockingUserService:
        """Another scope (its own user and token) sharing the pool; see AsyncUserService."""
        return BlockingUserService(
            self._portal,
            self._service.session(key, user_token=user_token, object_id=object_id),
            self._lifetime,
        )

    def restore(self) -> bool:
        """Resume this scope's session from the session store; True if one was found."""
        return self._portal.call(self._service.restore())

    def on(self, event_type: type[E], handler: Callable[[E], Any]) -> Callable[[], None]:
        unsubscribe: Callable[[], None] = self._service.on(event_type, handler)
        return unsubscribe

    @property
    def key(self) -> str:
        """This scope's key in the session store."""
        return self._service.key

    @property
    def current_user(self) -> BackendlessUser | None:
        return self._service.current_user

    @property
    def user_token(self) -> str | None:
        return self._service.user_token

    @property
    def object_id(self) -> str | None:
        return self._service.object_id

    @property
    def is_logged_in(self) -> bool:
        return self._service.is_logged_in

    def __repr__(self) -> str:
        return f"<BlockingUserService {self._service._state!r}>"

    @overload
    def register(
        self,
        user: BackendlessUser | Mapping[str, Any],
        callback: None = None,
        *,
        password: str | None = None,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> BackendlessUser: ...
    @overload
    def register(
        self,
        user: BackendlessUser | Mapping[str, Any],
        callback: AsyncCallback[BackendlessUser],
        *,
        password: str | None = None,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> Future[BackendlessUser]: ...
    @overload
    def register(
        self,
        user: BackendlessUser | Mapping[str, Any] | AttrsInstance,
        callback: None = None,
        *,
        password: str | None = None,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> M: ...
    @overload
    def register(
        self,
        user: BackendlessUser | Mapping[str, Any] | AttrsInstance,
        callback: AsyncCallback[M],
        *,
        password: str | None = None,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> Future[M]: ...
    @overload
    def register(
        self,
        user: M,
        callback: None = None,
        *,
        password: str | None = None,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> M: ...
    @overload
    def register(
        self,
        user: M,
        callback: AsyncCallback[M],
        *,
        password: str | None = None,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> Future[M]: ...
    def register(
        self,
        user: Any,
        callback: AsyncCallback[Any] | None = None,
        *,
        password: str | None = None,
        timeout: TimeoutArg = None,
        model: type[Any] | None = None,
    ) -> Any:
        """Blocking :meth:`AsyncUserService.register`."""
        return self._portal.run(
            self._service.register, user, callback, password=password, timeout=timeout, model=model
        )

    @overload
    def login(
        self,
        login: str,
        password: str,
        callback: None = None,
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> BackendlessUser: ...
    @overload
    def login(
        self,
        login: str,
        password: str,
        callback: AsyncCallback[BackendlessUser],
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> Future[BackendlessUser]: ...
    @overload
    def login(
        self,
        login: str,
        password: str,
        callback: None = None,
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> M: ...
    @overload
    def login(
        self,
        login: str,
        password: str,
        callback: AsyncCallback[M],
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> Future[M]: ...
    def login(
        self,
        login: str,
        password: str,
        callback: AsyncCallback[Any] | None = None,
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
        model: type[Any] | None = None,
    ) -> Any:
        """Blocking :meth:`AsyncUserService.login`."""
        return self._portal.run(
            self._service.login,
            login,
            password,
            callback,
            stay_logged_in=stay_logged_in,
            timeout=timeout,
            model=model,
        )

    @overload
    def login_as_guest(
        self,
        callback: None = None,
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> BackendlessUser: ...
    @overload
    def login_as_guest(
        self,
        callback: AsyncCallback[BackendlessUser],
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> Future[BackendlessUser]: ...
    @overload
    def login_as_guest(
        self,
        callback: None = None,
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> M: ...
    @overload
    def login_as_guest(
        self,
        callback: AsyncCallback[M],
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> Future[M]: ...
    def login_as_guest(
        self,
        callback: AsyncCallback[Any] | None = None,
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
        model: type[Any] | None = None,
    ) -> Any:
        """Blocking :meth:`AsyncUserService.login_as_guest`."""
        return self._portal.run(
            self._service.login_as_guest,
            callback,
            stay_logged_in=stay_logged_in,
            timeout=timeout,
            model=model,
        )

    @overload
    def logout(self, callback: None = None, *, timeout: TimeoutArg = None) -> None: ...
    @overload
    def logout(
        self, callback: AsyncCallback[None], *, timeout: TimeoutArg = None
    ) -> Future[None]: ...
    def logout(
        self, callback: AsyncCallback[None] | None = None, *, timeout: TimeoutArg = None
    ) -> Future[None] | None:
        """Blocking :meth:`AsyncUserService.logout`."""
        return self._portal.run(self._service.logout, callback, timeout=timeout)

    @overload
    def update(
        self,
        user: BackendlessUser,
        callback: None = None,
        *,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> BackendlessUser: ...
    @overload
    def update(
        self,
        user: BackendlessUser,
        callback: AsyncCallback[BackendlessUser],
        *,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> Future[BackendlessUser]: ...
    @overload
    def update(
        self,
        user: BackendlessUser | AttrsInstance,
        callback: None = None,
        *,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> M: ...
    @overload
    def update(
        self,
        user: BackendlessUser | AttrsInstance,
        callback: AsyncCallback[M],
        *,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> Future[M]: ...
    @overload
    def update(
        self, user: M, callback: None = None, *, timeout: TimeoutArg = None, model: None = None
    ) -> M: ...
    @overload
    def update(
        self, user: M, callback: AsyncCallback[M], *, timeout: TimeoutArg = None, model: None = None
    ) -> Future[M]: ...
    def update(
        self,
        user: Any,
        callback: AsyncCallback[Any] | None = None,
        *,
        timeout: TimeoutArg = None,
        model: type[Any] | None = None,
    ) -> Any:
        """Blocking :meth:`AsyncUserService.update`."""
        return self._portal.run(self._service.update, user, callback, timeout=timeout, model=model)

    @overload
    def get_current_user(
        self,
        callback: None = None,
        *,
        reload: bool = False,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> BackendlessUser | None: ...
    @overload
    def get_current_user(
        self,
        callback: AsyncCallback[BackendlessUser | None],
        *,
        reload: bool = False,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> Future[BackendlessUser | None]: ...
    @overload
    def get_current_user(
        self,
        callback: None = None,
        *,
        reload: bool = False,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> M | None: ...
    @overload
    def get_current_user(
        self,
        callback: AsyncCallback[M | None],
        *,
        reload: bool = False,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> Future[M | None]: ...
    def get_current_user(
        self,
        callback: AsyncCallback[Any] | None = None,
        *,
        reload: bool = False,
        timeout: TimeoutArg = None,
        model: type[Any] | None = None,
    ) -> Any:
        """Blocking :meth:`AsyncUserService.get_current_user`."""
        return self._portal.run(
            self._service.get_current_user, callback, reload=reload, timeout=timeout, model=model
        )

    @overload
    def is_valid_login(self, callback: None = None, *, timeout: TimeoutArg = None) -> bool: ...
    @overload
    def is_valid_login(
        self, callback: AsyncCallback[bool], *, timeout: TimeoutArg = None
    ) -> Future[bool]: ...
    def is_valid_login(
        self, callback: AsyncCallback[bool] | None = None, *, timeout: TimeoutArg = None
    ) -> bool | Future[bool]:
        """Blocking :meth:`AsyncUserService.is_valid_login`."""
        return self._portal.run(self._service.is_valid_login, callback, timeout=timeout)

    @overload
    def find_by_id(
        self,
        object_id: str,
        callback: None = None,
        *,
        props: Iterable[str] | None = None,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> BackendlessUser: ...
    @overload
    def find_by_id(
        self,
        object_id: str,
        callback: AsyncCallback[BackendlessUser],
        *,
        props: Iterable[str] | None = None,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> Future[BackendlessUser]: ...
    @overload
    def find_by_id(
        self,
        object_id: str,
        callback: None = None,
        *,
        props: Iterable[str] | None = None,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> M: ...
    @overload
    def find_by_id(
        self,
        object_id: str,
        callback: AsyncCallback[M],
        *,
        props: Iterable[str] | None = None,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> Future[M]: ...
    def find_by_id(
        self,
        object_id: str,
        callback: AsyncCallback[Any] | None = None,
        *,
        props: Iterable[str] | None = None,
        timeout: TimeoutArg = None,
        model: type[Any] | None = None,
    ) -> Any:
        """Blocking :meth:`AsyncUserService.find_by_id`."""
        return self._portal.run(
            self._service.find_by_id, object_id, callback, props=props, timeout=timeout, model=model
        )

    @overload
    def describe_user_class(
        self, callback: None = None, *, timeout: TimeoutArg = None
    ) -> list[UserClassProperty]: ...
    @overload
    def describe_user_class(
        self, callback: AsyncCallback[list[UserClassProperty]], *, timeout: TimeoutArg = None
    ) -> Future[list[UserClassProperty]]: ...
    def describe_user_class(
        self,
        callback: AsyncCallback[list[UserClassProperty]] | None = None,
        *,
        timeout: TimeoutArg = None,
    ) -> list[UserClassProperty] | Future[list[UserClassProperty]]:
        """Blocking :meth:`AsyncUserService.describe_user_class`."""
        return self._portal.run(self._service.describe_user_class, callback, timeout=timeout)

    @overload
    def restore_password(
        self, identity: str, callback: None = None, *, timeout: TimeoutArg = None
    ) -> None: ...
    @overload
    def restore_password(
        self, identity: str, callback: AsyncCallback[None], *, timeout: TimeoutArg = None
    ) -> Future[None]: ...
    def restore_password(
        self,
        identity: str,
        callback: AsyncCallback[None] | None = None,
        *,
        timeout: TimeoutArg = None,
    ) -> Future[None] | None:
        """Blocking :meth:`AsyncUserService.restore_password`."""
        return self._portal.run(self._service.restore_password, identity, callback, timeout=timeout)

    @overload
    def resend_email_confirmation(
        self, identity: str, callback: None = None, *, timeout: TimeoutArg = None
    ) -> None: ...
    @overload
    def resend_email_confirmation(
        self, identity: str, callback: AsyncCallback[None], *, timeout: TimeoutArg = None
    ) -> Future[None]: ...
    def resend_email_confirmation(
        self,
        identity: str,
        callback: AsyncCallback[None] | None = None,
        *,
        timeout: TimeoutArg = None,
    ) -> Future[None] | None:
        """Blocking :meth:`AsyncUserService.resend_email_confirmation`."""
        return self._portal.run(
            self._service.resend_email_confirmation, identity, callback, timeout=timeout
        )

    @overload
    def get_user_roles(
        self, callback: None = None, *, object_id: str | None = None, timeout: TimeoutArg = None
    ) -> list[str]: ...
    @overload
    def get_user_roles(
        self,
        callback: AsyncCallback[list[str]],
        *,
        object_id: str | None = None,
        timeout: TimeoutArg = None,
    ) -> Future[list[str]]: ...
    def get_user_roles(
        self,
        callback: AsyncCallback[list[str]] | None = None,
        *,
        object_id: str | None = None,
        timeout: TimeoutArg = None,
    ) -> list[str] | Future[list[str]]:
        """Blocking :meth:`AsyncUserService.get_user_roles`."""
        return self._portal.run(
            self._service.get_user_roles, callback, object_id=object_id, timeout=timeout
        )

    @overload
    def assign_role(
        self, identity: str | int, role: str, callback: None = None, *, timeout: TimeoutArg = None
    ) -> None: ...
    @overload
    def assign_role(
        self,
        identity: str | int,
        role: str,
        callback: AsyncCallback[None],
        *,
        timeout: TimeoutArg = None,
    ) -> Future[None]: ...
    def assign_role(
        self,
        identity: str | int,
        role: str,
        callback: AsyncCallback[None] | None = None,
        *,
        timeout: TimeoutArg = None,
    ) -> Future[None] | None:
        """Blocking :meth:`AsyncUserService.assign_role`."""
        return self._portal.run(
            self._service.assign_role, identity, role, callback, timeout=timeout
        )

    @overload
    def unassign_role(
        self, identity: str | int, role: str, callback: None = None, *, timeout: TimeoutArg = None
    ) -> None: ...
    @overload
    def unassign_role(
        self,
        identity: str | int,
        role: str,
        callback: AsyncCallback[None],
        *,
        timeout: TimeoutArg = None,
    ) -> Future[None]: ...
    def unassign_role(
        self,
        identity: str | int,
        role: str,
        callback: AsyncCallback[None] | None = None,
        *,
        timeout: TimeoutArg = None,
    ) -> Future[None] | None:
        """Blocking :meth:`AsyncUserService.unassign_role`."""
        return self._portal.run(
            self._service.unassign_role, identity, role, callback, timeout=timeout
        )

    @overload
    def find_by_role(
        self,
        role: str,
        callback: None = None,
        *,
        load_roles: bool = False,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> list[BackendlessUser]: ...
    @overload
    def find_by_role(
        self,
        role: str,
        callback: AsyncCallback[list[BackendlessUser]],
        *,
        load_roles: bool = False,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> Future[list[BackendlessUser]]: ...
    @overload
    def find_by_role(
        self,
        role: str,
        callback: None = None,
        *,
        load_roles: bool = False,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> list[M]: ...
    @overload
    def find_by_role(
        self,
        role: str,
        callback: AsyncCallback[list[M]],
        *,
        load_roles: bool = False,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> Future[list[M]]: ...
    def find_by_role(
        self,
        role: str,
        callback: AsyncCallback[Any] | None = None,
        *,
        load_roles: bool = False,
        timeout: TimeoutArg = None,
        model: type[Any] | None = None,
    ) -> Any:
        """Blocking :meth:`AsyncUserService.find_by_role`."""
        return self._portal.run(
            self._service.find_by_role,
            role,
            callback,
            load_roles=load_roles,
            timeout=timeout,
            model=model,
        )

    @overload
    def login_by_object_id(
        self,
        object_id: str,
        callback: None = None,
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> BackendlessUser: ...
    @overload
    def login_by_object_id(
        self,
        object_id: str,
        callback: AsyncCallback[BackendlessUser],
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> Future[BackendlessUser]: ...
    @overload
    def login_by_object_id(
        self,
        object_id: str,
        callback: None = None,
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> M: ...
    @overload
    def login_by_object_id(
        self,
        object_id: str,
        callback: AsyncCallback[M],
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> Future[M]: ...
    def login_by_object_id(
        self,
        object_id: str,
        callback: AsyncCallback[Any] | None = None,
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
        model: type[Any] | None = None,
    ) -> Any:
        """Blocking :meth:`AsyncUserService.login_by_object_id`."""
        return self._portal.run(
            self._service.login_by_object_id,
            object_id,
            callback,
            stay_logged_in=stay_logged_in,
            timeout=timeout,
            model=model,
        )

    @overload
    def create_email_confirmation_url(
        self, identity: str, callback: None = None, *, timeout: TimeoutArg = None
    ) -> str: ...
    @overload
    def create_email_confirmation_url(
        self, identity: str, callback: AsyncCallback[str], *, timeout: TimeoutArg = None
    ) -> Future[str]: ...
    def create_email_confirmation_url(
        self,
        identity: str,
        callback: AsyncCallback[str] | None = None,
        *,
        timeout: TimeoutArg = None,
    ) -> str | Future[str]:
        """Blocking :meth:`AsyncUserService.create_email_confirmation_url`."""
        return self._portal.run(
            self._service.create_email_confirmation_url, identity, callback, timeout=timeout
        )

    @overload
    def verify_password(
        self, password: str, callback: None = None, *, timeout: TimeoutArg = None
    ) -> bool: ...
    @overload
    def verify_password(
        self, password: str, callback: AsyncCallback[bool], *, timeout: TimeoutArg = None
    ) -> Future[bool]: ...
    def verify_password(
        self,
        password: str,
        callback: AsyncCallback[bool] | None = None,
        *,
        timeout: TimeoutArg = None,
    ) -> bool | Future[bool]:
        """Blocking :meth:`AsyncUserService.verify_password`."""
        return self._portal.run(self._service.verify_password, password, callback, timeout=timeout)

    @overload
    def set_user_status(
        self,
        object_id: str,
        status: UserStatus | str,
        callback: None = None,
        *,
        timeout: TimeoutArg = None,
    ) -> None: ...
    @overload
    def set_user_status(
        self,
        object_id: str,
        status: UserStatus | str,
        callback: AsyncCallback[None],
        *,
        timeout: TimeoutArg = None,
    ) -> Future[None]: ...
    def set_user_status(
        self,
        object_id: str,
        status: UserStatus | str,
        callback: AsyncCallback[None] | None = None,
        *,
        timeout: TimeoutArg = None,
    ) -> Future[None] | None:
        """Blocking :meth:`AsyncUserService.set_user_status`."""
        return self._portal.run(
            self._service.set_user_status, object_id, status, callback, timeout=timeout
        )

    # -- finding users ------------------------------------------------------------------------

    @overload
    def find(
        self,
        where: str | None = None,
        callback: None = None,
        *,
        sort_by: Names = None,
        props: Names = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> list[BackendlessUser]: ...
    @overload
    def find(
        self,
        where: str | None,
        callback: AsyncCallback[list[BackendlessUser]],
        *,
        sort_by: Names = None,
        props: Names = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> Future[list[BackendlessUser]]: ...
    @overload
    def find(
        self,
        where: str | None = None,
        callback: None = None,
        *,
        sort_by: Names = None,
        props: Names = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> list[M]: ...
    @overload
    def find(
        self,
        where: str | None,
        callback: AsyncCallback[list[M]],
        *,
        sort_by: Names = None,
        props: Names = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> Future[list[M]]: ...
    def find(
        self,
        where: str | None = None,
        callback: AsyncCallback[Any] | None = None,
        *,
        sort_by: Names = None,
        props: Names = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
        timeout: TimeoutArg = None,
        model: type[Any] | None = None,
    ) -> Any:
        """Blocking :meth:`AsyncUserService.find`."""
        return self._portal.run(
            self._service.find,
            where,
            callback,
            sort_by=sort_by,
            props=props,
            page_size=page_size,
            offset=offset,
            timeout=timeout,
            model=model,
        )

    @overload
    def count(
        self, where: str | None = None, callback: None = None, *, timeout: TimeoutArg = None
    ) -> int: ...
    @overload
    def count(
        self, where: str | None, callback: AsyncCallback[int], *, timeout: TimeoutArg = None
    ) -> Future[int]: ...
    def count(
        self,
        where: str | None = None,
        callback: AsyncCallback[int] | None = None,
        *,
        timeout: TimeoutArg = None,
    ) -> int | Future[int]:
        """Blocking :meth:`AsyncUserService.count`."""
        return self._portal.run(self._service.count, where, callback, timeout=timeout)

    @overload
    def find_first(
        self,
        where: str | None = None,
        callback: None = None,
        *,
        sort_by: Names = None,
        props: Names = None,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> BackendlessUser | None: ...
    @overload
    def find_first(
        self,
        where: str | None,
        callback: AsyncCallback[BackendlessUser | None],
        *,
        sort_by: Names = None,
        props: Names = None,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> Future[BackendlessUser | None]: ...
    @overload
    def find_first(
        self,
        where: str | None = None,
        callback: None = None,
        *,
        sort_by: Names = None,
        props: Names = None,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> M | None: ...
    @overload
    def find_first(
        self,
        where: str | None,
        callback: AsyncCallback[M | None],
        *,
        sort_by: Names = None,
        props: Names = None,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> Future[M | None]: ...
    def find_first(
        self,
        where: str | None = None,
        callback: AsyncCallback[Any] | None = None,
        *,
        sort_by: Names = None,
        props: Names = None,
        timeout: TimeoutArg = None,
        model: type[Any] | None = None,
    ) -> Any:
        """Blocking :meth:`AsyncUserService.find_first`."""
        return self._portal.run(
            self._service.find_first,
            where,
            callback,
            sort_by=sort_by,
            props=props,
            timeout=timeout,
            model=model,
        )

    @overload
    def find_last(
        self,
        where: str | None = None,
        callback: None = None,
        *,
        sort_by: Names = None,
        props: Names = None,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> BackendlessUser | None: ...
    @overload
    def find_last(
        self,
        where: str | None,
        callback: AsyncCallback[BackendlessUser | None],
        *,
        sort_by: Names = None,
        props: Names = None,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> Future[BackendlessUser | None]: ...
    @overload
    def find_last(
        self,
        where: str | None = None,
        callback: None = None,
        *,
        sort_by: Names = None,
        props: Names = None,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> M | None: ...
    @overload
    def find_last(
        self,
        where: str | None,
        callback: AsyncCallback[M | None],
        *,
        sort_by: Names = None,
        props: Names = None,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> Future[M | None]: ...
    def find_last(
        self,
        where: str | None = None,
        callback: AsyncCallback[Any] | None = None,
        *,
        sort_by: Names = None,
        props: Names = None,
        timeout: TimeoutArg = None,
        model: type[Any] | None = None,
    ) -> Any:
        """Blocking :meth:`AsyncUserService.find_last`."""
        return self._portal.run(
            self._service.find_last,
            where,
            callback,
            sort_by=sort_by,
            props=props,
            timeout=timeout,
            model=model,
        )

    @overload
    def find_all(
        self,
        where: str | None = None,
        *,
        sort_by: Names = None,
        props: Names = None,
        page_size: int = DEFAULT_FIND_ALL_PAGE_SIZE,
        timeout: TimeoutArg = None,
        model: None = None,
    ) -> Iterator[BackendlessUser]: ...
    @overload
    def find_all(
        self,
        where: str | None = None,
        *,
        sort_by: Names = None,
        props: Names = None,
        page_size: int = DEFAULT_FIND_ALL_PAGE_SIZE,
        timeout: TimeoutArg = None,
        model: type[M],
    ) -> Iterator[M]: ...
    def find_all(
        self,
        where: str | None = None,
        *,
        sort_by: Names = None,
        props: Names = None,
        page_size: int = DEFAULT_FIND_ALL_PAGE_SIZE,
        timeout: TimeoutArg = None,
        model: type[Any] | None = None,
    ) -> Iterator[Any]:
        """Blocking :meth:`AsyncUserService.find_all`: a plain iterator; each page is read on
        the facade's loop as iteration reaches it (arguments are checked at once)."""
        pages: AsyncIterator[list[Any]]
        if model is None:
            pages = self._service.pages(
                where, sort_by=sort_by, props=props, page_size=page_size, timeout=timeout
            )
        else:
            pages = self._service.pages(
                where, sort_by=sort_by, props=props, page_size=page_size, timeout=timeout,
                model=model,
            )
        return self._iterate(pages)

    def _iterate(self, pages: AsyncIterator[list[T]]) -> Iterator[T]:
        try:
            while (page := self._portal.call(_next_page(pages))) is not None:
                yield from page
        finally:
            if not self._portal.closed and not self._portal.on_loop_thread():
                self._portal.call(_close(pages))


async def _next_page(pages: AsyncIterator[list[T]]) -> list[T] | None:
    """The next page, or None after the last one."""
    try:
        return await pages.__anext__()
    except StopAsyncIteration:
        return None


async def _close(pages: AsyncIterator[list[Any]]) -> None:
    aclose = getattr(pages, "aclose", None)
    if aclose is not None:
        await aclose()
