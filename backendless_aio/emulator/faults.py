"""Fault injection: make the emulator slow, throttled, cut off or garbled on purpose.

A `FaultRule` says what to do (`kind`) and to which requests (the next `count` matching ones, or
a `ratio` of them chosen by a random generator seeded from `EmulatorSettings.fault_seed`, so runs
are reproducible). `FaultInjector` holds the active rules and counts what it injected.

Kinds:

- ``latency``: wait `delay` seconds, then answer normally (combines with one other fault).
- ``status``: answer `status` (default 503) without processing the request; the body is a JSON
  error whose code is `code` (default 999 for a 429, else the status itself); `retry_after` adds a
  ``Retry-After`` header.
- ``drop_before``: close the connection without processing the request and without answering.
- ``drop_after``: process and commit the request, then close the connection without answering.
- ``truncate``: process the request, then send the status and headers with the full
  ``Content-Length`` but only `truncate_to` bytes of the body (default: half), then close.
- ``non_json``: process the request, then answer `status` (default 200) with a body that is not
  JSON (`body`, default a short text).
- ``html``: answer a proxy's HTML error page with `status` (default 502) without processing.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

FaultKind = Literal[
    "latency", "status", "drop_before", "drop_after", "truncate", "non_json", "html"
]
FAULT_KINDS: tuple[str, ...] = (
    "latency",
    "status",
    "drop_before",
    "drop_after",
    "truncate",
    "non_json",
    "html",
)
#: Kinds that let the request be processed (and committed) before the fault.
PROCESSED_KINDS = frozenset({"drop_after", "truncate", "non_json"})

DEFAULT_HTML_PAGE = (
    "<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
DEFAULT_NON_JSON_BODY = "Service temporarily unavailable, please try again later."


def _methods(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    return tuple(str(m).upper() for m in value)


def _default_count(rule: FaultRule) -> int | None:
    return 1 if rule.ratio is None else None


@attrs.frozen(kw_only=True)
class FaultRule:
    """One fault to inject, and which requests get it."""

    kind: FaultKind = attrs.field(validator=attrs.validators.in_(FAULT_KINDS))
    #: Inject into this fraction of the matching requests (seeded); None: into every one.
    ratio: float | None = attrs.field(
        default=None,
        validator=attrs.validators.optional([attrs.validators.gt(0), attrs.validators.le(1)]),
    )
    #: Stop after this many injections; None: never. Default: 1 without a ratio, None with one.
    count: int | None = attrs.field(
        default=attrs.Factory(_default_count, takes_self=True),
        validator=attrs.validators.optional(attrs.validators.ge(1)),
    )
    #: Only requests with one of these methods (empty: any).
    methods: tuple[str, ...] = attrs.field(default=(), converter=_methods)
    #: Only requests whose path contains this string.
    path_contains: str | None = None
    #: "latency": seconds to wait.
    delay: float = attrs.field(default=0.0, converter=float, validator=attrs.validators.ge(0))
    #: "status", "non_json", "html", "truncate": the HTTP status (defaults: 503, 200, 502, the
    #: real answer's).
    status: int | None = attrs.field(
        default=None,
        validator=attrs.validators.optional([attrs.validators.ge(100), attrs.validators.le(599)]),
    )
    #: "status": the Backendless code in the JSON error body.
    code: int | None = None
    #: "status", "html": the Retry-After header, in seconds.
    retry_after: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(0))
    )
    #: "status", "non_json", "html": the body to send instead of the default one.
    body: str | None = None
    #: "truncate": how many bytes of the body to send (default: half of it).
    truncate_to: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(0))
    )

    def matches(self, method: str, path: str) -> bool:
        if self.methods and method.upper() not in self.methods:
            return False
        return self.path_contains is None or self.path_contains in path

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["methods"] = list(self.methods)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultRule:
        """Build a rule from JSON-like data (as the admin route receives it)."""
        names = {a.name for a in attrs.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault rule fields: {', '.join(sorted(unknown))}")
        return cls(**dict(data))


@attrs.define
class _Active:
    rule: FaultRule
    rng: random.Random
    remaining: int | None
    injected: int = 0


@attrs.frozen
class Decision:
    """What to do with one request: wait `delay` seconds, then apply `fault` (if any)."""

    delay: float = 0.0
    fault: FaultRule | None = None


NO_FAULT = Decision()


class FaultInjector:
    """The active fault rules of one emulator, and what they injected."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._serial = 0
        self._active: list[_Active] = []
        self._stats: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)

    def add(self, rule: FaultRule) -> None:
        """Activate a rule; rules are consulted in the order they were added."""
        self._serial += 1
        rng = random.Random(f"{self._seed}/{self._serial}")
        self._active.append(_Active(rule=rule, rng=rng, remaining=rule.count))

    def extend(self, rules: Iterable[FaultRule]) -> None:
        for rule in rules:
            self.add(rule)

    def clear(self) -> None:
        """Remove every rule (the statistics stay; `reset` clears them too)."""
        self._active.clear()

    def reset(self) -> None:
        """Remove every rule, zero the statistics and restart the random sequence."""
        self._active.clear()
        self._serial = 0
        self._stats = dict.fromkeys(FAULT_KINDS, 0)

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        """The rules still active."""
        return tuple(a.rule for a in self._active)

    @property
    def stats(self) -> dict[str, int]:
        """How many faults of each kind were injected (a copy)."""
        return dict(self._stats)

    @property
    def total(self) -> int:
        return sum(self._stats.values())

    def describe(self) -> list[dict[str, Any]]:
        return [
            {**a.rule.to_dict(), "remaining": a.remaining, "injected": a.injected}
            for a in self._active
        ]

    def decide(self, method: str, path: str) -> Decision:
        """Pick the faults for one request (consumes counts and random draws)."""
        if not self._active:
            return NO_FAULT
        delay = 0.0
        fault: FaultRule | None = None
        for active in list(self._active):
            rule = active.rule
            if not rule.matches(method, path):
                continue
            if rule.kind != "latency" and fault is not None:
                continue
            if rule.ratio is not None and active.rng.random() >= rule.ratio:
                continue
            active.injected += 1
            self._stats[rule.kind] += 1
            if active.remaining is not None:
                active.remaining -= 1
                if active.remaining <= 0:
                    self._active.remove(active)
            if rule.kind == "latency":
                delay += rule.delay
            else:
                fault = rule
        return Decision(delay, fault) if delay or fault else NO_FAULT
