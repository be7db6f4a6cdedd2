"""The ``backendless-aio`` command line: the demo, users by hand, and the local emulator.

Exit codes: 0 done, 1 a fault or a problem reaching the server, 2 a usage error, 130 interrupted.
Expected errors print one line, ``error: [CODE] meaning — server message``, never a traceback,
and nothing printed ever carries the API key, a password or a user token.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import io
import json
import math
import os
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import attrs

from . import _constants as C
from .client import Backendless
from .config import ClientConfig
from .errors import (
    BackendlessError,
    BackendlessFault,
    ConfigurationError,
    SessionOver,
    TransportError,
    UserNotLoggedIn,
    fault_class,
)
from .models import BackendlessUser
from .sessions import FileSessionStore
from .users import AsyncUserService
from .values import READ_ONLY, check_value

__all__ = [
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

EXIT_OK = 0
EXIT_FAULT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

ENV_SERVER_URL = "BACKENDLESS_SERVER_URL"
ENV_DOMAIN = "BACKENDLESS_DOMAIN"
ENV_APP_ID = "BACKENDLESS_APP_ID"
ENV_API_KEY = "BACKENDLESS_API_KEY"
ENV_SESSION_FILE = "BACKENDLESS_AIO_SESSION_FILE"

#: Properties shown first when a user is printed.
_FIRST = ("objectId", "email", "name")


class UsageError(Exception):
    """The command line asks for something impossible: exit 2, nothing was sent."""


# -- output ---------------------------------------------------------------------------------


class Console:
    """Where a command prints: results to ``out``, notes and errors to ``err``.

    Every line goes through :meth:`scrub`, which masks the secrets this invocation knows of
    (the API key, passwords read, tokens): belt and braces over the library's own redaction.
    """

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.secrets: list[str] = []

    def remember(self, secret: str | None) -> None:
        if secret and secret not in self.secrets:
            self.secrets.append(secret)

    def scrub(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def print(self, text: str = "") -> None:
        print(self.scrub(text), file=self.out, flush=True)

    def note(self, text: str) -> None:
        print(self.scrub(text), file=self.err, flush=True)


def format_error(exc: BaseException) -> str:
    """One line for an expected error: ``[CODE] meaning — server message`` for a fault."""
    if isinstance(exc, BackendlessFault):
        meaning = fault_class(exc.code).MEANING if exc.code is not None else type(exc).MEANING
        head = f"[{exc.code}] {meaning}" if exc.code is not None else meaning
        message = exc.message.strip()
        if message and message.rstrip(".").lower() != meaning.lower():
            return f"{head} — {message}"
        return head
    if isinstance(exc, TransportError):
        return f"the server could not be reached or answered nonsense — {exc}"
    return str(exc) or type(exc).__name__


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def parse_value(text: str) -> Any:
    """A ``--set`` value: JSON when it reads as JSON (``42``, ``1.5``, ``true``, ``null``,
    ``"quoted"``, ``[1, 2]``, ``{"a": 1}``), else the text itself as a string."""

    def reject(constant: str) -> Any:
        raise ValueError(constant)

    try:
        value = json.loads(text, parse_constant=reject)
    except ValueError:
        return text
    if isinstance(value, float) and not math.isfinite(value):
        return text
    return value


def format_value(value: Any) -> str:
    """How a property value is shown: what you would type after ``--set key=`` to get it back
    (dates, which are read-only, as ISO 8601)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str):
        parsed = parse_value(value)
        return value if isinstance(parsed, str) and parsed == value else json.dumps(value)
    return json.dumps(_jsonable(value), ensure_ascii=False, default=str)


def render_user(user: BackendlessUser, *, indent: str = "  ") -> list[str]:
    """The user's properties as aligned ``key  value`` lines (never the password)."""
    props = dict(user.properties)
    keys = [k for k in _FIRST if k in props] + sorted(k for k in props if k not in _FIRST)
    if not keys:
        return [f"{indent}(no properties)"]
    width = max(len(k) for k in keys)
    return [f"{indent}{key:<{width}}  {format_value(props[key])}" for key in keys]


def user_json(user: BackendlessUser) -> str:
    return json.dumps(_jsonable(dict(user.properties)), indent=2, sort_keys=True,
                      ensure_ascii=False, default=str)


# -- where the server is -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Connection:
    """The server a command talks to: the classic form (app id, API key, server URL) or the
    domain form. ``repr`` never shows the API key."""

    app_id: str | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    server_url: str = C.DEFAULT_SERVER_URL
    domain: str | None = None
    #: Said once on stderr, e.g. that the local emulator's default app id and key are used.
    note: str | None = None

    def __attrs_post_init__(self) -> None:
        ClientConfig(**self.client_kwargs())  # a wrong URL or id is refused here, before prompts

    def client_kwargs(self) -> dict[str, Any]:
        if self.domain is not None:
            return {"domain": self.domain}
        return {"app_id": self.app_id, "api_key": self.api_key, "server_url": self.server_url}

    @property
    def where(self) -> str:
        """A printable description (no secret)."""
        if self.domain is not None:
            return self.domain
        return f"{self.server_url} (app {self.app_id})"

    @property
    def session_key(self) -> str:
        """The key of this server's session in the session file."""
        if self.domain is not None:
            return f"cli {self.domain}"
        return f"cli {self.server_url} {self.app_id}"


def _option(args: argparse.Namespace, name: str) -> str | None:
    value = getattr(args, name, None)
    return value if isinstance(value, str) and value else None


