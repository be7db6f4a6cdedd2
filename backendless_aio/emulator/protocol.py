"""The emulator below HTTP routing: how connections are accepted, capped, timed and answered when
the request itself cannot be parsed.

- Protocol errors (a header line over 8 KB, a method such as `FOO`, a control character in the
  path) are answered with a JSON fault `{"code": 400, "message", "errorData"}` (aiohttp answers
  plain text by default), and the connection is closed.
- At most `max_connections` connections are served at once; one more is answered 503 (JSON,
  `Retry-After: 1`) and closed.
- A connection whose first request's headers have not all arrived `header_timeout` seconds after
  it was accepted is closed. Between requests, aiohttp's keep-alive timer (`keepalive_timeout`,
  set to the same time) closes a connection whose next request's headers do not arrive in time.

How, on every aiohttp from the floor in `pyproject.toml` to the newest, with public aiohttp API
only (`web.BaseSite`, `web.Server`, `web.RequestHandler` and its documented keyword arguments,
`request.transport`) and asyncio's own (`transport.get_protocol()`):

- The listening socket is a :class:`GuardedSite`, whose protocol factory gives every accepted
  connection a :class:`GuardedConnection`: a small asyncio protocol of our own that sits between
  the transport and aiohttp's request handler and passes every event on to it.
- Its ``connection_made`` applies the cap (a count of its own, exact because asyncio calls
  ``connection_made`` one connection at a time), creates the request handler and arms the header
  timer; ``connection_lost`` disarms it and frees the place.
- The :func:`disarm_header_timer` middleware (the first of the emulator's app) disarms the timer
  when the first request reaches the app, which aiohttp does once that request's headers are
  parsed.
  A request that cannot be parsed never reaches the app: its error answer closes the connection.
- The request handler is a :class:`JsonErrorsHandler` (aiohttp's, with ``handle_error``
  answering JSON), created with the handler options the emulator chose itself, never read back
  from aiohttp's private attributes.

aiohttp 3.14.4 and later also close a connection that sends no request at all with their own
keep-alive timer; the header timer does it on every version, and the two agree on the time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from .errors import error_body

logger = logging.getLogger("backendless_aio.emulator")


class JsonErrorsHandler(web.RequestHandler):
    """aiohttp's request handler, answering protocol errors as JSON faults."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            logger.error("emulator: error answering a request", exc_info=exc)
            text = "Internal emulator error"
        else:
            logger.debug("emulator: refused a malformed request (%s)", status)
            # the first words only: aiohttp's text quotes the offending bytes
            text = (message or "").split("\n", 1)[0].split(":", 1)[0].strip() or "Bad request"
        if request.writer.output_size > 0:
            raise ConnectionError("the answer has started; no error answer can follow")
        response = web.Response(
            body=orjson.dumps(error_body(status, text)),
            status=status,
            content_type="application/json",
        )
        response.force_close()
        return response


_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
)


def _busy_answer() -> bytes:
    body = orjson.dumps(error_body(503, "Too many connections to the emulator"))
    return _BUSY + b"Content-Length: %d\r\n\r\n" % len(body) + body


class ConnectionGuard:
    """What the connections of one listening socket share: the cap, its count, the header time
    and how to make a request handler. Called, it is the socket's protocol factory."""

    def __init__(self, server: web.Server, *, max_connections: int, header_timeout: float,
                 handler_options: Mapping[str, Any]) -> None:
        self.server = server
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.handler_options = dict(handler_options)
        #: Connections served now (those answered 503 are not counted).
        self.served = 0

    def __call__(self) -> GuardedConnection:
        return GuardedConnection(self)

    def make_handler(self, loop: asyncio.AbstractEventLoop) -> web.RequestHandler:
        return JsonErrorsHandler(self.server, loop=loop, **self.handler_options)


class GuardedConnection(asyncio.Protocol):
    """One accepted connection: refused over the cap, closed when its first request's headers are
    late, otherwise served by an aiohttp request handler that gets every protocol event."""

    __slots__ = ("_guard", "_handler", "_header_timer", "_transport")

    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self._handler: web.RequestHandler | None = None  # None: refused (503)
        self._header_timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        guard = self._guard
        if guard.served >= guard.max_connections:
            logger.debug("emulator: refused a connection over the cap (%d)", guard.max_connections)
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(_busy_answer())
            transport.close()
            return
        guard.served += 1
        self._transport = transport
        loop = asyncio.get_running_loop()
        self._header_timer = loop.call_later(guard.header_timeout, self._headers_too_late)
        self._handler = guard.make_handler(loop)
        self._handler.connection_made(transport)

    def headers_arrived(self) -> None:
        """The first request's headers are parsed: the header timer is no longer needed."""
        timer, self._header_timer = self._header_timer, None
        if timer is not None:
            timer.cancel()

    def _headers_too_late(self) -> None:
        self._header_timer = None
        logger.debug("emulator: closed a connection whose request headers did not arrive "
                     "within %s s", self._guard.header_timeout)
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        if self._handler is not None:
            self._handler.data_received(data)
        # refused: the request is not read

    def eof_received(self) -> bool | None:
        if self._handler is not None:
            # aiohttp's returns nothing (the transport then closes); a later one may keep it open
            eof_received: Callable[[], bool | None] = self._handler.eof_received
            return eof_received()
        return None

    def pause_writing(self) -> None:
        if self._handler is not None:
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        if self._handler is not None:
            self._handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.headers_arrived()  # disarms the timer
        handler, self._handler = self._handler, None
        self._transport = None
        if handler is not None:
            self._guard.served -= 1
            handler.connection_lost(exc)


@web.middleware
async def disarm_header_timer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The first middleware: a request that reached the app had all its headers; its
    connection's header timer (when the emulator's site accepted it) is disarmed."""
    transport = request.transport
    if transport is not None:
        connection = transport.get_protocol()
        if isinstance(connection, GuardedConnection):
            connection.headers_arrived()
    return await handler(request)


class GuardedSite(web.BaseSite):
    """A TCP site whose connections are :class:`GuardedConnection` s.

    ``handler_options`` are the keyword arguments of each aiohttp request handler (those
    `web.AppRunner` documents: ``keepalive_timeout``, ``access_log``...).
    """

    __slots__ = ("_guard", "_host", "_listener", "_port")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, max_connections: int,
                 header_timeout: float, handler_options: Mapping[str, Any]) -> None:
        super().__init__(runner)
        server = runner.server
        assert server is not None  # BaseSite refuses a runner that was not set up
        self._guard = ConnectionGuard(server, max_connections=max_connections,
                                      header_timeout=header_timeout,
                                      handler_options=handler_options)
        self._host = host
        self._port = port
        self._listener: asyncio.Server | None = None

    @property
    def guard(self) -> ConnectionGuard:
        return self._guard

    @property
    def addresses(self) -> list[Any]:
        """The socket addresses listened on (``getsockname()`` of each), once started."""
        listener = self._listener
        return [] if listener is None else [sock.getsockname() for sock in listener.sockets]

    @property
    def name(self) -> str:
        addresses = self.addresses
        port = addresses[0][1] if addresses else self._port
        host = self._host or "0.0.0.0"  # noqa: S104 (names the wildcard, binds nothing)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    async def start(self) -> None:
        await super().start()  # registers the site with its runner (which stops it on cleanup)
        self._listener = await asyncio.get_running_loop().create_server(
            self._guard, self._host, self._port)

    async def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        await super().stop()
