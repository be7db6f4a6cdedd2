"""The canary test: unique secrets go through every operation, fault, hook and log path, and
appear in no log line, no event, no repr and no exception text.

The secrets: the API key (in every URL path), the passwords (in login, register, update and
verify bodies, and one echoed back by a broken server), and the user tokens (in headers, in the
isvalidusertoken path, and quoted by the server's own 3064 message "Not existing user token -
{token}. Relogin user..."). One of the tokens is made up here, so that the server quotes a value
this test chose; the others are the real ones the emulator handed out.
"""

from __future__ import annotations

import asyncio
import io
import logging
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import pytest
import structlog
from conftest import exception_chain

import backendless_aio as bl
from backendless_aio.emulator import Emulator, EmulatorSettings, FaultRule


def _canary(kind: str) -> str:
    return f"Canary{kind}{uuid.uuid4().hex}"


CANARY_KEY = _canary("Key")
CANARY_PASSWORD = _canary("Password")
CANARY_NEW_PASSWORD = _canary("NewPassword")
CANARY_WRONG_PASSWORD = _canary("WrongPassword")
CANARY_TOKEN = _canary("Token")  # a token the server never issued: it quotes it in 3064
ALICE = "alice@example.com"
BOB = "bob@example.com"
# loggers of the server side of the loopback (the emulator), not of the client library
SERVER_LOGGERS = ("backendless_aio.emulator", "aiohttp.access", "aiohttp.server", "aiohttp.web")


@pytest.fixture(autouse=True)
def _structlog_unconfigured() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    settings = EmulatorSettings(api_key=CANARY_KEY, fast_password_hashing=True,
                                record_requests=True, multiple_logins="allow")
    async with Emulator(settings) as emulator:
        yield emulator


class Evidence:
    """Everything the library let out: log lines and event dicts, hook events, exceptions and
    objects whose repr an application might print."""

    def __init__(self) -> None:
        self.log_text = io.StringIO()
        self.log_entries: list[Any] = []
        self.events: list[bl.Event] = []
        self.errors: list[BaseException] = []
        self.objects: list[Any] = []
        self.server_quoted = 0  # faults whose message had a token redacted

    def texts(self) -> Iterator[tuple[str, str]]:
        yield "log lines", self.log_text.getvalue()
        for entry in self.log_entries:
            yield "log entry", repr(entry)
        for event in self.events:
            yield "event repr", repr(event)
            yield "event asdict", repr(attrs.asdict(event))
            yield "event str", str(event)
        for error in self.errors:
            yield f"str({type(error).__name__})", str(error)
            yield f"repr({type(error).__name__})", repr(error)
            yield f"traceback of {type(error).__name__}", "".join(
                traceback.format_exception(error))
            yield f"args of {type(error).__name__}", repr(error.args)
            yield f"attributes of {type(error).__name__}", repr(vars(error))
            # rendered with locals, as structlog's dict_tracebacks, rich or Sentry show it,
            # and every local of every frame of the error and its cause / context chain
            # (this module's own frames hold the canaries by design: they are left out)
            rendered = structlog.processors.dict_tracebacks(None, "error", {
                "event": "failed", "exc_info": (type(error), error, error.__traceback__)})
            stacks = rendered["exception"]
            assert stacks and all("frames" in stack for stack in stacks)
            for stack in stacks:
                stack["frames"] = [f for f in stack["frames"] if f["filename"] != __file__]
            yield f"dict_tracebacks of {type(error).__name__}", repr(rendered)
            for exc in exception_chain(error):
                tb = exc.__traceback__
                while tb is not None:
                    frame = tb.tb_frame
                    if frame.f_code.co_filename == __file__:
                        tb = tb.tb_next
                        continue
                    for name, value in frame.f_locals.items():
                        yield (f"local {name} of {frame.f_code.co_name} in the chain of "
                               f"{type(error).__name__}", _safe_repr(value))
                    tb = tb.tb_next
        for obj in self.objects:
            yield f"repr({type(obj).__name__})", repr(obj)
            yield f"str({type(obj).__name__})", str(obj)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as broken:  # noqa: BLE001 - a repr that fails shows no secret
        return f"<repr failed: {type(broken).__name__}>"


