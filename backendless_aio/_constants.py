"""Every default of the client in one place: timeouts, retries, pool sizes, backoff bounds."""

from __future__ import annotations

#: The classic Backendless API server (the app id and API key go in the path).
DEFAULT_SERVER_URL = "https://api.backendless.com"
#: The EU cluster, same shape as the classic server.
EU_SERVER_URL = "https://eu-api.backendless.com"

#: Seconds one attempt may take in all (connect, send, wait, read). No official SDK has one;
#: we never wait forever.
DEFAULT_TIMEOUT = 30.0
#: Seconds to get a connection from the pool and connect.
DEFAULT_CONNECT_TIMEOUT = 10.0

#: Attempts per operation, the first included.
DEFAULT_MAX_ATTEMPTS = 3
#: First backoff delay in seconds; doubled each retry, capped, with full jitter.
DEFAULT_BACKOFF_INITIAL = 0.25
DEFAULT_BACKOFF_MAX = 8.0
#: A server's Retry-After is honoured up to this many seconds.
DEFAULT_RETRY_AFTER_CAP = 30.0
#: HTTP statuses worth another attempt.
RETRY_STATUSES = frozenset({429, 502, 503, 504})

#: Connections in the pool (aiohttp's TCPConnector limit).
DEFAULT_POOL_SIZE = 100
#: Seconds a DNS answer is cached by the connector.
DEFAULT_DNS_TTL = 300

#: An answer larger than this is refused (a user object is a few hundred bytes).
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: How much of an unexpected body an error message quotes.
SNIPPET_CHARS = 80

#: The stdlib logger that carries the events when structlog is not configured.
LOGGER_NAME = "backendless_aio"
#: Prefix of every log event name: ``backendless.users.update`` and so on.
EVENT_PREFIX = "backendless."

#: The key under which the default scope's session is kept in a session store.
DEFAULT_SESSION_KEY = "default"

#: Seconds a session store entry lives after it was last saved, restored or used: Backendless's
#: default session timeout (inactivity-based; set per app in the console).
DEFAULT_SESSION_TTL = 3600.0
#: Seconds one session store operation may take in all (waiting for a pooled connection too).
DEFAULT_STORE_TIMEOUT = 5.0
#: Prefix of every key a RedisSessionStore writes.
DEFAULT_REDIS_PREFIX = "backendless:"
#: Connections in the pool of a RedisSessionStore made with from_url.
DEFAULT_REDIS_MAX_CONNECTIONS = 50
#: Backendless's largest page of a find; a larger page size is refused before sending.
MAX_PAGE_SIZE = 100
#: The page size of ``find`` (as in the official SDKs) and of ``find_all``'s pages.
DEFAULT_PAGE_SIZE = 10
DEFAULT_FIND_ALL_PAGE_SIZE = 100
