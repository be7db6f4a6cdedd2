"""Typed, frozen event objects and the hook registry apps and bots subscribe to.

No event carries a password, a token, an API key, a URL or a body: only the operation, the
route template, timings, attempts, fault codes, object ids and property *names*.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs

from . import logs

__all__ = [
    "Event",
    "Hooks",
    "OperationFailed",
    "RequestSent",
    "ResponseReceived",
    "RetryScheduled",
    "SessionExpired",
    "UserLoggedIn",
    "UserLoggedOut",
    "UserRegistered",
    "UserUpdated",
]


@attrs.frozen(kw_only=True, slots=True)
class Event:
    """The base of every event: which operation, on which route template."""

    operation: str
    route: str


@attrs.frozen(kw_only=True, slots=True)
class RequestSent(Event):
    """An attempt is about to go on the wire."""

    attempt: int


@attrs.frozen(kw_only=True, slots=True)
class ResponseReceived(Event):
    """An answer arrived (a success or a fault)."""

    attempt: int
    status: int
    duration_ms: float
    fault_code: int | None = None


@attrs.frozen(kw_only=True, slots=True)
class RetryScheduled(Event):
    """An attempt failed in a way worth retrying; the next one starts after ``delay`` seconds."""

    attempt: int
    delay: float
    reason: str
    status: int | None = None
    fault_code: int | None = None


@attrs.frozen(kw_only=True, slots=True)
class OperationFailed(Event):
    """The operation ended with an error (a fault, a timeout, a dropped connection...)."""

    attempt: int
    duration_ms: float
    error: str  # the exception's class name
    status: int | None = None
    fault_code: int | None = None
    object_id: str | None = None


@attrs.frozen(kw_only=True, slots=True)
class UserRegistered(Event):
    object_id: str
    duration_ms: float


@attrs.frozen(kw_only=True, slots=True)
class UserLoggedIn(Event):
    object_id: str
    guest: bool
    duration_ms: float


@attrs.frozen(kw_only=True, slots=True)
class UserLoggedOut(Event):
    object_id: str | None


@attrs.frozen(kw_only=True, slots=True)
class UserUpdated(Event):
    object_id: str
    changed: tuple[str, ...]
    attempt: int
    duration_ms: float


@attrs.frozen(kw_only=True, slots=True)
class SessionExpired(Event):
    """The server said this scope's session is over (3023, 3064, 3090, 3091); it was dropped."""

    object_id: str | None
    fault_code: int | None
    session_key: str | None = None


E = TypeVar("E", bound=Event)
Handler = Callable[[E], "Awaitable[object] | object"]


class Hooks:
    """Subscriptions: ``unsubscribe = hooks.on(UserUpdated, handler)``.

    Handlers may be plain functions or coroutine functions. They run after the library's own
    state is settled and no lock is held; one that raises is logged and never breaks the
    operation. A subscription to a base class (``Event``) sees every subclass. A scope's hooks
    also feed its parent's (the app's).
    """

    __slots__ = ("_by_type", "_lock", "_parent", "_resolved")

    # Subscriptions may come from any thread (BlockingBackendless.on) while the loop thread
    # resolves handlers: the handler tuples are replaced, never mutated, and every change swaps
    # in a fresh resolution cache, so a resolution that raced a change lands in a discarded
    # cache instead of hiding the new subscription. The lock only orders writers; handlers never
    # run under it.
    def __init__(self, parent: Hooks | None = None) -> None:
        self._parent = parent
        self._by_type: dict[type[Event], tuple[Callable[[Any], Any], ...]] = {}
        self._resolved: dict[type[Event], tuple[Callable[[Any], Any], ...]] = {}
        self._lock = threading.Lock()

    @property
    def root(self) -> Hooks:
        """The app-level registry at the top of this chain."""
        return self if self._parent is None else self._parent.root

    def on(self, event_type: type[E], handler: Callable[[E], Any]) -> Callable[[], None]:
        """Subscribe; returns a function that unsubscribes (calling it twice is harmless)."""
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"subscribe to an Event class, not {event_type!r}")
        if not callable(handler):
            raise TypeError("the handler must be callable")
        with self._lock:
            self._by_type[event_type] = (*self._by_type.get(event_type, ()), handler)
            self._resolved = {}
        subscribed = True

        def unsubscribe() -> None:
            # Once per subscription: a handler subscribed twice stays subscribed once when one
            # of its unsubscribe functions is called twice.
            nonlocal subscribed
            with self._lock:
                if not subscribed:
                    return
                subscribed = False
                handlers = list(self._by_type.get(event_type, ()))
                if handler in handlers:
                    handlers.remove(handler)
                    if handlers:
                        self._by_type[event_type] = tuple(handlers)
                    else:  # an empty registry lets wants() answer at once
                        del self._by_type[event_type]
                    self._resolved = {}

        return unsubscribe

    def _handlers(self, event_type: type[Event]) -> tuple[Callable[[Any], Any], ...]:
        cache = self._resolved  # before reading the subscriptions: see __init__
        found = cache.get(event_type)
        if found is None:
            by_type = self._by_type
            found = cache[event_type] = tuple(
                handler for klass in event_type.__mro__ for handler in by_type.get(klass, ()))
        if self._parent is not None:
            return found + self._parent._handlers(event_type)
        return found

    def wants(self, event_type: type[Event]) -> bool:
        """Whether anybody listens: events nobody listens to are never built."""
        hooks: Hooks | None = self
        while hooks is not None:  # the common case, no subscription at all, answers at once
            if hooks._by_type:
                return bool(self._handlers(event_type))
            hooks = hooks._parent
        return False

    async def emit(self, event: Event) -> None:
        """Run every handler of this event, isolated from each other and from the caller."""
        for handler in self._handlers(type(event)):
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:  # noqa: BLE001 - a hook must never break the operation
                logs.hook_failed(event, handler, exc)
