"""Secret: a string that never shows itself in a ``repr``.

Passwords, user tokens and the API key are held as ``Secret`` from the moment they enter the
library, so a traceback rendered with its local variables (structlog ``show_locals``, Sentry,
rich) or a container's ``repr`` shows ``'<redacted>'``. The value is still the string itself:
it compares, hashes, formats and goes on the wire as the plain string does.
"""

from __future__ import annotations

__all__ = ["Secret", "secret"]


class Secret(str):
    __slots__ = ()

    def __repr__(self) -> str:
        return "'<redacted>'"


def secret(value: str) -> Secret:
    """``value`` as a Secret (a Secret is returned as it is)."""
    return value if isinstance(value, Secret) else Secret(value)
