"""An app that was never closed: close its connections and say so once, in our own words.

Without this, a forgotten ``aclose()`` prints aiohttp's two lines ("Unclosed client session",
"Unclosed connector") naming objects the application never made. The transport registers
:func:`watch` when it makes its session; when the transport is garbage-collected with that
session still open, :func:`_forgotten` closes the connections and reports the app instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
import weakref

import aiohttp

__all__ = ["watch"]


def watch(owner: object, session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop,
          where: str) -> weakref.finalize:  # type: ignore[type-arg]
    """Report ``session`` if it is still open when ``owner`` is collected; ``detach()`` the
    returned finaliser once it is closed properly."""
    finaliser = weakref.finalize(owner, _forgotten, session, loop, where)
    finaliser.atexit = False  # at exit the blocking facade's own finaliser closes its app
    return finaliser


def message(where: str) -> str:
    return (f"Backendless app ({where}) was never closed; its connections were closed for it. "
            f"Close an app with `await app.aclose()`, or use `async with Backendless(...) as "
            f"app:`")


def _forgotten(session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop,
               where: str) -> None:
    if session.closed:
        return
    connector = session.connector
    if connector is not None:
        with contextlib.suppress(Exception):  # best effort: never raise from a finaliser
            if loop.is_running() and asyncio._get_running_loop() is not loop:
                loop.call_soon_threadsafe(connector._close)
            else:
                # Marks the connector (so the session) closed, which silences aiohttp's own
                # warnings, and closes its connections while the loop can still do it.
                connector._close()
    text = message(where)
    warnings.warn(text, ResourceWarning, source=session, stacklevel=2)
    with contextlib.suppress(Exception):
        loop.call_exception_handler({"message": text})
