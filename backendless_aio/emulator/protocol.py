"""The emulator below HTTP routing: how connections are accepted, capped and answered when the
request itself cannot be parsed.

- Protocol errors (a header line over 8 KB, a method such as `FOO`, a control character in the
  path) are answered with a JSON fault `{"code": 400, "message", "errorData"}` (aiohttp answers
  plain text by default), and the connection is closed.
- At most `max_connections` connections are served at once; one more is answered 503 (JSON,
  `Retry-After: 1`) and closed.
- A connection on which no complete request headers arrive within `header_timeout` seconds (of
  connecting, or of the previous answer) is closed: aiohttp's keep-alive timer does that.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from .errors import error_body

logger = logging.getLogger("backendless_aio.emulator")


class JsonErrorsHandler(RequestHandler):
    """aiohttp's request handler, answering protocol errors as JSON faults."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
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


class _Busy(asyncio.Protocol):
    """Answers one 503 and closes: the emulator serves its connection cap already."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        body = orjson.dumps(error_body(503, "Too many connections to the emulator"))
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_BUSY + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        transport.close()

    def data_received(self, data: bytes) -> None:  # the request is not read
        pass


class GuardedFactory:
    """The protocol factory of a listening socket: JSON protocol errors and a connection cap."""

    def __init__(self, server: web.Server, max_connections: int) -> None:
        self.server = server
        self.max_connections = max_connections
        self._kwargs: dict[str, Any] = dict(getattr(server, "_kwargs", {}))

    def __call__(self) -> asyncio.BaseProtocol:
        server = self.server
        if len(server.connections) >= self.max_connections:
            return _Busy()
        try:
            return JsonErrorsHandler(server, loop=asyncio.get_running_loop(), **self._kwargs)
        except TypeError:  # an aiohttp whose handler takes other arguments: its own
            return server()


class GuardedSite(web.TCPSite):
    """A TCP site whose connections go through :class:`GuardedFactory`."""

    __slots__ = ("_max_connections",)

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *,
                 max_connections: int) -> None:
        super().__init__(runner, host, port)
        self._max_connections = max_connections

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            GuardedFactory(server, self._max_connections), self._host, self._port,
            backlog=self._backlog)
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
