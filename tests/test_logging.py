"""Structured log events: one per operation, stable names and fields, through the application's
own structlog or stdlib logging set-up, and nothing printed when the application set up nothing."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import LogCapture, capture_logs

import backendless_aio as bl
from backendless_aio.emulator import Emulator, FaultRule
from backendless_aio.testing import TEST_PASSWORD

UPDATE_ROUTE = "PUT users/{objectId}"
OPERATION_FIELDS = {"operation", "route", "status", "fault_code", "attempt", "duration_ms"}


@pytest.fixture(autouse=True)
def _structlog_unconfigured() -> Iterator[None]:
    """capture_logs() leaves structlog "configured": start and end every test unconfigured."""
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def named(entries: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["event"] == name]


def assert_no_secret(values: Any, app: bl.Backendless, emu: Emulator) -> None:
    text = repr(values)
    assert emu.url not in text and "http" not in text
    assert emu.api_key not in text
    token = app.users.user_token
    if token:
        assert token not in text
    assert TEST_PASSWORD not in text


# -- the event and its fields (structlog) -------------------------------------------------------

async def test_the_update_event_and_its_fields(backendless_emulator: Emulator,
                                               backendless_app: bl.Backendless,
                                               backendless_user: bl.BackendlessUser) -> None:
    backendless_user.set_property("phoneNumber", "5551212")
    backendless_user.password = "a-new-password"
    with capture_logs() as entries:
        await backendless_app.users.update(backendless_user)
    [event] = entries
    assert event == {
        "event": "backendless.users.update",
        "log_level": "info",
        "operation": "users.update",
        "route": UPDATE_ROUTE,
        "object_id": backendless_user.object_id,
        "changed": ("password", "phoneNumber"),  # names, never values
        "status": 200,
        "fault_code": None,
        "attempt": 1,
        "duration_ms": event["duration_ms"],
    }
    assert isinstance(event["duration_ms"], float) and event["duration_ms"] >= 0
    assert_no_secret(event, backendless_app, backendless_emulator)
    assert "a-new-password" not in repr(event) and "5551212" not in repr(event)


async def test_one_event_per_operation_with_stable_names(
        backendless_emulator: Emulator, backendless_app: bl.Backendless,
        backendless_user: bl.BackendlessUser) -> None:
    users = backendless_app.users
    object_id = backendless_user.object_id or ""
    with capture_logs() as entries:
        await users.is_valid_login()
        await users.find_by_id(object_id)
        await users.get_current_user(reload=True)
        await users.describe_user_class()
        await users.get_user_roles()
        await users.verify_password(TEST_PASSWORD)
        await users.restore_password("test-user@example.com")
        await users.resend_email_confirmation("test-user@example.com")
        await users.session().login_as_guest()
        await users.register({"email": "n@example.com", "password": TEST_PASSWORD})
        await users.logout()
    assert [e["event"] for e in entries] == [
        "backendless.users.is_valid_login",
        "backendless.users.find_by_id",
        "backendless.users.find_by_id",
        "backendless.users.describe_user_class",
        "backendless.users.get_user_roles",
        "backendless.users.verify_password",
        "backendless.users.restore_password",
        "backendless.users.resend_email_confirmation",
        "backendless.users.login_as_guest",
        "backendless.users.register",
        "backendless.users.logout",
    ]
    for entry in entries:
        assert entry.keys() >= OPERATION_FIELDS
        assert entry["event"] == "backendless." + entry["operation"]
        assert entry["route"].split(" ")[0] in ("GET", "POST", "PUT")
        assert entry["status"] == 200 and entry["attempt"] == 1
        assert not {"url", "path", "body", "headers", "token", "user_token"} & entry.keys()
    assert named(entries, "backendless.users.find_by_id")[0]["object_id"] == object_id
    assert entries[0]["route"] == "GET users/isvalidusertoken/{token}"
    assert_no_secret(entries, backendless_app, backendless_emulator)


async def test_a_fault_event(backendless_app: bl.Backendless,
                             backendless_user: bl.BackendlessUser) -> None:
    with capture_logs() as entries, pytest.raises(bl.InvalidLogin):
        await backendless_app.users.session().login("test-user@example.com", "wrong-password")
    [event] = entries
    assert event["event"] == "backendless.users.login" and event["log_level"] == "info"
    assert (event["route"], event["status"], event["fault_code"], event["error"],
            event["attempt"]) == ("POST users/login", 400, 3003, "InvalidLogin", 1)
    assert "wrong-password" not in repr(entries) and "test-user@example.com" not in repr(entries)


async def test_retry_events_then_the_operation_event(backendless_emulator: Emulator,
                                                     backendless_app: bl.Backendless,
                                                     backendless_user: bl.BackendlessUser) -> None:
    backendless_emulator.faults.add(FaultRule(kind="status", status=503, methods=("PUT",)))
    backendless_user.set_property("x", 1)
    with capture_logs() as entries:
        await backendless_app.users.update(backendless_user)
    assert [e["event"] for e in entries] == ["backendless.retry", "backendless.users.update"]
    retry, done = entries
    assert retry == {"event": "backendless.retry", "log_level": "info",
                     "operation": "users.update", "route": UPDATE_ROUTE, "attempt": 1,
                     "delay_s": 0.0, "reason": "BackendlessFault", "status": 503,
                     "fault_code": 503}
    assert done["attempt"] == 2 and done["status"] == 200


async def test_a_transport_failure_is_a_warning(backendless_emulator: Emulator,
                                                backendless_app: bl.Backendless) -> None:
    backendless_emulator.faults.add(FaultRule(kind="drop_before", count=None))
    with capture_logs() as entries, pytest.raises(bl.ConnectionFailed):
        await backendless_app.users.describe_user_class()
    [event] = named(entries, "backendless.users.describe_user_class")
    assert event["log_level"] == "warning" and event["error"] == "ConnectionFailed"
    assert event["status"] is None and event["fault_code"] is None and event["attempt"] == 3
    assert len(named(entries, "backendless.retry")) == 2
    assert_no_secret(entries, backendless_app, backendless_emulator)


async def test_failing_hooks_and_callback_handlers_are_error_events(
        backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser) -> None:
    def bad_hook(event: bl.Event) -> None:
        raise KeyError("hook")

    def bad_handler(value: Any) -> None:
        raise ValueError("handler")

    backendless_app.on(bl.ResponseReceived, bad_hook)
    with capture_logs() as entries, pytest.raises(bl.CallbackHandlerError):
        await backendless_app.users.describe_user_class(bl.AsyncCallback(bad_handler))
    [hook] = named(entries, "backendless.hook_failed")
    assert hook["log_level"] == "error" and isinstance(hook["exc_info"], KeyError)
    assert (hook["hook_event"], hook["operation"], hook["error"]) == (
        "ResponseReceived", "users.describe_user_class", "KeyError")
    [handler] = named(entries, "backendless.callback_failed")
    assert handler["log_level"] == "error" and isinstance(handler["exc_info"], ValueError)
    assert handler["error"] == "ValueError" and "bad_handler" in handler["handler"]


# -- the application's structlog set-up -----------------------------------------------------------

async def test_structlog_contextvars_bound_by_the_app_appear(
        backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser) -> None:
    # The application's own processors, then a capture (capture_logs(processors=...) needs
    # structlog 25.5; this works on every structlog we allow).
    capture = LogCapture()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, capture])
    with structlog.contextvars.bound_contextvars(chat_id=12345, request_id="req-1"):
        await backendless_app.users.describe_user_class()
    [event] = capture.entries
    assert event["chat_id"] == 12345 and event["request_id"] == "req-1"
    assert event["event"] == "backendless.users.describe_user_class"


async def test_events_are_rendered_in_the_apps_own_format(
        backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser) -> None:
    out = io.StringIO()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                    structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=out))
    with structlog.contextvars.bound_contextvars(tenant="acme"):
        backendless_user.set_property("x", 1)
        await backendless_app.users.update(backendless_user)
    [line] = out.getvalue().splitlines()
    event = json.loads(line)
    assert event["event"] == "backendless.users.update" and event["tenant"] == "acme"
    assert event["changed"] == ["x"] and event["level"] == "info"


async def test_structlog_through_stdlib_reaches_the_backendless_aio_logger(
        backendless_app: bl.Backendless, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="backendless_aio")
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level,
                    structlog.stdlib.render_to_log_kwargs],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger)
    await backendless_app.users.describe_user_class()
    [record] = [r for r in caplog.records if r.name == "backendless_aio"]
    assert record.getMessage() == "backendless.users.describe_user_class"
    assert record.route == "GET users/userclassprops"  # type: ignore[attr-defined]


async def test_the_library_never_configures_structlog(
        monkeypatch: pytest.MonkeyPatch, backendless_app: bl.Backendless,
        backendless_user: bl.BackendlessUser, caplog: pytest.LogCaptureFixture) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the library called structlog.configure()")

    monkeypatch.setattr(structlog, "configure", refuse)
    monkeypatch.setattr(structlog, "configure_once", refuse)
    caplog.set_level(logging.DEBUG, logger="backendless_aio")
    backendless_user.set_property("x", 1)
    await backendless_app.users.update(backendless_user)
    with pytest.raises(bl.InvalidLogin):
        await backendless_app.users.session().login("test-user@example.com", "wrong")
    await backendless_app.users.logout()
    assert not structlog.is_configured()
    assert len(caplog.records) == 3


async def test_a_broken_logging_set_up_never_breaks_an_operation(
        backendless_app: bl.Backendless, backendless_user: bl.BackendlessUser,
        capsys: pytest.CaptureFixture[str]) -> None:
    def broken(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("a processor bug")

    structlog.configure(processors=[broken])
    backendless_user.set_property("x", 1)
    assert await backendless_app.users.update(backendless_user) is backendless_user
    assert backendless_user.changed == frozenset()  # the update really was applied
    err = capsys.readouterr().err
    assert "Logging error in backendless_aio (event backendless.users.update)" in err
    assert "KeyError: 'a processor bug'" in err


# -- stdlib logging -----------------------------------------------------------------------------

async def test_stdlib_logging_receives_the_events_when_the_app_enables_them(
        backendless_emulator: Emulator, backendless_app: bl.Backendless,
        backendless_user: bl.BackendlessUser, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="backendless_aio")
    backendless_user.set_property("phoneNumber", "5551212")
    with structlog.contextvars.bound_contextvars(request_id="req-42"):
        await backendless_app.users.update(backendless_user)
    [record] = caplog.records
    assert record.name == "backendless_aio" and record.levelno == logging.INFO
    fields = record.backendless  # type: ignore[attr-defined]
    assert fields == {
        "event": "backendless.users.update", "request_id": "req-42",
        "operation": "users.update", "route": UPDATE_ROUTE,
        "object_id": backendless_user.object_id, "changed": ("phoneNumber",), "status": 200,
        "fault_code": None, "attempt": 1, "duration_ms": fields["duration_ms"]}
    message = record.getMessage()
    assert message.startswith("backendless.users.update request_id=req-42 "
                              "operation=users.update route=PUT users/{objectId} ")
    assert "fault_code" not in message  # None fields are left out of the text
    assert_no_secret([message, fields], backendless_app, backendless_emulator)


async def test_stdlib_levels_are_respected(backendless_app: bl.Backendless,
                                           backendless_user: bl.BackendlessUser,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="backendless_aio")
    await backendless_app.users.describe_user_class()
    with pytest.raises(bl.InvalidLogin):
        await backendless_app.users.session().login("test-user@example.com", "wrong")
    assert caplog.records == []  # operations and faults are info events


async def test_nothing_is_printed_by_default(capfd: pytest.CaptureFixture[str],
                                             backendless_app: bl.Backendless,
                                             backendless_user: bl.BackendlessUser) -> None:
    assert not structlog.is_configured()
    assert logging.getLogger("backendless_aio").level == logging.NOTSET
    backendless_user.set_property("x", 1)
    await backendless_app.users.update(backendless_user)
    with pytest.raises(bl.InvalidLogin):
        await backendless_app.users.session().login("test-user@example.com", "wrong")
    assert capfd.readouterr() == ("", "")


SCRIPT = """
import asyncio, sys
import backendless_aio as bl
from backendless_aio.emulator import Emulator, EmulatorSettings, FaultRule

