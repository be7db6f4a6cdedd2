"""What one running emulator holds: settings, store, clock, users logic, faults, recordings."""

from __future__ import annotations

from collections import deque

import attrs
import orjson
from multidict import CIMultiDictProxy

from .faults import FaultInjector
from .service import Clock, UsersService
from .settings import RECORDED_REQUESTS_LIMIT, EmulatorSettings
from .store import Store


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
        self.service = UsersService(settings, self.store, self.clock)
        self.faults = FaultInjector(settings.fault_seed)
        self.requests: deque[RecordedRequest] = deque(maxlen=RECORDED_REQUESTS_LIMIT)

    def open(self) -> None:
        self.store.open()
        try:
            self.service.start()
        except BaseException:
            self.store.close()
            raise

    def close(self) -> None:
        self.store.close()

    def reset(self) -> None:
        """Back to an empty application: no users, sessions, dynamic columns, faults, recordings."""
        self.store.reset()
        self.faults.reset()
        self.requests.clear()
        self.clock.reset()

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
