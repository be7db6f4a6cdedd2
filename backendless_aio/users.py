"""AsyncUserService: the Backendless user service as coroutines, one scope per logged-in user."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from typing import Any, TypeVar, overload

from attrs import AttrsInstance

from . import logs, query, typed, wire
from ._codes import USER_TOKEN_KEY, Route, UserStatus
from ._constants import DEFAULT_FIND_ALL_PAGE_SIZE, DEFAULT_PAGE_SIZE, DEFAULT_SESSION_KEY
from ._secret import secret
from .callbacks import AsyncCallback, Call
from .config import Timeout
from .errors import (
    BackendlessError,
    BackendlessFault,
    ConfigurationError,
    EmptyLogin,
    MalformedResponse,
    SessionOver,
    UserNotLoggedIn,
)
from .events import (
    Event,
    Hooks,
    SessionExpired,
    UserLoggedIn,
    UserLoggedOut,
    UserRegistered,
    UserUpdated,
)
from .models import BackendlessUser, password_value
from .sessions import SessionState, SessionStore, StoredSession
from .transport import Outcome, Transport
from .values import PropertyTypes
from .wire import UserClassProperty

__all__ = ["AsyncUserService"]

T = TypeVar("T")
E = TypeVar("E", bound=Event)
#: A typed user model: any attrs class (see typed.py).
M = TypeVar("M", bound=AttrsInstance)
TimeoutArg = Timeout | float | None



class AsyncUserService:
    """The user service of one session scope.

    ``app.users`` is the app's default scope. ``app.users.session()`` makes another scope with its
    own current user and token, sharing the app's connection pool; a bot keeps one per end user.
    Every operation returns a :class:`~backendless_aio.callbacks.Call`: await it, or pass an
    :class:`~backendless_aio.AsyncCallback` as the last argument to get the callback style.
    Each takes ``timeout=`` (seconds, or a :class:`~backendless_aio.Timeout`) for that call.
    """

    __slots__ = ("_hooks", "_reload", "_state", "_store", "_tasks", "_transport", "_types")

    def __init__(self, transport: Transport, hooks: Hooks, store: SessionStore,
                 tasks: set[asyncio.Task[Any]], state: SessionState | None = None,
                 types: PropertyTypes | None = None) -> None:
        self._transport = transport
        self._hooks = hooks
        self._store = store
        self._tasks = tasks
        self._state = state if state is not None else SessionState(key=DEFAULT_SESSION_KEY)
        self._reload: asyncio.Task[BackendlessUser | None] | None = None
        #: The app's knowledge of the Users class's column types, shared by its scopes.
        self._types = types if types is not None else PropertyTypes()

    # -- scopes ---------------------------------------------------------------------------------
    def session(self, key: str | None = None, *, user_token: str | None = None,
                object_id: str | None = None) -> AsyncUserService:
        """A new, independent scope sharing this app's pool and hooks.

        ``key`` names the scope in the session store (``"telegram:12345"``); ``user_token`` and
        ``object_id`` resume a known session without logging in.
        """
        if (user_token is None) != (object_id is None):
            raise ConfigurationError("give both user_token and object_id, or neither")
        if key is not None and (not isinstance(key, str) or not key):
            raise ConfigurationError("a session key must be a non-empty string")
        state = SessionState(key=key if key is not None else f"scope-{uuid.uuid4().hex}",
                             user_token=None if user_token is None else secret(user_token),
                             object_id=object_id)
        return AsyncUserService(self._transport, Hooks(parent=self._hooks.root), self._store,
                                self._tasks, state, self._types)

    def on(self, event_type: type[E], handler: Any) -> Any:
        """Subscribe to events of this scope only; returns the unsubscribe function."""
        return self._hooks.on(event_type, handler)

    @property
    def key(self) -> str:
        """This scope's key in the session store."""
        return self._state.key

    @property
    def current_user(self) -> BackendlessUser | None:
        """The logged-in user as last loaded, or None (see :meth:`get_current_user`)."""
        return self._state.user

    @property
    def user_token(self) -> str | None:
        """The session's token, or None when logged out. A secret: never log it."""
        return self._state.user_token

    @property
    def object_id(self) -> str | None:
        """The logged-in user's objectId, or None."""
        return self._state.object_id

    @property
    def is_logged_in(self) -> bool:
        """Whether this scope holds a session (locally; see :meth:`is_valid_login`)."""
        return self._state.user_token is not None

    def __repr__(self) -> str:
        return f"<AsyncUserService {self._state!r}>"

    # -- plumbing -------------------------------------------------------------------------------
    def _call(self, coro: Any, callback: AsyncCallback[T] | None,
              timeout: TimeoutArg = None) -> Call[T]:
        # Named after the public operation, so that a call never awaited is reported as
        # "coroutine 'AsyncUserService.login' was never awaited", not by a private helper.
        name = coro.__qualname__ = f"AsyncUserService.{sys._getframe(1).f_code.co_name}"
        inner = None
        if coro.cr_code in _MODEL_WRAPPERS:  # model= wraps the operation's own coroutine
            inner = coro.cr_frame.f_locals.get("coro")
            if inner is not None:
                inner.__qualname__ = name
        if timeout is not None and not isinstance(timeout, Timeout):
            try:  # a wrong per-call timeout is the caller's mistake: say so now, not when awaited
                Timeout.of(timeout)
            except ConfigurationError:
                coro.close()
                if inner is not None:
                    inner.close()
                raise
        return Call(coro, callback, self._tasks)

    async def _send(self, request: wire.Request, timeout: TimeoutArg = None,
                    outcome: Outcome | None = None) -> Any:
        state = self._state
        token = state.user_token
        try:
            result = await self._transport.send(
                request, token, self._hooks, None if timeout is None else Timeout.of(timeout),
                outcome)
        except SessionOver as fault:
            if token is not None and self._state.user_token == token:
                await self._session_over(fault)
            raise
        if state.renew_at is not None and state.renew_at <= time.monotonic():
            await self._renew()
        return result

    async def _session_over(self, fault: SessionOver) -> None:
        state = self._state
        object_id, token = state.object_id, state.user_token
        state.clear()
        try:
            # only the session that is over: one saved meanwhile by another process survives
            discard = getattr(self._store, "discard", None)
            if discard is not None and token is not None:
                await discard(state.key, StoredSession(user_token=token,
                                                       object_id=object_id or ""))
            else:
                await self._store.delete(state.key)
        except Exception as exc:  # noqa: BLE001 - the session fault is what the caller needs
            self._store_failed(fault.operation or "", exc, "error")
        if self._hooks.wants(SessionExpired):
            await self._hooks.emit(SessionExpired(
                operation=fault.operation or "", route=fault.route or "", object_id=object_id,
                fault_code=fault.code, session_key=self._state.key))

    def _store_failed(self, operation: str, exc: BaseException, level: str) -> None:
        logs.emit("session_store_failed", {"operation": operation,
                                           "session_key": self._state.key,
                                           "error": type(exc).__name__},
                  level=level, exc_info=exc)

    def _renew_deadline(self) -> float | None:
        """When a used session should next push its store entry's expiry back (None: never)."""
        interval = getattr(self._store, "renew_interval", None)
        if not isinstance(interval, (int, float)) or not interval > 0:
            return None
        return time.monotonic() + interval

    async def _renew(self) -> None:
        """Push the stored session's expiry back (an inactivity timeout, as Backendless's);
        a store that fails here is logged, never fails the operation that succeeded."""
        state = self._state
        state.renew_at = self._renew_deadline()
        touch = getattr(self._store, "touch", None)
        if touch is None:
            return
        try:
            await touch(state.key)
        except Exception as exc:  # noqa: BLE001 - the operation itself succeeded
            self._store_failed("session_store.touch", exc, "warning")

    async def _refused(self, fault: BackendlessFault, request: wire.Request) -> BackendlessFault:
        """A fault the client raises before sending anything (as Backendless would answer):
        logged and announced like any failed operation, with ``attempt`` 0 and no status."""
        await self._transport.report_failure(request, self._hooks, 0, 0.0, None, fault)
        return fault

    async def _emit(self, event: Event) -> None:
        await self._hooks.emit(event)

    # -- property types -------------------------------------------------------------------------
    async def _typed(self, data: dict[str, Any],
                     sent: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A user answer with its DATETIME columns read as datetimes (in place). The column
        types are asked for only when an integer shows up in a column not seen before."""
        types = self._types
        if not types.known.issuperset(data) and types.needs_refresh(data, sent):
            await self._learn_types(data)
        if types.dates:
            types.convert(data)
        return data

    async def _learn_types(self, data: dict[str, Any]) -> None:
        types = self._types
        task = types.refreshing
        if task is None or task.done():
            task = types.refreshing = asyncio.get_running_loop().create_task(self._fetch_types())
        await asyncio.shield(task)
        if types.needs_refresh(data):  # not listed, or the request failed: do not ask again
            types.give_up(data)

    async def _fetch_types(self) -> None:
        request = wire.describe_user_class()
        try:
            answer = await self._transport.send(request, None, self._hooks, None, None)
            columns = wire.read_properties(request, answer)
        except BackendlessError as exc:
            logs.emit("property_types_failed", {"operation": request.operation,
                                                "error": type(exc).__name__},
                      level="warning")
            return
        self._types.learn((column.name, column.type) for column in columns)

    # -- register / login / logout --------------------------------------------------------------
    @overload
    def register(self, user: BackendlessUser | Mapping[str, Any],
                 callback: AsyncCallback[BackendlessUser] | None = None, *,
                 password: str | None = None, timeout: TimeoutArg = None,
                 model: None = None) -> Call[BackendlessUser]: ...
    @overload
    def register(self, user: BackendlessUser | Mapping[str, Any] | AttrsInstance,
                 callback: AsyncCallback[M] | None = None, *, password: str | None = None,
                 timeout: TimeoutArg = None, model: type[M]) -> Call[M]: ...
    @overload
    def register(self, user: M, callback: AsyncCallback[M] | None = None, *,
                 password: str | None = None, timeout: TimeoutArg = None,
                 model: None = None) -> Call[M]: ...
    def register(self, user: Any, callback: AsyncCallback[Any] | None = None, *,
                 password: str | None = None, timeout: TimeoutArg = None,
                 model: type[Any] | None = None) -> Call[Any]:
        """POST users/register: store a new user (this does not log in).

        The given BackendlessUser gets the server's answer merged in (objectId, created...) and
        is returned; a mapping gives a new BackendlessUser. A model instance (an attrs class)
        sends its fields that differ from their defaults and gives a new instance; ``model=``
        returns the answer as that class. ``password=`` sets the password (a model holds none).
        """
        if password is not None:
            password = secret(password) if isinstance(password, str) else password
        if not isinstance(user, BackendlessUser | Mapping):
            model = model or type(user)
            return self._call(self._modelled(self._register_model(user, password, timeout),
                                             model), callback, timeout)
        coro = self._register(user, timeout, password)
        if model is not None:
            return self._call(self._modelled(coro, model), callback, timeout)
        return self._call(coro, callback, timeout)

    async def _register_model(self, instance: Any, password: str | None,
                              timeout: TimeoutArg) -> BackendlessUser:
        return await self._register(self._as_user(instance, "register"), timeout, password)

    # -- typed models -----------------------------------------------------------------------------
    @staticmethod
    def _as_user(instance: Any, operation: str) -> BackendlessUser:
        """A model instance as a BackendlessUser whose changes are the instance's changes."""
        source = typed.codec_of(instance, operation)
        object_id = source.object_id_of(instance)
        changes: dict[str, Any] = {}
        dated = source.diff(instance, changes)  # checked as set_property checks
        password = changes.pop("password", None)
        user = BackendlessUser._from_wire({} if object_id is None else {"objectId": object_id})
        user._props.update(changes)
        user._changed.update(changes)
        user._dated = dated
        if password is not None:
            user.password = password
        return user

    @staticmethod
    async def _modelled(coro: Awaitable[BackendlessUser], model: type[M]) -> M:
        user = await coro
        return typed.from_wire(model, user._props)

    @staticmethod
    async def _modelled_or_none(coro: Awaitable[BackendlessUser | None],
                                model: type[M]) -> M | None:
        user = await coro
        return None if user is None else typed.from_wire(model, user._props)

    @staticmethod
    async def _modelled_all(coro: Awaitable[list[BackendlessUser]], model: type[M]) -> list[M]:
        return [typed.from_wire(model, user._props) for user in await coro]

    async def _register(self, user: BackendlessUser | Mapping[str, Any],
                        timeout: TimeoutArg, password: str | None = None) -> BackendlessUser:
        if not isinstance(user, BackendlessUser):
            user = BackendlessUser(user)
        if password is not None:
            user.password = password
        body = {**user._props, **user._changes()}
        sent, dated = self._types.encode(body)
        request = wire.register(sent)
        outcome = Outcome() if self._hooks.wants(UserRegistered) else None
        data = await self._send(request, timeout, outcome)
        if dated:
            self._types.created(name for name in dated if type(data.get(name)) is int)
        user._merge_answer(await self._typed(data, body), body)
        user._mark_clean()
        if outcome is not None:
            await self._emit(UserRegistered(operation=request.operation,
                                            route=request.log_route,
                                            object_id=user.object_id or "",
                                            duration_ms=outcome.duration_ms))
        return user

    @overload
    def login(self, login: str, password: str,
              callback: AsyncCallback[BackendlessUser] | None = None, *,
              stay_logged_in: bool = False, timeout: TimeoutArg = None,
              model: None = None) -> Call[BackendlessUser]: ...
    @overload
    def login(self, login: str, password: str, callback: AsyncCallback[M] | None = None, *,
              stay_logged_in: bool = False, timeout: TimeoutArg = None,
              model: type[M]) -> Call[M]: ...
    def login(self, login: str, password: str, callback: AsyncCallback[Any] | None = None, *,
              stay_logged_in: bool = False, timeout: TimeoutArg = None,
              model: type[Any] | None = None) -> Call[Any]:
        """POST users/login: start this scope's session; returns the user (as ``model``).

        ``stay_logged_in`` saves the token and objectId in the app's session store, so that
        :meth:`restore` can resume the session after a restart. If the store fails (e.g.
        :class:`~backendless_aio.SessionStoreUnavailable`), the login is kept, this scope is
        logged in and ``UserLoggedIn`` fired, and then the store's error is raised.
        """
        if isinstance(password, str):
            password = secret(password)
        coro = self._login(login, password, stay_logged_in, timeout)
        if model is not None:
            return self._call(self._modelled(coro, model), callback, timeout)
        return self._call(coro, callback, timeout)

    async def _login(self, login: str, password: str, stay_logged_in: bool,
                     timeout: TimeoutArg) -> BackendlessUser:
        if not isinstance(login, str) or not isinstance(password, str):
            raise TypeError(  # a programming mistake, not an empty login (3006)
                "login takes the identity and the password as strings, not "
                f"{type(login).__name__} and {type(password).__name__}")
        if not login or not password:
            refused = wire.Request("users.login", "POST", Route.LOGIN.value, "")
            raise await self._refused(EmptyLogin(
                "login and password must be non-empty strings", operation=refused.operation,
                route=refused.log_route), refused)
        return await self._start_session(wire.login(login, password), stay_logged_in, timeout)

    @overload
    def login_as_guest(self, callback: AsyncCallback[BackendlessUser] | None = None, *,
                       stay_logged_in: bool = False, timeout: TimeoutArg = None,
                       model: None = None) -> Call[BackendlessUser]: ...
    @overload
    def login_as_guest(self, callback: AsyncCallback[M] | None = None, *,
                       stay_logged_in: bool = False, timeout: TimeoutArg = None,
                       model: type[M]) -> Call[M]: ...
    def login_as_guest(self, callback: AsyncCallback[Any] | None = None, *,
                       stay_logged_in: bool = False, timeout: TimeoutArg = None,
                       model: type[Any] | None = None) -> Call[Any]:
        """POST users/register/guest: a guest session (userStatus GUEST); returns the guest
        user (as ``model``)."""
        coro = self._start_session(wire.login_as_guest(), stay_logged_in, timeout)
        if model is not None:
            return self._call(self._modelled(coro, model), callback, timeout)
        return self._call(coro, callback, timeout)

    async def _start_session(self, request: wire.Request, stay_logged_in: bool,
                             timeout: TimeoutArg) -> BackendlessUser:
        outcome = Outcome() if self._hooks.wants(UserLoggedIn) else None
        data = await self._send(request, timeout, outcome)
        token = secret(data.pop(USER_TOKEN_KEY))
        user = BackendlessUser._from_wire(await self._typed(data))
        state = self._state
        state.set(token, user)
        state.persistent = False
        # The server session exists from here on: a store that fails keeps it in this scope
        # (logged in, current_user set) and the store's error is raised after the usual event.
        failed: BaseException | None = None
        try:
            if stay_logged_in:
                await self._store.save(state.key, StoredSession(
                    user_token=token, object_id=user.object_id or ""))
                state.persistent = True
                state.renew_at = self._renew_deadline()
            else:  # a session kept from an earlier login must not be resumed after a restart
                await self._store.delete(state.key)
        except Exception as exc:  # noqa: BLE001 - raised below, once the login is settled
            self._store_failed(request.operation, exc, "error")
            failed = exc
        if outcome is not None:
            await self._emit(UserLoggedIn(
                operation=request.operation, route=request.log_route,
                object_id=user.object_id or "",
                guest=user.user_status == UserStatus.GUEST.value,
                duration_ms=outcome.duration_ms))
        if failed is not None:
            raise failed
        return user

    def logout(self, callback: AsyncCallback[None] | None = None, *,
               timeout: TimeoutArg = None) -> Call[None]:
        """GET users/logout: end the session on the server and here (and in the store).

        As in the official SDKs, if the server says the session is over already (3023, 3064,
        3090, 3091) the local session is dropped and the fault is raised. If only the store
        fails to forget the session, the scope is logged out and the store's error is raised.
        """
        return self._call(self._logout(timeout), callback, timeout)

    async def _logout(self, timeout: TimeoutArg) -> None:
        state = self._state
        object_id = state.object_id
        was_logged_in = state.user_token is not None
        if was_logged_in:
            await self._send(wire.logout(), timeout)
        state.clear()
        state.persistent = False
        failed: BaseException | None = None
        try:
            await self._store.delete(state.key)
        except Exception as exc:  # noqa: BLE001 - raised below, once the logout is settled
            self._store_failed("users.logout", exc, "error")
            failed = exc
        if was_logged_in and self._hooks.wants(UserLoggedOut):
            await self._emit(UserLoggedOut(operation="users.logout",
                                           route=f"GET {Route.LOGOUT.value}",
                                           object_id=object_id))
        if failed is not None:
            raise failed

    async def restore(self) -> bool:
        """Resume this scope's session from the session store; True if one was found.

        Nothing is sent: the token is checked by the first call that uses it (or call
        :meth:`is_valid_login`). The user is loaded on demand by :meth:`get_current_user`.
        """
        stored = await self._store.load(self._state.key)
        if stored is None:
            return False
        self._state.user_token = secret(stored.user_token)
        self._state.object_id = stored.object_id
        self._state.user = None
        self._state.persistent = True
        self._state.renew_at = self._renew_deadline()
        return True

    # -- the current user -----------------------------------------------------------------------
    @overload
    def get_current_user(self, callback: AsyncCallback[BackendlessUser | None] | None = None,
                         *, reload: bool = False, timeout: TimeoutArg = None,
                         model: None = None) -> Call[BackendlessUser | None]: ...
    @overload
    def get_current_user(self, callback: AsyncCallback[M | None] | None = None, *,
                         reload: bool = False, timeout: TimeoutArg = None,
                         model: type[M]) -> Call[M | None]: ...
    def get_current_user(self, callback: AsyncCallback[Any] | None = None, *,
                         reload: bool = False, timeout: TimeoutArg = None,
                         model: type[Any] | None = None) -> Call[Any]:
        """The logged-in user; loaded from the server when not known yet or ``reload``.

        Concurrent calls share one request. None when nobody is logged in. With ``model=``, a
        new instance of that class built from the cached user (each call gives its own).
        """
        coro = self._get_current_user(reload, timeout)
        if model is not None:
            return self._call(self._modelled_or_none(coro, model), callback, timeout)
        return self._call(coro, callback, timeout)

    async def _get_current_user(self, reload: bool,
                                timeout: TimeoutArg) -> BackendlessUser | None:
        state = self._state
        if state.user is not None and not reload:
            return state.user
        if state.object_id is None or state.user_token is None:
            return None
        task = self._reload
        if task is None or task.done():
            task = self._reload = asyncio.get_running_loop().create_task(
                self._load_current(state.object_id, timeout))
        return await asyncio.shield(task)

    async def _load_current(self, object_id: str, timeout: TimeoutArg) -> BackendlessUser | None:
        data = await self._typed(await self._send(wire.find_by_id(object_id), timeout))
        state = self._state
        if state.object_id != object_id:  # logged out or in as somebody else meanwhile
            return state.user
        if state.user is not None:
            state.user._merge_answer(data, {})
        else:
            state.user = BackendlessUser._from_wire(data)
        return state.user

    def is_valid_login(self, callback: AsyncCallback[bool] | None = None, *,
                       timeout: TimeoutArg = None) -> Call[bool]:
        """GET users/isvalidusertoken/{token}: whether the session is still alive on the server.

        False without a request when this scope holds no token.
        """
        return self._call(self._is_valid_login(timeout), callback, timeout)

    async def _is_valid_login(self, timeout: TimeoutArg) -> bool:
        token = self._state.user_token
        if token is None:
            return False
        result: bool = await self._send(wire.is_valid_token(token), timeout)
        return result

    # -- update ---------------------------------------------------------------------------------
    @overload
    def update(self, user: BackendlessUser,
               callback: AsyncCallback[BackendlessUser] | None = None, *,
               timeout: TimeoutArg = None, model: None = None) -> Call[BackendlessUser]: ...
    @overload
    def update(self, user: BackendlessUser | AttrsInstance,
               callback: AsyncCallback[M] | None = None, *, timeout: TimeoutArg = None,
               model: type[M]) -> Call[M]: ...
    @overload
    def update(self, user: M, callback: AsyncCallback[M] | None = None, *,
               timeout: TimeoutArg = None, model: None = None) -> Call[M]: ...
    def update(self, user: Any, callback: AsyncCallback[Any] | None = None, *,
               timeout: TimeoutArg = None, model: type[Any] | None = None) -> Call[Any]:
        """PUT users/{objectId}: send the properties changed since the user was loaded.

        The server's answer (the whole stored user) is merged into ``user``, which is returned.
        Refused before any request when this scope is logged out (3028, like the server) or the
        user has no objectId. A model instance (an attrs class) sends the fields changed since
        it was loaded and gives a new instance of its class (or of ``model``).
        """
        if model is None and isinstance(user, BackendlessUser):  # the hot path: no model
            return self._call(self._update(user, timeout), callback, timeout)
        return self._call(self._update(user, timeout, model or type(user)), callback, timeout)

    async def _update(self, user: Any, timeout: TimeoutArg,
                      model: type[Any] | None = None) -> Any:
        # One coroutine for both a BackendlessUser and a model instance (no wrapper frame, no
        # intermediate BackendlessUser: the model's answer is built from the parsed body).
        if isinstance(user, BackendlessUser):
            instance = source = None
            object_id = user.object_id
        else:
            instance, source = user, typed.codec_of(user, "update")
            object_id = source.object_id_of(instance)
            changes: dict[str, Any] = {}
            has_dates = source.diff(instance, changes)  # checked as set_property checks
        if object_id is None:
            raise ConfigurationError(
                "update needs a user with an objectId: use the user that login, register or "
                "find_by_id returned")
        state = self._state
        if state.user_token is None:
            refused = wire.Request("users.update", "PUT", Route.UPDATE.value, "",
                                   object_id=object_id)
            raise await self._refused(UserNotLoggedIn(
                "User not logged in or wrong user id: log in before updating",
                operation=refused.operation, route=refused.log_route), refused)
        if source is None:
            changes = user._changes()
            has_dates = user._dated
        else:
            password = password_value(changes.pop("password", None))
            if password is not None:  # sent once, as a Secret (a model field holds no secret)
                changes["password"] = password
        types = self._types
        if has_dates:
            sent, dated = types.encode(changes)
            request = wire.update(object_id, changes, wire.dumps(sent))
        else:
            dated = None
            request = wire.update(object_id, changes, wire.dumps(changes))
        outcome = Outcome() if self._hooks.wants(UserUpdated) else None
        token = state.user_token
        try:  # _send inlined: this is the hot path
            data = await self._transport.send(
                request, token, self._hooks, None if timeout is None else Timeout.of(timeout),
                outcome)
        except SessionOver as fault:
            if self._state.user_token == token:
                await self._session_over(fault)
            raise
        if state.renew_at is not None and state.renew_at <= time.monotonic():
            await self._renew()
        if dated:
            types.created(name for name in dated if type(data.get(name)) is int)
        if not types.known.issuperset(data) and types.needs_refresh(data, changes):
            await self._learn_types(data)
        if types.dates:
            types.convert(data)
        current = state.user
        if current is not None and current is not user and current.object_id == object_id:
            current._merge_answer(dict(data), {})
        if source is None:
            user._merge_answer(data, changes)
            if user._password is not None and user._password is changes.get("password"):
                user._password = None
            if dated is not None and not user._changed:
                user._dated = False
        if outcome is not None:
            await self._emit(UserUpdated(operation=request.operation, route=request.log_route,
                                         object_id=object_id,
                                         changed=request.changed,
                                         attempt=outcome.attempt,
                                         duration_ms=outcome.duration_ms))
        if model is None:
            return user
        if source is None:
            return typed.from_wire(model, user._props)
        data.pop(USER_TOKEN_KEY, None)
        data.pop("password", None)
        return source.load(data) if model is type(instance) else typed.from_wire(model, data)

    # -- the rest of the contract ---------------------------------------------------------------
    @overload
    def find_by_id(self, object_id: str, callback: AsyncCallback[BackendlessUser] | None = None,
                   *, props: Iterable[str] | None = None, timeout: TimeoutArg = None,
                   model: None = None) -> Call[BackendlessUser]: ...
    @overload
    def find_by_id(self, object_id: str, callback: AsyncCallback[M] | None = None, *,
                   props: Iterable[str] | None = None, timeout: TimeoutArg = None,
                   model: type[M]) -> Call[M]: ...
    def find_by_id(self, object_id: str, callback: AsyncCallback[Any] | None = None, *,
                   props: Iterable[str] | None = None, timeout: TimeoutArg = None,
                   model: type[Any] | None = None) -> Call[Any]:
        """GET data/Users/{objectId} (or users/{objectId}?props=... with ``props``)."""
        coro = self._find_by_id(object_id, props, timeout)
        if model is not None:
            return self._call(self._modelled(coro, model), callback, timeout)
        return self._call(coro, callback, timeout)

    async def _find_by_id(self, object_id: str, props: Iterable[str] | None,
                          timeout: TimeoutArg) -> BackendlessUser:
        data = await self._send(wire.find_by_id(object_id, props), timeout)
        return BackendlessUser._from_wire(await self._typed(data))

    # -- finding users --------------------------------------------------------------------------
    @overload
    def find(self, where: str | None = None,
             callback: AsyncCallback[list[BackendlessUser]] | None = None, *,
             sort_by: query.Names = None, props: query.Names = None,
             page_size: int = DEFAULT_PAGE_SIZE, offset: int = 0,
             timeout: TimeoutArg = None, model: None = None) -> Call[list[BackendlessUser]]: ...
    @overload
    def find(self, where: str | None = None, callback: AsyncCallback[list[M]] | None = None,
             *, sort_by: query.Names = None, props: query.Names = None,
             page_size: int = DEFAULT_PAGE_SIZE, offset: int = 0,
             timeout: TimeoutArg = None, model: type[M]) -> Call[list[M]]: ...
    def find(self, where: str | None = None, callback: AsyncCallback[Any] | None = None, *,
             sort_by: query.Names = None, props: query.Names = None,
             page_size: int = DEFAULT_PAGE_SIZE, offset: int = 0,
             timeout: TimeoutArg = None, model: type[Any] | None = None) -> Call[Any]:
        """POST data/Users/find: one page of the users matching the whereClause ``where``.

        ``sort_by`` is a column or columns (``"name"``, ``["age DESC", "name"]``), ``props`` the
        properties to load (all by default), ``page_size`` 1 to 100 (refused above, before
        sending), ``offset`` where the page starts; ``model=`` gives instances of that attrs
        class. See docs/queries.md.
        """
        request = query.find(where, sort_by=sort_by, props=props, page_size=page_size,
                             offset=offset)
        if model is not None:
            return self._call(self._modelled_all(self._find(request, timeout), model), callback,
                              timeout)
        return self._call(self._find(request, timeout), callback, timeout)

    async def _find(self, request: wire.Request, timeout: TimeoutArg) -> list[BackendlessUser]:
        users = query.read_users(request, await self._send(request, timeout))
        await self._typed_all([user._props for user in users])
        return users

    async def _typed_all(self, items: list[dict[str, Any]]) -> None:
        """Users of a list answer with their DATETIME columns read as datetimes (in place)."""
        types = self._types
        for data in items:
            if not types.known.issuperset(data) and types.needs_refresh(data):
                await self._learn_types(data)
        if types.dates:
            for data in items:
                types.convert(data)

    def count(self, where: str | None = None, callback: AsyncCallback[int] | None = None, *,
              timeout: TimeoutArg = None) -> Call[int]:
        """POST data/Users/count: how many users match ``where`` (all of them without it)."""
        request = query.count(where)
        return self._call(self._count(request, timeout), callback, timeout)

    async def _count(self, request: wire.Request, timeout: TimeoutArg) -> int:
        return query.read_count(request, await self._send(request, timeout))

    @overload
    def find_all(self, where: str | None = None, *, sort_by: query.Names = None,
                 props: query.Names = None, page_size: int = DEFAULT_FIND_ALL_PAGE_SIZE,
                 timeout: TimeoutArg = None,
                 model: None = None) -> AsyncIterator[BackendlessUser]: ...
    @overload
    def find_all(self, where: str | None = None, *, sort_by: query.Names = None,
                 props: query.Names = None, page_size: int = DEFAULT_FIND_ALL_PAGE_SIZE,
                 timeout: TimeoutArg = None, model: type[M]) -> AsyncIterator[M]: ...
    def find_all(self, where: str | None = None, *, sort_by: query.Names = None,
                 props: query.Names = None, page_size: int = DEFAULT_FIND_ALL_PAGE_SIZE,
                 timeout: TimeoutArg = None,
                 model: type[Any] | None = None) -> AsyncIterator[Any]:
        """Every user matching ``where``, page after page: ``async for user in ...``
        (``model=``: instances of that attrs class).

        Arguments are checked at once. Pages are read by offset as iteration goes on: users
        created or deleted meanwhile may shift later pages (sort by a column that does not
        change, such as ``created``, and expect no snapshot).
        """
        return self._all(self._paging(where, sort_by, props, page_size, timeout, model))

    @staticmethod
    async def _all(pages: AsyncIterator[list[T]]) -> AsyncIterator[T]:
        async for page in pages:
            for user in page:
                yield user

    @overload
    def pages(self, where: str | None = None, *, sort_by: query.Names = None,
              props: query.Names = None, page_size: int = DEFAULT_FIND_ALL_PAGE_SIZE,
              timeout: TimeoutArg = None,
              model: None = None) -> AsyncIterator[list[BackendlessUser]]: ...
    @overload
    def pages(self, where: str | None = None, *, sort_by: query.Names = None,
              props: query.Names = None, page_size: int = DEFAULT_FIND_ALL_PAGE_SIZE,
              timeout: TimeoutArg = None, model: type[M]) -> AsyncIterator[list[M]]: ...
    def pages(self, where: str | None = None, *, sort_by: query.Names = None,
              props: query.Names = None, page_size: int = DEFAULT_FIND_ALL_PAGE_SIZE,
              timeout: TimeoutArg = None,
              model: type[Any] | None = None) -> AsyncIterator[list[Any]]:
        """Like :meth:`find_all`, a list per page (the one paging loop; arguments checked at
        once)."""
        return self._paging(where, sort_by, props, page_size, timeout, model)

    def _paging(self, where: str | None, sort_by: query.Names, props: query.Names,
                page_size: int, timeout: TimeoutArg,
                model: type[AttrsInstance] | None) -> AsyncIterator[list[Any]]:
        sort = query.names(sort_by, "sort_by")  # an iterator argument is read once
        names = query.names(props, "props")
        query.find_body(where, sort_by=sort, props=names, page_size=page_size)
        if model is not None:
            typed.codec(model)  # a model that is no attrs class is refused at once too
        return self._pages(where, sort, names, page_size, timeout, model)

    async def _pages(self, where: str | None, sort: list[str], names: list[str],
                     page_size: int, timeout: TimeoutArg, model: type[Any] | None
                     ) -> AsyncIterator[list[Any]]:
        offset = 0
        previous: list[str | None] = []
        while True:
            request = query.find(where, sort_by=sort, props=names, page_size=page_size,
                                 offset=offset)
            page = await self._find(request, timeout)
            ids = [user.object_id for user in page]
            if ids and ids == previous and None not in ids:  # never loop on a broken server
                raise MalformedResponse(
                    f"{request.operation}: the server answered offset {offset} with the page "
                    f"before it again", operation=request.operation, route=request.log_route)
            previous = ids
            if page:
                yield page if model is None else [typed.from_wire(model, user._props)
                                                  for user in page]
            if len(page) < page_size:
                return
            offset += len(page)

    @overload
    def find_first(self, where: str | None = None,
                   callback: AsyncCallback[BackendlessUser | None] | None = None, *,
                   sort_by: query.Names = None, props: query.Names = None,
                   timeout: TimeoutArg = None,
                   model: None = None) -> Call[BackendlessUser | None]: ...
    @overload
    def find_first(self, where: str | None = None,
                   callback: AsyncCallback[M | None] | None = None, *,
                   sort_by: query.Names = None, props: query.Names = None,
                   timeout: TimeoutArg = None, model: type[M]) -> Call[M | None]: ...
    def find_first(self, where: str | None = None,
                   callback: AsyncCallback[Any] | None = None, *,
                   sort_by: query.Names = None, props: query.Names = None,
                   timeout: TimeoutArg = None, model: type[Any] | None = None) -> Call[Any]:
        """The first user matching ``where`` by ``sort_by`` (by default the oldest: ``created
        asc``, as the JS SDK's findFirst), or None; ``model=`` as in :meth:`find`."""
        sort = query.names(sort_by, "sort_by") or ["created asc"]
        request = query.find(where, sort_by=sort, props=props, page_size=1, offset=0)
        if model is not None:
            return self._call(self._modelled_or_none(self._one(request, timeout), model),
                              callback, timeout)
        return self._call(self._one(request, timeout), callback, timeout)

    @overload
    def find_last(self, where: str | None = None,
                  callback: AsyncCallback[BackendlessUser | None] | None = None, *,
                  sort_by: query.Names = None, props: query.Names = None,
                  timeout: TimeoutArg = None,
                  model: None = None) -> Call[BackendlessUser | None]: ...
    @overload
    def find_last(self, where: str | None = None,
                  callback: AsyncCallback[M | None] | None = None, *,
                  sort_by: query.Names = None, props: query.Names = None,
                  timeout: TimeoutArg = None, model: type[M]) -> Call[M | None]: ...
    def find_last(self, where: str | None = None,
                  callback: AsyncCallback[Any] | None = None, *,
                  sort_by: query.Names = None, props: query.Names = None,
                  timeout: TimeoutArg = None, model: type[Any] | None = None) -> Call[Any]:
        """The last user matching ``where`` by ``sort_by`` (by default the newest: ``created
        desc``, as the JS SDK's findLast), or None. Unlike the JS SDK, a given ``sort_by`` is
        reversed, so the answer is the last one in that order. ``model=`` as in :meth:`find`."""
        sort = query.reversed_sort(sort_by) if sort_by is not None else ["created desc"]
        request = query.find(where, sort_by=sort, props=props, page_size=1, offset=0)
        if model is not None:
            return self._call(self._modelled_or_none(self._one(request, timeout), model),
                              callback, timeout)
        return self._call(self._one(request, timeout), callback, timeout)

    async def _one(self, request: wire.Request, timeout: TimeoutArg) -> BackendlessUser | None:
        users = await self._find(request, timeout)
        return users[0] if users else None

    def describe_user_class(self, callback: AsyncCallback[list[UserClassProperty]] | None = None,
                            *, timeout: TimeoutArg = None) -> Call[list[UserClassProperty]]:
        """GET users/userclassprops: the Users class's properties."""
        return self._call(self._describe(timeout), callback, timeout)

    async def _describe(self, timeout: TimeoutArg) -> list[UserClassProperty]:
        request = wire.describe_user_class()
        return wire.read_properties(request, await self._send(request, timeout))

    def restore_password(self, identity: str, callback: AsyncCallback[None] | None = None, *,
                         timeout: TimeoutArg = None) -> Call[None]:
        """GET users/restorepassword/{identity}: Backendless mails a password-reset link."""
        return self._call(self._send_none(wire.restore_password(identity), timeout), callback,
                          timeout)

    def resend_email_confirmation(self, identity: str,
                                  callback: AsyncCallback[None] | None = None, *,
                                  timeout: TimeoutArg = None) -> Call[None]:
        """POST users/resendconfirmation/{identity}: mail the confirmation link again."""
        return self._call(self._send_none(wire.resend_email_confirmation(identity), timeout),
                          callback, timeout)

    async def _send_none(self, request: wire.Request, timeout: TimeoutArg) -> None:
        await self._send(request, timeout)

    def get_user_roles(self, callback: AsyncCallback[list[str]] | None = None, *,
                       object_id: str | None = None,
                       timeout: TimeoutArg = None) -> Call[list[str]]:
        """GET users/userroles: the roles of the logged-in user (or of an anonymous one): the
        system role, then the roles assigned to the user. With ``object_id``, GET
        users/userroles/{objectId}: that user's roles (another user's need the CloudCode key).
        """
        request = wire.user_roles() if object_id is None else wire.user_roles_of(object_id)
        return self._call(self._roles(request, timeout), callback, timeout)

    async def _roles(self, request: wire.Request, timeout: TimeoutArg) -> list[str]:
        return wire.read_roles(request, await self._send(request, timeout))

    # -- roles, login by objectId, email confirmation URLs --------------------------------------
    def assign_role(self, identity: str | int, role: str,
                    callback: AsyncCallback[None] | None = None, *,
                    timeout: TimeoutArg = None) -> Call[None]:
        """POST users/assignRole: give a role (made in the console) to the user with this
        identity value (or objectId). Backendless allows it with the CloudCode key only (2011);
        system roles cannot be assigned (2007), unknown roles fault 2005."""
        request = wire.change_role(identity, role, assign=True)
        return self._call(self._send_none(request, timeout), callback, timeout)

    def unassign_role(self, identity: str | int, role: str,
                      callback: AsyncCallback[None] | None = None, *,
                      timeout: TimeoutArg = None) -> Call[None]:
        """POST users/unassignRole: take a role from a user (CloudCode key only: 2011; a system
        role faults 2008, an unknown role 2005)."""
        request = wire.change_role(identity, role, assign=False)
        return self._call(self._send_none(request, timeout), callback, timeout)

    @overload
    def find_by_role(self, role: str, callback: AsyncCallback[list[BackendlessUser]] | None = None,
                     *, load_roles: bool = False, timeout: TimeoutArg = None,
                     model: None = None) -> Call[list[BackendlessUser]]: ...
    @overload
    def find_by_role(self, role: str, callback: AsyncCallback[list[M]] | None = None, *,
                     load_roles: bool = False, timeout: TimeoutArg = None,
                     model: type[M]) -> Call[list[M]]: ...
    def find_by_role(self, role: str, callback: AsyncCallback[Any] | None = None, *,
                     load_roles: bool = False, timeout: TimeoutArg = None,
                     model: type[Any] | None = None) -> Call[Any]:
        """GET users/role/{role}: the users who have a role (the server's first page); with
        ``load_roles`` each user's ``roles`` property lists all their roles (a model gets it
        through a field such as ``roles: list[str] | None = None``)."""
        if not isinstance(load_roles, bool):
            raise ConfigurationError("load_roles must be True or False")
        request = wire.find_by_role(role, load_roles)
        if model is not None:
            return self._call(self._modelled_all(self._find_by_role(request, timeout), model),
                              callback, timeout)
        return self._call(self._find_by_role(request, timeout), callback, timeout)

    async def _find_by_role(self, request: wire.Request,
                            timeout: TimeoutArg) -> list[BackendlessUser]:
        found = wire.read_users(request, await self._send(request, timeout))
        await self._typed_all(found)
        return [BackendlessUser._from_wire(item) for item in found]

    @overload
    def login_by_object_id(self, object_id: str,
                           callback: AsyncCallback[BackendlessUser] | None = None, *,
                           stay_logged_in: bool = False, timeout: TimeoutArg = None,
                           model: None = None) -> Call[BackendlessUser]: ...
    @overload
    def login_by_object_id(self, object_id: str, callback: AsyncCallback[M] | None = None, *,
                           stay_logged_in: bool = False, timeout: TimeoutArg = None,
                           model: type[M]) -> Call[M]: ...
    def login_by_object_id(self, object_id: str, callback: AsyncCallback[Any] | None = None, *,
                           stay_logged_in: bool = False, timeout: TimeoutArg = None,
                           model: type[Any] | None = None) -> Call[Any]:
        """POST users/login with only ``{"objectId"}``: start a session as that user without
        a password; returns the user (as ``model``). Backendless allows it with the CloudCode
        key only (2014), so the client refuses it (ConfigurationError, nothing sent) unless the
        app was made with ``server_key=True``."""
        coro = self._login_by_id(object_id, stay_logged_in, timeout)
        if model is not None:
            return self._call(self._modelled(coro, model), callback, timeout)
        return self._call(coro, callback, timeout)

    async def _login_by_id(self, object_id: str, stay_logged_in: bool,
                           timeout: TimeoutArg) -> BackendlessUser:
        if not self._transport.config.server_key:
            raise ConfigurationError(
                "login_by_object_id needs the app's CloudCode (BL) API key: make the app with "
                "that key and server_key=True")
        request = wire.login_by_object_id(object_id)
        return await self._start_session(request, stay_logged_in, timeout)

    def create_email_confirmation_url(self, identity: str,
                                      callback: AsyncCallback[str] | None = None, *,
                                      timeout: TimeoutArg = None) -> Call[str]:
        """POST users/createEmailConfirmationURL/{identity}: a fresh confirmation link for a
        user whose email is not confirmed yet (to send by your own means). Faults as resend:
        3102 already confirmed, 3103 confirmation not required, 3104 no such user."""
        request = wire.create_email_confirmation_url(identity)
        return self._call(self._confirmation_url(request, timeout), callback, timeout)

    async def _confirmation_url(self, request: wire.Request, timeout: TimeoutArg) -> str:
        return wire.read_confirmation_url(request, await self._send(request, timeout))

    def verify_password(self, password: str, callback: AsyncCallback[bool] | None = None, *,
                        timeout: TimeoutArg = None) -> Call[bool]:
        """POST users/verifypassword: whether ``password`` is the logged-in user's password."""
        if isinstance(password, str):
            password = secret(password)
        return self._call(self._verify(password, timeout), callback, timeout)

    async def _verify(self, password: str, timeout: TimeoutArg) -> bool:
        if not isinstance(password, str) or not password:
            raise ConfigurationError("the password to verify must be a non-empty string")
        request = wire.verify_password(password)
        return wire.read_valid(request, await self._send(request, timeout))

    def set_user_status(self, object_id: str, status: UserStatus | str,
                        callback: AsyncCallback[None] | None = None, *,
                        timeout: TimeoutArg = None) -> Call[None]:
        """PUT users/{objectId}/status: enable or disable a user (server-side API key only)."""
        value = UserStatus(status).value
        if value not in (UserStatus.ENABLED.value, UserStatus.DISABLED.value):
            raise ConfigurationError("a user's status can be set to ENABLED or DISABLED only")
        return self._call(self._send_none(wire.set_user_status(object_id, value), timeout),
                          callback, timeout)


#: The coroutines that wrap an operation's own one to give a model (``model=``): a call never
#: awaited names both after the public operation, and a refused timeout closes both.
_MODEL_WRAPPERS = frozenset({AsyncUserService._modelled.__code__,
                             AsyncUserService._modelled_or_none.__code__,
                             AsyncUserService._modelled_all.__code__})
