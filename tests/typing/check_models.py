"""Checked by ``mypy --strict tests/typing`` in CI (.ci/run), never run: ``model=`` gives the
model's type on every face (await, callback, blocking), and no model gives BackendlessUser."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future

import attrs
from typing_extensions import assert_type

import backendless_aio as bl
from backendless_aio.callbacks import Call
from backendless_aio.typed import prop


@attrs.define
class Profile:
    objectId: str | None = None
    email: str | None = None
    phone: str | None = prop("phoneNumber", default=None)
    birthday: dt.datetime | None = None
    score: int = 0


async def the_async_core(app: bl.Backendless) -> None:
    users = app.users
    assert_type(await users.login("a@b.co", "pw"), bl.BackendlessUser)
    me = await users.login("a@b.co", "pw", model=Profile)
    assert_type(me, Profile)
    assert_type(await users.update(me), Profile)
    assert_type(await users.update(me, model=Profile), Profile)
    plain = await users.find_by_id("ID")
    assert_type(plain, bl.BackendlessUser)
    assert_type(await users.update(plain), bl.BackendlessUser)
    assert_type(await users.update(plain, model=Profile), Profile)
    assert_type(await users.find_by_id("ID", model=Profile), Profile)
    assert_type(await users.register({"email": "a@b.co"}), bl.BackendlessUser)
    assert_type(await users.register({"email": "a@b.co"}, model=Profile), Profile)
    assert_type(await users.register(Profile(email="a@b.co")), Profile)
    assert_type(await users.get_current_user(), bl.BackendlessUser | None)
    assert_type(await users.get_current_user(model=Profile), Profile | None)
    assert_type(await users.session("k").login("a@b.co", "pw", model=Profile), Profile)


async def the_queries(app: bl.Backendless) -> None:
    users = app.users
    assert_type(await users.find(), list[bl.BackendlessUser])
    assert_type(await users.find("score > 1", model=Profile), list[Profile])
    assert_type(await users.find(sort_by="score", page_size=5, offset=5, model=Profile),
                list[Profile])
    assert_type(users.find_all(), AsyncIterator[bl.BackendlessUser])
    assert_type(users.find_all("score > 1", page_size=50, model=Profile),
                AsyncIterator[Profile])
    async for found in users.find_all(model=Profile):
        assert_type(found, Profile)
    assert_type(users.pages(), AsyncIterator[list[bl.BackendlessUser]])
    assert_type(users.pages(model=Profile), AsyncIterator[list[Profile]])
    assert_type(await users.find_first(), bl.BackendlessUser | None)
    assert_type(await users.find_first("score > 1", model=Profile), Profile | None)
    assert_type(await users.find_last(), bl.BackendlessUser | None)
    assert_type(await users.find_last(sort_by="score", model=Profile), Profile | None)
    assert_type(await users.find_by_role("VIP"), list[bl.BackendlessUser])
    assert_type(await users.find_by_role("VIP", load_roles=True, model=Profile), list[Profile])
    assert_type(await users.login_as_guest(), bl.BackendlessUser)
    assert_type(await users.login_as_guest(model=Profile), Profile)
    assert_type(await users.login_by_object_id("ID"), bl.BackendlessUser)
    assert_type(await users.login_by_object_id("ID", model=Profile), Profile)
    first = await users.find_first(model=Profile)
    if first is not None:
        assert_type(await users.update(first), Profile)  # a found instance updates as itself


async def the_callback_face(app: bl.Backendless) -> None:
    def on_profile(profile: Profile) -> None: ...

    def on_fault(error: BaseException) -> None: ...

    callback = bl.AsyncCallback(on_profile, on_fault)
    assert_type(app.users.login("a@b.co", "pw", callback, model=Profile), Call[Profile])
    assert_type(app.users.find_by_id("ID", callback, model=Profile), Call[Profile])
    assert_type(app.users.update(Profile(objectId="ID"), callback), Call[Profile])
    assert_type(app.users.login_as_guest(callback, model=Profile), Call[Profile])
    assert_type(app.users.login_by_object_id("ID", callback, model=Profile), Call[Profile])

    def on_profiles(profiles: list[Profile]) -> None: ...

    many = bl.AsyncCallback(on_profiles, on_fault)
    assert_type(app.users.find("score > 1", many, model=Profile), Call[list[Profile]])
    assert_type(app.users.find_by_role("VIP", many, model=Profile), Call[list[Profile]])

    def on_maybe(profile: Profile | None) -> None: ...

    maybe = bl.AsyncCallback(on_maybe, on_fault)
    assert_type(app.users.find_first(None, maybe, model=Profile), Call[Profile | None])
    assert_type(app.users.find_last(None, maybe, model=Profile), Call[Profile | None])


def the_blocking_face(app: bl.BlockingBackendless) -> None:
    users = app.users
    me = users.login("a@b.co", "pw", model=Profile)
    assert_type(me, Profile)
    assert_type(users.update(me), Profile)
    assert_type(users.update(users.find_by_id("ID"), model=Profile), Profile)
    assert_type(users.find_by_id("ID", model=Profile), Profile)
    assert_type(users.find_by_id("ID"), bl.BackendlessUser)
    assert_type(users.register(Profile(email="a@b.co")), Profile)
    assert_type(users.get_current_user(model=Profile), Profile | None)
    assert_type(users.get_current_user(), bl.BackendlessUser | None)
    callback: bl.AsyncCallback[Profile] = bl.AsyncCallback()
    assert_type(users.update(me, callback), Future[Profile])
    assert_type(users.login("a@b.co", "pw", callback, model=Profile), Future[Profile])


def the_blocking_queries(app: bl.BlockingBackendless) -> None:
    users = app.users
    assert_type(users.find(), list[bl.BackendlessUser])
    assert_type(users.find("score > 1", model=Profile), list[Profile])
    assert_type(users.find_all(), Iterator[bl.BackendlessUser])
    assert_type(users.find_all("score > 1", page_size=50, model=Profile), Iterator[Profile])
    for found in users.find_all(model=Profile):
        assert_type(found, Profile)
        assert_type(users.update(found), Profile)
    assert_type(users.find_first(), bl.BackendlessUser | None)
    assert_type(users.find_first(sort_by="score", model=Profile), Profile | None)
    assert_type(users.find_last(), bl.BackendlessUser | None)
    assert_type(users.find_last("score > 1", model=Profile), Profile | None)
    assert_type(users.find_by_role("VIP"), list[bl.BackendlessUser])
    assert_type(users.find_by_role("VIP", model=Profile), list[Profile])
    assert_type(users.login_as_guest(), bl.BackendlessUser)
    assert_type(users.login_as_guest(model=Profile), Profile)
    assert_type(users.login_by_object_id("ID"), bl.BackendlessUser)
    assert_type(users.login_by_object_id("ID", stay_logged_in=True, model=Profile), Profile)
    one: bl.AsyncCallback[Profile] = bl.AsyncCallback()
    many: bl.AsyncCallback[list[Profile]] = bl.AsyncCallback()
    maybe: bl.AsyncCallback[Profile | None] = bl.AsyncCallback()
    plain: bl.AsyncCallback[list[bl.BackendlessUser]] = bl.AsyncCallback()
    assert_type(users.find(None, plain), Future[list[bl.BackendlessUser]])
    assert_type(users.find(None, many, model=Profile), Future[list[Profile]])
    assert_type(users.find_by_role("VIP", many, model=Profile), Future[list[Profile]])
    assert_type(users.find_first(None, maybe, model=Profile), Future[Profile | None])
    assert_type(users.find_last(None, maybe, model=Profile), Future[Profile | None])
    assert_type(users.login_as_guest(one, model=Profile), Future[Profile])
    assert_type(users.login_by_object_id("ID", one, model=Profile), Future[Profile])
