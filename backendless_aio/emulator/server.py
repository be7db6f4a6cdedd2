"""`Emulator`: start and stop the emulator inside a running event loop."""

from __future__ import annotations

import socket
from types import TracebackType
from typing import Any

import attrs
from aiohttp import web

from .app import create_app
from .faults import FaultInjector
from .protocol import GuardedSite
from .settings import EmulatorSettings
from .state import EmulatorState, RecordedRequest

#: How long stop() lets in-flight requests finish.
SHUTDOWN_TIMEOUT = 2.0
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 (names the wildcards, binds nothing)


class Emulator:
    """A local Backendless Users server on aiohttp.web and SQLite.

    ``async with Emulator(settings) as emu:`` serves on ``emu.url`` until the block ends;
    ``await emu.start()`` / ``await emu.stop()`` do the same by hand. A stopped emulator can be
    started again (on a file database its state is still there).
    """

    def __init__(self, settings: EmulatorSettings | None = None, **overrides: Any) -> None:
        base = settings if settings is not None else EmulatorSettings()
        if overrides:
            base = attrs.evolve(base, **overrides)
        self.settings = base
        self._state = EmulatorState(base)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        #: Log each request to the "aiohttp.access" logger (set before start()).
        self.access_log = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        settings = self.settings
        app = create_app(state=self._state)
        # The request handlers' options, given to aiohttp's runner and to the site's own
        # handlers alike (protocol.py: the site never reads them back from aiohttp).
        options: dict[str, Any] = {
            # closes a kept-alive connection whose next request's headers do not arrive in time
            "keepalive_timeout": settings.header_timeout,
        }
        if not self.access_log:
            options["access_log"] = None
        runner = web.AppRunner(
            app, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT, **options
        )
        await runner.setup()
        try:
            site = GuardedSite(
                runner, settings.host, settings.port,
                max_connections=connection_cap(settings.max_connections),
                header_timeout=settings.header_timeout,
                handler_options=options,
            )
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = site.addresses[0]
        port = int(address[1])
        host = settings.host
        if host in _WILDCARDS:
            host = "::1" if ":" in host else "127.0.0.1"
        elif not _is_ip(host):
            # A name may resolve to several addresses (each with its own free port): use one.
            host = str(address[0])
        if ":" in host:
            host = f"[{host}]"
        self._url = f"http://{host}:{port}"

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return self._runner is not None

    # -- where it is -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server URL, e.g. ``http://127.0.0.1:54321``."""
        if self._url is None:
            raise RuntimeError("the emulator has not been started")
        return self._url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def app_id(self) -> str:
        return self.settings.app_id

    @property
    def api_key(self) -> str:
        return self.settings.api_key

    @property
    def root_url(self) -> str:
        """The classic root: ``{url}/{app_id}/{api_key}``."""
        return f"{self.url}/{self.app_id}/{self.api_key}"

    @property
    def api_url(self) -> str:
        """The domain-form root: ``{url}/api``."""
        return f"{self.url}/api"

    @property
    def server_root_url(self) -> str | None:
        """The classic root with the server-side key (None when no server key is set)."""
        key = self.settings.server_api_key
        return None if key is None else f"{self.url}/{self.app_id}/{key}"

    # -- test helpers ------------------------------------------------------------------------

    @property
    def faults(self) -> FaultInjector:
        return self._state.faults

    @property
    def requests(self) -> list[RecordedRequest]:
        """The last requests received (when `record_requests` is on), oldest first."""
        return list(self._state.requests)

    async def reset(self) -> None:
        """Wipe users, sessions, dynamic columns, faults, recorded requests and the clock offset."""
        self._ensure_open()
        self._state.reset()

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward (sessions expire without sleeping)."""
        self._state.clock.advance(seconds)

    async def get_stored_user(self, object_id: str) -> dict[str, Any] | None:
        """The user as stored (wire shape, never the password), or None."""
        self._ensure_open()
        return self._state.service.get_stored_user(object_id)

    def _ensure_open(self) -> None:
        if self._runner is None:
            raise RuntimeError("the emulator is not running")


#: File descriptors kept free of connections (the database, the listening sockets, logs...).
FD_RESERVE = 32


def connection_cap(wanted: int) -> int:
    """``wanted``, lowered to what the process's open-file limit leaves for connections."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return wanted
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - FD_RESERVE))


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True
