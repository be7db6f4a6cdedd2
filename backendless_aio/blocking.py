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
from collections.abc import Callable, Coroutine, Iterable, Mapping
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar, overload

from ._codes import UserStatus
from .callbacks import AsyncCallback, Call
from .client import Backendless
from .errors import BackendlessError
from .events import Event
from .models import BackendlessUser
from .users import AsyncUserService, TimeoutArg
from .wire import UserClassProperty

__all__ = ["BlockingBackendless", "BlockingUserService"]

T = TypeVar("T")
E = TypeVar("E", bound=Event)

_CLOSE_TIMEOUT = 30.0


class _Portal:
    """One event loop in one daemon thread, and the way in from any other thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, name="backendless-aio-loop", daemon=True)
        self.closed = False
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _check(self) -> None:
        if self.closed:
            raise BackendlessError("this BlockingBackendless is closed; make a new one")
        if threading.current_thread() is self.thread:
            raise BackendlessError(
                "a blocking call from inside the facade's own loop (a hook or a callback "
                "handler) would deadlock; use the async API there (app.async_app)"
            )

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        self._check()
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.submit(coro).result()

    def run(self, method: Callable[..., Call[T]], *args: Any, **kwargs: Any) -> T | Future[T]:
        """Run an operation: blocking without a callback; started, as a Future, with one."""
        callback = args[-1] if args else None
        if callback is None:
            return self.call(_await(method, args, kwargs))
        if not isinstance(callback, AsyncCallback):
            raise TypeError(f"the callback must be an AsyncCallback, not {type(callback).__name__}")
        return self.submit(_await(method, args, kwargs))

    def stop(self, closing: Coroutine[Any, Any, Any] | None) -> None:
        if self.closed:
            if closing is not None:
                closing.close()
            return
        try:
            if closing is not None and self.thread.is_alive():
                asyncio.run_coroutine_threadsafe(closing, self.loop).result(_CLOSE_TIMEOUT)
        finally:
            self.closed = True
            if self.thread.is_alive():
                self.loop.call_soon_threadsafe(self.loop.stop)
                if threading.current_thread() is not self.thread:
                    self.thread.join(_CLOSE_TIMEOUT)
            if not self.thread.is_alive():
                self.loop.close()


async def _await(
    method: Callable[..., Call[T]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> T:
    return await method(*args, **kwargs)


def _shutdown(portal: _Portal, app: Backendless) -> None:
    portal.stop(app.aclose())


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
        self.users = BlockingUserService(self._portal, self.async_app.users)
        self._finalizer = weakref.finalize(self, _shutdown, self._portal, self.async_app)

    @property
    def config(self) -> Any:
        return self.async_app.config

    def on(self, event_type: type[E], handler: Callable[[E], Any]) -> Callable[[], None]:
        """Subscribe to an event (handlers run on the facade's loop thread)."""
        unsubscribe: Callable[[], None] = self.async_app.on(event_type, handler)
        return unsubscribe

    def close(self) -> None:
        """Finish running callback calls, close the pool and stop the loop thread."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return self._portal.closed

    def __enter__(self) -> BlockingBackendless:
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

    def __init__(self, portal: _Portal, service: AsyncUserService) -> None:
        self._portal = portal
        self._service = service

    def session(
        self, key: str | None = None, *, user_token: str | None = None, object_id: str | None = None
    ) -> BlockingUserService:
        """Another scope (its own user and token) sharing the pool; see AsyncUserService."""
        return BlockingUserService(
            self._portal, self._service.session(key, user_token=user_token, object_id=object_id)
        )

    def restore(self) -> bool:
        """Resume this scope's session from the session store; True if one was found."""
        return self._portal.call(self._service.restore())

    def on(self, event_type: type[E], handler: Callable[[E], Any]) -> Callable[[], None]:
        unsubscribe: Callable[[], None] = self._service.on(event_type, handler)
        return unsubscribe

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
        timeout: TimeoutArg = None,
    ) -> BackendlessUser: ...
    @overload
    def register(
        self,
        user: BackendlessUser | Mapping[str, Any],
        callback: AsyncCallback[BackendlessUser],
        *,
        timeout: TimeoutArg = None,
    ) -> Future[BackendlessUser]: ...
    def register(
        self,
        user: BackendlessUser | Mapping[str, Any],
        callback: AsyncCallback[BackendlessUser] | None = None,
        *,
        timeout: TimeoutArg = None,
    ) -> BackendlessUser | Future[BackendlessUser]:
        """Blocking :meth:`AsyncUserService.register`."""
        return self._portal.run(self._service.register, user, callback, timeout=timeout)

    @overload
    def login(
        self,
        login: str,
        password: str,
        callback: None = None,
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
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
    ) -> Future[BackendlessUser]: ...
    def login(
        self,
        login: str,
        password: str,
        callback: AsyncCallback[BackendlessUser] | None = None,
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
    ) -> BackendlessUser | Future[BackendlessUser]:
        """Blocking :meth:`AsyncUserService.login`."""
        return self._portal.run(
            self._service.login,
            login,
            password,
            callback,
            stay_logged_in=stay_logged_in,
            timeout=timeout,
        )

    @overload
    def login_as_guest(
        self, callback: None = None, *, stay_logged_in: bool = False, timeout: TimeoutArg = None
    ) -> BackendlessUser: ...
    @overload
    def login_as_guest(
        self,
        callback: AsyncCallback[BackendlessUser],
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
    ) -> Future[BackendlessUser]: ...
    def login_as_guest(
        self,
        callback: AsyncCallback[BackendlessUser] | None = None,
        *,
        stay_logged_in: bool = False,
        timeout: TimeoutArg = None,
    ) -> BackendlessUser | Future[BackendlessUser]:
        """Blocking :meth:`AsyncUserService.login_as_guest`."""
        return self._portal.run(
            self._service.login_as_guest, callback, stay_logged_in=stay_logged_in, timeout=timeout
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
        self, user: BackendlessUser, callback: None = None, *, timeout: TimeoutArg = None
    ) -> BackendlessUser: ...
    @overload
    def update(
        self,
        user: BackendlessUser,
        callback: AsyncCallback[BackendlessUser],
        *,
        timeout: TimeoutArg = None,
    ) -> Future[BackendlessUser]: ...
    def update(
        self,
        user: BackendlessUser,
        callback: AsyncCallback[BackendlessUser] | None = None,
        *,
        timeout: TimeoutArg = None,
    ) -> BackendlessUser | Future[BackendlessUser]:
        """Blocking :meth:`AsyncUserService.update`."""
        return self._portal.run(self._service.update, user, callback, timeout=timeout)

    @overload
    def get_current_user(
        self, callback: None = None, *, reload: bool = False, timeout: TimeoutArg = None
    ) -> BackendlessUser | None: ...
    @overload
    def get_current_user(
        self,
        callback: AsyncCallback[BackendlessUser | None],
        *,
        reload: bool = False,
        timeout: TimeoutArg = None,
    ) -> Future[BackendlessUser | None]: ...
    def get_current_user(
        self,
        callback: AsyncCallback[BackendlessUser | None] | None = None,
        *,
        reload: bool = False,
        timeout: TimeoutArg = None,
    ) -> BackendlessUser | Future[BackendlessUser | None] | None:
        """Blocking :meth:`AsyncUserService.get_current_user`."""
        return self._portal.run(
            self._service.get_current_user, callback, reload=reload, timeout=timeout
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
    ) -> BackendlessUser: ...
    @overload
    def find_by_id(
        self,
        object_id: str,
        callback: AsyncCallback[BackendlessUser],
        *,
        props: Iterable[str] | None = None,
        timeout: TimeoutArg = None,
    ) -> Future[BackendlessUser]: ...
    def find_by_id(
        self,
        object_id: str,
        callback: AsyncCallback[BackendlessUser] | None = None,
        *,
        props: Iterable[str] | None = None,
        timeout: TimeoutArg = None,
    ) -> BackendlessUser | Future[BackendlessUser]:
        """Blocking :meth:`AsyncUserService.find_by_id`."""
        return self._portal.run(
            self._service.find_by_id, object_id, callback, props=props, timeout=timeout
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
    def get_user_roles(self, callback: None = None, *, timeout: TimeoutArg = None) -> list[str]: ...
    @overload
    def get_user_roles(
        self, callback: AsyncCallback[list[str]], *, timeout: TimeoutArg = None
    ) -> Future[list[str]]: ...
    def get_user_roles(
        self, callback: AsyncCallback[list[str]] | None = None, *, timeout: TimeoutArg = None
    ) -> list[str] | Future[list[str]]:
        """Blocking :meth:`AsyncUserService.get_user_roles`."""
        return self._portal.run(self._service.get_user_roles, callback, timeout=timeout)

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
