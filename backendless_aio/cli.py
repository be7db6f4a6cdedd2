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
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from . import __version__
from . import _constants as C
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
    _jsonable,
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
from .values import READ_ONLY, check_value

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
async def _scope(conn: Connection, path: Path, *,
                 server_key: bool = False) -> AsyncIterator[AsyncUserService]:
    """This server's user scope, with its session kept in the session file (``server_key``:
    the API key is the CloudCode key)."""
    async with Backendless(**conn.client_kwargs(), server_key=server_key,
                           session_store=FileSessionStore(path)) as app:
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
    for key, value in props.items():  # refused here, before anything is sent
        if key in READ_ONLY:
            raise UsageError(f"{key!r} is a system property, set by the server: it is read-only")
        try:
            props[key] = check_value(key, value)
        except (TypeError, ValueError) as exc:
            raise UsageError(str(exc)) from None
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


async def _query_scope(conn: Connection, path: Path, console: Console,
                       run: Callable[[AsyncUserService], Any]) -> Any:
    """Run ``run`` as the session file's user when there is one, else anonymously."""
    async with _scope(conn, path) as users:
        if await users.restore():
            console.remember(users.user_token)
        return await run(users)


def cmd_find(args: argparse.Namespace, console: Console) -> int:
    conn = require_connection(args, console, quiet=True)
    path = session_file(args)
    sort = args.sort or None
    props = args.props or None

    async def find(users: AsyncUserService) -> list[BackendlessUser]:
        if args.all:
            return [u async for u in users.find_all(args.where, sort_by=sort, props=props)]
        return await users.find(args.where, sort_by=sort, props=props,
                                page_size=args.page_size, offset=args.offset)

    found: list[BackendlessUser] = asyncio.run(_query_scope(conn, path, console, find))
    if args.json:
        console.print(json.dumps([_jsonable(dict(u.properties)) for u in found], indent=2,
                                 sort_keys=True, ensure_ascii=False, default=str))
        console.note(f"{len(found)} user(s)")
        return EXIT_OK
    for index, user in enumerate(found):
        if index:
            console.print()
        for line in render_user(user):
            console.print(line)
    more = "" if args.all or len(found) < args.page_size else \
        f"; more may follow: --offset {args.offset + len(found)} or --all"
    console.note(f"{len(found)} user(s){more}")
    return EXIT_OK


def cmd_count(args: argparse.Namespace, console: Console) -> int:
    conn = require_connection(args, console, quiet=True)
    path = session_file(args)

    async def count(users: AsyncUserService) -> int:
        return await users.count(args.where)

    console.print(str(asyncio.run(_query_scope(conn, path, console, count))))
    return EXIT_OK


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _page_size(text: str) -> int:
    value = _whole_number(text)
    if not 1 <= value <= C.MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"a page holds 1 to {C.MAX_PAGE_SIZE} users")
    return value


