"""Structured log events: one per operation, through the application's own logging set-up.

The library never calls ``structlog.configure()`` and prints nothing by default. When the
application has configured structlog, events go through ``structlog.get_logger`` (so its
processors, renderers and bound contextvars apply); otherwise they go to the stdlib logger
``backendless_aio`` (silent unless the application enables it), with the event's fields and the
structlog contextvars attached to the record as ``record.backendless``.

Without any logging set-up at all (no handler anywhere), operation events are dropped rather
than left to logging's "last resort" handler, which would print warnings to stderr. Only the
events about the application's own code failing (a hook or a callback handler that raised) keep
Python's default there: printed to stderr with their traceback, as asyncio does for a task's
exception that nobody retrieved, so that such a bug is never lost.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any

import structlog

from ._constants import EVENT_PREFIX, LOGGER_NAME

__all__ = ["emit", "enabled", "hook_failed"]

_stdlib = logging.getLogger(LOGGER_NAME)
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


#: Events about the application's own code failing: they may reach logging's last resort.
_APP_CODE_FAILED = frozenset({"callback_failed", "hook_failed"})


def enabled(level: str = "info") -> bool:
    """Whether an operation event at this level would reach anybody (cheap: checked on every
    call)."""
    return structlog.is_configured() or (
        _stdlib.isEnabledFor(_LEVELS[level]) and _stdlib.hasHandlers())


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list, frozenset, set)):
        return ",".join(map(str, value))
    return value


class _Message:
    """Formats ``event key=value ...`` only if a stdlib handler actually renders the record."""

    __slots__ = ("event", "fields")

    def __init__(self, event: str, fields: dict[str, Any]) -> None:
        self.event = event
        self.fields = fields

    def __str__(self) -> str:
        parts = [self.event]
        parts.extend(f"{k}={_plain(v)}" for k, v in self.fields.items() if v is not None)
        return " ".join(parts)


def emit(name: str, fields: dict[str, Any], level: str = "info",
         exc_info: BaseException | None = None) -> None:
    """Emit ``backendless.<name>`` with these fields (which must hold no secret).

    Never raises: a broken logging set-up (a structlog processor or a logging filter that
    raises) is reported on stderr, as the standard library reports a failing handler, and the
    operation that logged goes on (an update the server applied must not look failed).
    """
    event = EVENT_PREFIX + name
    try:
        _emit(event, name, fields, level, exc_info)
    except Exception:  # noqa: BLE001 - logging must never break an operation
        if logging.raiseExceptions:
            sys.stderr.write(f"--- Logging error in backendless_aio (event {event}) ---\n")
            traceback.print_exc(file=sys.stderr)


def _emit(event: str, name: str, fields: dict[str, Any], level: str,
          exc_info: BaseException | None) -> None:
    if structlog.is_configured():
        logger = structlog.get_logger(LOGGER_NAME)
        if exc_info is not None:
            fields = {**fields, "exc_info": exc_info}
        getattr(logger, level)(event, **fields)
        return
    numeric = _LEVELS[level]
    if not _stdlib.isEnabledFor(numeric):
        return
    if name not in _APP_CODE_FAILED and not _stdlib.hasHandlers():
        return  # no logging set up at all: print nothing (logging.lastResort would)
    context = structlog.contextvars.get_contextvars()
    merged = {**context, **fields} if context else fields
    _stdlib.log(numeric, "%s", _Message(event, merged), exc_info=exc_info,
                extra={"backendless": {"event": event, **merged}})


def hook_failed(event: Any, handler: Any, exc: BaseException) -> None:
    name = getattr(handler, "__qualname__", None) or type(handler).__name__
    emit("hook_failed", {"hook_event": type(event).__name__, "handler": name,
                         "operation": getattr(event, "operation", None),
                         "error": type(exc).__name__}, level="error", exc_info=exc)
