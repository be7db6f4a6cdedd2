"""An asyncio service: one Backendless app for the whole process, one user scope per request.

    python examples/asyncio_service.py

With no configuration it starts the embedded Backendless emulator; set BACKENDLESS_APP_ID and
BACKENDLESS_API_KEY (and BACKENDLESS_SERVER_URL if not the default) to use your own app. The
library's log events go to the stdlib logger ``backendless_aio`` (or to structlog, if the
application has configured it); here they are printed at INFO.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import sys

import attrs

from backendless_aio import (
    Backendless,
    BackendlessUser,
    ClientConfig,
    InvalidLogin,
    RetryPolicy,
    UserUpdated,
)

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


class ProfileService:
    """What a web handler or a worker would call. The app (and its connection pool) is shared;
    each end user gets a scope of their own, so their sessions never mix."""

    def __init__(self, app: Backendless) -> None:
        self.app = app
        self.updates = 0
        app.on(UserUpdated, self._on_updated)  # a hook: metrics, audit, cache invalidation...

    async def _on_updated(self, event: UserUpdated) -> None:
        self.updates += 1

    async def sign_up(self, email: str, password: str) -> str:
        user = await self.app.users.register(BackendlessUser({"email": email,
                                                              "password": password}))
        return user.object_id or ""

    async def set_phone(self, email: str, password: str, phone: str) -> BackendlessUser:
        users = self.app.users.session(f"request:{email}")
        user = await users.login(email, password)
        try:
            user.set_property("phoneNumber", phone)
            return await users.update(user, timeout=10)
        finally:
            await users.logout()


async def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="  log: %(message)s")
    logging.getLogger("backendless_aio").setLevel(logging.INFO)

    async with contextlib.AsyncExitStack() as stack:
        config = await connect(stack)  # variants of the frozen settings: attrs.evolve
        app = await stack.enter_async_context(Backendless(
            config=attrs.evolve(config, timeout=15, retry=RetryPolicy(max_attempts=3))))
        service = ProfileService(app)

        tag = secrets.token_hex(3)
        emails = [f"service-{n}-{tag}@example.com" for n in range(3)]
        await asyncio.gather(*(service.sign_up(email, PASSWORD) for email in emails))

        # Three "requests" at once, each as its own user, over one connection pool.
        updated = await asyncio.gather(*(
            service.set_phone(email, PASSWORD, f"+1-202-555-01{n:02}")
            for n, email in enumerate(emails)))
        for user in updated:
            print(f"{user.email}: phoneNumber {user.get_property('phoneNumber')}")

        try:
            await service.set_phone(emails[0], "not-the-password", "+1-202-555-0199")
        except InvalidLogin as fault:
            print(f"refused as expected: [{fault.code}] {fault.MEANING}")

        print(f"{service.updates} updates seen by the UserUpdated hook")
        return 0 if service.updates == len(emails) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
