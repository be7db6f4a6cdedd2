"""Checked by ``mypy --strict tests/typing`` in CI (.ci/run), never run: ``model=`` gives the
model's type on every face (await, callback, blocking), and no model gives BackendlessUser."""

from __future__ import annotations

import datetime as dt
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


async def the_callback_face(app: bl.Backendless) -> None:
    def on_profile(profile: Profile) -> None: ...

    def on_fault(error: BaseException) -> None: ...

    callback = bl.AsyncCallback(on_profile, on_fault)
    assert_type(app.users.login("a@b.co", "pw", callback, model=Profile), Call[Profile])
    assert_type(app.users.find_by_id("ID", callback, model=Profile), Call[Profile])
    assert_type(app.users.update(Profile(objectId="ID"), callback), Call[Profile])


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
