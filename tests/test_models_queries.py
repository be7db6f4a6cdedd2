"""Typed models (``model=``) on the queries and the other later reads: find, find_all, pages,
find_first, find_last, find_by_role, login_as_guest and login_by_object_id, in the await, callback
and blocking faces, against the emulator (an app made through its console, for the roles and the
CloudCode key)."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import attrs
import pytest
from conftest import console_app_blocking
from test_blocking import ThreadedEmulator
from test_roles_client import ROLE, client, console_app

import backendless_aio as bl
from backendless_aio.blocking import BlockingUserService
from backendless_aio.emulator import Emulator, EmulatorSettings
from backendless_aio.typed import prop
from backendless_aio.users import AsyncUserService

PW = "pw-123456"
UTC = dt.timezone.utc
WHEN = dt.datetime(1990, 7, 4, 8, 15, tzinfo=UTC)


@attrs.define
class Profile:
    objectId: str | None = None
    email: str | None = None
    phone: str | None = prop("phoneNumber", default=None)
    birthday: dt.datetime | None = None
    score: int = 0
    tags: list[str] = attrs.Factory(list)
    roles: list[str] | None = None
    created: dt.datetime | None = None


@attrs.define
class Guest:
    objectId: str | None = None
    status: str | None = prop("userStatus", default=None)


@attrs.define
class StatusAsNumber:
    """userStatus is text on the server: this model cannot read it."""

    objectId: str | None = None
    userStatus: int = 0


def puts(emu: Emulator) -> list[Any]:
    return [r.json for r in emu.requests if r.method == "PUT"]


@pytest.fixture
async def made(emulator: Emulator, emu_http: aiohttp.ClientSession
               ) -> AsyncIterator[tuple[bl.Backendless, bl.Backendless]]:
    """An app with the role ROLE: its JS-key client, and its CloudCode-key client."""
    app_id, keys = await console_app(emulator, emu_http)
    async with client(emulator, app_id, keys["JS"]) as app, \
            client(emulator, app_id, keys["BL"], server_key=True) as admin:
        yield app, admin


async def register(app: bl.Backendless, n: int) -> list[bl.BackendlessUser]:
    return [await app.users.register({"email": f"u{i}@x.co", "password": PW, "score": i,
                                      "phoneNumber": f"555{i}", "tags": [str(i)],
                                      "birthday": WHEN + dt.timedelta(days=i)})
            for i in range(n)]


# -- the await face ------------------------------------------------------------------------------


async def test_every_query_gives_the_model(made: tuple[bl.Backendless, bl.Backendless]) -> None:
    app, _ = made
    users = await register(app, 5)
    ids = [u.object_id for u in users]
    page = await app.users.find("score >= 1", sort_by="score DESC", page_size=3, model=Profile)
    assert all(type(p) is Profile for p in page)
    assert [(p.objectId, p.score, p.phone, p.tags) for p in page] == [
        (ids[i], i, f"555{i}", [str(i)]) for i in (4, 3, 2)]
    assert page[0].birthday == WHEN + dt.timedelta(days=4)  # a DATETIME column, as a datetime
    assert page[0].created is not None and page[0].created.tzinfo is UTC  # a system date too
    partial = await app.users.find(props=["objectId", "score"], sort_by="score", model=Profile)
    assert [(p.objectId, p.score, p.email, p.tags) for p in partial][:2] == [
        (ids[0], 0, None, []), (ids[1], 1, None, [])]  # the rest: the fields' defaults
    assert await app.users.find("score > 99", model=Profile) == []
    everyone = [p async for p in app.users.find_all(sort_by="score", page_size=2, model=Profile)]
    assert [p.objectId for p in everyone] == ids and all(type(p) is Profile for p in everyone)
    pages = [p async for p in app.users.pages(sort_by="score", page_size=2, model=Profile)]
    assert [[p.score for p in pg] for pg in pages] == [[0, 1], [2, 3], [4]]
    first = await app.users.find_first(model=Profile)
    last = await app.users.find_last(sort_by="score", model=Profile)
    assert first is not None and first.objectId == ids[0]
    assert last is not None and (last.objectId, last.score) == (ids[4], 4)
    assert await app.users.find_first("score > 99", model=Profile) is None
    assert await app.users.find_last("score > 99", model=Profile) is None
    # the default path is untouched: BackendlessUser, as before
    plain = await app.users.find(sort_by="score")
    assert all(type(u) is bl.BackendlessUser for u in plain)
    assert all(type(u) is bl.BackendlessUser for u in [u async for u in app.users.find_all()])
    assert type(await app.users.find_first()) is bl.BackendlessUser


async def test_find_by_role_and_the_logins_give_the_model(
        made: tuple[bl.Backendless, bl.Backendless]) -> None:
    app, admin = made
    alice, bob = await register(app, 2)
    for user in (alice, bob):
        await admin.users.assign_role(user.object_id or "", ROLE)
    found = await admin.users.find_by_role(ROLE, load_roles=True, model=Profile)
    assert [(p.objectId, p.score, p.roles) for p in found] == [
        (alice.object_id, 0, ["AuthenticatedUser", ROLE]),
        (bob.object_id, 1, ["AuthenticatedUser", ROLE])]
    assert [p.roles for p in await admin.users.find_by_role(ROLE, model=Profile)] == [None, None]
    me = await admin.users.login_by_object_id(bob.object_id or "", model=Profile)
    assert type(me) is Profile and (me.objectId, me.email, me.phone) == (
        bob.object_id, "u1@x.co", "5551")
    assert admin.users.is_logged_in and admin.users.object_id == bob.object_id
    assert isinstance(admin.users.current_user, bl.BackendlessUser)  # the scope's cache
    guest = await app.users.login_as_guest(model=Guest)
    assert type(guest) is Guest and guest.objectId and guest.status == "GUEST"
    assert app.users.is_logged_in and app.users.object_id == guest.objectId
    with pytest.raises(bl.ConfigurationError, match="CloudCode"):
        await app.users.login_by_object_id(alice.object_id or "", model=Profile)


async def test_a_found_instance_updates_only_what_changed(
        emulator: Emulator, made: tuple[bl.Backendless, bl.Backendless]) -> None:
    app, admin = made
    users = await register(app, 3)
    await app.users.login("u1@x.co", PW)
    me = await app.users.find_first("email = 'u1@x.co'", model=Profile)
    assert me is not None
    me.phone = "5551212"
    me.tags.append("new")
    updated = await app.users.update(me)
    assert puts(emulator)[-1] == {"phoneNumber": "5551212", "tags": ["1", "new"]}
    assert type(updated) is Profile and updated is not me
    assert (updated.phone, updated.tags, updated.score) == ("5551212", ["1", "new"], 1)
    assert await app.users.find_by_id(users[1].object_id or "", model=Profile) == updated
    # loaded with only some properties: the others are not sent, so they stay as stored
    [slim] = await app.users.find("email = 'u1@x.co'", props=["objectId", "score"],
                                  model=Profile)
    slim.score = 41
    await app.users.update(slim)
    assert puts(emulator)[-1] == {"score": 41}
    stored = await app.users.find_by_id(users[1].object_id or "", model=Profile)
    assert (stored.score, stored.phone, stored.tags) == (41, "5551212", ["1", "new"])
    # from find_all, pages, find_last: the same
    async for each in app.users.find_all("email = 'u1@x.co'", model=Profile):
        each.birthday = WHEN
        assert (await app.users.update(each)).birthday == WHEN
        assert puts(emulator)[-1] == {"birthday": int(WHEN.timestamp() * 1000)}
    last = await app.users.find_last("email = 'u1@x.co'", model=Profile)
    assert last is not None
    assert await app.users.update(last) == last and puts(emulator)[-1] == {}  # nothing changed
    # from find_by_role, then login_by_object_id: the CloudCode scope updates bob
    await admin.users.assign_role("u2@x.co", ROLE)
    [bob] = await admin.users.find_by_role(ROLE, model=Profile)
    await admin.users.login_by_object_id(bob.objectId or "")
    bob.score = 7
    assert (await admin.users.update(bob)).score == 7 and puts(emulator)[-1] == {"score": 7}
    bob_again = await admin.users.login_by_object_id(bob.objectId or "", model=Profile)
    bob_again.phone = None
    assert (await admin.users.update(bob_again)).phone is None
    assert puts(emulator)[-1] == {"phoneNumber": None}


async def test_a_value_that_does_not_fit_is_a_typed_error_on_every_query(
        made: tuple[bl.Backendless, bl.Backendless]) -> None:
    app, admin = made
    odd = await app.users.register({"email": "odd@x.co", "password": PW, "score": "high"})
    await admin.users.assign_role("odd@x.co", ROLE)

    def check(caught: pytest.ExceptionInfo[bl.PropertyTypeMismatch]) -> None:
        error = caught.value
        assert isinstance(error, bl.BackendlessError)
        assert (error.model, error.property, error.expected, error.got) == (
            "Profile", "score", "int", "str")
        assert "'score'" in str(error) and "'high'" in str(error)

    queries: list[Callable[[], Any]] = [
        lambda: app.users.find(model=Profile),
        lambda: app.users.find_first(model=Profile),
        lambda: app.users.find_last(model=Profile),
        lambda: admin.users.find_by_role(ROLE, model=Profile),
    ]
    for query in queries:
        with pytest.raises(bl.PropertyTypeMismatch) as caught:
            await query()
        check(caught)
    with pytest.raises(bl.PropertyTypeMismatch) as caught:
        async for _ in app.users.find_all(model=Profile):
            pass
    check(caught)
    with pytest.raises(bl.PropertyTypeMismatch) as caught:
        async for _ in app.users.pages(model=Profile):
            pass
    check(caught)
    with pytest.raises(bl.PropertyTypeMismatch) as caught:
        await admin.users.login_by_object_id(odd.object_id or "", model=Profile)
    check(caught)
    assert admin.users.is_logged_in  # the session itself started: only the reading failed
    with pytest.raises(bl.PropertyTypeMismatch) as guest:
        await app.users.login_as_guest(model=StatusAsNumber)
    assert (guest.value.model, guest.value.property, guest.value.got) == (
        "StatusAsNumber", "userStatus", "str")
    assert app.users.is_logged_in


async def test_a_model_that_is_no_attrs_class_is_refused(
        emulator: Emulator, made: tuple[bl.Backendless, bl.Backendless]) -> None:
    app, _ = made
    await register(app, 1)

    class NotAttrs:
        objectId = "x"

    before = len(emulator.requests)
    for paging in (app.users.find_all, app.users.pages):
        with pytest.raises(TypeError, match="attrs"):
            paging(model=NotAttrs)  # type: ignore[type-var]  # at once, as other arguments
    assert len(emulator.requests) == before
    with pytest.raises(TypeError, match="attrs"):
        await app.users.find(model=NotAttrs)  # type: ignore[type-var]


# -- the callback face ---------------------------------------------------------------------------


async def test_the_callback_face(made: tuple[bl.Backendless, bl.Backendless]) -> None:
    app, admin = made
    users = await register(app, 3)
    for user in users:
        await admin.users.assign_role(user.object_id or "", ROLE)
    got: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    callback: bl.AsyncCallback[Any] = bl.AsyncCallback(
        lambda value: got.put_nowait(("ok", value)),
        lambda fault: got.put_nowait(("fault", fault)))

    async def outcome() -> Any:
        kind, value = await asyncio.wait_for(got.get(), 10)
        assert kind == "ok", value
        return value

    app.users.find("score >= 1", callback, sort_by="score", model=Profile)
    assert [(type(p), p.score) for p in await outcome()] == [(Profile, 1), (Profile, 2)]
    app.users.find_first(None, callback, model=Profile)
    first = await outcome()
    assert type(first) is Profile and first.objectId == users[0].object_id
    app.users.find_last(None, callback, model=Profile)
    assert (await outcome()).objectId == users[2].object_id
    app.users.find_last("score > 9", callback, model=Profile)
    assert await outcome() is None
    admin.users.find_by_role(ROLE, callback, load_roles=True, model=Profile)
    assert [p.roles for p in await outcome()] == [["AuthenticatedUser", ROLE]] * 3
    admin.users.login_by_object_id(users[1].object_id or "", callback, model=Profile)
    me = await outcome()
    assert type(me) is Profile and me.email == "u1@x.co"
    me.score = 11
    admin.users.update(me, callback)
    updated = await outcome()
    assert type(updated) is Profile and updated.score == 11
    guests = app.users.session("guest")
    handle = guests.login_as_guest(callback, model=Guest)
    guest = await outcome()
    assert guest == await handle and guest.status == "GUEST"
    # a value that does not fit reaches the fault handler
    await app.users.register({"email": "odd@x.co", "password": PW, "tags": [1, 2]})
    app.users.find("email = 'odd@x.co'", callback, model=Profile)
    kind, fault = await asyncio.wait_for(got.get(), 10)
    assert kind == "fault" and isinstance(fault, bl.PropertyTypeMismatch)
    assert fault.property == "tags"
    guests.login_as_guest(callback, model=StatusAsNumber)
    kind, fault = await asyncio.wait_for(got.get(), 10)
    assert kind == "fault" and isinstance(fault, bl.PropertyTypeMismatch)
    assert fault.property == "userStatus"


# -- the blocking face ---------------------------------------------------------------------------


@pytest.fixture
def threaded() -> Iterator[tuple[ThreadedEmulator, str, dict[str, str]]]:
    """An emulator on a background loop (recording requests), an app with the role ROLE."""
    emu = ThreadedEmulator(EmulatorSettings(fast_password_hashing=True, record_requests=True))
    try:
        app_id, keys = console_app_blocking(emu.emu.url, ROLE)
        yield emu, app_id, keys
    finally:
        emu.close()


def test_the_blocking_face(threaded: tuple[ThreadedEmulator, str, dict[str, str]]) -> None:
    emu, app_id, keys = threaded
    url = emu.emu.url
    with bl.BlockingBackendless(app_id=app_id, api_key=keys["JS"], server_url=url) as app, \
            bl.BlockingBackendless(app_id=app_id, api_key=keys["BL"], server_url=url,
                                   server_key=True) as admin:
        users = [app.users.register({"email": f"u{i}@x.co", "password": PW, "score": i})
                 for i in range(3)]
        ids = [u.object_id for u in users]
        admin.users.assign_role("u0@x.co", ROLE)
        page = app.users.find("score >= 1", sort_by="score", model=Profile)
        assert [(type(p), p.objectId) for p in page] == [(Profile, ids[1]), (Profile, ids[2])]
        iterator = app.users.find_all(sort_by="score", page_size=2, model=Profile)
        assert not isinstance(iterator, list)  # a plain iterator, read as it goes
        assert [p.objectId for p in iterator] == ids
        first = app.users.find_first(model=Profile)
        last = app.users.find_last(sort_by="score", model=Profile)
        assert first is not None and last is not None
        assert (type(first), first.objectId, last.objectId) == (Profile, ids[0], ids[2])
        assert app.users.find_first("score > 9", model=Profile) is None
        [vip] = admin.users.find_by_role(ROLE, load_roles=True, model=Profile)
        assert vip.objectId == ids[0] and vip.roles == ["AuthenticatedUser", ROLE]
        me = admin.users.login_by_object_id(ids[0] or "", model=Profile)
        assert type(me) is Profile and me.email == "u0@x.co"
        # a found instance sends only its changes
        vip.phone = "5551212"
        updated = admin.users.update(vip)
        assert type(updated) is Profile and (updated.phone, updated.score) == ("5551212", 0)
        assert [r.json for r in emu.on_loop(lambda: list(emu.emu.requests))
                if r.method == "PUT"][-1] == {"phoneNumber": "5551212"}
        guest = app.users.session("guest").login_as_guest(model=Guest)
        assert type(guest) is Guest and guest.status == "GUEST"
        # the callback on the blocking face: a Future of the model
        many: bl.AsyncCallback[list[Profile]] = bl.AsyncCallback()
        assert [p.score for p in app.users.find("email IS NOT NULL", many, sort_by="score",
                                                model=Profile).result(10)] == [0, 1, 2]
        maybe: bl.AsyncCallback[Profile | None] = bl.AsyncCallback()
        found = app.users.find_last("email IS NOT NULL", maybe, sort_by="score",
                                    model=Profile).result(10)
        assert found is not None and found.objectId == ids[2]
        one: bl.AsyncCallback[Profile] = bl.AsyncCallback()
        assert admin.users.login_by_object_id(ids[1] or "", one,
                                              model=Profile).result(10).score == 1
        assert [p.objectId for p in admin.users.find_by_role(
            ROLE, many, model=Profile).result(10)] == [ids[0]]
        guest_one: bl.AsyncCallback[Guest] = bl.AsyncCallback()
        assert app.users.session("g2").login_as_guest(guest_one,
                                                      model=Guest).result(10).objectId
        # a value that does not fit: the same typed error
        app.users.register({"email": "odd@x.co", "password": PW, "tags": [1, 2]})
        with pytest.raises(bl.PropertyTypeMismatch, match="'tags'"):
            app.users.find("email = 'odd@x.co'", model=Profile)
        with pytest.raises(bl.PropertyTypeMismatch, match="'tags'"):
            list(app.users.find_all(model=Profile))
        with pytest.raises(bl.PropertyTypeMismatch, match="'tags'"):
            app.users.find_last(model=Profile)
        future = app.users.find_last(None, maybe, model=Profile)
        with pytest.raises(bl.PropertyTypeMismatch, match="'tags'"):
            future.result(10)
        with pytest.raises(bl.PropertyTypeMismatch, match="'userStatus'"):
            app.users.session("g3").login_as_guest(model=StatusAsNumber)


def test_the_faces_take_model_alike() -> None:
    """Every operation that takes ``model=`` takes it on both faces, with the same
    parameters."""
    for name in ("find", "find_all", "pages", "find_first", "find_last", "find_by_role",
                 "login_as_guest", "login_by_object_id", "login", "register", "update",
                 "find_by_id", "get_current_user"):
        core = inspect.signature(getattr(AsyncUserService, name)).parameters
        model = core["model"]
        assert model.default is None and model.kind is inspect.Parameter.KEYWORD_ONLY, name
        if name == "pages":  # the blocking face pages inside find_all
            continue
        mine = inspect.signature(getattr(BlockingUserService, name)).parameters
        assert [(p.name, p.kind, p.default) for p in mine.values()] == [
            (p.name, p.kind, p.default) for p in core.values()], name
