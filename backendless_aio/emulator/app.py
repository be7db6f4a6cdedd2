"""The emulator's HTTP side: an aiohttp.web application answering the Backendless Users API.

One catch-all handler takes every request: it reads the body (within the size limit), records
the request, applies injected faults, resolves the URL form (`/{appId}/{apiKey}/...` or
`/api/...`) and dispatches to the Users logic. Small admin routes under `/__emulator__/` steer
an emulator from another process (faults, reset, clock).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import attrs
import orjson
from aiohttp import web
from multidict import MultiMapping

from .._codes import USER_TOKEN_HEADER, Code
from . import confirmation, console, data, roles, search
from .errors import Fault, error_body
from .faults import DEFAULT_HTML_PAGE, DEFAULT_NON_JSON_BODY, FaultRule
from .guard import ADMIN_PREFIX, answer_and_close, is_admin_path, make_guard
from .protocol import disarm_header_timer
from .service import Caller, UsersService
from .settings import EmulatorSettings
from .state import EmulatorState

logger = logging.getLogger("backendless_aio.emulator")

STATE: web.AppKey[EmulatorState] = web.AppKey("backendless_aio_emulator_state", EmulatorState)
WRONG_APP_MESSAGE = (
    "Version is disabled or provided wrong application info (application id and secret key)"
)


# -- answers ---------------------------------------------------------------------------------


def json_response(value: Any, status: int = 200) -> web.Response:
    try:
        body = orjson.dumps(value)
    except TypeError:  # a string with a lone surrogate (from undecodable request bytes)
        body = orjson.dumps(_printable(value))
    return web.Response(body=body, status=status, content_type="application/json")


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


def empty_response() -> web.Response:
    return web.Response(status=200)


def error_response(code: int, message: str, status: int = 400) -> web.Response:
    return json_response(error_body(code, message), status=status)


def fault_response(fault: Fault) -> web.Response:
    return json_response(fault.body(), status=fault.status)


# -- routing ---------------------------------------------------------------------------------


@attrs.frozen
class Call:
    """One resolved request, as the route handlers see it."""

    service: UsersService
    caller: Caller
    body: bytes
    query: MultiMapping[str]
    params: tuple[str, ...]
    request: web.Request


Handler = Callable[[Call], Awaitable[web.Response]]


async def _info(call: Call) -> web.Response:
    return json_response(call.service.info(call.caller))


async def _register(call: Call) -> web.Response:
    return json_response(await call.service.register(call.body))


async def _guest(call: Call) -> web.Response:
    return json_response(await call.service.guest_login())


async def _login(call: Call) -> web.Response:
    return json_response(await call.service.login(call.body, call.caller))


async def _logout(call: Call) -> web.Response:
    call.service.logout(call.caller)
    return empty_response()


async def _is_valid(call: Call) -> web.Response:
    return json_response(call.service.is_valid_token(call.params[0]))


async def _update(call: Call) -> web.Response:
    return json_response(await call.service.update(call.params[0], call.body, call.caller))


def _props(query: MultiMapping[str]) -> list[str] | None:
    names = [n.strip() for value in query.getall("props", []) for n in value.split(",")]
    return [n for n in names if n] or None


async def _find_user(call: Call) -> web.Response:
    user = call.service.find_by_id(
        call.params[0], call.caller, props=_props(call.query), data_route=False
    )
    return json_response(user)


async def _find_data(call: Call) -> web.Response:
    user = call.service.find_by_id(
        call.params[0], call.caller, props=_props(call.query), data_route=True
    )
    return json_response(user)


async def _find_post(call: Call) -> web.Response:
    query = search.query_from_body(call.body)
    return json_response(search.find(call.service, call.caller, query))


async def _find_get(call: Call) -> web.Response:
    query = search.query_from_params(call.query)
    return json_response(search.find(call.service, call.caller, query))


async def _count_post(call: Call) -> web.Response:
    where = search.where_from_body(call.body)
    return json_response(search.count(call.service, call.caller, where))


async def _count_get(call: Call) -> web.Response:
    return json_response(search.count(call.service, call.caller, call.query.get("where")))


async def _describe(call: Call) -> web.Response:
    return json_response(call.service.describe(call.caller))


async def _restore(call: Call) -> web.Response:
    call.service.restore_password(call.params[0])
    return empty_response()


async def _resend(call: Call) -> web.Response:
    call.service.resend_confirmation(call.params[0])
    return empty_response()


async def _verify(call: Call) -> web.Response:
    return json_response(await call.service.verify_password(call.body, call.caller))


async def _roles(call: Call) -> web.Response:
    return json_response(call.service.user_roles(call.caller))


async def _status(call: Call) -> web.Response:
    call.service.set_status(call.params[0], call.body, call.caller)
    return empty_response()


async def _assign(call: Call) -> web.Response:
    roles.change_role(call.service, call.body, call.caller, assign=True)
    return empty_response()


async def _unassign(call: Call) -> web.Response:
    roles.change_role(call.service, call.body, call.caller, assign=False)
    return empty_response()


async def _by_role(call: Call) -> web.Response:
    return json_response(roles.find_by_role(call.service, call.params[0], call.query, call.caller))


async def _roles_of(call: Call) -> web.Response:
    return json_response(roles.roles_of_user(call.service, call.params[0], call.caller))


async def _confirmation_url(call: Call) -> web.Response:
    origin = f"{call.request.scheme}://{call.request.host}"
    return json_response(confirmation.create_url(call.service, call.params[0], origin))


async def _data_save(call: Call) -> web.Response:
    return json_response(await data.save(call.service, call.params[0], call.body, call.caller))


async def _data_find(call: Call) -> web.Response:
    return json_response(data.find(call.service, call.params[0], call.body, call.caller))


async def _data_get(call: Call) -> web.Response:
    table, object_id = call.params
    return json_response(data.find_by_id(call.service, table, object_id, call.caller))


_USERS_FIXED: dict[str, dict[str, Handler]] = {
    "register": {"POST": _register},
    "login": {"POST": _login},
    "logout": {"GET": _logout},
    "userclassprops": {"GET": _describe},
    "verifypassword": {"POST": _verify},
    "verifypassowrd": {"POST": _verify},  # the JS SDK v8's spelling
    "userroles": {"GET": _roles},
    "assignRole": {"POST": _assign},
    "unassignRole": {"POST": _unassign},
}
_USERS_WITH_PARAM: dict[str, dict[str, Handler]] = {
    "isvalidusertoken": {"GET": _is_valid},
    "restorepassword": {"GET": _restore},
    "resendconfirmation": {"POST": _resend},
    "createEmailConfirmationURL": {"POST": _confirmation_url},
    "role": {"GET": _by_role},
    "userroles": {"GET": _roles_of},
}


def match_route(rest: list[str]) -> tuple[dict[str, Handler], tuple[str, ...]] | None:
    """The handlers by method and the path parameters for a path below the root, if any."""
    n = len(rest)
    if rest == ["info"]:
        return {"GET": _info}, ()
    if n >= 2 and rest[0] == "users":
        if n == 2:
            if rest[1] in _USERS_FIXED:
                return _USERS_FIXED[rest[1]], ()
            return {"PUT": _update, "GET": _find_user}, (rest[1],)
        if n == 3:
            if rest[1] == "register" and rest[2] == "guest":
                return {"POST": _guest}, ()
            if rest[1] in _USERS_WITH_PARAM:
                return _USERS_WITH_PARAM[rest[1]], (rest[2],)
            if rest[2] == "status":
                return {"PUT": _status}, (rest[1],)
    if n >= 2 and rest[0] == "data" and rest[1].lower() == "users":
        if n == 2:
            return {"GET": _find_get, "PUT": _data_save}, (rest[1],)
        if n == 3:
            if rest[2] == "find":
                return {"POST": _find_post}, ()
            if rest[2] == "count":
                return {"POST": _count_post, "GET": _count_get}, ()
            return {"GET": _find_data}, (rest[2],)
    if n >= 2 and rest[0] == "data":
        return _match_data(rest)
    return None


def _match_data(rest: list[str]) -> tuple[dict[str, Handler], tuple[str, ...]] | None:
    """The Data-service slice (data.py): save, a minimal find, a record by id."""
    if len(rest) == 2:
        return {"PUT": _data_save}, (rest[1],)
    if len(rest) == 3 and rest[2] == "find":
        return {"POST": _data_find}, (rest[1],)
    if len(rest) == 3:
        return {"GET": _data_get}, (rest[1], rest[2])
    return None


def path_segments(raw_path: str) -> list[str]:
    segments = [unquote(s) for s in raw_path.split("?", 1)[0].split("/")[1:]]
    if segments and segments[-1] == "":
        segments.pop()
    return segments


def resolve(
    state: EmulatorState, segments: list[str], token: str | None
) -> tuple[UsersService, Caller, list[str]]:
    """The app's service, the caller and the route segments below the root, for either URL
    form (`/{appId}/{apiKey}/...`, or `/api/...` for the default app)."""
    if segments and segments[0] == "api":
        return state.service, Caller(token=token), segments[1:]
    if len(segments) < 2:
        raise Fault(404, "Unknown route", status=404)
    app_id, api_key = segments[0], segments[1]
    kind = state.key_kind(app_id, api_key)
    service = None if kind is None else state.service_for(app_id)
    if kind is None or service is None:
        raise Fault(Code.WRONG_APP, WRONG_APP_MESSAGE)
    return service, Caller(token=token, key_kind=kind), segments[2:]


async def answer(state: EmulatorState, request: web.Request, body: bytes) -> web.Response:
    """Process one request of the Users API; every outcome is a JSON (or empty) answer."""
    token = request.headers.get(USER_TOKEN_HEADER, "").strip() or None
    try:
        segments = path_segments(request.raw_path)
        if console.is_console_path(segments):  # before `/{appId}/{apiKey}/...`
            return await console.answer(state, request, body, segments)
        if token is not None and not (token.isascii() and token.isprintable()):
            # (undecodable bytes arrive as lone surrogates): no session has such a token
            raise Fault(Code.INVALID_TOKEN, "Not existing user token. The user-token header "
                        "must be printable ASCII; relogin user to update your user token")
        service, caller, rest = resolve(state, segments, token)
        route = match_route(rest)
        if route is None:
            raise Fault(404, f"Unknown route: {request.method} {'/'.join(rest)}", status=404)
        handlers, params = route
        handler = handlers.get(request.method)
        if handler is None:
            allowed = ", ".join(sorted(handlers))
            response = error_response(
                405, f"Method {request.method} is not allowed here; use {allowed}", status=405
            )
            response.headers["Allow"] = allowed
            return response
        call = Call(service, caller, body, request.query, params, request)
        return await handler(call)
    except Fault as fault:
        return fault_response(fault)
    except Exception:
        logger.exception("emulator: unexpected error answering %s", request.method)
        return error_response(500, "Internal emulator error", status=500)


# -- faults ----------------------------------------------------------------------------------


def _close_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


def _status_answer(rule: FaultRule) -> web.Response:
    status = rule.status or 503
    if rule.body is not None:
        response = web.Response(status=status, text=rule.body, content_type="text/plain")
    else:
        code = rule.code if rule.code is not None else (999 if status == 429 else status)
        reason = "Request-per-second limit exhausted" if code == 999 else "Injected fault"
        response = json_response(error_body(code, reason), status=status)
    if rule.retry_after is not None:
        response.headers["Retry-After"] = str(rule.retry_after)
    return response


def _html_answer(rule: FaultRule) -> web.Response:
    status = rule.status or 502
    page = rule.body if rule.body is not None else DEFAULT_HTML_PAGE.format(status=status)
    response = web.Response(status=status, text=page, content_type="text/html")
    if rule.retry_after is not None:
        response.headers["Retry-After"] = str(rule.retry_after)
    return response


async def _truncated(
    request: web.Request, full: web.Response, rule: FaultRule
) -> web.StreamResponse:
    body = full.body if isinstance(full.body, bytes) else b""
    declared = max(len(body), 1)
    keep = rule.truncate_to if rule.truncate_to is not None else len(body) // 2
    keep = min(keep, declared - 1)
    stream = web.StreamResponse(status=rule.status or full.status)
    if full.content_type and body:
        stream.content_type = full.content_type
    stream.content_length = declared
    await stream.prepare(request)
    if keep:
        await stream.write(body[:keep])
    _close_connection(request)
    return stream


# -- the catch-all handler -------------------------------------------------------------------


class _TooLarge(Exception):
    pass


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise _TooLarge
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _TooLarge from None
    if len(body) > limit:
        raise _TooLarge
    return body


#: Browsers may call the emulator from any local page (the JS SDK in a web app).
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": f"Content-Type, {USER_TOKEN_HEADER}",
    "Access-Control-Max-Age": "600",
}


async def _add_cors(request: web.Request, response: web.StreamResponse) -> None:
    if not is_admin_path(request.path):  # admin answers never carry CORS headers
        response.headers.setdefault("Access-Control-Allow-Origin", "*")


async def handle(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    settings = state.settings
    if request.method == "OPTIONS":  # a CORS preflight
        return web.Response(status=204, headers=CORS_HEADERS)
    try:
        body = await asyncio.wait_for(
            _read_body(request, settings.max_body_bytes), settings.header_timeout
        )
    except asyncio.TimeoutError:
        response = error_response(
            408, f"The request body did not arrive within {settings.header_timeout} s", status=408
        )
        return await answer_and_close(request, response)
    except _TooLarge:
        if settings.record_requests:
            state.record(request.method, request.raw_path, request.headers, b"")
        response = error_response(
            413, f"The request body is larger than {settings.max_body_bytes} bytes", status=413
        )
        response.force_close()
        return response
    if settings.record_requests:
        state.record(request.method, request.raw_path, request.headers, body)

    decision = state.faults.decide(request.method, request.path)
    delay = decision.delay + settings.latency
    if delay:
        await asyncio.sleep(delay)
    rule = decision.fault
    if rule is None:
        return await answer(state, request, body)
    if rule.kind == "status":
        return _status_answer(rule)
    if rule.kind == "html":
        return _html_answer(rule)
    if rule.kind == "drop_before":
        _close_connection(request)
        return empty_response()
    full = await answer(state, request, body)  # processed and committed
    if rule.kind == "drop_after":
        _close_connection(request)
        return full
    if rule.kind == "truncate":
        return await _truncated(request, full, rule)
    # non_json
    text = rule.body if rule.body is not None else DEFAULT_NON_JSON_BODY
    return web.Response(status=rule.status or 200, text=text, content_type="text/plain")


# -- admin routes ----------------------------------------------------------------------------


async def _admin_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Fault(400, "the body is not valid JSON") from None


def _faults_state(state: EmulatorState) -> dict[str, Any]:
    return {"stats": state.faults.stats, "rules": state.faults.describe()}


async def admin_add_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        data = await _admin_body(request)
        items = data if isinstance(data, list) else [data]
        rules = [FaultRule.from_dict(item) for item in items if isinstance(item, dict)]
        if len(rules) != len(items) or not rules:
            raise Fault(400, "send a fault rule object or a list of them")
    except Fault as fault:
        return fault_response(fault)
    except (TypeError, ValueError) as exc:
        return error_response(400, f"invalid fault rule: {exc}")
    state.faults.extend(rules)
    return json_response(_faults_state(state))


async def admin_get_faults(request: web.Request) -> web.Response:
    return json_response(_faults_state(request.app[STATE]))


async def admin_clear_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.faults.clear()
    return json_response(_faults_state(state))


async def admin_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return json_response({"reset": True})


async def admin_clock(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        data = await _admin_body(request)
        seconds = data.get("advance") if isinstance(data, dict) else None
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            raise Fault(400, 'send {"advance": SECONDS}')
        state.clock.advance(float(seconds))
    except Fault as fault:
        return fault_response(fault)
    except ValueError as exc:
        return error_response(400, str(exc))
    return json_response({"offset": state.clock.offset})


async def confirm_email(request: web.Request) -> web.Response:
    """A confirmation link, fetched (from a mail, a browser): confirms and shows a page."""
    service = request.app[STATE].service_for(request.match_info["app_id"])
    if service is None:
        status, text = 404, "This confirmation link belongs to no application."
    else:
        status, text = confirmation.confirm(service, request.match_info["token"])
    return web.Response(
        status=status, text=confirmation.page(status, text), content_type="text/html"
    )


async def admin_unknown(request: web.Request) -> web.Response:
    return error_response(404, f"Unknown admin route: {request.method} {request.path}", status=404)


async def admin_user(request: web.Request) -> web.Response:
    user = request.app[STATE].service.get_stored_user(request.match_info["object_id"])
    if user is None:
        return error_response(404, "no such user", status=404)
    return json_response(user)


# -- the application -------------------------------------------------------------------------


async def _on_startup(app: web.Application) -> None:
    app[STATE].open()


async def _on_cleanup(app: web.Application) -> None:
    app[STATE].close()


def create_app(
    settings: EmulatorSettings | None = None, *, state: EmulatorState | None = None
) -> web.Application:
    """The emulator as an aiohttp application (the store opens on startup, closes on cleanup)."""
    if state is None:
        state = EmulatorState(settings if settings is not None else EmulatorSettings())
    # Bodies are limited by the handler itself (JSON 413); leave aiohttp's own limit above it.
    app = web.Application(
        client_max_size=state.settings.max_body_bytes + 1,
        # disarm_header_timer first: nothing may delay it (see protocol.py)
        middlewares=[disarm_header_timer, make_guard(state.settings)],
    )
    app[STATE] = state
    app.on_startup.append(_on_startup)
    app.on_cleanup.append(_on_cleanup)
    app.on_response_prepare.append(_add_cors)
    app.router.add_post(f"{ADMIN_PREFIX}/faults", admin_add_faults)
    app.router.add_get(f"{ADMIN_PREFIX}/faults", admin_get_faults)
    app.router.add_delete(f"{ADMIN_PREFIX}/faults", admin_clear_faults)
    app.router.add_post(f"{ADMIN_PREFIX}/reset", admin_reset)
    app.router.add_post(f"{ADMIN_PREFIX}/clock", admin_clock)
    app.router.add_get(f"{ADMIN_PREFIX}/users/{{object_id}}", admin_user)
    app.router.add_route("*", f"{ADMIN_PREFIX}/{{tail:.*}}", admin_unknown)
    app.router.add_get(
        f"{confirmation.CONFIRMATION_PREFIX}/{{app_id}}/{{token}}", confirm_email
    )
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
