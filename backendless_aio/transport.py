"""The one request loop over aiohttp: timeouts, retries, hooks and one log event per call.

Nothing here knows about users: it sends a :class:`~backendless_aio.wire.Request`, reads the
answer, hands it to :func:`~backendless_aio.wire.parse_answer`, and decides whether to try again.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
import weakref
from typing import Any

import aiohttp
from yarl import URL

from . import _unclosed, logs
from ._codes import USER_TOKEN_HEADER, Code
from ._constants import DEFAULT_DNS_TTL, MAX_RESPONSE_BYTES
from .config import ClientConfig, RetryPolicy, Timeout
from .errors import (
    BackendlessError,
    BackendlessFault,
    BackendlessTimeout,
    ConnectionFailed,
    MalformedResponse,
    RateLimited,
    UnexpectedStatus,
)
from .events import Hooks, OperationFailed, RequestSent, ResponseReceived, RetryScheduled
from .wire import Request, parse_answer, redact

__all__ = ["Outcome", "Transport"]


class Outcome:
    """Filled by :meth:`Transport.send` when asked: how many attempts, how long in all."""

    __slots__ = ("attempt", "duration_ms")

    def __init__(self) -> None:
        self.attempt = 0
        self.duration_ms = 0.0

_JSON_HEADERS = {"Content-Type": "application/json"}
# A bodyless POST goes out without Content-Type, as the official SDKs send it (aiohttp would
# otherwise add application/octet-stream).
_NO_BODY_SKIP = frozenset({"Content-Type"})
# Connect-phase failures: the request provably never reached the server.
_NEVER_SENT: tuple[type[BaseException], ...] = (aiohttp.ClientConnectorError,)
if hasattr(aiohttp, "ConnectionTimeoutError"):  # aiohttp >= 3.10
    _NEVER_SENT = (*_NEVER_SENT, aiohttp.ConnectionTimeoutError)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(policy: RetryPolicy, attempt: int, retry_after: float | None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    if not policy.backoff:
        return 0.0
    if retry_after is not None:
        return min(retry_after, policy.retry_after_cap)
    ceiling = min(policy.backoff_max, policy.backoff_initial * (2 ** (attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)


class Transport:
    """Owns (or borrows) one ``aiohttp.ClientSession`` and sends requests through it."""

    def __init__(self, config: ClientConfig, session: aiohttp.ClientSession | None = None) -> None:
        self.config = config
        self._session = session
        self._owns_session = session is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._root = config.root_url + "/"
        self._secrets = config.secrets
        self._timeout = self._client_timeout(config.timeout)
        self._limit: asyncio.Semaphore | None = None
        self._closed = False
        self._unclosed: weakref.finalize | None = None  # type: ignore[type-arg]

    @staticmethod
    def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
        total = timeout.total
        if timeout.deadline is not None and (total is None or timeout.deadline < total):
            total = timeout.deadline  # no attempt outlives the call's deadline
        return aiohttp.ClientTimeout(total=total, connect=timeout.connect)

    # -- the session --------------------------------------------------------------------------
    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session, created on first use inside the running loop."""
        if self._closed:
            raise BackendlessError("this Backendless app is closed; make a new one")
        session = self._session
        loop = asyncio.get_running_loop()
        if session is None:
            connector = aiohttp.TCPConnector(limit=self.config.pool_size,
                                             ttl_dns_cache=DEFAULT_DNS_TTL)
            session = self._session = aiohttp.ClientSession(connector=connector,
                                                            timeout=self._timeout)
            self._loop = loop
            self._unclosed = _unclosed.watch(self, session, loop, self.config.where)
            if self.config.max_concurrency is not None:
                self._limit = asyncio.Semaphore(self.config.max_concurrency)
        elif self._owns_session and self._loop is not loop:
            raise BackendlessError(
                "this Backendless app was first used in another event loop; an app belongs to "
                "one loop (use BlockingBackendless for code without a loop)")
        return session

    @property
    def connector(self) -> aiohttp.BaseConnector | None:
        return None if self._session is None else self._session.connector

    async def aclose(self) -> None:
        self._closed = True
        if self._unclosed is not None:
            self._unclosed.detach()
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    # -- one operation ------------------------------------------------------------------------
    async def send(self, request: Request, token: str | None, hooks: Hooks,
                   timeout: Timeout | None = None, outcome: Outcome | None = None) -> Any:
        """Send ``request`` (retrying as the policy says) and return the parsed answer.

        ``token`` should be a :class:`~backendless_aio._secret.Secret`. When this raises, the
        frames of the traceback hold no URL, header, body or plain secret: a traceback rendered
        with its local variables shows nothing to hide.
        """
        session = self.session()
        policy = self.config.retry
        limit = self._limit
        if token is not None:
            headers = {USER_TOKEN_HEADER: token}
            if request.body is not None:
                headers.update(_JSON_HEADERS)
        else:
            headers = _JSON_HEADERS if request.body is not None else {}
        client_timeout = self._timeout if timeout is None else self._client_timeout(timeout)
        started = time.perf_counter()
        attempt = 0
        resp: aiohttp.ClientResponse | None = None
        try:
            while True:
                attempt += 1
                if hooks.wants(RequestSent):
                    await hooks.emit(RequestSent(operation=request.operation,
                                                 route=request.log_route, attempt=attempt))
                status: int | None = None
                retry_after: float | None = None
                body = b""
                try:
                    if limit is not None:  # held only while the request is on the wire
                        await limit.acquire()
                    try:
                        async with session.request(
                                request.method, URL(self._root + request.path, encoded=True),
                                data=request.body, headers=headers, timeout=client_timeout,
                                skip_auto_headers=None if request.body is not None
                                else _NO_BODY_SKIP,
                                allow_redirects=False) as resp:
                            status = resp.status
                            if status == 429 or status == 503:
                                retry_after = _retry_after(resp.headers.get("Retry-After"))
                            length = resp.content_length
                            if length is not None and length <= MAX_RESPONSE_BYTES:
                                body = await resp.read()
                            else:
                                body = await self._read(resp, request)
                    finally:
                        if limit is not None:
                            limit.release()
                    return_value = parse_answer(request, status, body, self._secrets, token)
                except BackendlessFault as fault:
                    error: BaseException = fault
                    retryable = fault.code == Code.RATE_LIMIT or _status_retryable(
                        request, policy, status)
                except UnexpectedStatus as exc:
                    error = exc
                    retryable = _status_retryable(request, policy, status)
                except MalformedResponse as exc:
                    error = exc
                    retryable = (request.idempotent or policy.retry_non_idempotent) and (
                        status is not None and status < 300 and exc.snippet != "too large")
                except _NEVER_SENT as exc:
                    error = self._connection_error(request, exc, (*self._secrets, token),
                                                   connecting=True)
                    retryable = True
                except asyncio.TimeoutError as exc:
                    error = BackendlessTimeout(
                        f"{request.operation}: no answer within the timeout "
                        f"({_seconds(client_timeout.total)} s in all, "
                        f"{_seconds(client_timeout.connect)} s to connect)",
                        operation=request.operation, route=request.log_route)
                    error.__cause__ = exc
                    retryable = request.idempotent or policy.retry_non_idempotent
                except aiohttp.ClientError as exc:
                    error = self._connection_error(request, exc, (*self._secrets, token),
                                                   connecting=False)
                    retryable = request.idempotent or policy.retry_non_idempotent
                except AttributeError as exc:
                    # aiohttp < 3.13 repeats a request on a dropped keep-alive connection even
                    # when the session was closed meanwhile, and trips over its connector (None).
                    if not self._closed:
                        raise
                    raise BackendlessError(
                        f"{request.operation}: the app was closed while the call was running"
                    ) from exc
                else:
                    if outcome is not None:
                        outcome.attempt = attempt
                        outcome.duration_ms = _ms(started)
                    if logs.enabled():
                        self._finished(request, attempt, started, status)
                    if hooks.wants(ResponseReceived):
                        await hooks.emit(ResponseReceived(
                            operation=request.operation, route=request.log_route, attempt=attempt,
                            status=status, duration_ms=_ms(started)))
                    return return_value

                body = b""  # an error body may quote a secret: keep it out of this frame's locals
                fault_code = error.code if isinstance(error, BackendlessFault) else None
                if retry_after is not None and isinstance(error, RateLimited):
                    error.retry_after = retry_after
                if retryable and attempt < policy.max_attempts:
                    delay = backoff_delay(policy, attempt, retry_after)
                    # the call's deadline: a wait that would end past it is not slept, and the
                    # next attempt gets no more than the time left
                    budget = (self.config.timeout if timeout is None else timeout).budget(
                        policy.max_attempts)
                    if budget is not None:
                        left = budget - (time.perf_counter() - started) - delay
                        if left <= 0.0:
                            retryable = False
                        elif client_timeout.total is None or left < client_timeout.total:
                            client_timeout = aiohttp.ClientTimeout(
                                total=left, connect=None if client_timeout.connect is None
                                else min(client_timeout.connect, left))
                if retryable and attempt < policy.max_attempts:
                    reason = type(error).__name__
                    logs.emit("retry", {"operation": request.operation, "route": request.log_route,
                                        "attempt": attempt, "delay_s": round(delay, 3),
                                        "reason": reason, "status": status,
                                        "fault_code": fault_code})
                    if status is not None and hooks.wants(ResponseReceived):
                        await hooks.emit(ResponseReceived(
                            operation=request.operation, route=request.log_route, attempt=attempt,
                            status=status, duration_ms=_ms(started), fault_code=fault_code))
                    if hooks.wants(RetryScheduled):
                        await hooks.emit(RetryScheduled(
                            operation=request.operation, route=request.log_route, attempt=attempt,
                            delay=delay, reason=reason, status=status, fault_code=fault_code))
                    await asyncio.sleep(delay)
                    if self._closed:
                        raise BackendlessError(
                            f"{request.operation}: the app was closed while the call was running"
                        ) from _scrubbed(error)
                    continue
                await self.report_failure(request, hooks, attempt, _ms(started), status, error)
                # raised from here, with none of the parsing frames (they held the raw body)
                raise _scrubbed(error)
        except asyncio.CancelledError as cancelled:
            # aiohttp's frames below hold the URL (the API key, maybe a token): a cancellation
            # leaves with none of them
            _scrubbed(cancelled)
            raise
        finally:
            # the response's repr shows the URL (API key, maybe a token): keep it out of the
            # frame a traceback of a raised error (or a cancellation) shows with its locals
            resp = None

    async def _read(self, resp: aiohttp.ClientResponse, request: Request) -> bytes:
        """The body of an answer whose length is unknown or over the limit (the common case,
        a Content-Length within it, is read inline by :meth:`send`)."""
        length = resp.content_length
        if length is not None:
            raise MalformedResponse(
                f"{request.operation}: an answer of {length} bytes, over the "
                f"{MAX_RESPONSE_BYTES}-byte limit", status=resp.status, snippet="too large",
                operation=request.operation, route=request.log_route)
        chunks = bytearray()
        async for chunk in resp.content.iter_chunked(65536):
            chunks += chunk
            if len(chunks) > MAX_RESPONSE_BYTES:
                raise MalformedResponse(
                    f"{request.operation}: an answer over the {MAX_RESPONSE_BYTES}-byte limit",
                    status=resp.status, snippet="too large", operation=request.operation,
                    route=request.log_route)
        return bytes(chunks)

    @staticmethod
    def _connection_error(request: Request, exc: BaseException, secrets: tuple[str | None, ...],
                          connecting: bool) -> ConnectionFailed:
        what = "could not connect to the server" if connecting else (
            "the connection failed before the whole answer arrived")
        detail = redact(str(exc), secrets)
        # a ClientResponseError carries the request's URL and headers: keep it out of the chain
        keep_cause = not isinstance(exc, aiohttp.ClientResponseError)
        message = f"{request.operation}: {what} ({type(exc).__name__}"
        message += f": {detail})" if detail and keep_cause else ")"
        error = ConnectionFailed(message, operation=request.operation, route=request.log_route)
        if keep_cause:
            error.__cause__ = exc
        error.__suppress_context__ = True
        return error

    @staticmethod
    def _finished(request: Request, attempt: int, started: float, status: int | None) -> None:
        fields = {"operation": request.operation, "route": request.log_route, **request.fields,
                  "status": status, "fault_code": None, "attempt": attempt,
                  "duration_ms": _ms(started)}
        logs.emit(request.operation, fields)

    async def report_failure(self, request: Request, hooks: Hooks, attempt: int,
                             duration: float, status: int | None, error: BaseException) -> None:
        """Log and announce an operation that ended with ``error``: the one log event and
        ``OperationFailed`` (attempt 0: refused by the client before anything was sent)."""
        fault_code = error.code if isinstance(error, BackendlessFault) else None
        level = "info" if isinstance(error, BackendlessFault) else "warning"
        if logs.enabled(level):
            logs.emit(request.operation, {
                "operation": request.operation, "route": request.log_route, **request.fields,
                "status": status, "fault_code": fault_code, "attempt": attempt,
                "duration_ms": duration, "error": type(error).__name__}, level=level)
        if status is not None and hooks.wants(ResponseReceived):
            await hooks.emit(ResponseReceived(operation=request.operation,
                                              route=request.log_route, attempt=attempt,
                                              status=status, duration_ms=duration,
                                              fault_code=fault_code))
        if hooks.wants(OperationFailed):
            await hooks.emit(OperationFailed(
                operation=request.operation, route=request.log_route, attempt=attempt,
                duration_ms=duration, error=type(error).__name__, status=status,
                fault_code=fault_code, object_id=request.object_id))


def _scrubbed(error: BaseException) -> BaseException:
    """``error`` without the frames it was raised through, nor those of any exception in its
    ``__cause__`` / ``__context__`` chain: they held the raw body, aiohttp's request objects
    and the URL. What is left to show is the errors' own (redacted) texts."""
    error.__traceback__ = None
    seen = {id(error)}
    pending = [error.__cause__, error.__context__]
    while pending:
        linked = pending.pop()
        if linked is None or id(linked) in seen:
            continue
        seen.add(id(linked))
        linked.__traceback__ = None
        pending += (linked.__cause__, linked.__context__)
    return error


def _status_retryable(request: Request, policy: RetryPolicy, status: int | None) -> bool:
    """A throttling or gateway status: safe to repeat when idempotent, and a 429 always (the
    server refused the request without processing it)."""
    return status in policy.statuses and (
        request.idempotent or status == 429 or policy.retry_non_idempotent)


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)
