"""A minimal fixed-answer HTTP/1.1 server for the benchmarks: it must never be the bottleneck.

Every request, whatever its method and path, gets the same 200 answer: a realistic full
Backendless user object of 15 properties. Keep-alive, pipelining-safe, no routing, no JSON work:
a raw ``asyncio.Protocol`` that only finds the end of each request (headers + Content-Length body).
Runs on uvloop when it is installed.

    python benchmarks/fixed_server.py --port 0 --cpu 1

prints ``listening PORT`` on its first line, then serves until SIGTERM / SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys

OBJECT_ID = "9A1E3C5B-7D2F-4E8A-B6C4-0F1D2E3A4B5C"
USER_TOKEN = "5F2A7C9E-1B3D-4F6A-8C0E-2D4B6A8C0E1F"

#: What a Backendless server answers to PUT users/{objectId}: the whole stored user.
FULL_USER: dict[str, object] = {
    "objectId": OBJECT_ID,
    "ownerId": OBJECT_ID,
    "___class": "Users",
    "email": "ada.lovelace@example.com",
    "name": "Ada Lovelace",
    "phoneNumber": "+44 20 7946 0958",
    "userStatus": "ENABLED",
    "socialAccount": "BACKENDLESS",
    "blUserLocale": "en",
    "created": 1764230400000,
    "updated": 1764316800123,
    "lastLogin": 1764316700456,
    "age": 36,
    "newsletter": True,
    "city": "London",
}

BODY = json.dumps(FULL_USER, separators=(",", ":")).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n"
    b"Date: Fri, 27 Nov 2026 12:00:00 GMT\r\n"
    b"Server: fixed-answer\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n" + BODY
)


class FixedAnswer(asyncio.Protocol):
    """One connection: answer each complete request with RESPONSE."""

    __slots__ = ("buf", "transport")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        answers = 0
        close = False
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buf[:end]).lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17: stop if stop >= 0 else len(head)])
            total = end + 4 + length
            if len(buf) < total:
                break
            del buf[:total]
            answers += 1
            if b"\r\nconnection: close" in head:
                close = True
                break
        if answers and self.transport is not None:
            self.transport.write(RESPONSE * answers)
            if close:
                self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.transport = None


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FixedAnswer, host, port, backlog=1024, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    parser.add_argument("--no-uvloop", action="store_true", help="use the stdlib event loop")
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {args.cpu})
    runner = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            runner = uvloop.run
    runner(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
