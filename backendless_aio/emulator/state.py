"""What one running emulator holds: settings, store, clock, its apps, faults, recordings.

An emulator serves many apps (the console creates and deletes them); each has its own id, API
keys (one per device type, as Backendless has them), settings, users, sessions and columns, in
the one SQLite file. The default app, named by `EmulatorSettings` (`app_id`, `api_key`,
`extra_api_keys`, `server_api_key` and the behaviour settings), is (re)installed at every start.
"""

from __future__ import annotations

from collections import deque

import attrs
import orjson
from multidict import CIMultiDictProxy

from .faults import FaultInjector
from .service import SERVER_KEY_KIND, Clock, UsersService
from .settings import RECORDED_REQUESTS_LIMIT, AppSettings, EmulatorSettings
from .store import Store, StoredApp

#: The device type of the keys the default app's `api_key` and `extra_api_keys` are.
DEFAULT_KEY_KIND = "REST"
#: The name of the default app (as the console's app list shows it).
DEFAULT_APP_NAME = "default"


@attrs.frozen
class RecordedRequest:
    """One request as it arrived (kept when `record_requests` is on).

    `path` is the raw (still percent-encoded) path without the query string, `query` the raw
    query string; header names are lower-cased; `body` is the request body as received.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: str = ""

    @property
    def json(self) -> object:
        """The body parsed as JSON (None when empty)."""
        return orjson.loads(self.body) if self.body else None


class EmulatorState:
    """The state behind one emulator's HTTP app."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.clock = Clock()
        self.store = Store(settings.db_path)
        self.faults = FaultInjector(settings.fault_seed)
        self.requests: deque[RecordedRequest] = deque(maxlen=RECORDED_REQUESTS_LIMIT)
        self._services: dict[str, UsersService] = {}
        self._keys: dict[tuple[str, str], str] = {}
        #: SHA-256 of the console auth keys handed out by the developer login (in memory).
        self.console_keys: set[str] = set()

    def open(self) -> None:
        self.store.open()
        try:
            self._install_default_app()
            self._load()
        except BaseException:
            self.store.close()
            raise

    def close(self) -> None:
        self.store.close()

    def reset(self) -> None:
        """Back to a fresh emulator: only the default app, empty (no users, sessions, dynamic
        columns), no faults, no recordings, the clock at wall time."""
        self.store.reset()
        self.faults.reset()
        self.requests.clear()
        self.clock.reset()
        self._install_default_app()
        self._load()

    # -- apps --------------------------------------------------------------------------------

    @property
    def service(self) -> UsersService:
        """The default app's Users service."""
        service = self._services.get(self.settings.app_id)
        if service is None:
            raise RuntimeError("the default app was deleted; restart the emulator to restore it")
        return service

    def service_for(self, app_id: str) -> UsersService | None:
        """An app's Users service, or None when there is no such app."""
        return self._services.get(app_id)

    def key_kind(self, app_id: str, api_key: str) -> str | None:
        """The device type of `api_key` in app `app_id` (JS, REST, ..., BL), or None."""
        return self._keys.get((app_id, api_key))

    def apps(self) -> list[StoredApp]:
        return self.store.apps()

    def put_app(
        self,
        app_id: str,
        name: str,
        api_keys: dict[str, str],
        settings: AppSettings | None = None,
    ) -> StoredApp:
        """Create an app (or replace an existing app's name, keys and settings)."""
        existing = self.store.get_app(app_id)
        chosen = settings if settings is not None else (
            AppSettings() if existing is None else AppSettings.from_json(existing.settings)
        )
        created = existing.created if existing is not None else self.clock.now_ms()
        self.store.put_app(app_id, name, chosen.to_json(), api_keys, created)
        self._load()
        app = self.store.get_app(app_id)
        assert app is not None
        return app

    def set_app_settings(self, app_id: str, settings: AppSettings) -> None:
        self.store.set_app_settings(app_id, settings.to_json())
        self._load()

    def app_settings(self, app_id: str) -> AppSettings | None:
        service = self._services.get(app_id)
        return None if service is None else service.settings

    def delete_app(self, app_id: str) -> bool:
        """Delete an app and all it holds (its users, sessions, columns, keys)."""
        deleted = self.store.delete_app(app_id)
        self._load()
        return deleted

    def _install_default_app(self) -> None:
        settings = self.settings
        keys = {key: DEFAULT_KEY_KIND for key in (settings.api_key, *settings.extra_api_keys)}
        if settings.server_api_key is not None:
            keys[settings.server_api_key] = SERVER_KEY_KIND
        existing = self.store.get_app(settings.app_id)
        created = existing.created if existing is not None else self.clock.now_ms()
        name = existing.name if existing is not None else DEFAULT_APP_NAME
        self.store.put_app(
            settings.app_id, name, settings.app_settings().to_json(), keys, created
        )

    def _load(self) -> None:
        """(Re)build the per-app services and the key index from the store."""
        services: dict[str, UsersService] = {}
        keys: dict[tuple[str, str], str] = {}
        for app in self.store.apps():
            current = self._services.get(app.app_id)
            settings = AppSettings.from_json(app.settings)
            if current is not None and current.settings == settings:
                service = current  # keeps its caches (the dummy hash)
            else:
                service = UsersService(
                    app.app_id,
                    settings,
                    self.store.for_app(app.app_id),
                    self.clock,
                    fast_password_hashing=self.settings.fast_password_hashing,
                )
                service.start()
            services[app.app_id] = service
            for key, kind in app.api_keys.items():
                keys[(app.app_id, key)] = kind
        self._services = services
        self._keys = keys

    # -- recordings --------------------------------------------------------------------------

    def record(
        self, method: str, raw_path: str, headers: CIMultiDictProxy[str], body: bytes
    ) -> None:
        path, _, query = raw_path.partition("?")
        self.requests.append(
            RecordedRequest(
                method=method,
                path=path,
                headers={name.lower(): value for name, value in headers.items()},
                body=body,
                query=query,
            )
        )
