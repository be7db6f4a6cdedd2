"""Fault injection: each kind over raw aiohttp, selection (count, ratio, filters), admin routes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import attrs
import pytest
from conftest import RawClient

from backendless_aio.emulator import Emulator, EmulatorSettings, FaultRule
from backendless_aio.emulator.faults import FAULT_KINDS, FaultInjector

PW = "pw-123456"


async def is_registered(client: RawClient, email: str) -> bool:
    """Whether `email` was registered with PW (probed by logging in)."""
    answer = await client.call("POST", "users/login", {"login": email, "password": PW})
    return answer.status == 200


@pytest.fixture
async def fresh_http() -> Any:
    """A session that opens a new connection per request (no keep-alive reuse)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        yield http


def test_rule_defaults_and_validation() -> None:
    rule = FaultRule(kind="status")
    assert (rule.count, rule.ratio, rule.methods) == (1, None, ())
    assert FaultRule(kind="status", ratio=0.5).count is None
    assert FaultRule(kind="status", ratio=0.5, count=3).count == 3
    assert FaultRule(kind="latency", methods=["put", "get"]).methods == ("PUT", "GET")
    for bad in (
        {"kind": "explode"},
        {"kind": "status", "ratio": 0},
        {"kind": "status", "ratio": 1.5},
        {"kind": "status", "count": 0},
        {"kind": "status", "status": 99},
        {"kind": "latency", "delay": -1},
    ):
        with pytest.raises((ValueError, TypeError)):
            FaultRule(**bad)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        rule.count = 2  # type: ignore[misc]
    assert FaultRule.from_dict(rule.to_dict()) == rule
    with pytest.raises(ValueError, match="unknown"):
        FaultRule.from_dict({"kind": "status", "colour": "red"})


async def test_latency(emu_raw: RawClient, emulator: Emulator) -> None:
    emulator.faults.add(FaultRule(kind="latency", delay=0.3, count=2))
    for expected_slow in (True, True, False):
        start = time.perf_counter()
        answer = await emu_raw.call("GET", "info")
        elapsed = time.perf_counter() - start
        assert answer.status == 200
        assert (elapsed >= 0.3) is expected_slow, elapsed
    assert emulator.faults.stats["latency"] == 2 and emulator.faults.rules == ()


async def test_latency_combines_with_another_fault(emu_raw: RawClient, emulator: Emulator) -> None:
    emulator.faults.add(FaultRule(kind="latency", delay=0.2))
    emulator.faults.add(FaultRule(kind="status", status=503))
    start = time.perf_counter()
    answer = await emu_raw.call("GET", "info")
    assert answer.status == 503 and time.perf_counter() - start >= 0.2


async def test_status_503_with_retry_after_is_not_processed(
    emu_raw: RawClient, emulator: Emulator
) -> None:
    emulator.faults.add(FaultRule(kind="status", status=503, retry_after=2))
    answer = await emu_raw.call("POST", "users/register", {"email": "a@b.co", "password": PW})
    assert answer.status == 503 and answer.headers["Retry-After"] == "2"
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json == {"code": 503, "message": "Injected fault", "errorData": {}}
    assert not await is_registered(emu_raw, "a@b.co")  # never processed
    assert emulator.faults.stats["status"] == 1
    assert (
        await emu_raw.call("POST", "users/register", {"email": "a@b.co", "password": PW})
    ).status == 200


async def test_status_429_is_backendless_rate_limit(emu_raw: RawClient, emulator: Emulator) -> None:
    emulator.faults.add(FaultRule(kind="status", status=429, retry_after=1))
    answer = await emu_raw.call("GET", "info")
    assert answer.status == 429 and answer.code == 999 and answer.headers["Retry-After"] == "1"
    # a 200 carrying a fault code, or any code/body, can be asked for
    emulator.faults.add(FaultRule(kind="status", status=400, code=999))
    assert (await emu_raw.call("GET", "info")).code == 999
    emulator.faults.add(FaultRule(kind="status", status=504, body="upstream timed out"))
    plain = await emu_raw.call("GET", "info")
    assert plain.status == 504 and plain.body == b"upstream timed out"


async def test_drop_before_is_not_processed(
    emulator: Emulator, emu_raw: RawClient, fresh_http: aiohttp.ClientSession
) -> None:
    emulator.faults.add(FaultRule(kind="drop_before"))
    client = RawClient(fresh_http, emulator.root_url)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.call("POST", "users/register", {"email": "a@b.co", "password": PW})
    assert not await is_registered(emu_raw, "a@b.co")
    assert emulator.faults.stats["drop_before"] == 1


