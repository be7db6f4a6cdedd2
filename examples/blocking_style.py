"""Plain blocking calls, for scripts and notebooks: ``BlockingBackendless``.

    python examples/blocking_style.py

The same operations, objects and faults as the async API, without ``await``: the facade runs
the async core on an event loop of its own, in a background thread. With no configuration this
script starts the embedded Backendless emulator (in a thread too); set BACKENDLESS_APP_ID and
BACKENDLESS_API_KEY to use your own app.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import threading
from collections.abc import Iterator

from backendless_aio import (
    AsyncCallback,
    BackendlessUser,
    BlockingBackendless,
    ClientConfig,
    InvalidLogin,
)

EMAIL = f"blocking-{secrets.token_hex(3)}@example.com"
PASSWORD = "correct-horse-battery"


@contextlib.contextmanager
def connection() -> Iterator[ClientConfig]:
    """Your app from the environment, or the embedded emulator served from a thread."""
    if os.environ.get("BACKENDLESS_APP_ID"):
        yield ClientConfig(app_id=os.environ["BACKENDLESS_APP_ID"],
                           api_key=os.environ["BACKENDLESS_API_KEY"],
                           server_url=os.environ.get("BACKENDLESS_SERVER_URL",
                                                     "https://api.backendless.com"))
        return
    from backendless_aio.emulator import Emulator, EmulatorSettings

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="emulator", daemon=True)
    thread.start()
    emulator = Emulator(EmulatorSettings(fast_password_hashing=True))
    try:
        asyncio.run_coroutine_threadsafe(emulator.start(), loop).result(30)
        yield ClientConfig(app_id=emulator.app_id, api_key=emulator.api_key,
                           server_url=emulator.url)
    finally:
        asyncio.run_coroutine_threadsafe(emulator.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def main() -> int:
    with connection() as config, BlockingBackendless(config=config) as app:
        registered = app.users.register(BackendlessUser({"email": EMAIL, "password": PASSWORD}))
        print(f"registered {registered.email} (objectId {registered.object_id})")

        user = app.users.login(EMAIL, PASSWORD)
        user.set_property("phoneNumber", "+1-202-555-0173")
        user = app.users.update(user)
        print(f"updated: phoneNumber = {user.get_property('phoneNumber')}")

        try:
            app.users.login(EMAIL, "not-the-password")
        except InvalidLogin as fault:
            print(f"refused as expected: [{fault.code}] {fault.MEANING}")

        # With a callback a blocking call returns a concurrent.futures.Future at once; the
        # handler runs on the facade's thread.
        future = app.users.get_current_user(
            AsyncCallback(lambda u: print(f"callback: {u.email if u else None}"), print),
            reload=True)
        current = future.result(timeout=30)
        assert current is not None and current.get_property("phoneNumber") == "+1-202-555-0173"

        app.users.logout()
        print("logged out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
