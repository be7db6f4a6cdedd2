"""Frozen, keyword-only settings: where the app lives, timeouts and the retry policy."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import attrs

from . import _constants as C
from ._secret import Secret, secret
from .errors import ConfigurationError

__all__ = [
    "ENV_API_KEY",
    "ENV_APP_ID",
    "ENV_DOMAIN",
    "ENV_SERVER_URL",
    "ClientConfig",
    "Location",
    "RetryPolicy",
    "Timeout",
    "location_from_environment",
]

#: The environment variables that say where the app lives, read when no argument says it.
ENV_APP_ID = "BACKENDLESS_APP_ID"
ENV_API_KEY = "BACKENDLESS_API_KEY"
ENV_SERVER_URL = "BACKENDLESS_SERVER_URL"
ENV_DOMAIN = "BACKENDLESS_DOMAIN"


def _positive(_: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ConfigurationError(f"{attribute.name} must be a positive number of seconds")


def _seconds(value: object, what: str) -> float:
    """A caller's number of seconds, checked in the caller's words (``timeout=-1``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(
            f"{what} must be a number of seconds or a Timeout, not {value!r}")
    if not value > 0:  # also NaN
        raise ConfigurationError(f"{what} must be a positive number of seconds, not {value!r}")
    return float(value)


@attrs.frozen(kw_only=True)
class Timeout:
    """Seconds one attempt may take (``total`` in all, ``connect`` to get a connection), and
    the ``deadline`` of the whole call: every attempt and every wait between attempts.

    ``deadline=None`` (the default) means ``total`` times the retry policy's ``max_attempts``
    (90 s with the defaults). A retry whose wait would end past the deadline is not made (the
    call fails at once with the last error), and the last attempt gets only the time left.
    """

    total: float | None = attrs.field(default=C.DEFAULT_TIMEOUT, validator=_positive)
    connect: float | None = attrs.field(default=C.DEFAULT_CONNECT_TIMEOUT, validator=_positive)
    deadline: float | None = attrs.field(default=None, validator=_positive)

    def budget(self, max_attempts: int) -> float | None:
        """Seconds the whole call may take (None: no limit, only when ``total`` is None)."""
        if self.deadline is not None:
            return self.deadline
        return None if self.total is None else self.total * max_attempts

    @classmethod
    def of(cls, value: Timeout | float | None) -> Timeout:
        """A Timeout from a number of seconds (the total), or the given Timeout."""
        if value is None:
            return cls()
        if isinstance(value, Timeout):
            return value
        seconds = _seconds(value, "timeout")
        return cls(total=seconds, connect=min(seconds, C.DEFAULT_CONNECT_TIMEOUT))


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
            env = ENV_APP_ID if name == "app_id" else ENV_API_KEY
            raise ConfigurationError(
                f"{name} is required: pass {name}= or set {env} (or give domain=, or set "
                f"{ENV_DOMAIN}, for the https://{{sub}}.backendless.app form)")
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
    def where(self) -> str:
        """Where the app lives, printable: the domain, or the server and app id (no key)."""
        if self.domain is not None:
            return self.domain
        return f"{self.server_url} app {self.app_id}"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,) if self.api_key else ()


@attrs.frozen(kw_only=True)
class Location:
    """Where an app lives, before it is checked: what the arguments gave, completed from the
    environment. ``repr`` never shows the API key."""

    app_id: str | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    server_url: str | None = None
    domain: str | None = None


def location_from_environment(
    *,
    app_id: str | None = None,
    api_key: str | None = None,
    server_url: str | None = None,
    domain: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Location:
    """Complete the given location from ``BACKENDLESS_APP_ID``, ``BACKENDLESS_API_KEY``,
    ``BACKENDLESS_SERVER_URL`` and ``BACKENDLESS_DOMAIN``; what is given always wins.

    The two forms are never mixed: an explicit ``domain`` ignores the variables, and an explicit
    ``app_id``, ``api_key`` or ``server_url`` ignores ``BACKENDLESS_DOMAIN``. The variables of
    both forms set at once (and no argument to choose) is a :class:`ConfigurationError`. Empty
    variables count as unset. Nothing is validated here: :class:`ClientConfig` does that.
    """
    env = os.environ if environ is None else environ

    def read(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    if domain is not None:
        return Location(app_id=app_id, api_key=api_key, server_url=server_url, domain=domain)
    if app_id is None and api_key is None and server_url is None:
        env_domain = read(ENV_DOMAIN)
        if env_domain is not None:
            if read(ENV_APP_ID) or read(ENV_API_KEY):
                raise ConfigurationError(
                    f"both {ENV_DOMAIN} and {ENV_APP_ID}/{ENV_API_KEY} are set: unset one form, "
                    f"or choose one with arguments")
            return Location(domain=env_domain)
    return Location(app_id=app_id if app_id is not None else read(ENV_APP_ID),
                    api_key=api_key if api_key is not None else read(ENV_API_KEY),
                    server_url=server_url if server_url is not None else read(ENV_SERVER_URL))