async def test_aiohttp_retries_an_idempotent_request_once_after_a_drop(
    emulator: Emulator, fresh_http: aiohttp.ClientSession
) -> None:
    # Worth knowing on the client side: aiohttp itself resends a GET/PUT once when the
    # connection closes without an answer, so a single drop is invisible to the caller.
    client = RawClient(fresh_http, emulator.root_url)
    emulator.faults.add(FaultRule(kind="drop_before", methods=("GET",)))
    before = len(emulator.requests)
    assert (await client.call("GET", "info")).status == 200
    assert len(emulator.requests) - before == 2
    emulator.faults.add(FaultRule(kind="drop_before", methods=("GET",), count=2))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.call("GET", "info")


async def test_drop_after_is_processed_and_committed(
    emulator: Emulator, emu_raw: RawClient, fresh_http: aiohttp.ClientSession
) -> None:
    await emu_raw.register("a@b.co")
    user = await emu_raw.login("a@b.co")
    client = RawClient(fresh_http, emulator.root_url)
    emulator.faults.add(FaultRule(kind="drop_after", methods=("PUT",), count=2))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.call("PUT", f"users/{user['objectId']}", {"age": 5}, token=user["user-token"])
    stored = await emulator.get_stored_user(user["objectId"])
    assert stored is not None and stored["age"] == 5
    emulator.faults.add(FaultRule(kind="drop_after", methods=("POST",)))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.call("POST", "users/register", {"email": "b@b.co", "password": PW})
    assert await is_registered(emu_raw, "b@b.co")
    assert emulator.faults.stats["drop_after"] == 3


