"""Prototypes of proposed hot-path changes, applied by monkeypatching, to measure them first.

``bench_update.py --what-if``, ``ladder.py --what-if`` and ``profile_update.py --micro
--what-if`` apply them (``all`` or comma-separated names) so that the saving of a proposal is
measured end to end, not guessed. They are measurement prototypes of the success path, not
production code; the real changes belong in the library.

The prototypes ``request``, ``hooks``, ``transport`` and ``users`` were measured, then carried
into the library (commit 21c07d3910) and removed from here (see git history). Left:

    logs      logs._emit with structlog configured: the bound logger cached while structlog's
              configuration stays the same (no get_logger() + bind() per event). Not carried
              into the library: it needs module-level mutable state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PATCHES: dict[str, Callable[[], None]] = {}


def patch(name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(fn: Callable[[], None]) -> Callable[[], None]:
        PATCHES[name] = fn
        return fn

    return register


def apply(names: str) -> list[str]:
    chosen = list(PATCHES) if names == "all" else [n for n in names.split(",") if n]
    for name in chosen:
        PATCHES[name]()
    return chosen


@patch("logs")
def _logs() -> None:
    import structlog

    from backendless_aio import logs
    from backendless_aio._constants import LOGGER_NAME

    original = logs._emit
    cache: list[Any] = [None, None]  # (the configuration's identity, the bound logger)

    def bound() -> Any:
        config = structlog.get_config()
        key = tuple(map(id, config.values()))
        if cache[0] != key:
            cache[1] = structlog.get_logger(LOGGER_NAME).bind()
            cache[0] = key
        return cache[1]

    def _emit(event: str, name: str, fields: dict[str, Any], level: str,
              exc_info: BaseException | None) -> None:
        if exc_info is None and structlog.is_configured():
            getattr(bound(), level)(event, **fields)
            return
        original(event, name, fields, level, exc_info)

    logs._emit = _emit
