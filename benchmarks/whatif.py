"""(Changes request, transport, hooks and users are in the library since commit 21c07d3910;
these prototypes are kept as the record of what was measured. `logs` is the one still to try.)

Prototypes of proposed hot-path changes, applied by monkeypatching, to measure them first.

Nothing here is used by ``bench_update.py``'s table. ``ladder.py --what-if all`` (or a
comma-separated list of the names below) applies them before it builds its rungs, so that the
saving of each proposal is measured end to end, not guessed. They are measurement prototypes
of the success path, not production code: the fast paths handle a clean 200 answer and hand
anything else to the library's own code (the transport prototype then sends the request again
through the full loop). The real changes belong in the library.

    request   wire.update: a __slots__ Request (no attrs frozen __init__), the objectId's quoted
              path segment cached, the log/hook ``fields`` built only when read
    hooks     Hooks.wants: False at once when no registry in the chain has any handler
    transport Transport.send: a first-attempt fast path (no _read coroutine: the answer read
              inline when it has a Content-Length; no nullcontext for the absent limit; secrets
              tuples built only on the error paths; a 200 user answer parsed by a fast path;
              the log check inlined)
    users     AsyncUserService._update: the SessionOver wrapper (``_send``) inlined
    logs      logs._emit with structlog configured: the bound logger cached while structlog's
              configuration stays the same (no get_logger() + bind() per event)
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

PATCHES: dict[str, Callable[[], None]] = {}


def patch(name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(fn: Callable[[], None]) -> Callable[[], None]:
        PATCHES[name] = fn
        return fn

    return register


def apply(names: str) -> list[str]:
    chosen = list(PATCHES) if names == "all" else [n for n in names.split(",") if n]
    for name in chosen:
        PATCHES[name]()
    return chosen


@patch("request")
def _request() -> None:
    from backendless_aio import wire
    from backendless_aio._codes import Route

    route = Route.UPDATE.value

    class LazyFields(Mapping[str, Any]):
        """``{"object_id": ..., "changed": (sorted names)}``, built when first read."""

        __slots__ = ("_changes", "_dict", "_object_id")

        def __init__(self, object_id: str, changes: Mapping[str, Any]) -> None:
            self._object_id = object_id
            self._changes = changes
            self._dict: dict[str, Any] | None = None

        def _built(self) -> dict[str, Any]:
            if self._dict is None:
                self._dict = {"object_id": self._object_id,
                              "changed": tuple(sorted(self._changes))}
            return self._dict

        def __getitem__(self, key: str) -> Any:
            return self._built()[key]

        def __iter__(self) -> Any:
            return iter(self._built())

        def __len__(self) -> int:
            return 2

    class SlotsRequest:
        __slots__ = ("body", "expect", "fields", "idempotent", "method", "operation", "path",
                     "route", "secrets")

        def __init__(self, operation: str, method: str, route: str, path: str,
                     body: bytes | None = None, expect: Any = wire.Expect.JSON,
                     idempotent: bool = False, fields: Mapping[str, Any] | None = None,
                     secrets: tuple[str, ...] = ()) -> None:
            self.operation = operation
            self.method = method
            self.route = route
            self.path = path
            self.body = body
            self.expect = expect
            self.idempotent = idempotent
            self.fields = {} if fields is None else fields
            self.secrets = secrets

        @property
        def log_route(self) -> str:
            return f"{self.method} {self.route}"

    segment = functools.lru_cache(maxsize=4096)(wire._segment)
    expect_user = wire.Expect.USER

    def update(object_id: str, changes: Mapping[str, Any], body: bytes) -> Any:
        password = changes.get("password")
        return SlotsRequest("users.update", "PUT", route,
                            "users/" + segment(object_id, "the user's objectId"), body,
                            expect_user, True, LazyFields(object_id, changes),
                            (password,) if isinstance(password, str) else ())

    wire.update = update


@patch("hooks")
def _hooks() -> None:
    from backendless_aio.events import Hooks

    original = Hooks.wants

    def wants(self: Hooks, event_type: Any) -> bool:
        hooks: Hooks | None = self
        while hooks is not None:
            if hooks._by_type:
                return original(self, event_type)
            hooks = hooks._parent
        return False

    Hooks.wants = wants  # type: ignore[method-assign]


@patch("transport")
def _transport() -> None:
    from yarl import URL

    from backendless_aio import logs
    from backendless_aio._codes import USER_TOKEN_HEADER
    from backendless_aio._constants import MAX_RESPONSE_BYTES
    from backendless_aio.events import RequestSent, ResponseReceived
    from backendless_aio.transport import Transport, _ms
    from backendless_aio.wire import Expect, loads, parse_answer

    original_send = Transport.send
    json_headers = {"Content-Type": "application/json"}
    user_like = (Expect.USER, Expect.SESSION)

    async def send(self: Transport, request: Any, token: str | None, hooks: Any,
                   timeout: Any = None, outcome: Any = None) -> Any:
        session = self.session()
        if (self._limit is not None or timeout is not None or hooks.wants(RequestSent)
                or request.expect not in user_like):
            # the general case: the library's own loop, unchanged
            return await original_send(self, request, token, hooks, timeout, outcome)
        # the common case, first attempt inline; anything unusual goes to the full loop
        if token is not None:
            headers = {USER_TOKEN_HEADER: token, **json_headers} if request.body is not None \
                else {USER_TOKEN_HEADER: token}
        else:
            headers = json_headers if request.body is not None else {}
        started = time.perf_counter()
        try:
            async with session.request(request.method,
                                       URL(self._root + request.path, encoded=True),
                                       data=request.body, headers=headers,
                                       timeout=self._timeout, allow_redirects=False) as resp:
                status = resp.status
                length = resp.content_length
                if status != 200 or length is None or length > MAX_RESPONSE_BYTES:
                    fast = False
                else:
                    fast = True
                    body = await resp.read()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - prototype: the full loop tries again and maps it
            fast = False
        if not fast:
            return await original_send(self, request, token, hooks, timeout, outcome)
        try:
            data = loads(body)
        except ValueError:
            data = None
        if (not isinstance(data, dict) or not isinstance(data.get("objectId"), str)
                or (request.expect is Expect.SESSION
                    and not isinstance(data.get("user-token"), str))):
            secrets = (*self._secrets, token) if token else self._secrets
            data = parse_answer(request, status, body, secrets)  # raises what the loop would
        if outcome is not None:
            outcome.attempt = 1
            outcome.duration_ms = _ms(started)
        if logs.enabled():
            self._finished(request, 1, started, status)
        if hooks.wants(ResponseReceived):
            await hooks.emit(ResponseReceived(operation=request.operation,
                                              route=request.log_route, attempt=1,
                                              status=status, duration_ms=_ms(started)))
        return data

    Transport.send = send  # type: ignore[method-assign]


@patch("users")
def _users() -> None:
    from backendless_aio import wire
    from backendless_aio._codes import Route
    from backendless_aio.config import Timeout
    from backendless_aio.errors import ConfigurationError, SessionOver, UserNotLoggedIn
    from backendless_aio.events import UserUpdated
    from backendless_aio.models import BackendlessUser
    from backendless_aio.transport import Outcome
    from backendless_aio.users import AsyncUserService

    route = f"PUT {Route.UPDATE.value}"

    async def _update(self: AsyncUserService, user: BackendlessUser, timeout: Any) -> Any:
        if not isinstance(user, BackendlessUser):
            raise TypeError(f"update takes a BackendlessUser, not {type(user).__name__}")
        object_id = user.object_id
        if object_id is None:
            raise ConfigurationError(
                "update needs a user with an objectId: use the user that login, register or "
                "find_by_id returned")
        state = self._state
        token = state.user_token
        if token is None:
            raise UserNotLoggedIn("User not logged in or wrong user id: log in before updating",
                                  operation="users.update", route=route)
        changes = user._changes()
        request = wire.update(object_id, changes, wire.dumps(changes))
        hooks = self._hooks
        outcome = Outcome() if hooks.wants(UserUpdated) else None
        try:
            data = await self._transport.send(
                request, token, hooks, None if timeout is None else Timeout.of(timeout), outcome)
        except SessionOver as fault:
            if state.user_token == token:
                await self._session_over(fault)
            raise
        current = state.user
        if current is not None and current is not user and current.object_id == object_id:
            current._merge_answer(dict(data), {})
        user._merge_answer(data, changes)
        if user._password is not None and user._password is changes.get("password"):
            user._password = None
        if outcome is not None:
            await self._emit(UserUpdated(operation=request.operation, route=request.log_route,
                                         object_id=object_id,
                                         changed=request.fields["changed"],
                                         attempt=outcome.attempt,
                                         duration_ms=outcome.duration_ms))
        return user

    AsyncUserService._update = _update  # type: ignore[method-assign]


@patch("logs")
def _logs() -> None:
    import structlog

    from backendless_aio import logs
    from backendless_aio._constants import LOGGER_NAME

    original = logs._emit
    cache: list[Any] = [None, None]  # (the configuration's identity, the bound logger)

    def bound() -> Any:
        config = structlog.get_config()
        key = tuple(map(id, config.values()))
        if cache[0] != key:
            cache[1] = structlog.get_logger(LOGGER_NAME).bind()
            cache[0] = key
        return cache[1]

    def _emit(event: str, name: str, fields: dict[str, Any], level: str,
              exc_info: BaseException | None) -> None:
        if exc_info is None and structlog.is_configured():
            getattr(bound(), level)(event, **fields)
            return
        original(event, name, fields, level, exc_info)

    logs._emit = _emit
