"""Where an update's CPU goes, next to raw aiohttp's: cProfile at one concurrency, by package.

    .venv/bin/python benchmarks/profile_update.py                 # update vs raw-aiohttp, c=16
    .venv/bin/python benchmarks/profile_update.py --variant update+jsonlog --top 40
    .venv/bin/python benchmarks/profile_update.py --micro         # the library's steps, timed alone

The profile runs in this process (pinned to CPU 0) against ``fixed_server.py`` (pinned to CPU 1).
cProfile inflates the cost of Python function calls, so read the split by package and the list of
the library's own functions as proportions; ``--micro`` times each step of the library's hot path
on its own with ``timeit`` (no profiler), in microseconds per call.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import subprocess
import sys
import time
import timeit
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_update import (  # noqa: E402
    FIXED_SERVER_ARGV,
    Server,
    async_client,
    drive,
    pin,
)
from fixed_server import BODY, FULL_USER, OBJECT_ID, USER_TOKEN  # noqa: E402

GROUPS = (
    ("backendless_aio/", "backendless_aio"),
    ("site-packages/aiohttp/", "aiohttp"),
    ("site-packages/yarl/", "yarl"),
    ("site-packages/multidict/", "multidict"),
    ("site-packages/structlog/", "structlog"),
    ("site-packages/attr/", "attrs"),
    ("/asyncio/", "asyncio (stdlib)"),
    ("/json/", "json (stdlib)"),
    ("/logging/", "logging (stdlib)"),
    ("bench_update.py", "benchmark harness"),
)


def group_of(filename: str, name: str) -> str:
    for needle, label in GROUPS:
        if needle in filename:
            return label
    if filename == "~":
        if "orjson" in name:
            return "orjson"
        if "method" in name and ("socket" in name or "transport" in name):
            return "sockets / syscalls"
        return "builtins"
    return "other Python"


def profile_variant(variant: str, url: str, concurrency: int, n: int, warmup: int,
                    top: int) -> tuple[float, dict[str, float]]:
    async def main() -> tuple[cProfile.Profile, Any]:
        call, close, _ = await async_client(variant, url, concurrency)
        try:
            await drive(call, concurrency, warmup)
            profiler = cProfile.Profile()
            profiler.enable()
            await drive(call, concurrency, n)
            profiler.disable()
        finally:
            await close()
        return profiler, None

    profiler, _ = asyncio.run(main())
    stats = pstats.Stats(profiler)
    total = 0.0
    by_function: dict[str, float] = defaultdict(float)
    by_group: dict[str, float] = defaultdict(float)
    own: list[tuple[float, float, int, str]] = []
    for (filename, line, name), (_cc, ncalls, tottime, cumtime, _callers) in \
            stats.stats.items():  # type: ignore[attr-defined]
        total += tottime
        short = filename.rsplit("site-packages/", 1)[-1].rsplit("lib/python3", 1)[-1]
        if "backendless_aio/" in short:
            short = "backendless_aio/" + short.rsplit("backendless_aio/", 1)[1]
        by_function[f"{short}:{line} {name}"] += tottime
        label = group_of(filename, name)
        by_group[label] += tottime
        if label == "backendless_aio":
            short = filename.split("backendless_aio/", 1)[1]
            own.append((tottime, cumtime, ncalls, f"{short}:{line} {name}"))
    print(f"\n== {variant} at concurrency {concurrency}: {n} calls, profiled "
          f"{total / n * 1e6:.1f} us/call (cProfile-inflated)")
    for label, seconds in sorted(by_group.items(), key=lambda kv: -kv[1]):
        print(f"  {label:<22} {seconds / n * 1e6:7.1f} us/call  {100 * seconds / total:5.1f}%")
    if own:
        print("  the library's own functions (tottime, cumtime per update):")
        for tottime, cumtime, ncalls, where in sorted(own, reverse=True)[:top]:
            print(f"    {tottime / n * 1e6:6.2f} {cumtime / n * 1e6:7.2f} us  "
                  f"{ncalls / n:5.2f}x  {where}")
    print("  top functions anywhere (tottime per call):")
    stats.sort_stats("tottime")
    for (filename, line, name), (_cc, ncalls, tottime, _cum, _callers) in sorted(
            stats.stats.items(),  # type: ignore[attr-defined]
            key=lambda kv: -kv[1][2])[:top]:
        where = filename.rsplit("site-packages/", 1)[-1].rsplit("lib/python3", 1)[-1]
        print(f"    {tottime / n * 1e6:6.2f} us  {ncalls / n:5.2f}x  {where}:{line} {name}")
    return total / n * 1e6, dict(by_group), dict(by_function)


def micro() -> None:
    """Each step of the library's update path, timed on its own (no I/O, no profiler)."""
    import json

    import orjson
    import structlog
    from multidict import CIMultiDict
    from yarl import URL

    from backendless_aio import BackendlessUser, logs, wire
    from backendless_aio.callbacks import Call
    from backendless_aio.events import Hooks, UserUpdated
    from backendless_aio.transport import Outcome, Transport

    structlog.reset_defaults()
    body = orjson.dumps(FULL_USER)
    user = BackendlessUser._from_wire(dict(FULL_USER))
    hooks = Hooks(parent=Hooks())
    changes = {"phoneNumber": "12345"}
    request = wire.update(OBJECT_ID, changes, wire.dumps(changes))
    root = f"http://127.0.0.1:1/{'A' * 36}/{'K' * 36}/"

    def set_and_changes() -> None:
        user.set_property("phoneNumber", "12345")
        user._changes()

    def merge() -> None:
        user.set_property("phoneNumber", "12345")
        user._merge_answer(orjson.loads(body), changes)

    async def nothing() -> None:
        return None

    def call_object() -> None:
        coro = nothing()
        Call(coro, None, None)
        coro.close()

    steps = {
        "set_property + _changes": set_and_changes,
        "wire.dumps(changes)": lambda: wire.dumps(changes),
        "wire.update(...) (Request, quote, sorted)": lambda: wire.update(
            OBJECT_ID, changes, b"{}"),
        "hooks.wants(UserUpdated) (scope->app)": lambda: hooks.wants(UserUpdated),
        "Outcome()": Outcome,
        "URL(root + path, encoded=True)": lambda: URL(root + request.path, encoded=True),
        "headers dict": lambda: {"user-token": USER_TOKEN, "Content-Type": "application/json"},
        "wire.parse_answer (orjson.loads + checks)": lambda: wire.parse_answer(
            request, 200, body, ()),
        "orjson.loads(body) alone": lambda: orjson.loads(body),
        "json.loads(body) (raw aiohttp's codec)": lambda: json.loads(body),
        "json.dumps(changes) (raw aiohttp's codec)": lambda: json.dumps(changes),
        "set_property + _merge_answer (incl. loads)": merge,
        "logs.enabled() (structlog off)": logs.enabled,
        "Transport._finished (logging off)": lambda: Transport._finished(request, 1, 0.0, 200),
        "request.log_route": lambda: request.log_route,
        "Call(coro) + coroutine create/close": call_object,
        "CIMultiDict(headers) (aiohttp per request)": lambda: CIMultiDict(
            {"user-token": USER_TOKEN}),
    }
    print("\n== the library's update steps, timed alone (us per call, best of 5)")
    for label, fn in steps.items():
        number = 20000
        best = min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6
        print(f"  {best:6.2f}  {label}")

    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso"),
                    structlog.processors.JSONRenderer()],
        logger_factory=structlog.WriteLoggerFactory(open("/dev/null", "w")),  # noqa: SIM115
    )
    jsonlog = {
        "Transport._finished (structlog JSON on)": lambda: Transport._finished(
            request, 1, 0.0, 200),
        "structlog.get_logger(name) alone": lambda: structlog.get_logger("backendless_aio"),
    }
    for label, fn in jsonlog.items():
        number = 20000
        best = min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6
        print(f"  {best:6.2f}  {label}")
    structlog.reset_defaults()
    asyncio.run(fake_session_path())