class _RecordCollector(logging.Handler):
    def __init__(self, evidence: Evidence) -> None:
        super().__init__(logging.DEBUG)
        self.evidence = evidence
        self.setFormatter(logging.Formatter(
            "%(name)s %(levelname)s %(message)s %(backendless)s", defaults={"backendless": ""}))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(SERVER_LOGGERS):
            return
        self.evidence.log_text.write(self.format(record) + "\n")
        self.evidence.log_entries.append(dict(vars(record)))


def _structlog_collector(evidence: Evidence) -> Any:
    def collect(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        evidence.log_entries.append(dict(event_dict))
        return event_dict

    return collect


async def expect(evidence: Evidence, error_type: type[BaseException], call: Any) -> Any:
    with pytest.raises(error_type) as raised:
        await call
    error = raised.value
    evidence.errors.append(error)
    if isinstance(error, bl.BackendlessFault) and "<redacted>" in error.message:
        evidence.server_quoted += 1
    return error


async def scenario(emu: Emulator, evidence: Evidence) -> None:
    """Every operation, the faults that matter, hooks, callbacks and broken answers."""
    app = bl.Backendless(app_id=emu.app_id, api_key=CANARY_KEY, server_url=emu.url,
                         retry=bl.RetryPolicy(backoff=False, max_attempts=2))
    evidence.objects += [app, app.config, app.with_options(pool_size=5), app.users,
                         app.session_store]
    tokens: list[str] = []
    app.on(bl.Event, evidence.events.append)

    def failing_hook(event: bl.Event) -> None:
        raise RuntimeError(f"hook failed on {event!r}")

    app.on(bl.UserUpdated, failing_hook)
    app.on(bl.SessionExpired, failing_hook)
    async with app:
        users = app.users
        # register, with the password in the body; then the same identity again
        alice = bl.BackendlessUser({"email": ALICE, "password": CANARY_PASSWORD, "name": "A"})
        evidence.objects.append(alice)
        await users.register(alice)
        await expect(evidence, bl.BackendlessFault, users.register(
            {"email": ALICE, "password": CANARY_PASSWORD}))
        await users.register({"email": BOB, "password": CANARY_PASSWORD})
        # 3003, then a real login that stays logged in (the token goes to the store)
        await expect(evidence, bl.InvalidLogin, users.login(ALICE, CANARY_WRONG_PASSWORD))
        alice = await users.login(ALICE, CANARY_PASSWORD, stay_logged_in=True)
        tokens.append(users.user_token or "")
        evidence.objects += [alice, await app.session_store.load("default")]
        alice_id = alice.object_id or ""
        # every other operation, the token in a header or in the path
        assert await users.is_valid_login() is True
        evidence.objects.append(await users.get_current_user(reload=True))
        evidence.objects.append(await users.find_by_id(alice_id))
        evidence.objects.append(await users.find_by_id(alice_id, props=["email"]))
        evidence.objects += await users.describe_user_class()
        await users.get_user_roles()
        assert await users.verify_password(CANARY_PASSWORD) is True
        assert await users.verify_password(CANARY_WRONG_PASSWORD) is False
        await users.restore_password(ALICE)
        await users.resend_email_confirmation(ALICE)
        await expect(evidence, bl.StatusChangeNotAllowed,
                     users.set_user_status(alice_id, bl.UserStatus.DISABLED))
        # update, the new password in the body (the failing hook runs here)
        alice.set_property("phoneNumber", "5551212")
        alice.password = CANARY_NEW_PASSWORD
        evidence.objects.append(repr(alice))  # while the password is set
        await users.update(alice)
        # 3029: Bob's session on Alice's object
        bob_scope = users.session("telegram:bob")
        await bob_scope.login(BOB, CANARY_PASSWORD)
        tokens.append(bob_scope.user_token or "")
        evidence.objects.append(bob_scope)
        other = bl.BackendlessUser._from_wire({"objectId": alice_id})
        other.set_property("name", "Mallory")
        await expect(evidence, bl.CannotModifyAnotherUser, bob_scope.update(other))
        # 3064 quoting a made-up token, on every route that checks the token
        fake = users.session("fake", user_token=CANARY_TOKEN, object_id=alice_id)
        evidence.objects.append(fake)
        assert await fake.is_valid_login() is False
        for name, args in (("update", (other,)), ("find_by_id", (alice_id,)),
                           ("describe_user_class", ()), ("get_user_roles", ()),
                           ("verify_password", (CANARY_PASSWORD,)), ("logout", ())):
            # a fresh scope each time: a 3064 drops the session it was sent with
            fake = users.session("fake", user_token=CANARY_TOKEN, object_id=alice_id)
            await expect(evidence, bl.InvalidUserToken, getattr(fake, name)(*args))
        # 3064 quoting a real token: Bob's session expires
        emu.advance_clock(3601)
        await expect(evidence, bl.InvalidUserToken, bob_scope.get_user_roles())
        # the callback style: a fault delivered, a handler that raises, a cancellation
        delivered: list[BaseException] = []
        handle = users.session().login(ALICE, CANARY_WRONG_PASSWORD,
                                       bl.AsyncCallback(None, delivered.append))
        evidence.objects += [handle, bl.AsyncCallback(None, delivered.append)]
        await expect(evidence, bl.InvalidLogin, handle)
        evidence.errors += delivered

        def raising_fault_handler(fault: BaseException) -> None:
            raise ValueError(f"handler failed on {fault!r}: {fault}")

        carol = users.session("carol")
        await expect(evidence, bl.CallbackHandlerError, carol.login(
            ALICE, CANARY_NEW_PASSWORD + "x", bl.AsyncCallback(None, raising_fault_handler)))
        alice2 = await carol.login(ALICE, CANARY_NEW_PASSWORD)
        tokens.append(carol.user_token or "")
        emu.faults.add(FaultRule(kind="latency", delay=0.3, path_contains="userclassprops"))
        handle = carol.describe_user_class(bl.AsyncCallback(None, delivered.append))
        await asyncio.sleep(0.05)
        handle.cancel()
        await expect(evidence, asyncio.CancelledError, handle)
        evidence.errors.append(delivered[-1])
        # broken answers that quote the secrets back
        token = carol.user_token or ""
        emu.faults.add(FaultRule(kind="status", status=500, count=None, body=(
            '{"code": 3064, "message": "Not existing user token - ' + token + '. Relogin", '
            '"errorData": {"token": "' + token + '", "key": "' + CANARY_KEY + '"}}'),
            path_contains="userroles"))
        await expect(evidence, bl.InvalidUserToken, carol.get_user_roles())
        emu.faults.clear()
        alice2 = await carol.login(ALICE, CANARY_NEW_PASSWORD)
        token = carol.user_token or ""
        tokens.append(token)
        echo = f"{CANARY_KEY} {token} {CANARY_NEW_PASSWORD}"
        emu.faults.add(FaultRule(kind="non_json", status=200, body=f"echo: {echo}",
                                 path_contains="verifypassword", count=None))
        await expect(evidence, bl.MalformedResponse, carol.verify_password(CANARY_NEW_PASSWORD))
        emu.faults.clear()
        # (a server can only quote what the request carried: the key, the token, its body)
        emu.faults.add(FaultRule(kind="html", status=502, body=f"<p>{CANARY_KEY} {token}</p>",
                                 count=None, path_contains="users/"))
        alice2.set_property("x", 1)
        await expect(evidence, bl.UnexpectedStatus, carol.update(alice2))
        emu.faults.clear()
        emu.faults.add(FaultRule(kind="html", status=502, count=None, path_contains="users/",
                                 body=f"<p>{CANARY_KEY} {CANARY_NEW_PASSWORD}</p>"))
        await expect(evidence, bl.UnexpectedStatus, carol.login(ALICE, CANARY_NEW_PASSWORD))
        emu.faults.clear()
        for kind in ("drop_before", "drop_after", "truncate"):
            emu.faults.add(FaultRule(kind=kind, count=None, path_contains="users/"))
            await expect(evidence, bl.TransportError, carol.update(alice2))
            await expect(evidence, bl.TransportError, carol.is_valid_login())
            emu.faults.clear()
        emu.faults.add(FaultRule(kind="latency", delay=0.3, count=None, path_contains="users/"))
        await expect(evidence, bl.BackendlessTimeout, carol.is_valid_login(timeout=0.1))
        await expect(evidence, bl.BackendlessTimeout,
                     carol.login(ALICE, CANARY_NEW_PASSWORD, timeout=0.1))
        emu.faults.clear()
        await carol.logout()
        try:  # the password change may have ended the default scope's older session
            await users.logout()
        except bl.SessionOver as over:
            evidence.errors.append(over)
        evidence.objects += [users, carol, alice2]
    tokens = [t for t in tokens if t]
    assert len(set(tokens)) == 4
    secrets = [CANARY_KEY, CANARY_PASSWORD, CANARY_NEW_PASSWORD, CANARY_WRONG_PASSWORD,
               CANARY_TOKEN, *tokens]
    evidence.objects.append(evidence.events)  # the list as a whole too
    check(evidence, secrets, emu)


def check(evidence: Evidence, secrets: list[str], emu: Emulator) -> None:
    # the canaries really travelled: in the URL paths, the bodies and the headers
    paths = " ".join(r.path for r in emu.requests)
    bodies = b" ".join(r.body for r in emu.requests).decode()
    headers = " ".join(r.headers.get("user-token", "") for r in emu.requests)
    assert CANARY_KEY in paths and CANARY_TOKEN in headers
    assert CANARY_PASSWORD in bodies and CANARY_NEW_PASSWORD in bodies
    assert CANARY_WRONG_PASSWORD in bodies
    assert evidence.server_quoted >= 8  # the server's own words were redacted
    # ...and every path out was exercised
    kinds = {type(e).__name__ for e in evidence.events}
    assert kinds >= {"RequestSent", "ResponseReceived", "RetryScheduled", "OperationFailed",
                     "UserRegistered", "UserLoggedIn", "UserLoggedOut", "UserUpdated",
                     "SessionExpired"}
    log_text = evidence.log_text.getvalue()
    for name in ("backendless.users.update", "backendless.users.login", "backendless.retry",
                 "backendless.hook_failed", "backendless.callback_failed",
                 "backendless.users.is_valid_login"):
        assert name in log_text, name
    assert log_text.count("Traceback (most recent call last)") >= 3
    assert {type(e).__name__ for e in evidence.errors} >= {
        "InvalidLogin", "CannotModifyAnotherUser", "InvalidUserToken", "CallbackHandlerError",
        "OperationCancelled", "MalformedResponse", "UnexpectedStatus", "ConnectionFailed",
        "BackendlessTimeout", "StatusChangeNotAllowed"}
    leaks = [(where, secret) for where, text in evidence.texts() for secret in secrets
             if secret in text]
    assert leaks == [], "\n".join(f"{secret[:16]}... in {where}" for where, secret in leaks)


async def test_no_canary_reaches_structlog_stdlib_hooks_reprs_or_exceptions(
        emu: Emulator) -> None:
    """With structlog configured by the app (events go to structlog; stdlib at DEBUG catches
    whatever else the client side logs)."""
    evidence = Evidence()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                    _structlog_collector(evidence), structlog.processors.format_exc_info,
                    structlog.processors.KeyValueRenderer(sort_keys=True)],
        logger_factory=structlog.PrintLoggerFactory(file=evidence.log_text))
    await _with_stdlib_at_debug(emu, evidence)


async def test_no_canary_reaches_stdlib_logging_hooks_reprs_or_exceptions(
        emu: Emulator) -> None:
    """structlog not configured: the events go to the stdlib logger, captured at DEBUG."""
    evidence = Evidence()
    await _with_stdlib_at_debug(emu, evidence)


async def _with_stdlib_at_debug(emu: Emulator, evidence: Evidence) -> None:
    root = logging.getLogger()
    handler = _RecordCollector(evidence)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        await scenario(emu, evidence)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_a_fault_traceback_rendered_with_locals_shows_no_canary(emu: Emulator) -> None:
    from structlog.tracebacks import ExceptionDictTransformer

    async with bl.Backendless(app_id=emu.app_id, api_key=CANARY_KEY, server_url=emu.url) as app:
        scope = app.users.session(user_token=CANARY_TOKEN, object_id="someone")
        with pytest.raises(bl.InvalidUserToken) as raised:
            await scope.get_user_roles()
    error = raised.value
    rendered = repr(ExceptionDictTransformer(show_locals=True)(
        (type(error), error, error.__traceback__)))
    assert CANARY_KEY not in rendered and CANARY_TOKEN not in rendered
