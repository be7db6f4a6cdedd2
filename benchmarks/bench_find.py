"""What finding users costs in the emulator: count and a 100-user page over 10,000 users.

The emulator runs in its own process (``python -m backendless_aio emulator``, on a SQLite file,
fast password hashing); this process fills it with users through ``POST users/register`` (raw
aiohttp, 32 at a time), then times each query ``--repeat`` times through backendless_aio and
prints the median and p90 wall time per call in ms (client and server together, over loopback).

    .venv/bin/python benchmarks/bench_find.py            # 10,000 users, 30 calls per query
    .venv/bin/python benchmarks/bench_find.py --quick    # 500 users, 5 calls: a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

import backendless_aio as bl

ROOT = Path(__file__).resolve().parent.parent
CITIES = ["Oslo", "Rome", "Paris", "Lima", "Kyiv", "Pune", "Cork", "Nice"]

QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("count (all users)", {"op": "count"}),
    ("count where age > 50 AND city = 'Oslo'", {"op": "count",
                                                "where": "age > 50 AND city = 'Oslo'"}),
    ("find page of 100 (default order)", {"op": "find"}),
    ("find page of 100, offset N/2, sortBy age DESC", {"op": "find", "sort_by": "age DESC",
                                                       "offset": "half"}),
    ("find page of 100 where city IN (...) AND vip = true",
     {"op": "find", "where": "city IN ('Oslo', 'Rome') AND vip = true"}),
    ("find page of 100 where name LIKE '%7%'", {"op": "find", "where": "name LIKE '%7%'"}),
]


def start_emulator(db: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "backendless_aio", "emulator", "--port", "0",
         "--fast-password-hashing", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline() if ready else ""
    prefix = "Backendless emulator listening on "
    if not line.startswith(prefix):
        proc.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    return proc, line[len(prefix):].strip()


async def populate(root: str, n: int) -> None:
    rng = random.Random(10_000)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body = {"email": f"b{i}@example.com", "password": "pw-123456", "name": f"User {i}",
                    "age": rng.randint(0, 99), "city": rng.choice(CITIES),
                    "vip": rng.random() < 0.2}
            async with http.post(f"{root}/users/register", json=body) as resp:
                assert resp.status == 200, await resp.text()

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(32)))


async def measure(url: str, repeat: int, users: int) -> list[dict[str, Any]]:
    from backendless_aio.emulator import DEFAULT_API_KEY, DEFAULT_APP_ID

    rows = []
    async with bl.Backendless(app_id=DEFAULT_APP_ID, api_key=DEFAULT_API_KEY,
                              server_url=url) as app:
        for label, spec in QUERIES:
            spec = dict(spec)
            op = spec.pop("op")
            times = []
            for attempt in range(repeat + 2):  # two warm-up calls
                started = time.perf_counter()
                if op == "count":
                    result: Any = await app.users.count(spec.get("where"))
                else:
                    result = await app.users.find(spec.get("where"), page_size=100,
                                                  sort_by=spec.get("sort_by"),
                                                  offset=users // 2 if spec.get("offset")
                                                  else 0)
                    result = len(result)
                if attempt >= 2:
                    times.append((time.perf_counter() - started) * 1000)
            times.sort()
            rows.append({"query": label, "result": result,
                         "median_ms": round(statistics.median(times), 2),
                         "p90_ms": round(times[int(len(times) * 0.9) - 1], 2)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="500 users, 5 calls per query")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.users, args.repeat = 500, 5
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.2f}: the figures will be noisy", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_emulator(Path(tmp) / "bench.sqlite3")
        try:
            from backendless_aio.emulator import DEFAULT_API_KEY, DEFAULT_APP_ID

            started = time.perf_counter()
            asyncio.run(populate(f"{url}/{DEFAULT_APP_ID}/{DEFAULT_API_KEY}", args.users))
            print(f"{args.users} users registered in {time.perf_counter() - started:.1f} s",
                  file=sys.stderr)
            rows = asyncio.run(measure(url, args.repeat, args.users))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
    print(f"{'query':<55} {'answer':>7} {'median ms':>10} {'p90 ms':>8}")
    for row in rows:
        print(f"{row['query']:<55} {row['result']:>7} {row['median_ms']:>10} "
              f"{row['p90_ms']:>8}")
    if args.json_out:
        args.json_out.write_text(json.dumps({"users": args.users, "repeat": args.repeat,
                                             "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