async def fake_session_path(number: int = 20000) -> None:
    """The whole update path over a stand-in for aiohttp that answers at once: the library's
    own Python work per update, without I/O and without aiohttp (best of 3 runs)."""
    import orjson
    from bench_update import model_class

    from backendless_aio import Backendless, BackendlessUser, typed, wire

    class Response:
        status = 200
        headers: dict[str, str] = {}
        content_length = len(BODY)

        async def read(self) -> bytes:
            return BODY

    class Exchange:
        async def __aenter__(self) -> Response:
            return Response()

        async def __aexit__(self, *exc: object) -> None:
            return None

    class StandIn:
        def request(self, *args: Any, **kwargs: Any) -> Exchange:
            return Exchange()

    stand_in = StandIn()
    app = Backendless(app_id="APP", api_key="KEY", server_url="http://127.0.0.1:1")
    scope = app.users.session(user_token=USER_TOKEN, object_id=OBJECT_ID)
    transport = app._transport
    transport._session = stand_in  # type: ignore[assignment]
    transport._loop = asyncio.get_running_loop()
    user = BackendlessUser._from_wire(dict(FULL_USER))

    async def bare(i: int) -> Any:
        async with stand_in.request() as resp:
            return orjson.loads(await resp.read())

    async def via_transport(i: int) -> Any:
        changes = {"phoneNumber": str(i)}
        request = wire.update(OBJECT_ID, changes, wire.dumps(changes))
        return await transport.send(request, scope._state.user_token, scope._hooks)

    async def users_layer(i: int) -> Any:
        user.set_property("phoneNumber", str(i))
        return await scope._update(user, None)

    async def full(i: int) -> Any:
        user.set_property("phoneNumber", str(i))
        return await scope.update(user)

    profile_class = model_class()
    profiles = [typed.from_wire(profile_class, dict(FULL_USER))]

    async def with_model(i: int) -> Any:
        profile = profiles[0]
        profile.phoneNumber = str(i)
        profiles[0] = await scope.update(profile)
        return profiles[0]

    rungs = {"stand-in request + orjson.loads (the I/O-free floor)": bare,
             "+ wire.update + Transport.send": via_transport,
             "+ AsyncUserService._update": users_layer,
             "+ Call: scope.update(user)": full,
             "scope.update(profile), a typed model instead": with_model}
    best = dict.fromkeys(rungs, float("inf"))
    for _ in range(3):
        for label, rung in rungs.items():
            start = time.process_time()
            for i in range(number):
                await rung(i)
            best[label] = min(best[label], (time.process_time() - start) / number * 1e6)
    print("\n== the update path over a stand-in session (no I/O, no aiohttp; us per update)")
    floor = best[next(iter(rungs))]
    for label, value in best.items():
        print(f"  {value:6.2f}  (+{value - floor:5.2f})  {label}")
    app._transport._session = None
    await app.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="update",
                        help="update, update+jsonlog or callback (default update)")
    parser.add_argument("--base", default="raw-aiohttp",
                        help="the variant to compare with (default raw-aiohttp; e.g. update, "
                             "to see what --variant update+model adds)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--micro", action="store_true", help="only time the steps alone")
    parser.add_argument("--what-if", default="",
                        help="with --micro: apply whatif.py prototypes first ('all' or names)")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # internal: profile one, in-process
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    pin(0)
    if args.what_if:
        import whatif

        print(f"what-if prototypes applied: {', '.join(whatif.apply(args.what_if))}")
    if args.micro:
        micro()
        return 0
    if args.only:
        total, groups, functions = profile_variant(args.only, args.url, args.concurrency,
                                                   args.n, args.warmup, args.top)
        print(json.dumps({"total": total, "groups": groups, "functions": functions}))
        return 0
    server = Server(FIXED_SERVER_ARGV(1))
    results = {}
    try:
        url = f"http://127.0.0.1:{server.address}"
        for variant in (args.base, args.variant):  # each in a fresh process
            done = subprocess.run(
                [sys.executable, __file__, "--only", variant, "--url", url,
                 "--concurrency", str(args.concurrency), "--n", str(args.n),
                 "--warmup", str(args.warmup), "--top", str(args.top)],
                capture_output=True, text=True, check=True)
            *text, last = done.stdout.rstrip().splitlines()
            print("\n".join(text))
            results[variant] = json.loads(last)
    finally:
        server.stop()
    base, lib = results[args.base], results[args.variant]
    print(f"\n== {args.variant} minus {args.base}, by package (cProfile us/call)")
    labels = set(base["groups"]) | set(lib["groups"])
    diffs = {g: (lib["groups"].get(g, 0.0) - base["groups"].get(g, 0.0)) / args.n * 1e6
             for g in labels}
    for label in sorted(labels, key=lambda g: -diffs[g]):
        print(f"  {label:<22} {diffs[label]:+7.1f}")
    print(f"  {'total':<22} {lib['total'] - base['total']:+7.1f}")
    names = set(base["functions"]) | set(lib["functions"])
    fdiffs = {f: (lib["functions"].get(f, 0.0) - base["functions"].get(f, 0.0)) / args.n * 1e6
              for f in names}
    print(f"\n== functions costing {args.variant} more than {args.base} (cProfile us/call)")
    for name in sorted(names, key=lambda f: -fdiffs[f])[:args.top]:
        if fdiffs[name] > 0.2:
            print(f"  {fdiffs[name]:+6.2f}  {name}")
    print(f"\n== functions costing {args.base} more than {args.variant} (cProfile us/call)")
    for name in sorted(names, key=lambda f: fdiffs[f])[:args.top]:
        if fdiffs[name] < -0.2:
            print(f"  {fdiffs[name]:+6.2f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
