"""The ``backendless-aio`` command line: the demo, users by hand, and the local emulator.

Exit codes: 0 done, 1 a fault or a problem reaching the server, 2 a usage error, 130 interrupted.
Expected errors print one line, ``error: [CODE] the server's message``, never a traceback,
and nothing printed ever carries the API key, a password or a user token.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import io
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from . import __version__
from ._cli_common import (
    ENV_SESSION_FILE,
    EXIT_FAULT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Connection,
    Console,
    Handler,
    UsageError,
    _option,
    command,
    connection_options,
    format_error,
    format_value,
    parse_value,
    render_user,
    require_connection,
    resolve_connection,
    user_json,
)
from .client import Backendless
from .errors import SessionOver, UserNotLoggedIn
from .models import BackendlessUser
from .sessions import FileSessionStore
from .users import AsyncUserService

__all__ = [
    "EXIT_FAULT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Connection",
    "Console",
    "UsageError",
    "build_parser",
    "format_error",
    "format_value",
    "main",
    "parse_value",
    "render_user",
    "resolve_connection",
]


def session_file(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Path:
    """``--session-file``, else ``$BACKENDLESS_AIO_SESSION_FILE``, else
    ``~/.config/backendless-aio/sessions.json`` (``$XDG_CONFIG_HOME`` if set)."""
    env = os.environ if environ is None else environ
    chosen = _option(args, "session_file") or env.get(ENV_SESSION_FILE) or None
    if chosen:
        return Path(chosen).expanduser()
    config_home = env.get("XDG_CONFIG_HOME") or None
    base = Path(config_home) if config_home else Path.home() / ".config"
    return base / "backendless-aio" / "sessions.json"


# -- the users commands -----------------------------------------------------------------------


@asynccontextmanager
async def _scope(conn: Connection, path: Path) -> AsyncIterator[AsyncUserService]:
    """This server's user scope, with its session kept in the session file."""
    async with Backendless(**conn.client_kwargs(), session_store=FileSessionStore(path)) as app:
        yield app.users.session(conn.session_key)


def _read_password(args: argparse.Namespace, console: Console, *, confirm: bool) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        try:
            password = getpass.getpass("Password: ")
            if confirm and password and getpass.getpass("Repeat the password: ") != password:
                raise UsageError("the passwords do not match")
        except EOFError:
            raise UsageError("no password given (use --password-stdin to pipe it)") from None
    if not password:
        raise UsageError("the password is empty")
    console.remember(password)
    return password


def _properties(args: argparse.Namespace) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for key, text in getattr(args, "set", None) or ():
        props[key] = parse_value(text)
    for key, text in getattr(args, "set_string", None) or ():
        props[key] = text
    for key in getattr(args, "unset", None) or ():
        if key in props:
            raise UsageError(f"{key!r} is both set and unset")
        props[key] = None
    return props


def _show(user: BackendlessUser, args: argparse.Namespace, console: Console) -> None:
    if getattr(args, "json", False):
        console.print(user_json(user))
    else:
        for line in render_user(user):
            console.print(line)


def _status(line: str, user: BackendlessUser, args: argparse.Namespace,
            console: Console) -> None:
    """The outcome line on stdout; with ``--json`` stdout carries only the JSON."""
    if getattr(args, "json", False):
        console.note(line)
        console.print(user_json(user))
    else:
        console.print(line)


def _not_logged_in(conn: Connection, path: Path) -> UserNotLoggedIn:
    return UserNotLoggedIn(f"no session for {conn.where} in {path}; log in with: "
                           f"backendless-aio users login EMAIL", operation="cli")


def cmd_register(args: argparse.Namespace, console: Console) -> int:
    conn = require_connection(args, console)
    props = _properties(args)
    if args.name is not None:
        props["name"] = args.name
    password = _read_password(args, console, confirm=not args.password_stdin)

    async def register() -> BackendlessUser:
        async with Backendless(**conn.client_kwargs()) as app:
            return await app.users.register(
                BackendlessUser({**props, "email": args.email, "password": password}))

    user = asyncio.run(register())
    _status(f"registered {user.email or args.email} (objectId {user.object_id}) on "
            f"{conn.where}", user, args, console)
    console.note(f"log in with: backendless-aio users login {args.email}")
    return EXIT_OK


def cmd_login(args: argparse.Namespace, console: Console) -> int:
    conn = require_connection(args, console)
    path = session_file(args)
    password = _read_password(args, console, confirm=False)

    async def login() -> BackendlessUser:
        # The session file's folder is private: it will hold a token.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        async with _scope(conn, path) as users:
            user = await users.login(args.email, password, stay_logged_in=True)
            console.remember(users.user_token)
            return user

    user = asyncio.run(login())
    _status(f"logged in as {user.email or args.email} (objectId {user.object_id}) on "
            f"{conn.where}", user, args, console)
    console.note(f"warning: the session token is stored in clear text in {path} (file mode "
                 f"0600: only you can read it). Anyone who can read that file can act as this "
                 f"user until the session ends; `backendless-aio users logout` ends it and "
                 f"removes it from the file.")
    return EXIT_OK


