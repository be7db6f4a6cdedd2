"""pytest fixtures for your own tests: a local Backendless emulator and a ready client.

Installed with the package as a pytest plugin (entry point ``pytest11``); nothing to import.
The async fixtures need pytest-asyncio (any mode)::

    async def test_profile(backendless_app, backendless_user):
        backendless_user.set_property("phoneNumber", "5551212")
        await backendless_app.users.update(backendless_user)

Each test gets a fresh emulator (in-memory SQLite, fast password hashing), so state never
leaks from one test to the next. Override ``backendless_emulator_settings`` to change its
settings (``attrs.evolve`` the default).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .client import Backendless
from .config import RetryPolicy
from .emulator import Emulator, EmulatorSettings
from .models import BackendlessUser

__all__ = [
    "TEST_PASSWORD",
    "backendless_app",
    "backendless_emulator",
    "backendless_emulator_settings",
    "backendless_user",
]

#: The password of the ``backendless_user`` fixture.
TEST_PASSWORD = "Test-Password-1"


@pytest.fixture
def backendless_emulator_settings() -> EmulatorSettings:
    """The emulator's settings: in-memory, fast hashing, requests recorded."""
    return EmulatorSettings(fast_password_hashing=True, record_requests=True)


try:  # pytest-asyncio runs the async fixtures in strict and auto mode alike
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - pytest then says async fixtures need a plugin
    _async_fixture = pytest.fixture  # type: ignore[assignment]


@_async_fixture
async def backendless_emulator(
    backendless_emulator_settings: EmulatorSettings,
) -> AsyncIterator[Emulator]:
    """A running emulator on a free loopback port."""
    async with Emulator(backendless_emulator_settings) as emulator:
        yield emulator


@_async_fixture
async def backendless_app(backendless_emulator: Emulator) -> AsyncIterator[Backendless]:
    """A Backendless app pointed at the emulator; retries do not sleep."""
    async with Backendless(app_id=backendless_emulator.app_id,
                           api_key=backendless_emulator.api_key,
                           server_url=backendless_emulator.url,
                           retry=RetryPolicy(backoff=False)) as app:
        yield app


@_async_fixture
async def backendless_user(backendless_app: Backendless) -> BackendlessUser:
    """A registered user, logged in on ``backendless_app.users``
    (email ``test-user@example.com``, password :data:`TEST_PASSWORD`)."""
    await backendless_app.users.register(BackendlessUser(
        {"email": "test-user@example.com", "password": TEST_PASSWORD, "name": "Test User"}))
    return await backendless_app.users.login("test-user@example.com", TEST_PASSWORD)
