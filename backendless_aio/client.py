"""Backendless: one app, one connection pool, a default user scope and the app's hooks."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import attrs

from . import _constants as C
from .config import ClientConfig, RetryPolicy, Timeout, location_from_environment
from .errors import BackendlessError
from .events import Event, Hooks
from .sessions import MemorySessionStore, SessionState, SessionStore
from .transport import Transport
from .users import AsyncUserService
from .values import PropertyTypes

__all__ = ["Backendless"]

E = TypeVar("E", bound=Event)


class Backendless:
    """A Backendless application, asyncio-native.

    Classic form: ``Backendless(app_id=..., api_key=..., server_url=...)``; app subdomain or
    custom domain form: ``Backendless(domain="https://myapp.backendless.app")``. Settings not
    given are read from ``BACKENDLESS_APP_ID``, ``BACKENDLESS_API_KEY``,
    ``BACKENDLESS_SERVER_URL`` and ``BACKENDLESS_DOMAIN`` (arguments win; see
    :func:`~backendless_aio.config.location_from_environment`).

    The aiohttp session is created lazily inside the running loop on first use and closed by
    :meth:`aclose` (or ``async with``); a ``session=`` you pass in is yours and never closed here.
    """

    def __init__(
        self,
        app_id: str | None = None,
        api_key: str | None = None,
        *,
        server_url: str | None = None,
        domain: str | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        pool_size: int = C.DEFAULT_POOL_SIZE,
        max_concurrency: int | None = None,
        server_key: bool = False,
        session: aiohttp.ClientSession | None = None,
        session_store: SessionStore | None = None,
        config: ClientConfig | None = None,
    ) -> None:
        if config is None:
            where = location_from_environment(app_id=app_id, api_key=api_key,
                                              server_url=server_url, domain=domain)
            config = ClientConfig(
                app_id=where.app_id, api_key=where.api_key,
                server_url=where.server_url or C.DEFAULT_SERVER_URL, domain=where.domain,
                timeout=Timeout.of(timeout), retry=retry or RetryPolicy(), pool_size=pool_size,
                max_concurrency=max_concurrency, server_key=server_key)
        elif any(v is not None for v in (app_id, api_key, server_url, domain, timeout, retry)) \
                or server_key:
            raise TypeError("give either config= or the individual settings, not both")
        self.config = config
        self.hooks = Hooks()
        self.session_store: SessionStore = (
            session_store if session_store is not None else MemorySessionStore())
        self._transport = Transport(config, session)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.users = AsyncUserService(self._transport, Hooks(parent=self.hooks),
                                      self.session_store,
                                      self._tasks, SessionState(key=C.DEFAULT_SESSION_KEY),
                                      PropertyTypes())

    def with_options(self, **changes: Any) -> ClientConfig:
        """A copy of this app's settings with some changed (``attrs.evolve``)."""
        return attrs.evolve(self.config, **changes)

    def on(self, event_type: type[E], handler: Any) -> Any:
        """Subscribe to an event for every scope of this app; returns the unsubscribe function.

        ``unsubscribe = app.on(UserUpdated, handler)``; ``app.on(Event, handler)`` sees them all.
        """
        return self.hooks.on(event_type, handler)

    @property
    def connector(self) -> aiohttp.BaseConnector | None:
        """The connection pool (None until the first request)."""
        return self._transport.connector

    async def aclose(self) -> None:
        """Let running callback calls finish, then close the connection pool (if ours)."""
        self._closed = True
        while self._tasks:  # also calls started by a handler meanwhile
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._transport.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called: a closed app cannot be used again."""
        return self._closed

    async def __aenter__(self) -> Backendless:
        if self._closed:
            raise BackendlessError("this Backendless app is closed; make a new one")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<Backendless {self.config.where}>"
