"""``backendless-aio demo``: register, log in and update a user in the three styles, out loud.

With no configuration it starts the embedded emulator on a free port in its own event loop;
with ``BACKENDLESS_APP_ID`` / ``BACKENDLESS_API_KEY`` (or ``--server-url``, ``--domain``...) it
uses that server and a fresh, unique email. It prints each step, the library's structured log
events as they happen, one documented fault, and the updated user. It never prints the API key,
the password or the user token.

The command line is the application, so this is the one place where the package configures
structlog; it puts the previous configuration back when the demo ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterator, MutableMapping
from typing import Any

import structlog

from ._cli_common import (
    EXIT_OK,
    Connection,
    Console,
    announce_connection,
    command,
    connection_options,
    format_error,
    format_value,
    render_user,
    resolve_connection,
)
from .blocking import BlockingBackendless
from .callbacks import AsyncCallback
from .client import Backendless
from .errors import InvalidLogin
from .models import BackendlessUser

__all__ = ["PHONE_NUMBERS", "add_demo_parser", "readable_events", "run_demo"]

#: The phoneNumber set by the await, callback and blocking styles, in that order.
PHONE_NUMBERS = ("+1-202-555-0101", "+1-202-555-0102", "+1-202-555-0103")

_HIDDEN_FIELDS = frozenset({"event", "operation", "exc_info", "level"})


def add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo",
        help="a guided tour: register, log in, update a user in the three styles",
        description="Register a user, log in and update its phoneNumber with await, with a "
                    "callback and with a blocking call, printing each step and the library's "
                    "structured log events. With no connection options or BACKENDLESS_* "
                    "variables it runs against the embedded emulator; otherwise against that "
                    "server, with a new user of a unique email (left in your Users table).")
    connection_options(parser, session=False)
    parser.set_defaults(func=command(cmd_demo))


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    conn = resolve_connection(args)
    if conn is not None:
        announce_connection(conn, console)
    with readable_events(console):
        return asyncio.run(run_demo(conn, console))


# -- showing the structured events ------------------------------------------------------------


def _field(value: Any) -> str:
    if isinstance(value, (tuple, list, frozenset, set)):
        value = ",".join(str(v) for v in value)
    text = str(value)
    return f'"{text}"' if " " in text else text


def _event_renderer(console: Console) -> Any:
    def render(_logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> str:
        name = str(event_dict.get("event", ""))
        fields = " ".join(f"{key}={_field(value)}" for key, value in event_dict.items()
                          if key not in _HIDDEN_FIELDS and value is not None)
        level = "" if method == "info" else f"[{method}] "
        return console.scrub(f"      · {level}{name}  {fields}".rstrip())

    return render


@contextlib.contextmanager
def readable_events(console: Console) -> Iterator[None]:
    """Configure structlog to print the library's events as indented ``key=value`` lines."""
    was_configured = structlog.is_configured()
    saved = structlog.get_config()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, _event_renderer(console)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(console.out),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        if was_configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()


# -- the tour -----------------------------------------------------------------------------------


class _Tour:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.number = 0

    def step(self, title: str) -> None:
        self.number += 1
        self.console.print()
        self.console.print(f"[{self.number}] {title}")

    def code(self, *lines: str) -> None:
        for line in lines:
            self.console.print(f"    >>> {line}")

    def say(self, text: str) -> None:
        self.console.print(f"    {text}")