def _offset(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError("the offset is 0 or more")
    return value


# -- roles, impersonation, email confirmation --------------------------------------------------


def cmd_roles(args: argparse.Namespace, console: Console) -> int:
    conn = require_connection(args, console, quiet=True)
    path = session_file(args)

    async def roles() -> list[str]:
        async with _scope(conn, path) as users:
            if args.object_id is None:
                await _logged_in_user(users, conn, path, console)
            elif await users.restore():
                console.remember(users.user_token)
            return await users.get_user_roles(object_id=args.object_id)

    found = asyncio.run(roles())
    if args.json:
        console.print(json.dumps(found))
    else:
        for role in found:
            console.print(role)
    return EXIT_OK


def _change_role(assign: bool) -> Handler:
    def change(args: argparse.Namespace, console: Console) -> int:
        conn = require_connection(args, console)

        async def run() -> None:
            async with Backendless(**conn.client_kwargs()) as app:
                if assign:
                    await app.users.assign_role(args.user, args.role)
                else:
                    await app.users.unassign_role(args.user, args.role)

        asyncio.run(run())
        verb = "assigned" if assign else "unassigned"
        console.print(f"{verb} role {args.role} {'to' if assign else 'from'} {args.user} on "
                      f"{conn.where}")
        return EXIT_OK

    change.__name__ = "cmd_assign_role" if assign else "cmd_unassign_role"
    return change


def cmd_find_by_role(args: argparse.Namespace, console: Console) -> int:
    conn = require_connection(args, console, quiet=True)

    async def find() -> list[BackendlessUser]:
        async with Backendless(**conn.client_kwargs()) as app:
            return await app.users.find_by_role(args.role, load_roles=args.load_roles)

    found = asyncio.run(find())
    if args.json:
        console.print(json.dumps([_jsonable(dict(u.properties)) for u in found], indent=2,
                                 sort_keys=True, ensure_ascii=False, default=str))
        return EXIT_OK
    if not found:
        console.note(f"no user has the role {args.role}")
    for user in found:
        roles = user.get_property("roles") if args.load_roles else None
        suffix = f"  [{', '.join(map(str, roles))}]" if isinstance(roles, list) else ""
        console.print(f"{user.object_id}  {user.email or ''}{suffix}")
    return EXIT_OK


def cmd_login_as(args: argparse.Namespace, console: Console) -> int:
    conn = require_connection(args, console)
    path = session_file(args)

    async def login() -> BackendlessUser:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        async with _scope(conn, path, server_key=True) as users:
            user = await users.login_by_object_id(args.object_id, stay_logged_in=True)
            console.remember(users.user_token)
            return user

    user = asyncio.run(login())
    _status(f"logged in as {user.email or args.object_id} (objectId {user.object_id}) on "
            f"{conn.where}, by objectId with the CloudCode key", user, args, console)
    console.note(f"warning: the session token is stored in clear text in {path} (file mode "
                 f"0600); `backendless-aio users logout` ends it.")
    return EXIT_OK


def cmd_confirmation_url(args: argparse.Namespace, console: Console) -> int:
    conn = require_connection(args, console, quiet=True)

    async def create() -> str:
        async with Backendless(**conn.client_kwargs()) as app:
            return await app.users.create_email_confirmation_url(args.identity)

    console.print(asyncio.run(create()))
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

    find = leaf("find", cmd_find,
                "find users with a whereClause (as the logged-in user if there is one)")
    find.add_argument("--where", metavar="CLAUSE",
                      help="a whereClause, e.g. \"city = 'Oslo' AND age >= 18\" (default: all)")
    find.add_argument("--sort", action="append", metavar="PROP[ DESC]",
                      help="sort by a property, \"age DESC\" for descending (repeatable)")
    find.add_argument("--props", action="append", metavar="A,B",
                      help="only these properties (comma-separated, repeatable)")
    find.add_argument("--page-size", type=_page_size, default=C.DEFAULT_PAGE_SIZE, metavar="N",
                      help=f"users per page, 1 to {C.MAX_PAGE_SIZE} (default "
                           f"{C.DEFAULT_PAGE_SIZE})")
    find.add_argument("--offset", type=_offset, default=0, metavar="N",
                      help="skip this many users first (default 0)")
    find.add_argument("--all", action="store_true",
                      help="every matching user, page after page (ignores --page-size and "
                           "--offset)")
    find.add_argument("--json", action="store_true", help="print the users as a JSON list")

    count = leaf("count", cmd_count, "count the users matching a whereClause")
    count.add_argument("--where", metavar="CLAUSE", help="a whereClause (default: all users)")


    roles = leaf("roles", cmd_roles,
                 "list the roles of the logged-in user (or, with --object-id, of any user: "
                 "that needs the app's CloudCode key as the API key)")
    roles.add_argument("--object-id", metavar="ID", help="whose roles (default: the logged-in "
                                                         "user's)")
    roles.add_argument("--json", action="store_true", help="print the roles as a JSON list")

    for name, assign in (("assign-role", True), ("unassign-role", False)):
        change = leaf(name, _change_role(assign),
                      f"{name.split('-')[0]} a role (made in the console) "
                      f"{'to' if assign else 'from'} a user; the API key must be the app's "
                      f"CloudCode key")
        change.add_argument("user", metavar="USER", help="the user's identity value (email) or "
                                                         "objectId")
        change.add_argument("role", metavar="ROLE")

    by_role = leaf("find-by-role", cmd_find_by_role, "list the users who have a role")
    by_role.add_argument("role", metavar="ROLE")
    by_role.add_argument("--load-roles", action="store_true",
                         help="show each user's roles too")
    by_role.add_argument("--json", action="store_true", help="print the users as JSON")

    login_as = leaf("login-as", cmd_login_as,
                    "log in as a user by objectId, without a password, and keep the session; "
                    "the API key must be the app's CloudCode key")
    login_as.add_argument("object_id", metavar="OBJECT_ID")
    json_option(login_as)

    url = leaf("confirmation-url", cmd_confirmation_url,
               "print a fresh email confirmation link for a user whose email is not confirmed")
    url.add_argument("identity", metavar="IDENTITY", help="the user's identity value (email)")


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