async def main():
    async with Emulator(EmulatorSettings(fast_password_hashing=True)) as emu:
        async with bl.Backendless(app_id=emu.app_id, api_key=emu.api_key, server_url=emu.url,
                                  retry=bl.RetryPolicy(backoff=False)) as app:
            await app.users.register({"email": "a@example.com", "password": "pw-1"})
            user = await app.users.login("a@example.com", "pw-1")
            user.set_property("x", 1)
            await app.users.update(user)
            try:
                await app.users.session().login("a@example.com", "wrong")
            except bl.InvalidLogin:
                pass
            emu.faults.add(FaultRule(kind="drop_before", count=None))
            try:
                await app.users.describe_user_class()  # retried, then a warning event
            except bl.ConnectionFailed:
                pass
            emu.faults.clear()
            sys.stderr.write("=== the app's own code fails\\n")
            def bad_hook(event):
                raise KeyError("hook bug")
            def bad_handler(value):
                raise ValueError("handler bug")
            app.on(bl.UserUpdated, bad_hook)
            await app.users.update(user)
            try:
                await app.users.describe_user_class(bl.AsyncCallback(bad_handler))
            except bl.CallbackHandlerError:
                pass

asyncio.run(main())
"""


def test_a_fresh_process_prints_only_the_apps_own_failures(tmp_path: Path) -> None:
    """No logging set up at all: operation events (warnings included) print nothing; a hook or
    a callback handler that raised reaches stderr with its traceback (logging's last resort)."""
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONWARNINGS", "PYTHONDEVMODE", "PYTHONASYNCIODEBUG")}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env=env, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    before, marker, after = done.stderr.partition("=== the app's own code fails\n")
    assert marker and before == ""
    assert "backendless.hook_failed" in after and "KeyError: 'hook bug'" in after
    assert "backendless.callback_failed" in after and "ValueError: handler bug" in after
    assert after.count("Traceback") == 2
    assert "backendless.users." not in after
