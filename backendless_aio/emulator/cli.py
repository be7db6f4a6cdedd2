"""`backendless-aio emulator`: serve the emulator until interrupted (SIGINT / SIGTERM, exit 0)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from .server import Emulator
from .settings import (
    CROSS_USER_POLICIES,
    DEFAULT_API_KEY,
    DEFAULT_APP_ID,
    DEFAULT_CONSOLE_LOGIN,
    DEFAULT_CONSOLE_PASSWORD,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_HOST,
    DEFAULT_LOCKOUT_SECONDS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_SESSION_TIMEOUT,
    MULTIPLE_LOGINS_POLICIES,
    UNKNOWN_PROPERTY_POLICIES,
    EmulatorSettings,
)

#: The first line printed, followed by the URL (tools wait for it).
LISTENING = "Backendless emulator listening on"


def add_emulator_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `emulator` sub-command."""
    parser = subparsers.add_parser(
        "emulator",
        help="run the local Backendless emulator",
        description=(
            "Serve the Backendless Users REST API locally (aiohttp + SQLite) until interrupted. "
            "Both URL forms work: http://HOST:PORT/APP_ID/API_KEY/... and http://HOST:PORT/api/..."
        ),
    )
    where = parser.add_argument_group("where")
    where.add_argument("--host", default=DEFAULT_HOST, help="address to bind (%(default)s)")
    where.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    where.add_argument(
        "--db",
        default=":memory:",
        metavar="PATH",
        help="SQLite file to keep the state in (default: in memory, lost on exit)",
    )
    where.add_argument(
        "--admin-token",
        default=os.environ.get("BACKENDLESS_EMULATOR_ADMIN_TOKEN"),
        metavar="TOKEN",
        help="token the /__emulator__ admin routes require (X-Emulator-Admin-Token); needed to "
        "use them beyond loopback (default: $BACKENDLESS_EMULATOR_ADMIN_TOKEN)",
    )
    app = parser.add_argument_group("application")
    app.add_argument("--app-id", default=DEFAULT_APP_ID, help="application id (%(default)s)")
    app.add_argument("--api-key", default=DEFAULT_API_KEY, help="client API key (%(default)s)")
    app.add_argument(
        "--extra-api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="another accepted client API key (repeatable)",
    )
    app.add_argument(
        "--server-api-key",
        default=None,
        metavar="KEY",
        help="the server-side key; only it may enable/disable users (default: none)",
    )
    schema = parser.add_argument_group("users table")
    schema.add_argument(
        "--identity", default="email", metavar="PROP", help="identity property (%(default)s)"
    )
    schema.add_argument(
        "--required",
        action="append",
        default=[],
        metavar="PROP",
        help="a required property (repeatable)",
    )
    schema.add_argument(
        "--dynamic-schema",
        choices=UNKNOWN_PROPERTY_POLICIES,
        default="create",
        metavar="POLICY",
        help=(
            "unknown properties: create a column (default), drop them silently (the console's "
            "dynamicSchema=false), or refuse them (3010 at registration, 3031 at update)"
        ),
    )
    schema.add_argument(
        "--no-dynamic-schema",
        dest="dynamic_schema",
        action="store_const",
        const="refuse",
        help="the same as --dynamic-schema refuse",
    )
    schema.add_argument(
        "--cross-user",
        choices=CROSS_USER_POLICIES,
        default="deny",
        help="updating another user: deny answers 3029 (default) or allow",
    )
    sessions = parser.add_argument_group("sessions and logins")
    sessions.add_argument(
        "--session-timeout",
        type=float,
        default=DEFAULT_SESSION_TIMEOUT,
        metavar="SECONDS",
        help="inactivity timeout of a session (%(default)s)",
    )
    sessions.add_argument(
        "--multiple-logins",
        choices=MULTIPLE_LOGINS_POLICIES,
        default="first-loses",
        metavar="POLICY",
        help=(
            "first-loses (default: a new login ends the previous session), second-refused "
            "(3002), allow (up to --max-sessions, then 3044)"
        ),
    )
    sessions.add_argument(
        "--max-sessions",
        type=int,
        default=DEFAULT_MAX_SESSIONS,
        metavar="N",
        help="sessions per account with --multiple-logins allow (%(default)s)",
    )
    sessions.add_argument(
        "--lockout-after",
        type=int,
        default=None,
        metavar="N",
        help="lock an account (3036) after N failed logins (default: never)",
    )
    sessions.add_argument(
        "--lockout-seconds",
        type=float,
        default=DEFAULT_LOCKOUT_SECONDS,
        metavar="SECONDS",
        help="how long a lockout lasts (%(default)s)",
    )
    sessions.add_argument(
        "--no-registration",
        dest="registration_enabled",
        action="store_false",
        help="refuse registrations (3009)",
    )
    sessions.add_argument(
        "--no-login",
        dest="login_enabled",
        action="store_false",
        help="refuse logins (3000)",
    )
    sessions.add_argument(
        "--email-confirmation",
        action="store_true",
        help="new users stay EMAIL_CONFIRMATION_PENDING until their confirmation URL is fetched",
    )
    sessions.add_argument(
        "--no-unconfirmed-login",
        dest="unconfirmed_login",
        action="store_false",
        help="refuse logins of users whose email is not confirmed (3091), as the docs say",
    )
    sessions.add_argument(
        "--strict",
        action="store_true",
        help=(
            "Backendless's rules the default app relaxes: verify password only with the "
            "CloudCode key (3122), resend confirmation only when required (3103/3102)"
        ),
    )
    console = parser.add_argument_group("console API (/console/...)")
    console.add_argument(
        "--console-login",
        default=DEFAULT_CONSOLE_LOGIN,
        metavar="EMAIL",
        help="the developer login of the console API (%(default)s)",
    )
    console.add_argument(
        "--console-password",
        default=DEFAULT_CONSOLE_PASSWORD,
        metavar="PASSWORD",
        help="the developer password of the console API (default: the e2e suite's)",
    )
    other = parser.add_argument_group("other")
    other.add_argument(
        "--fast-password-hashing",
        action="store_true",
        help="cheap password hashes (for test suites; never for real passwords)",
    )
    other.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help="largest request body (%(default)s)",
    )
    other.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT,
        metavar="SECONDS",
        help="close a connection whose request headers (then body) take longer (%(default)s)",
    )
    other.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help="connections served at once; more get 503 (%(default)s)",
    )
    other.add_argument(
        "--fault-seed", type=int, default=0, metavar="N", help="fault injection seed"
    )
    other.add_argument(
        "--latency", type=float, default=0.0, metavar="MS",
        help="wait MS milliseconds before every API answer, like a network would (0); the "
        "official e2e suite needs 1 or more",
    )
    other.add_argument("--access-log", action="store_true", help="log every request to stderr")
    parser.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> EmulatorSettings:
    return EmulatorSettings(
        app_id=args.app_id,
        api_key=args.api_key,
        extra_api_keys=tuple(args.extra_api_key),
        server_api_key=args.server_api_key,
        db_path=args.db,
        host=args.host,
        admin_token=args.admin_token or None,
        port=args.port,
        identity=args.identity,
        required=tuple(args.required),
        dynamic_schema=args.dynamic_schema,
        cross_user=args.cross_user,
        session_timeout=args.session_timeout,
        multiple_logins=args.multiple_logins,
        max_sessions=args.max_sessions,
        lockout_after=args.lockout_after,
        lockout_seconds=args.lockout_seconds,
        registration_enabled=args.registration_enabled,
        login_enabled=args.login_enabled,
        email_confirmation=args.email_confirmation,
        unconfirmed_login=args.unconfirmed_login,
        strict=args.strict,
        console_login=args.console_login,
        console_password=args.console_password,
        fast_password_hashing=args.fast_password_hashing,
        max_body_bytes=args.max_body_bytes,
        header_timeout=args.header_timeout,
        max_connections=args.max_connections,
        fault_seed=args.fault_seed,
        latency=args.latency / 1000,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; 0 on a clean stop, 2 on bad settings."""
    try:
        settings = settings_from_args(args)
    except (TypeError, ValueError) as exc:
        print(f"backendless-aio emulator: {exc}", file=sys.stderr)
        return 2
    if args.access_log:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    try:
        asyncio.run(serve(settings, access_log=args.access_log))
    except KeyboardInterrupt:
        pass
    except (OSError, RuntimeError) as exc:
        print(f"backendless-aio emulator: {exc}", file=sys.stderr)
        return 1
    return 0


async def serve(settings: EmulatorSettings, *, access_log: bool = False) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    emulator = Emulator(settings)
    if access_log:
        emulator.access_log = True
    await emulator.start()
    try:
        _announce(emulator)
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await emulator.stop()


def _announce(emulator: Emulator) -> None:
    settings = emulator.settings
    lines: list[str] = [
        f"{LISTENING} {emulator.url}",
        f"  app id:        {settings.app_id}",
        f"  api key:       {settings.api_key}",
        f"  classic root:  {emulator.root_url}",
        f"  domain root:   {emulator.api_url}",
        f"  console:       {emulator.url}/console (developer {settings.console_login})",
        f"  database:      {settings.db_path}",
    ]
    if settings.server_api_key is not None:
        lines.insert(3, f"  server key:    {settings.server_api_key}")
    print("\n".join(lines), flush=True)
