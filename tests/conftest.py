"""Shared fixtures: a running emulator on a real SQLite file, per test, and a raw HTTP helper."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import orjson
import pytest
from aiohttp import web

from backendless_aio.emulator import Emulator, EmulatorSettings


@pytest.fixture
def emulator_settings(tmp_path: Path) -> EmulatorSettings:
    """Test-friendly settings: cheap password hashes, recorded requests, a file database."""
    return EmulatorSettings(
        fast_password_hashing=True,
        record_requests=True,
        db_path=str(tmp_path / "emu.sqlite3"),
    )


@pytest.fixture
async def emulator(emulator_settings: EmulatorSettings) -> AsyncIterator[Emulator]:
    """A running emulator built from `emulator_settings`, stopped after the test."""
    async with Emulator(emulator_settings) as emu:
        yield emu


@attrs.frozen
class Answer:
    """One HTTP answer, read in full."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def code(self) -> int | None:
        value = self.json
        return value.get("code") if isinstance(value, dict) else None


class RawClient:
    """Plain HTTP against an emulator: no client library in between."""

    def __init__(self, http: aiohttp.ClientSession, root: str) -> None:
        self.http = http
        self.root = root

    async def call(
        self,
        method: str,
        route: str,
        json: Any = None,
        *,
        data: bytes | None = None,
        token: str | None = None,
        root: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if token is not None:
            sent["user-token"] = token
        if json is not None:
            data = orjson.dumps(json)
            sent.setdefault("Content-Type", "application/json")
        url = f"{root or self.root}/{route}"
        async with self.http.request(method, url, data=data, headers=sent) as resp:
            return Answer(resp.status, dict(resp.headers), await resp.read())

    async def register(self, email: str, password: str = "pw-123456", **props: Any) -> Any:
        answer = await self.call(
            "POST", "users/register", {"email": email, "password": password, **props}
        )
        assert answer.status == 200, answer.body
        return answer.json

    async def login(self, login: str, password: str = "pw-123456") -> Any:
        answer = await self.call("POST", "users/login", {"login": login, "password": password})
        assert answer.status == 200, answer.body
        return answer.json


@pytest.fixture
async def emu_http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
def emu_raw(emulator: Emulator, emu_http: aiohttp.ClientSession) -> RawClient:
    """A RawClient on the running `emulator`'s classic root."""
    return RawClient(emu_http, emulator.root_url)


async def make_role(emu: Emulator, role: str) -> None:
    """Make a role in the emulator's default app through its console API."""
    async with aiohttp.ClientSession() as http:
        login = {"login": "foo@foo.com", "password": "secret"}
        async with http.post(f"{emu.url}/console/home/login", json=login) as answer:
            assert answer.status == 200
            key = answer.headers["auth-key"]
        path = f"{emu.url}/{emu.app_id}/console/security/roles/{role}"
        async with http.put(path, headers={"auth-key": key}) as answer:
            assert answer.status == 200


def console_call(url: str, method: str, path: str, body: Any = None,
                 key: str | None = None) -> tuple[Any, dict[str, str]]:
    """One blocking console-API call (from a thread outside the emulator's loop): the JSON
    answer and the headers."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}{path}", data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("auth-key", key)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read()), dict(answer.headers)


def console_app_blocking(url: str, role: str) -> tuple[str, dict[str, str]]:
    """A new app (id, keys by device type) with ``role``, made through the console API of the
    emulator at ``url`` with blocking calls (for an emulator on a background loop)."""
    _, headers = console_call(url, "POST", "/console/home/login",
                              {"login": "foo@foo.com", "password": "secret"})
    key = headers["auth-key"]
    app_id = console_call(url, "POST", "/console/applications", {"appName": "t"}, key)[0]["id"]
    settings = console_call(url, "GET", f"/{app_id}/console/appsettings", key=key)[0]
    console_call(url, "PUT", f"/{app_id}/console/security/roles/{role}", key=key)
    return app_id, {k["deviceType"]: k["apiKey"] for k in settings["apiKeys"]}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[str]:
    """A one-handler aiohttp server on a free loopback port (a broken or hostile Backendless
    where the emulator cannot produce the case): its base URL."""
    server = web.Application()
    server.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(server, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception of its cause / context chain, each once."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        exc = pending.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        yield exc
        pending += (exc.__cause__, exc.__context__)
