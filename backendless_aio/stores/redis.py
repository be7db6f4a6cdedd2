"""RedisSessionStore: sessions in Redis, shared by every process and machine of a bot fleet.

Installed with ``pip install backendless-aio[redis]`` (redis-py's asyncio client). This is the
only module of the package that imports redis.

One entry per scope key: the string key ``<prefix><scope key>`` holds the JSON object
``{"user_token": ..., "object_id": ...}`` and expires ``ttl`` seconds after it was last saved,
restored or (while a scope uses it) touched.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from .. import _constants as C
from ..errors import SessionStoreUnavailable
from ._base import StoredSession, session_entry, session_from_entry

__all__ = ["RedisSessionStore"]

T = TypeVar("T")

# Delete the entry only while it still holds the given token (a compare-and-delete in one step:
# a newer session saved by another process meanwhile must survive).
_DISCARD = """
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local ok, entry = pcall(cjson.decode, value)
if ok and type(entry) == 'table' and entry['user_token'] == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _seconds(value: float | None, what: str, *, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{what} must be a positive number of seconds"
                         + (" or None" if allow_none else "") + f", not {value!r}")
    return float(value)


class RedisSessionStore:
    """Sessions in Redis: every process that uses the same Redis and prefix sees them.

    ``RedisSessionStore.from_url("redis://localhost:6379/0")`` opens a client of its own, closed
    by :meth:`aclose` (or ``async with``); ``RedisSessionStore(client)`` borrows an application's
    ``redis.asyncio.Redis``, which is never closed here.

    ``prefix`` starts every key (``"backendless:"``: the scope ``chat:42`` is stored under
    ``backendless:chat:42``). ``ttl`` is the entry's lifetime in seconds, pushed back whenever
    the session is restored, saved or used (``None``: entries never expire); by default
    Backendless's default session timeout, 3600 s. ``timeout`` bounds every store operation,
    waiting for a pooled connection included; past it, or when Redis cannot be reached or
    refuses a command, the operation raises
    :class:`~backendless_aio.SessionStoreUnavailable`.

    A client is bound to the event loop it first runs in: use one store per loop.
    """

    def __init__(self, client: aioredis.Redis, *, prefix: str = C.DEFAULT_REDIS_PREFIX,
                 ttl: float | None = C.DEFAULT_SESSION_TTL,
                 timeout: float = C.DEFAULT_STORE_TIMEOUT) -> None:
        if not isinstance(client, aioredis.Redis):
            raise TypeError(f"RedisSessionStore takes a redis.asyncio.Redis client, not "
                            f"{type(client).__name__} (or use RedisSessionStore.from_url)")
        if not isinstance(prefix, str):
            raise TypeError(f"the prefix must be a string, not {type(prefix).__name__}")
        self._client = client
        self._owned = False
        self.prefix = prefix
        self.ttl = _seconds(ttl, "ttl", allow_none=True)
        _seconds(timeout, "timeout", allow_none=False)
        self.timeout = float(timeout)
        #: Seconds a scope in use lets pass before it pushes its entry's expiry back again.
        self.renew_interval: float | None = None if self.ttl is None else self.ttl / 10
        self._px = None if self.ttl is None else max(1, round(self.ttl * 1000))
        self._discard = client.register_script(_DISCARD)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = C.DEFAULT_REDIS_PREFIX,
                 ttl: float | None = C.DEFAULT_SESSION_TTL,
                 timeout: float = C.DEFAULT_STORE_TIMEOUT,
                 max_connections: int = C.DEFAULT_REDIS_MAX_CONNECTIONS,
                 **options: Any) -> RedisSessionStore:
        """A store with a client of its own on ``url``: ``redis://[[user]:password@]host[:port][/db]``,
        ``rediss://...`` (TLS) or ``unix:///path/to/redis.sock[?db=0]``.

        At most ``max_connections`` connections; more concurrent operations wait for one (up to
        ``timeout``). ``options`` go to redis-py's connection pool (``ssl_ca_certs=``,
        ``username=``, ``password=``, ``client_name=``...).
        """
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("a Redis URL starts with redis://, rediss:// or unix://")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) \
                or max_connections < 1:
            raise ValueError("max_connections must be a whole number of at least 1")
        wait = float(timeout)
        _seconds(wait, "timeout", allow_none=False)
        options.setdefault("socket_timeout", wait)
        options.setdefault("socket_connect_timeout", wait)
        # Every command of the store is idempotent (SET, GETEX, DEL, PEXPIRE, a compare-and-
        # delete), so a connection error is tried again on a fresh connection: after a Redis
        # restart, the pooled connections are stale and the first command on each would fail.
        options.setdefault("retry", Retry(ExponentialBackoff(cap=0.5, base=0.05), 2))
        try:
            pool = aioredis.BlockingConnectionPool.from_url(
                url, max_connections=max_connections, timeout=wait, **options)
        except ValueError as exc:  # redis-py's words on a malformed URL hold no password
            raise ValueError(f"not a usable Redis URL: {exc}") from None
        store = cls(aioredis.Redis.from_pool(pool), prefix=prefix, ttl=ttl, timeout=wait)
        store._owned = True
        return store

    @property
    def client(self) -> aioredis.Redis:
        """The redis-py client (the store's own, or the one it borrows)."""
        return self._client

    def redis_key(self, key: str) -> str:
        """The Redis key under which the scope ``key`` is stored."""
        return self.prefix + key

    # -- the SessionStore protocol ---------------------------------------------------------------
    async def load(self, key: str) -> StoredSession | None:
        """The stored session, its expiry pushed back by ``ttl``; None if there is none (or the
        entry is not one this store wrote)."""
        name = self.prefix + key
        if self._px is None:
            raw = await self._run("load", key, self._client.get(name))
        else:
            raw = await self._run("load", key, self._client.getex(name, px=self._px))
        if raw is None:
            return None
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return session_from_entry(entry)

    async def save(self, key: str, session: StoredSession) -> None:
        """Store ``session`` under ``key`` (replacing any other), expiring after ``ttl``."""
        value = orjson.dumps(session_entry(session))
        await self._run("save", key, self._client.set(self.prefix + key, value, px=self._px),
                        session.user_token)

    async def delete(self, key: str) -> None:
        """Forget the session under ``key``, for every process."""
        await self._run("delete", key, self._client.delete(self.prefix + key))

    # -- the optional refinements ----------------------------------------------------------------
    async def discard(self, key: str, session: StoredSession) -> None:
        """Forget the entry under ``key`` only while it still holds ``session``'s token."""
        await self._run("discard", key,
                        self._discard(keys=[self.prefix + key], args=[session.user_token]),
                        session.user_token)

    async def touch(self, key: str) -> None:
        """Push the entry's expiry back to ``ttl`` from now (nothing when ``ttl`` is None)."""
        if self._px is not None:
            await self._run("touch", key, self._client.pexpire(self.prefix + key, self._px))

    # -- plumbing ---------------------------------------------------------------------------------
    async def _run(self, operation: str, key: str, command: Awaitable[T],
                   token: str | None = None) -> T:
        try:
            if sys.version_info >= (3, 11):
                async with asyncio.timeout(self.timeout):
                    return await command
            else:  # pragma: no cover - Python 3.10
                return await asyncio.wait_for(command, self.timeout)
        except (RedisError, OSError, TimeoutError, asyncio.TimeoutError) as exc:
            if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) \
                    and not isinstance(exc, RedisError):
                why = f"no answer within {self.timeout:g} s"
            else:
                why = _describe(exc, token)
            raise SessionStoreUnavailable(
                f"the Redis session store failed to {operation} the session {key!r}: {why}",
                operation=operation, session_key=key) from exc

    async def aclose(self) -> None:
        """Close the client if this store opened it (``from_url``); a borrowed one stays open."""
        if self._owned:
            await self._client.aclose()

    async def __aenter__(self) -> RedisSessionStore:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"RedisSessionStore(prefix={self.prefix!r}, ttl={self.ttl!r})"


def _describe(exc: BaseException, token: str | None) -> str:
    """The cause in a few words, without the session's token (which no redis-py message should
    hold, but a server's error text may echo arguments)."""
    text = str(exc).strip()
    if token:
        text = text.replace(token, "<redacted>")
    if len(text) > C.SNIPPET_CHARS:
        text = text[:C.SNIPPET_CHARS] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
