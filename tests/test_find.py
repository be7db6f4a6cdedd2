"""Finding users: the client's requests (sans-I/O), its faces, and the emulator's routes."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from conftest import RawClient

import backendless_aio as bl
from backendless_aio import query
from backendless_aio.emulator import Emulator

PW = "pw-123456"


# -- the requests, without a server ------------------------------------------------------------


def test_find_body_is_the_js_sdk_shape() -> None:
    assert query.find_body() == {}  # as the JS SDK's find() without a query
    assert query.find_body(page_size=10, offset=1) == {"pageSize": 10, "offset": 1}
    body = query.find_body("age > 3", sort_by=["name", "age DESC"], props="email, name",
                           page_size=100, offset=20)
    assert body == {"pageSize": 100, "offset": 20, "where": "age > 3",
                    "sortBy": "name,age DESC", "props": "email,name"}
    request = query.find("age > 3")
    assert request.method == "POST" and request.path == request.route == "data/Users/find"
    assert request.idempotent and request.log_route == "POST data/Users/find"
    assert request.body is not None and orjson.loads(request.body)["where"] == "age > 3"
    assert orjson.loads(query.count().body or b"") == {}
    assert orjson.loads(query.count(" ").body or b"") == {}
    assert orjson.loads(query.count("a = 1").body or b"") == {"where": "a = 1"}
    assert query.reversed_sort(["name", "age DESC", "city asc"]) == [
        "name DESC", "age ASC", "city DESC"]


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"page_size": 101}, ValueError),
    ({"page_size": 0}, ValueError),
    ({"page_size": True}, TypeError),
    ({"page_size": "10"}, TypeError),
    ({"offset": -1}, ValueError),
    ({"offset": 1.5}, TypeError),
    ({"where": 5}, TypeError),
    ({"sort_by": 5}, TypeError),
    ({"props": [1]}, TypeError),
])
def test_bad_arguments_are_refused_before_sending(kwargs: dict[str, Any],
                                                  error: type[Exception]) -> None:
    where = kwargs.pop("where", None)
    with pytest.raises(error):
        query.find(where, **kwargs)


def test_literal() -> None:
    assert query.literal("O'Neil") == "'O''Neil'"
    assert query.literal("' OR '1'='1") == "''' OR ''1''=''1'"
    assert query.literal(True) == "TRUE" and query.literal(False) == "FALSE"
    assert query.literal(42) == "42" and query.literal(-1.5) == "-1.5"
    when = dt.datetime(2015, 3, 23, tzinfo=dt.timezone.utc)
    assert query.literal(when) == "1427068800000"
    with pytest.raises(ValueError):
        query.literal(float("nan"))
    with pytest.raises(TypeError):
        query.literal(None)  # type: ignore[arg-type]


# -- the client against the emulator ----------------------------------------------------------


async def _register(raw: RawClient, n: int) -> list[dict[str, Any]]:
    return [await raw.register(f"f{i}@example.com", PW, age=i, city="Oslo" if i % 2 else "Rome")
            for i in range(n)]


async def test_find_count_first_last(emulator: Emulator, emu_raw: RawClient) -> None:
    async with bl.Backendless(app_id=emulator.app_id, api_key=emulator.api_key,
                              server_url=emulator.url) as app:
        assert await app.users.count() == 0
        assert await app.users.find() == []
        assert await app.users.find_first() is None and await app.users.find_last() is None
        await _register(emu_raw, 12)
        assert await app.users.count() == 12
        assert await app.users.count("city = 'Oslo'") == 6
        page = await app.users.find("city = 'Oslo'", sort_by="age DESC", page_size=4, offset=1,
                                    props=["email", "age"])
        assert [u.get_property("age") for u in page] == [9, 7, 5, 3]
        assert all(set(u.properties) == {"___class", "email", "age"} for u in page)
        assert len(await app.users.find()) == 10  # the default page size
        everyone = [u async for u in app.users.find_all(page_size=5, sort_by="age")]
        assert [u.get_property("age") for u in everyone] == list(range(12))
        assert everyone[0].object_id and everyone[0].get_property("password") is None
        pages = [len(p) async for p in app.users.pages(page_size=5)]
        assert pages == [5, 5, 2]
        first, last = await app.users.find_first(), await app.users.find_last()
        assert first is not None and first.email == "f0@example.com"
        assert last is not None and last.email == "f11@example.com"
        youngest_oslo = await app.users.find_first("city = 'Oslo'", sort_by="age")
        oldest_oslo = await app.users.find_last("city = 'Oslo'", sort_by="age")
        assert youngest_oslo is not None and youngest_oslo.get_property("age") == 1
        assert oldest_oslo is not None and oldest_oslo.get_property("age") == 11
        with pytest.raises(ValueError):
            app.users.find(page_size=101)
        with pytest.raises(ValueError):
            app.users.find_all(page_size=500)
    bodies = [r.json for r in emulator.requests if r.path.endswith("/data/Users/find")]
    assert {"pageSize": 4, "offset": 1, "where": "city = 'Oslo'", "sortBy": "age DESC",
            "props": "email,age"} in bodies
    assert {"pageSize": 1, "offset": 0, "sortBy": "created asc"} in bodies
    assert {"pageSize": 1, "offset": 0, "sortBy": "created desc"} in bodies
    assert {"pageSize": 1, "offset": 0, "sortBy": "age DESC", "where": "city = 'Oslo'"} in bodies
    counts = [r.json for r in emulator.requests if r.path.endswith("/data/Users/count")]
    assert counts[:2] == [{}, {}] and {"where": "city = 'Oslo'"} in counts


async def test_callback_face(emulator: Emulator, emu_raw: RawClient) -> None:
    await _register(emu_raw, 3)
    got: dict[str, list[Any]] = {k: [] for k in ("find", "count", "last", "bad")}

    def callback(key: str) -> bl.AsyncCallback[Any]:
        return bl.AsyncCallback(got[key].append, lambda e: got[key].append(("fault", e)))

    async with bl.Backendless(app_id=emulator.app_id, api_key=emulator.api_key,
                              server_url=emulator.url) as app:
        done = [app.users.find("age >= 1", callback("find")),
                app.users.count(None, callback("count")),
                app.users.find_last(None, callback("last")),
                app.users.count("age = 'x'", callback("bad"))]
        await asyncio.gather(*done, return_exceptions=True)
    [users], [count], [last], [(_, fault)] = got.values()
    assert isinstance(users, list) and len(users) == 2
    assert count == 3 and last.email == "f2@example.com"
    assert isinstance(fault, bl.BackendlessFault) and fault.code == 1017
    assert fault.route == "POST data/Users/count" and fault.status == 400


async def test_a_dead_token_is_refused_and_dropped(emulator: Emulator,
                                                   emu_raw: RawClient) -> None:
    await emu_raw.register("dead@example.com", PW)
    async with bl.Backendless(app_id=emulator.app_id, api_key=emulator.api_key,
                              server_url=emulator.url) as app:
        users = app.users.session(user_token="NO-SUCH-TOKEN", object_id="X")
        with pytest.raises(bl.InvalidUserToken):
            await users.find()
        assert not users.is_logged_in
        assert await app.users.count() == 1  # anyone may find users, as by default


async def test_malformed_answers(emulator: Emulator) -> None:
    request = query.find()
    with pytest.raises(bl.MalformedResponse):
        query.read_users(request, {"not": "a list"})
    with pytest.raises(bl.MalformedResponse):
        query.read_users(request, [1, 2])
    with pytest.raises(bl.MalformedResponse):
        query.read_count(query.count(), True)
    with pytest.raises(bl.MalformedResponse):
        query.read_count(query.count(), "3")


# -- the emulator's routes, raw ---------------------------------------------------------------


def assert_fault(answer: Any, code: int, words: str = "") -> None:
    assert answer.status == 400, (answer.status, answer.body)
    body = answer.json
    assert body["code"] == code and words in body["message"], body


async def test_routes(emu_raw: RawClient) -> None:
    users = await _register(emu_raw, 5)
    answer = await emu_raw.call("GET", "data/Users?where=" + quote("age >= 1") +
                                "&pageSize=2&offset=1&sortBy=" + quote("age desc") +
                                "&props=email,age")
    assert answer.status == 200
    assert answer.json == [{"___class": "Users", "email": "f3@example.com", "age": 3},
                           {"___class": "Users", "email": "f2@example.com", "age": 2}]
    answer = await emu_raw.call("GET", "data/Users?property=email&property=city&pageSize=1")
    assert answer.json == [{"___class": "Users", "email": "f0@example.com", "city": "Rome"}]
    answer = await emu_raw.call("GET", "data/Users/count?where=" + quote("city = 'Oslo'"))
    assert answer.json == 2
    answer = await emu_raw.call("GET", "data/Users/count")
    assert answer.json == 5
    answer = await emu_raw.call("GET", f"data/Users/{users[0]['objectId']}")
    assert answer.json["email"] == "f0@example.com"  # find by id still answers
    answer = await emu_raw.call("POST", "data/Users/find", {"pageSize": 500})
    assert len(answer.json) == 5  # over 100: served as 100, as Backendless does
    answer = await emu_raw.call("POST", "data/Users/find", data=b"")
    assert len(answer.json) == 5
    answer = await emu_raw.call("POST", "data/Users/find", {"props": ["*"], "pageSize": 1,
                                                            "excludeProps": "ownerId,city"})
    user = answer.json[0]
    assert "ownerId" not in user and "city" not in user and user["email"] == "f0@example.com"
    assert "password" not in user
    answer = await emu_raw.call("POST", "data/Users/find", {"props": "name,objectId",
                                                            "pageSize": 1})
    assert answer.json == [{"___class": "Users", "name": None,
                            "objectId": users[0]["objectId"]}]
    answer = await emu_raw.call("POST", "data/Users/count", {"where": None})
    assert answer.json == 5


@pytest.mark.parametrize(("body", "code", "words"), [
    ({"pageSize": 0}, 1005, "pagesize"),
    ({"pageSize": "10"}, 1005, "pagesize"),
    ({"pageSize": True}, 1005, "pagesize"),
    ({"offset": -1}, 1004, "offset"),
    ({"offset": 1.5}, 1004, "offset"),
    ({"props": "nonExistingProp"}, 1006, "Column 'nonExistingProp' does not exist in table "
                                         "'Users'"),
    ({"props": "password"}, 1006, "password"),
    ({"props": 5}, 1006, "props"),
    ({"sortBy": "nosuch"}, 1006, "nosuch"),
    ({"sortBy": "age upward"}, 1006, "sortBy"),
    ({"where": 5}, 1017, "string"),
    ({"where": "age >"}, 1017, "Invalid where clause"),
    ({"where": "nosuch = 1"}, 1017, "nosuch"),
    ({"groupBy": "city"}, 400, "not supported"),
    ({"distinct": True}, 400, "not supported"),
    ({"relationsDepth": 2}, 400, "not supported"),
])
async def test_find_faults(emu_raw: RawClient, body: dict[str, Any], code: int,
                           words: str) -> None:
    await _register(emu_raw, 1)
    assert_fault(await emu_raw.call("POST", "data/Users/find", body), code, words)


async def test_more_faults(emu_raw: RawClient) -> None:
    assert_fault(await emu_raw.call("POST", "data/Users/find", data=b"[1]",
                                    headers={"Content-Type": "application/json"}), 400)
    assert_fault(await emu_raw.call("POST", "data/Users/find", data=b"{oops",
                                    headers={"Content-Type": "application/json"}), 400)
    assert_fault(await emu_raw.call("POST", "data/Users/count", {"where": "age = 'x'"}),
                 1017)
    assert_fault(await emu_raw.call("POST", "data/Users/count", {"distinct": True}), 400)
    assert_fault(await emu_raw.call("GET", "data/Users?pageSize=abc"), 1005)
    assert_fault(await emu_raw.call("GET", "data/Users?offset=-3"), 1004)
    assert_fault(await emu_raw.call("GET", "data/Users?offset=" + "9" * 30), 1004)
    assert_fault(await emu_raw.call("GET", "data/Users?pageSize=%EF%BC%91"), 1005)
    answer = await emu_raw.call("GET", "data/Users?pageSize=" + "9" * 30)
    assert answer.status == 200  # served as 100
    # bytes that are no UTF-8 (an encoded surrogate): read as text somehow, never a 500
    answer = await emu_raw.call("GET", "data/Users?where=name%20%3D%20%27%ED%A0%80%27")
    if answer.status == 400:
        assert answer.json["code"] == 1017
    else:
        assert (answer.status, answer.json) == (200, [])
    assert_fault(await emu_raw.call("GET", "data/Users/count?where=" + quote("(")), 1017)
    assert_fault(await emu_raw.call("POST", "data/Users/find", {}, token="NO-SUCH"), 3064)
    answer = await emu_raw.call("PUT", "data/Users/find", {})
    assert answer.status == 405


def test_the_docs_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/queries.md's Python blocks, as written (each in a fresh namespace)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "queries.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 3
    for block in blocks:
        exec(compile(block, "docs/queries.md", "exec"), {"__name__": "docs"})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "[('user2@example.com', 52), ('user0@example.com', 36)]"
    assert out[1] == "1" and out[-2:] == ["user2@example.com", "0"]


def test_the_faces_agree() -> None:
    """The blocking face has every finding operation, with the async core's parameters."""
    import inspect

    from backendless_aio.blocking import BlockingUserService
    from backendless_aio.users import AsyncUserService

    for name in ("find", "count", "find_all", "find_first", "find_last"):
        mine = inspect.signature(getattr(BlockingUserService, name)).parameters
        core = inspect.signature(getattr(AsyncUserService, name)).parameters
        assert [(p.name, p.kind, p.default) for p in mine.values()] == [
            (p.name, p.kind, p.default) for p in core.values()], name


async def test_find_all_never_loops_on_a_server_that_ignores_offset() -> None:
    """No real server does this; a stand-in over a real socket repeats the first page."""
    from aiohttp import web

    page = [{"objectId": "A", "___class": "Users"}, {"objectId": "B", "___class": "Users"}]
    calls: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(await request.json())
        return web.json_response(page)

    server = web.Application()
    server.router.add_post("/APP/KEY/data/Users/find", handler)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with bl.Backendless(app_id="APP", api_key="KEY",
                                  server_url=f"http://127.0.0.1:{port}") as app:
            seen = []
            with pytest.raises(bl.MalformedResponse, match="page before it again"):
                async for user in app.users.find_all(page_size=2):
                    seen.append(user.object_id)
    finally:
        await runner.cleanup()
    assert seen == ["A", "B"] and [c["offset"] for c in calls] == [0, 2]
