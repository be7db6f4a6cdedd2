"""backendless_aio: an asyncio-native client for the Backendless user service.

::

    async with Backendless(app_id=APP_ID, api_key=API_KEY) as app:
        user = await app.users.login(email, password)
        user.set_property("phoneNumber", "5551212")
        await app.users.update(user)
"""

from typing import TYPE_CHECKING, Any

from ._codes import UserStatus
from .blocking import BlockingBackendless, BlockingUserService
from .callbacks import AsyncCallback, Call, awaitable_from_callback
from .client import Backendless
from .config import ClientConfig, RetryPolicy, Timeout
from .errors import *  # noqa: F403 - the fault tree is part of the public API
from .errors import __all__ as _errors_all
from .events import (
    Event,
    OperationFailed,
    RequestSent,
    ResponseReceived,
    RetryScheduled,
    SessionExpired,
    UserLoggedIn,
    UserLoggedOut,
    UserRegistered,
    UserUpdated,
)
from .models import BackendlessUser
from .stores import FileSessionStore, MemorySessionStore, SessionStore, StoredSession
from .users import AsyncUserService
from .wire import UserClassProperty

if TYPE_CHECKING:
    from .stores.redis import RedisSessionStore as RedisSessionStore

__version__ = "0.2.0"

__all__ = [
    "AsyncCallback",
    "AsyncUserService",
    "Backendless",
    "BackendlessUser",
    "BlockingBackendless",
    "BlockingUserService",
    "Call",
    "ClientConfig",
    "Event",
    "FileSessionStore",
    "MemorySessionStore",
    "OperationFailed",
    "RequestSent",
    "ResponseReceived",
    "RetryPolicy",
    "RetryScheduled",
    "SessionExpired",
    "SessionStore",
    "StoredSession",
    "Timeout",
    "UserClassProperty",
    "UserLoggedIn",
    "UserLoggedOut",
    "UserRegistered",
    "UserStatus",
    "UserUpdated",
    "awaitable_from_callback",
    *_errors_all,
]

# RedisSessionStore is public but left out of __all__: naming it imports redis-py (the
# ``redis`` extra), which ``from backendless_aio import *`` must not need.


def __getattr__(name: str) -> Any:
    if name == "RedisSessionStore":
        from .stores import load_redis_store

        return load_redis_store()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