def resolve_connection(args: argparse.Namespace,
                       environ: Mapping[str, str] | None = None) -> Connection | None:
    """The server from the options, then the environment; None when neither names one.

    Options win over the environment as a whole: ``--domain`` ignores ``BACKENDLESS_APP_ID``,
    and ``--app-id`` ignores ``BACKENDLESS_DOMAIN``. A server URL without an app id and API key
    means a local emulator with its default ones.
    """
    env = os.environ if environ is None else environ

    def from_env(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    domain, app_id, api_key = (_option(args, n) for n in ("domain", "app_id", "api_key"))
    server_url = _option(args, "server_url")
    if domain is not None:
        if app_id or api_key or server_url:
            raise UsageError("give either --domain or --app-id/--api-key/--server-url, not both")
        return Connection(domain=domain)
    if not (app_id or api_key or server_url):
        env_domain = from_env(ENV_DOMAIN)
        if env_domain is not None:
            if from_env(ENV_APP_ID) or from_env(ENV_API_KEY):
                raise UsageError(f"both {ENV_DOMAIN} and {ENV_APP_ID}/{ENV_API_KEY} are set: "
                                 f"unset one form, or choose with --domain or --app-id")
            return Connection(domain=env_domain)
    app_id = app_id or from_env(ENV_APP_ID)
    api_key = api_key or from_env(ENV_API_KEY)
    server_url = server_url or from_env(ENV_SERVER_URL)
    if app_id is None and api_key is None:
        if server_url is None:
            return None
        from .emulator.settings import DEFAULT_API_KEY, DEFAULT_APP_ID

        return Connection(app_id=DEFAULT_APP_ID, api_key=DEFAULT_API_KEY, server_url=server_url,
                          note=f"note: no app id or API key given: using the local emulator's "
                               f"default ones (app {DEFAULT_APP_ID})")
    if app_id is None or api_key is None:
        missing = "--app-id (or BACKENDLESS_APP_ID)" if app_id is None else \
            "--api-key (or BACKENDLESS_API_KEY)"
        raise UsageError(f"{missing} is missing: the classic form needs both the app id and "
                         f"the API key")
    return Connection(app_id=app_id, api_key=api_key,
                      server_url=server_url or C.DEFAULT_SERVER_URL)


def require_connection(args: argparse.Namespace, console: Console, *,
                       quiet: bool = False) -> Connection:
    conn = resolve_connection(args)
    if conn is None:
        raise UsageError(
            "which Backendless app? give --app-id and --api-key (or set BACKENDLESS_APP_ID and "
            "BACKENDLESS_API_KEY), --domain (BACKENDLESS_DOMAIN), or --server-url of a local "
            "emulator (backendless-aio emulator)")
    announce_connection(conn, console, quiet=quiet)
    return conn


def announce_connection(conn: Connection, console: Console, *, quiet: bool = False) -> None:
    """Mask the API key in all output; say the connection's note unless ``quiet``."""
    console.remember(conn.api_key)
    if conn.note and not quiet:
        console.note(conn.note)


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


def _page_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= C.MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"a page holds 1 to {C.MAX_PAGE_SIZE} users")
    return value


def _offset(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
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
        async with Backendless(**conn.client_kwargs(), server_key=True,
                               session_store=FileSessionStore(path)) as app:
            users = app.users.session(conn.session_key)
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


def _connection_options(parser: argparse.ArgumentParser, *, session: bool) -> None:
    """The options every command shares. ``SUPPRESS`` defaults let them be given before or
    after the sub-command name without one level overwriting the other."""
    group = parser.add_argument_group(
        "connection", "which Backendless app; each option falls back to its environment variable")
    hide = argparse.SUPPRESS
    group.add_argument("--server-url", metavar="URL", default=hide,
                       help=f"API server (${ENV_SERVER_URL}; default {C.DEFAULT_SERVER_URL}); "
                            f"alone, a local emulator with its default app id and key")
    group.add_argument("--domain", metavar="URL", default=hide,
                       help=f"app domain, e.g. https://myapp.backendless.app (${ENV_DOMAIN})")
    group.add_argument("--app-id", metavar="ID", default=hide, help=f"application id "
                                                                    f"(${ENV_APP_ID})")
    group.add_argument("--api-key", metavar="KEY", default=hide,
                       help=f"client API key (${ENV_API_KEY}; prefer the variable: options "
                            f"show in the process list)")
    if session:
        group.add_argument("--session-file", metavar="PATH", default=hide,
                           help=f"where the login session is kept (${ENV_SESSION_FILE}; "
                                f"default ~/.config/backendless-aio/sessions.json)")


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


Handler = Callable[[argparse.Namespace, Console], int]


def _command(handler: Handler) -> Callable[[argparse.Namespace], int]:
    """Run a command; expected errors become one scrubbed line on stderr and an exit code."""

    def run(args: argparse.Namespace) -> int:
        console = Console()
        try:
            return handler(args, console)
        except UsageError as exc:
            console.note(f"error: {exc}")
            return EXIT_USAGE
        except ConfigurationError as exc:
            console.note(f"error: {format_error(exc)}")
            return EXIT_USAGE
        except BackendlessError as exc:
            console.note(f"error: {format_error(exc)}")
            if isinstance(exc, SessionOver):
                console.note("the stored session was dropped; log in again")
            return EXIT_FAULT
        except OSError as exc:
            console.note(f"error: {exc}")
            return EXIT_FAULT

    run.__qualname__ = run.__name__ = handler.__name__
    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backendless-aio",
        description="The asyncio Backendless client and its local Backendless emulator.",
        epilog="Start with: backendless-aio demo",
    )
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
    _connection_options(users, session=True)
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")

    def leaf(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_text, description=help_text)
        _connection_options(parser, session=True)
        parser.set_defaults(func=_command(handler))
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
