"""A local Backendless Users server (aiohttp.web + SQLite) for development and tests.

    async with Emulator(EmulatorSettings(fast_password_hashing=True)) as emu:
        emu.root_url  # http://127.0.0.1:PORT/{app_id}/{api_key}

It shares only the wire-level constants of `backendless_aio._codes` with the client.
"""

from .app import create_app
from .errors import Fault
from .faults import FAULT_KINDS, FaultInjector, FaultRule
from .server import Emulator
from .settings import DEFAULT_API_KEY, DEFAULT_APP_ID, EmulatorSettings
from .state import RecordedRequest

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_APP_ID",
    "FAULT_KINDS",
    "Emulator",
    "EmulatorSettings",
    "Fault",
    "FaultInjector",
    "FaultRule",
    "RecordedRequest",
    "create_app",
]