async def _logged_in_user(users: AsyncUserService, conn: Connection, path: Path,
                          console: Console) -> BackendlessUser:
    """The session file's user for this server, loaded; a 3028 fault when there is none."""
    if not await users.restore():
        raise _not_logged_in(conn, path)
    console.remember(users.user_token)
    user = await users.get_current_user()
    if user is None:
        raise _not_logged_in(conn, path)
    return user


def cmd_whoami(args: argparse.Namespace, console: Console) -> int:
    conn = require_connection(args, console, quiet=True)
    path = session_file(args)

    async def whoami() -> BackendlessUser:
        async with _scope(conn, path) as users:
            return await _logged_in_user(users, conn, path, console)

    user = asyncio.run(whoami())
    _show(user, args, console)
    return EXIT_OK


def cmd_update(args: argparse.Namespace, console: Console) -> int:
    conn = require_connection(args, console, quiet=True)
    path = session_file(args)
    changes = _properties(args)
    if not changes:
        raise UsageError("nothing to update: give --set KEY=VALUE, --set-string KEY=VALUE or "
                         "--unset KEY")

    async def update() -> BackendlessUser:
        async with _scope(conn, path) as users:
            user = await _logged_in_user(users, conn, path, console)
            user.set_properties(changes)
            return await users.update(user)

    user = asyncio.run(update())
    _show(user, args, console)
    return EXIT_OK


def cmd_logout(args: argparse.Namespace, console: Console) -> int:
    conn = require_connection(args, console, quiet=True)
    path = session_file(args)

    async def logout() -> str:
        async with _scope(conn, path) as users:
            if not await users.restore():
                return f"not logged in to {conn.where}; nothing to do"
            console.remember(users.user_token)
            try:
                await users.logout()
            except SessionOver as fault:
                return (f"the session had already ended on the server ({format_error(fault)}); "
                        f"removed it from {path}")
            return f"logged out of {conn.where}; removed the session from {path}"

    console.print(asyncio.run(logout()))
    return EXIT_OK


# -- the parser ---------------------------------------------------------------------------------


def _assignment(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    _check_key(key)
    return key, value


def _property_name(text: str) -> str:
    key = text.strip()
    if not key:
        raise argparse.ArgumentTypeError("a property name cannot be empty")
    _check_key(key)
    return key


def _check_key(key: str) -> None:
    if key == "password":
        raise argparse.ArgumentTypeError(
            "the password cannot be given on the command line (it would show in the process "
            "list and the shell history)")


def _property_options(parser: argparse.ArgumentParser, *, unset: bool) -> None:
    group = parser.add_argument_group("properties")
    group.add_argument("--set", action="append", type=_assignment, metavar="KEY=VALUE",
                       help="set a property; VALUE is typed: 42, 1.5, true, false, null, JSON "
                            "(\"text\", [1,2], {\"a\":1}), anything else a string (repeatable)")
    group.add_argument("--set-string", action="append", type=_assignment, metavar="KEY=VALUE",
                       help="set a property to VALUE as a string, whatever it looks like "
                            "(repeatable)")
    if unset:
        group.add_argument("--unset", action="append", type=_property_name, metavar="KEY",
                           help="clear a property (sent as null; repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backendless-aio",
        description="The asyncio Backendless client and its local Backendless emulator.",
        epilog="Start with: backendless-aio demo",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from .demo import add_demo_parser

    add_demo_parser(sub)
    _add_users_parser(sub)

    from .emulator.cli import add_emulator_parser

    add_emulator_parser(sub)
    return parser


def _add_users_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser(
        "users", help="register, log in, show and update users by hand",
        description="Manage Backendless users by hand. The login session is kept in a local "
                    "file, so later commands act as the logged-in user.")
    connection_options(users, session=True)
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")

    def leaf(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_text, description=help_text)
        connection_options(parser, session=True)
        parser.set_defaults(func=command(handler))
        return parser

    def password_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--password-stdin", action="store_true",
                            help="read the password from the first line of stdin "
                                 "(default: prompt without echo)")

    def json_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the user as JSON")

    register = leaf("register", cmd_register, "register a new user (does not log in)")
    register.add_argument("email", metavar="EMAIL")
    register.add_argument("--name", help="the user's name")
    password_option(register)
    _property_options(register, unset=False)
    json_option(register)

    login = leaf("login", cmd_login,
                 "log in and keep the session (its token) in the session file")
    login.add_argument("email", metavar="EMAIL")
    password_option(login)
    json_option(login)

    whoami = leaf("whoami", cmd_whoami, "show the logged-in user, as the server has it")
    json_option(whoami)

    update = leaf("update", cmd_update,
                  "change properties of the logged-in user; prints the updated user")
    _property_options(update, unset=True)
    json_option(update)

    leaf("logout", cmd_logout, "end the session on the server and remove it from the file")


def _exit_code(code: object) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return EXIT_FAULT


def _tolerant_streams() -> None:
    """Never die on a character the terminal's encoding lacks (the em dash of error lines)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    _tolerant_streams()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return _exit_code(exc.code)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