async def run_demo(conn: Connection | None, console: Console) -> int:
    """The tour against ``conn``, or against the embedded emulator when it is None."""
    tour = _Tour(console)
    console.print("backendless-aio demo: one user, updated in the await, callback and "
                  "blocking styles.")
    console.print("Lines starting with '·' are the library's structured log events.")
    async with contextlib.AsyncExitStack() as stack:
        if conn is None:
            from .emulator import Emulator, EmulatorSettings

            tour.step("start the embedded Backendless emulator")
            emulator = await stack.enter_async_context(
                Emulator(EmulatorSettings(fast_password_hashing=True)))
            conn = Connection(app_id=emulator.app_id, api_key=emulator.api_key,
                              server_url=emulator.url)
            console.remember(conn.api_key)
            tour.say(f"listening on {emulator.url} (in memory: gone when the demo ends)")
            email = "demo@example.com"
            embedded = True
        else:
            tour.step("use your Backendless app")
            tour.say(f"server: {conn.where}")
            email = f"demo-{secrets.token_hex(6)}@example.com"
            embedded = False
        password = secrets.token_urlsafe(16)
        console.remember(password)

        app = await stack.enter_async_context(Backendless(**conn.client_kwargs()))

        tour.step(f"register {email}")
        tour.code('user = BackendlessUser({"email": email, "password": password, '
                  '"name": "Demo User"})',
                  "await app.users.register(user)")
        registered = await app.users.register(
            BackendlessUser({"email": email, "password": password, "name": "Demo User"}))
        tour.say(f"registered: objectId {registered.object_id}")

        tour.step("log in")
        tour.code("user = await app.users.login(email, password)")
        user = await app.users.login(email, password)
        console.remember(app.users.user_token)
        tour.say(f"logged in as {user.email}, userStatus {user.user_status}")

        tour.step("update phoneNumber, await style")
        tour.code(f'user.set_property("phoneNumber", "{PHONE_NUMBERS[0]}")',
                  "user = await app.users.update(user)")
        user.set_property("phoneNumber", PHONE_NUMBERS[0])
        user = await app.users.update(user)
        tour.say(f"phoneNumber = {user.get_property('phoneNumber')}")

        tour.step("update phoneNumber, callback style (as in the official SDKs)")
        tour.code(f'user.set_property("phoneNumber", "{PHONE_NUMBERS[1]}")',
                  "handle = app.users.update(user, AsyncCallback(on_ok, on_fault))",
                  "await handle  # optional: the call runs on its own")

        def on_ok(updated: BackendlessUser) -> None:
            tour.say(f"on_ok: phoneNumber = {updated.get_property('phoneNumber')}")

        def on_fault(error: BaseException) -> None:
            tour.say(f"on_fault: {format_error(error)}")

        user.set_property("phoneNumber", PHONE_NUMBERS[1])
        handle = app.users.update(user, AsyncCallback(on_ok, on_fault))
        await handle

        tour.step("update phoneNumber, blocking style (in a worker thread)")
        tour.code("with BlockingBackendless(app_id=..., api_key=..., server_url=...) as blocking:",
                  "    users = blocking.users.session(user_token=..., object_id=...)",
                  "    user = users.get_current_user()",
                  f'    user.set_property("phoneNumber", "{PHONE_NUMBERS[2]}")',
                  "    user = users.update(user)")
        if embedded:
            tour.say("(the embedded emulator serves from this event loop, so the blocking calls "
                     "are made from another thread, with asyncio.to_thread)")
        user_token, object_id = app.users.user_token, app.users.object_id
        assert user_token is not None and object_id is not None
        settings = conn.client_kwargs()

        def blocking_update() -> BackendlessUser:
            with BlockingBackendless(**settings) as blocking:
                users = blocking.users.session("demo-blocking", user_token=user_token,
                                               object_id=object_id)
                same = users.get_current_user()
                assert same is not None
                same.set_property("phoneNumber", PHONE_NUMBERS[2])
                return users.update(same)

        updated = await asyncio.to_thread(blocking_update)
        tour.say(f"phoneNumber = {updated.get_property('phoneNumber')}")

        tour.step("a documented fault: log in with a wrong password")
        tour.code('await app.users.session("demo-fault").login(email, "not-the-password")')
        try:
            await app.users.session("demo-fault").login(email, "not-the-password")
        except InvalidLogin as fault:
            tour.say(f"raised {type(fault).__name__}: {format_error(fault)}")
            tour.say(f"fault.code == {fault.code}; catch it with `except InvalidLogin` or "
                     f"`except BackendlessFault`")
        else:  # pragma: no cover - a server that takes any password
            tour.say("the server accepted a wrong password!")

        tour.step("the updated user, as the server has it")
        tour.code("user = await app.users.get_current_user(reload=True)")
        final = await app.users.get_current_user(reload=True)
        assert final is not None
        for line in render_user(final, indent="    "):
            console.print(line)

        tour.step("log out")
        tour.code("await app.users.logout()")
        await app.users.logout()
        tour.say("logged out")

    phone = format_value(final.get_property("phoneNumber"))
    console.print()
    console.print(f"done: {email} has phoneNumber {phone} (set with await, then a callback, "
                  f"then a blocking call)")
    return EXIT_OK
