"""The emulator's HTTP guards: JSON answers for aiohttp's own HTTP errors, and the admin routes'
protection against web pages and other hosts.

The admin routes (`/__emulator__/...`) wipe and steer the emulator. A web page open in the
developer's browser can send a "simple" cross-origin request (a `text/plain` POST) without a
preflight, so they refuse:

- any request that carries an `Origin` header (browsers send it on cross-origin requests and on
  every POST; curl, test suites and the client library do not);
- a POST whose `Content-Type` is not `application/json` (a browser cannot send that
  cross-origin without a preflight, which gets no CORS headers here);
- without the admin token, when one is set (`X-Emulator-Admin-Token`), or when the emulator
  listens beyond loopback and no token is set at all.

Their answers never carry CORS headers.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from .errors import error_body
from .settings import EmulatorSettings

ADMIN_PREFIX = "/__emulator__"
ADMIN_TOKEN_HEADER = "X-Emulator-Admin-Token"
#: Codes of the admin guard's refusals (their HTTP statuses).
ADMIN_CROSS_ORIGIN = 403
ADMIN_NOT_JSON = 415
ADMIN_TOKEN_MISSING = 401

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (what the emulator binds) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _refusal(status: int, message: str) -> web.Response:
    response = web.Response(
        body=orjson.dumps(error_body(status, message)),
        status=status,
        content_type="application/json",
    )
    response.force_close()  # an unread body is not waited for
    return response


def admin_refusal(request: web.Request, settings: EmulatorSettings) -> web.Response | None:
    """The answer refusing an admin request, or None when it may go through."""
    if request.headers.get("Origin") is not None:
        return _refusal(
            ADMIN_CROSS_ORIGIN, "Admin routes refuse cross-origin (browser) requests"
        )
    if request.method == "POST" and request.content_type != "application/json":
        return _refusal(
            ADMIN_NOT_JSON, "Admin routes take POST requests with Content-Type: application/json"
        )
    token = settings.admin_token
    if token is None:
        if not is_loopback(settings.host):
            return _refusal(
                ADMIN_TOKEN_MISSING,
                "The emulator listens beyond loopback: set an admin token "
                "(--admin-token) to use the admin routes",
            )
        return None
    sent = request.headers.get(ADMIN_TOKEN_HEADER, "")
    if not hmac.compare_digest(sent.encode("utf-8", "surrogateescape"), token.encode("utf-8")):
        return _refusal(
            ADMIN_TOKEN_MISSING, f"Admin routes need the admin token in {ADMIN_TOKEN_HEADER}"
        )
    return None


async def answer_and_close(request: web.Request, response: web.Response) -> web.Response:
    """Send ``response`` and close the connection at once (aiohttp would otherwise wait for
    the unread rest of a request body)."""
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    if request.transport is not None:
        request.transport.close()
    return response


def _http_error_answer(exc: web.HTTPException) -> web.Response:
    message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
    response = _refusal(exc.status, message or exc.reason)
    for name in ("Allow", "Retry-After"):
        if name in exc.headers:
            response.headers[name] = exc.headers[name]
    return response


def make_guard(settings: EmulatorSettings) -> Middleware:
    """The middleware: admin requests checked first; aiohttp's HTTP errors (404 of no route,
    405, 413 of an admin body...) answered as JSON faults ``{"code": status, "message"}``."""

    @web.middleware
    async def guard(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if is_admin_path(request.path):
            refusal = admin_refusal(request, settings)
            if refusal is not None:
                return await answer_and_close(request, refusal)
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _http_error_answer(exc)

    return guard
