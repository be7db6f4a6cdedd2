"""Where "stay logged in" sessions live: memory, a local file, or Redis.

:class:`MemorySessionStore` (the default) and :class:`FileSessionStore` need nothing beyond the
package; :class:`RedisSessionStore` needs ``pip install backendless-aio[redis]`` and is imported
(with redis-py) only when first named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import SessionStore, StoredSession
from .file import FileSessionStore
from .memory import MemorySessionStore

if TYPE_CHECKING:
    from .redis import RedisSessionStore

# RedisSessionStore is left out of __all__: a star import must not need redis-py.
__all__ = ["FileSessionStore", "MemorySessionStore", "SessionStore", "StoredSession"]


def __getattr__(name: str) -> Any:
    if name == "RedisSessionStore":
        return load_redis_store()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_redis_store() -> type[RedisSessionStore]:
    """The RedisSessionStore class, imported on first use (redis-py comes with it)."""
    try:
        from .redis import RedisSessionStore
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] == "redis":
            raise ModuleNotFoundError(
                "RedisSessionStore needs redis-py: pip install 'backendless-aio[redis]'",
                name=exc.name) from exc
        raise
    return RedisSessionStore
