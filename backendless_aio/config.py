"""Frozen, keyword-only settings: where the app lives, timeouts and the retry policy."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import attrs

from . import _constants as C
from ._secret import Secret, secret
from .errors import ConfigurationError

__all__ = ["ClientConfig", "RetryPolicy", "Timeout"]


def _positive(_: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ConfigurationError(f"{attribute.name} must be a positive number of seconds")


@attrs.frozen(kw_only=True)
class Timeout:
    """Seconds one attempt may take: ``total`` in all, ``connect`` to get a connection."""

    total: float | None = attrs.field(default=C.DEFAULT_TIMEOUT, validator=_positive)
    connect: float | None = attrs.field(default=C.DEFAULT_CONNECT_TIMEOUT, validator=_positive)

    @classmethod
    def of(cls, value: Timeout | float | None) -> Timeout:
        """A Timeout from a number of seconds (the total), or the given Timeout."""
        if value is None:
            return cls()
        if isinstance(value, Timeout):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(total=float(value), connect=min(float(value), C.DEFAULT_CONNECT_TIMEOUT))
        raise ConfigurationError(f"a timeout is a number of seconds or a Timeout, not {value!r}")


def _at_least_one(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{attribute.name} must be a whole number of at least 1")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how an operation is tried again.

    Retried: connection failures before an answer, HTTP 429/502/503/504 and Backendless's
    rate-limit fault 999, with exponential backoff and full jitter, ``Retry-After`` honoured up
    to ``retry_after_cap``. Idempotent requests (PUT, GET) also on a timeout, a dropped or
    truncated answer, or a 2xx whose body is not the JSON expected. Non-idempotent requests
    (register, login: POST) only when the request provably never reached the server (the
    connection could not be made, or the server said 429/999), unless ``retry_non_idempotent``.
    ``backoff=False`` removes the sleeping (for tests).
    """

    max_attempts: int = attrs.field(default=C.DEFAULT_MAX_ATTEMPTS, validator=_at_least_one)
    backoff_initial: float = attrs.field(default=C.DEFAULT_BACKOFF_INITIAL, validator=_positive)
    backoff_max: float = attrs.field(default=C.DEFAULT_BACKOFF_MAX, validator=_positive)
    retry_after_cap: float = attrs.field(default=C.DEFAULT_RETRY_AFTER_CAP, validator=_positive)
    statuses: frozenset[int] = attrs.field(default=C.RETRY_STATUSES, converter=frozenset)
    retry_non_idempotent: bool = False
    backoff: bool = True

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """One attempt only."""
        return cls(max_attempts=1)


def _normalise_url(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a string URL")
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{what} must be an http(s) URL such as https://host, "
                                 f"not {value!r}")
    return value


def _server_url(value: str) -> str:
    url = _normalise_url(value, "server_url")
    assert url is not None
    return url


def _domain(value: str | None) -> str | None:
    return _normalise_url(value, "domain")


def _timeout(value: Timeout | float | None) -> Timeout:
    return Timeout.of(value)


def _api_key(value: str | None) -> str | None:
    return secret(value) if isinstance(value, str) else value


def _check_config(instance: ClientConfig) -> None:
    if instance.domain is not None:
        if instance.app_id is not None or instance.api_key is not None:
            raise ConfigurationError(
                "give either domain (the https://{sub}.backendless.app form) or app_id and "
                "api_key (the classic form), not both")
        return
    for name in ("app_id", "api_key"):
        value = getattr(instance, name)
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(
                f"{name} is required (or give domain= for the https://{{sub}}.backendless.app "
                f"form)")
        if "/" in value:
            raise ConfigurationError(f"{name} may not contain '/'")


@attrs.frozen(kw_only=True)
class ClientConfig:
    """Everything a :class:`~backendless_aio.Backendless` app needs to know, frozen.

    Either the classic form (``app_id``, ``api_key``, optional ``server_url``) or the app
    subdomain / custom domain form (``domain``, requests go to ``{domain}/api``).
    """

    app_id: str | None = None
    api_key: str | None = attrs.field(default=None, repr=False, converter=_api_key)
    server_url: str = attrs.field(default=C.DEFAULT_SERVER_URL, converter=_server_url)
    domain: str | None = attrs.field(default=None, converter=_domain)
    timeout: Timeout = attrs.field(factory=Timeout, converter=_timeout)
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    pool_size: int = attrs.field(default=C.DEFAULT_POOL_SIZE, validator=_at_least_one)
    max_concurrency: int | None = None
    #: ``api_key`` is the app's CloudCode (Business Logic, device type BL) key, which may do
    #: what client keys may not (:meth:`~backendless_aio.AsyncUserService.login_by_object_id`).
    server_key: bool = False

    def __attrs_post_init__(self) -> None:
        _check_config(self)
        if self.max_concurrency is not None:
            _at_least_one(self, attrs.fields(ClientConfig).max_concurrency, self.max_concurrency)

    @property
    def root_url(self) -> str:
        """The root every route hangs from. Carries the API key: never log it."""
        if self.domain is not None:
            return Secret(f"{self.domain}/api")
        assert self.app_id is not None and self.api_key is not None
        return Secret(
            f"{self.server_url}/{quote(self.app_id, safe='')}/{quote(self.api_key, safe='')}")

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,) if self.api_key else ()
