"""The callback style of the official Backendless SDKs: ``AsyncCallback(on_response, on_fault)``.

    python examples/callback_style.py

Every operation takes an AsyncCallback as its last argument; the call then starts at once and
exactly one handler runs later (plain functions and coroutine functions both work). The call
returns a handle you may await, or forget. With no configuration it starts the embedded
Backendless emulator; set BACKENDLESS_APP_ID and BACKENDLESS_API_KEY to use your own app.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys

from backendless_aio import (
    AsyncCallback,
    Backendless,
    BackendlessFault,
    BackendlessUser,
    ClientConfig,
    InvalidLogin,
)

EMAIL = f"callbacks-{secrets.token_hex(3)}@example.com"
PASSWORD = "correct-horse-battery"


async def connect(stack: contextlib.AsyncExitStack[bool | None]) -> ClientConfig:
    """Your app from the environment, or the embedded emulator (stopped by ``stack``)."""
    if os.environ.get("BACKENDLESS_APP_ID"):
        return ClientConfig(app_id=os.environ["BACKENDLESS_APP_ID"],
                            api_key=os.environ["BACKENDLESS_API_KEY"],
                            server_url=os.environ.get("BACKENDLESS_SERVER_URL",
                                                      "https://api.backendless.com"))
    from backendless_aio.emulator import Emulator, EmulatorSettings

    emulator = await stack.enter_async_context(
        Emulator(EmulatorSettings(fast_password_hashing=True)))
    return ClientConfig(app_id=emulator.app_id, api_key=emulator.api_key,
                        server_url=emulator.url)


def describe(error: BaseException) -> str:
    if isinstance(error, BackendlessFault):
        return f"[{error.code}] {error.MEANING}"
    return repr(error)


async def main() -> int:
    async with contextlib.AsyncExitStack() as stack:
        app = await stack.enter_async_context(Backendless(config=await connect(stack)))
        finished = asyncio.Event()
        faults: list[BaseException] = []

        # 1. register -> login -> update, chained from handler to handler as in the SDKs.
        def on_fault(error: BaseException) -> None:
            print(f"on_fault: {describe(error)}")
            faults.append(error)
            finished.set()

        def on_updated(user: BackendlessUser) -> None:
            print(f"on_updated: phoneNumber = {user.get_property('phoneNumber')}")
            finished.set()

        def on_logged_in(user: BackendlessUser) -> None:
            print(f"on_logged_in: {user.email}")
            user.set_property("phoneNumber", "+1-202-555-0142")
            app.users.update(user, AsyncCallback(on_updated, on_fault))

        def on_registered(user: BackendlessUser) -> None:
            print(f"on_registered: objectId {user.object_id}")
            app.users.login(EMAIL, PASSWORD, AsyncCallback(on_logged_in, on_fault))

        app.users.register(BackendlessUser({"email": EMAIL, "password": PASSWORD}),
                           AsyncCallback(on_registered, on_fault))
        await finished.wait()  # a long-running app would just carry on
        if faults:
            return 1

        # 2. A fault goes to the fault handler; awaiting the handle raises it as well.
        handle = app.users.login(EMAIL, "not-the-password",
                                 AsyncCallback(None, lambda e: print(f"on_fault: {describe(e)}")))
        try:
            await handle
        except InvalidLogin as fault:
            print(f"the handle raised {type(fault).__name__} (code {fault.code})")

        # 3. Handlers may be coroutine functions; awaiting the handle gives the result too.
        async def on_current(user: BackendlessUser | None) -> None:
            await asyncio.sleep(0)  # e.g. write to your own database
            print(f"on_current: {user.email if user else None}")

        current = await app.users.get_current_user(AsyncCallback(on_current, on_fault),
                                                   reload=True)
        assert current is not None and current.get_property("phoneNumber") == "+1-202-555-0142"

        await app.users.logout(AsyncCallback(lambda _: print("on_logged_out"), on_fault))
        return 0 if not faults else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