async def test_truncate_sends_part_of_the_body(
    emulator: Emulator, emu_raw: RawClient, fresh_http: aiohttp.ClientSession
) -> None:
    emulator.faults.add(FaultRule(kind="truncate", methods=("POST",)))
    url = f"{emulator.root_url}/users/register"
    async with fresh_http.post(url, json={"email": "a@b.co", "password": PW}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        declared = int(resp.headers["Content-Length"])
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    assert declared > 100
    assert await is_registered(emu_raw, "a@b.co")  # processed
    # raw bytes: exactly truncate_to bytes of the body arrive
    emulator.faults.add(FaultRule(kind="truncate", truncate_to=10))
    host, port = emulator.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET /api/info HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and len(body) == 10 and body.startswith(b'{"appId"')
    assert emulator.faults.stats["truncate"] == 2


async def test_non_json_is_processed(emu_raw: RawClient, emulator: Emulator) -> None:
    emulator.faults.add(FaultRule(kind="non_json"))
    answer = await emu_raw.call("POST", "users/register", {"email": "a@b.co", "password": PW})
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/plain")
    with pytest.raises(ValueError):
        _ = answer.json
    assert await is_registered(emu_raw, "a@b.co")
    emulator.faults.add(FaultRule(kind="non_json", body="<<<", status=201))
    odd = await emu_raw.call("GET", "info")
    assert (odd.status, odd.body) == (201, b"<<<")


async def test_html_proxy_page_is_not_processed(emu_raw: RawClient, emulator: Emulator) -> None:
    emulator.faults.add(FaultRule(kind="html"))
    answer = await emu_raw.call("POST", "users/register", {"email": "a@b.co", "password": PW})
    assert answer.status == 502 and answer.headers["Content-Type"].startswith("text/html")
    assert b"502 Bad Gateway" in answer.body and answer.body.lstrip().startswith(b"<html>")
    assert not await is_registered(emu_raw, "a@b.co")
    emulator.faults.add(FaultRule(kind="html", status=504, retry_after=3))
    gateway = await emu_raw.call("GET", "info")
    assert gateway.status == 504 and gateway.headers["Retry-After"] == "3"


async def test_filters(emu_raw: RawClient, emulator: Emulator) -> None:
    emulator.faults.add(FaultRule(kind="status", methods=("PUT",), path_contains="/users/"))
    assert (await emu_raw.call("GET", "info")).status == 200
    assert (await emu_raw.call("POST", "users/login", {})).status == 400  # not PUT
    assert (await emu_raw.call("PUT", "users/X", {"a": 1})).status == 503
    assert (await emu_raw.call("PUT", "users/X", {"a": 1})).code == 3028  # count used up


async def test_count_none_means_every_request(emu_raw: RawClient, emulator: Emulator) -> None:
    emulator.faults.add(FaultRule(kind="status", count=None, path_contains="info"))
    for _ in range(5):
        assert (await emu_raw.call("GET", "info")).status == 503
    assert emulator.faults.stats["status"] == 5
    emulator.faults.clear()
    assert (await emu_raw.call("GET", "info")).status == 200
    assert emulator.faults.stats["status"] == 5  # clear keeps the statistics
    await emulator.reset()
    assert emulator.faults.stats["status"] == 0


def _pattern(seed: int, ratio: float, n: int = 200) -> list[bool]:
    injector = FaultInjector(seed)
    injector.add(FaultRule(kind="status", ratio=ratio))
    return [injector.decide("GET", "/api/info").fault is not None for _ in range(n)]


def test_ratio_is_deterministic_with_the_seed() -> None:
    first, again, other = _pattern(7, 0.25), _pattern(7, 0.25), _pattern(8, 0.25)
    assert first == again and first != other
    assert 30 <= sum(first) <= 70  # about a quarter of 200
    injector = FaultInjector(1)
    injector.add(FaultRule(kind="status", ratio=0.5, count=3))
    hits = [injector.decide("GET", "/").fault is not None for _ in range(100)]
    assert sum(hits) == 3 and injector.rules == ()
    assert set(injector.stats) == set(FAULT_KINDS)


async def test_ratio_over_http_matches_the_seeded_pattern(tmp_path: Any) -> None:
    settings = EmulatorSettings(fault_seed=7)
    expected = _pattern(7, 0.25, 40)
    async with Emulator(settings) as emu, aiohttp.ClientSession() as http:
        emu.faults.add(FaultRule(kind="status", ratio=0.25))
        seen = []
        for _ in range(40):
            async with http.get(f"{emu.api_url}/info") as resp:
                await resp.read()
                seen.append(resp.status == 503)
        assert seen == expected
        assert emu.faults.stats["status"] == sum(expected)


async def test_admin_routes(emulator: Emulator, emu_raw: RawClient) -> None:
    admin = RawClient(emu_raw.http, f"{emulator.url}/__emulator__")
    added = await admin.call(
        "POST", "faults", [{"kind": "status", "status": 503, "count": 2}, {"kind": "latency"}]
    )
    assert added.status == 200
    assert [r["kind"] for r in added.json["rules"]] == ["status", "latency"]
    assert added.json["rules"][0]["remaining"] == 2
    assert (await emu_raw.call("GET", "info")).status == 503
    state = await admin.call("GET", "faults")
    assert state.json["stats"]["status"] == 1 and state.json["stats"]["latency"] == 1
    assert state.json["rules"][0]["remaining"] == 1
    cleared = await admin.call("DELETE", "faults")
    assert cleared.json["rules"] == [] and cleared.json["stats"]["status"] == 1
    assert (await emu_raw.call("GET", "info")).status == 200
    # admin requests are never faulted nor recorded
    await admin.call("POST", "faults", {"kind": "status", "count": None})
    assert (await admin.call("GET", "faults")).status == 200
    assert not any("__emulator__" in r.path for r in emulator.requests)
    await admin.call("DELETE", "faults")
    for bad in ({"kind": "nope"}, {"kind": "status", "colour": 1}, [], "text", [1]):
        answer = await admin.call("POST", "faults", bad)
        assert answer.status == 400 and answer.code == 400
    json_type = {"Content-Type": "application/json"}
    broken = await admin.call("POST", "faults", data=b"{oops", headers=json_type)
    assert broken.status == 400

    user = await emu_raw.register("a@b.co")
    token = (await emu_raw.login("a@b.co"))["user-token"]
    stored = await admin.call("GET", f"users/{user['objectId']}")
    assert stored.json["objectId"] == user["objectId"] and stored.json["lastLogin"] is not None
    assert (await admin.call("GET", "users/NOPE")).status == 404
    clock = await admin.call("POST", "clock", {"advance": 4000})
    assert clock.status == 200 and clock.json["offset"] == 4000
    assert (await emu_raw.call("GET", f"users/isvalidusertoken/{token}")).json is False
    assert (await admin.call("POST", "clock", {"advance": -1})).status == 400
    assert (await admin.call("POST", "clock", {})).status == 400
    reset = await admin.call("POST", "reset", headers=json_type)
    assert reset.status == 200 and reset.json == {"reset": True}
    assert await emulator.get_stored_user(user["objectId"]) is None
