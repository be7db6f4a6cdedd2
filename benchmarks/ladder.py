"""The update path rung by rung, from naive aiohttp to ``scope.update(user)``, in one process.

    .venv/bin/python benchmarks/ladder.py                       # concurrency 16
    .venv/bin/python benchmarks/ladder.py --concurrency 1,16,128 --rounds 10

Each rung adds one layer of the library's path to the one before; all rungs run in the same
process (pinned to CPU 0) against ``fixed_server.py`` (CPU 1), alternating windows of ``--window``
calls for ``--rounds`` rounds, so that a slow moment of the machine hits every rung alike. The
median CPU per call of each rung, and its difference to the rung before, is what that layer costs.
This is a diagnostic next to ``bench_update.py`` (whose rows each run in a fresh process).

Rungs:

    naive aiohttp      session.put(str url, json=dict) + await resp.json()      (the floor row)
    lean aiohttp       prebuilt URL, orjson bytes body, resp.read() + orjson.loads
    + request args     the same, passed as the library passes them (timeout=, allow_redirects=False)
    + app's session    the same, through the app's ClientSession (its connector and settings)
    + URL per call     the same, with a new ``URL(root + path, encoded=True)`` each call, as the
                       transport builds it
    + transport        Transport.send(wire.update(...)): request building, the retry loop, parse
    + users layer      AsyncUserService._update(): change tracking, merge of the answer
    + Call             scope.update(user): the public coroutine wrapper (the ``update`` row)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_update import (  # noqa: E402
    API_KEY,
    APP_ID,
    FIXED_SERVER_ARGV,
    Server,
    configure_logging,
    cpu_seconds,
    drive,
    pin,
)
from fixed_server import FULL_USER, OBJECT_ID, USER_TOKEN  # noqa: E402

Call = Callable[[int, int], Awaitable[Any]]


async def rungs(base_url: str, concurrency: int) -> tuple[dict[str, Call], list[Any]]:
    import aiohttp
    import orjson
    from yarl import URL

    from backendless_aio import Backendless, BackendlessUser, wire

    configure_logging("update")
    session = aiohttp.ClientSession()
    path = f"{APP_ID}/{API_KEY}/users/{OBJECT_ID}"
    text_url = f"{base_url}/{path}"
    url = URL(text_url, encoded=True)
    token_headers = {"user-token": USER_TOKEN}
    lean_headers = {"user-token": USER_TOKEN, "Content-Type": "application/json"}
    app = Backendless(app_id=APP_ID, api_key=API_KEY, server_url=base_url)
    scope = app.users.session(user_token=USER_TOKEN, object_id=OBJECT_ID)
    transport = app._transport
    client_timeout = transport._timeout
    hooks = scope._hooks
    users = [BackendlessUser._from_wire(dict(FULL_USER)) for _ in range(concurrency)]

    async def naive(w: int, i: int) -> Any:
        async with session.put(text_url, json={"phoneNumber": str(i)},
                               headers=token_headers) as resp:
            return await resp.json()

    async def lean(w: int, i: int) -> Any:
        body = orjson.dumps({"phoneNumber": str(i)})
        async with session.put(url, data=body, headers=lean_headers) as resp:
            return orjson.loads(await resp.read())

    async def request_args(w: int, i: int) -> Any:
        body = orjson.dumps({"phoneNumber": str(i)})
        async with session.request("PUT", url, data=body, headers=lean_headers,
                                   timeout=client_timeout, allow_redirects=False) as resp:
            return orjson.loads(await resp.read())

    async def app_session(w: int, i: int) -> Any:
        body = orjson.dumps({"phoneNumber": str(i)})
        async with transport.session().request(
                "PUT", url, data=body, headers=lean_headers, timeout=client_timeout,
                allow_redirects=False) as resp:
            return orjson.loads(await resp.read())

    async def url_per_call(w: int, i: int) -> Any:
        body = orjson.dumps({"phoneNumber": str(i)})
        fresh = URL(transport._root + "users/" + OBJECT_ID, encoded=True)
        async with transport.session().request(
                "PUT", fresh, data=body, headers=lean_headers, timeout=client_timeout,
                allow_redirects=False) as resp:
            return orjson.loads(await resp.read())

    async def via_transport(w: int, i: int) -> Any:
        changes = {"phoneNumber": str(i)}
        request = wire.update(OBJECT_ID, changes, wire.dumps(changes))
        return await transport.send(request, USER_TOKEN, hooks)

    async def users_layer(w: int, i: int) -> Any:
        user = users[w]
        user.set_property("phoneNumber", str(i))
        return await scope._update(user, None)

    async def full(w: int, i: int) -> Any:
        user = users[w]
        user.set_property("phoneNumber", str(i))
        return await scope.update(user)

    return ({"naive aiohttp": naive, "lean aiohttp": lean, "+ request args": request_args,
             "+ app's session": app_session, "+ URL per call": url_per_call,
             "+ transport": via_transport,
             "+ users layer": users_layer, "+ Call": full},
            [session, app])


async def ladder(base_url: str, concurrency: int, window: int, rounds: int,
                 warmup: int) -> dict[str, list[float]]:
    calls, owners = await rungs(base_url, concurrency)
    try:
        for call in calls.values():
            await drive(call, concurrency, warmup)
        results: dict[str, list[float]] = {name: [] for name in calls}
        for r in range(rounds):
            names = list(calls)
            if r % 2:
                names.reverse()
            for name in names:
                start = cpu_seconds()
                await drive(calls[name], concurrency, window)
                results[name].append((cpu_seconds() - start) / window * 1e6)
    finally:
        await owners[0].close()
        await owners[1].aclose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")],
                        default=[16])
    parser.add_argument("--window", type=int, default=2000, help="calls per window")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--what-if", default="",
                        help="apply whatif.py prototypes first: 'all' or names, comma-separated")
    args = parser.parse_args()
    if args.what_if:
        import whatif

        print(f"what-if prototypes applied: {', '.join(whatif.apply(args.what_if))}")
    server = Server(FIXED_SERVER_ARGV(1))
    pin(0)
    try:
        url = f"http://127.0.0.1:{server.address}"
        for concurrency in args.concurrency:
            results = asyncio.run(ladder(url, concurrency, args.window, args.rounds,
                                         args.warmup))
            print(f"\nconcurrency {concurrency}: median CPU µs/call over {args.rounds} "
                  f"windows of {args.window} calls")
            print(f"  {'rung':<16} {'µs/call':>8} {'step':>7} {'vs naive':>9}")
            floor = previous = statistics.median(results["naive aiohttp"])
            for name, values in results.items():
                value = statistics.median(values)
                print(f"  {name:<16} {value:8.1f} {value - previous:+7.1f} "
                      f"{value / floor:8.2f}x")
                previous = value
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
