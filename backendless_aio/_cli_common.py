"""What the command line and the demo share: output, errors, where the server is, options.

``cli.py`` (the users commands and the parser) and ``demo.py`` both build on this module, so
neither imports the other's internals.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import attrs

from . import _constants as C
from .config import (
    ENV_API_KEY,
    ENV_APP_ID,
    ENV_DOMAIN,
    ENV_SERVER_URL,
    ClientConfig,
    location_from_environment,
)
from .errors import (
    BackendlessError,
    BackendlessFault,
    ConfigurationError,
    SessionOver,
    TransportError,
)
from .models import BackendlessUser

__all__ = [
    "EXIT_FAULT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Connection",
    "Console",
    "Handler",
    "UsageError",
    "announce_connection",
    "command",
    "connection_options",
    "format_error",
    "format_value",
    "parse_value",
    "render_user",
    "require_connection",
    "resolve_connection",
    "user_json",
]

EXIT_OK = 0
EXIT_FAULT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

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
    """One line for an expected error: ``[CODE] the server's message`` for a fault (the code's
    meaning when the message is empty)."""
    if isinstance(exc, BackendlessFault):
        message = exc.message.strip() or type(exc).MEANING
        return f"[{exc.code}] {message}" if exc.code is not None else message
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
    domain, app_id, api_key = (_option(args, n) for n in ("domain", "app_id", "api_key"))
    server_url = _option(args, "server_url")
    if domain is not None and (app_id or api_key or server_url):
        raise UsageError("give either --domain or --app-id/--api-key/--server-url, not both")
    try:  # the same reading of the environment as Backendless()
        where = location_from_environment(app_id=app_id, api_key=api_key,
                                          server_url=server_url, domain=domain,
                                          environ=environ)
    except ConfigurationError as exc:
        raise UsageError(f"{exc} (on the command line: --domain or --app-id)") from None
    if where.domain is not None:
        return Connection(domain=where.domain)
    app_id, api_key, server_url = where.app_id, where.api_key, where.server_url
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



def connection_options(parser: argparse.ArgumentParser, *, session: bool) -> None:
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


Handler = Callable[[argparse.Namespace, Console], int]


def command(handler: Handler) -> Callable[[argparse.Namespace], int]:
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


