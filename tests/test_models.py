"""Typed user models (``model=``): plain attrs classes on every read path and every face."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import math
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest

import backendless_aio as bl
from backendless_aio import typed
from backendless_aio.emulator import Emulator
from backendless_aio.typed import prop

PASSWORD = "s3cret-pass"
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
    created: dt.datetime | None = None


@attrs.frozen
class Card:
    object_id: str | None = prop("objectId", default=None)
    email: str | None = None
    score: int = 0


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    """conftest's ``emulator`` (cheap hashes, recorded requests, a SQLite file), by this file's
    short name."""
    return emulator


@pytest.fixture
async def app(emu: Emulator) -> AsyncIterator[bl.Backendless]:
    async with bl.Backendless(app_id=emu.app_id, api_key=emu.api_key, server_url=emu.url,
                              retry=bl.RetryPolicy(backoff=False)) as application:
        yield application


async def sign_up(app: bl.Backendless, email: str = "kim@example.com", **props: Any) -> None:
    await app.users.register({"email": email, "password": PASSWORD, **props})


def last_put(emu: Emulator) -> Any:
    return [r for r in emu.requests if r.method == "PUT"][-1].json


async def test_login_update_and_every_read_path_give_the_model(
        app: bl.Backendless, emu: Emulator) -> None:
    await sign_up(app, phoneNumber="5550000", score=3, tags=["a"])
    me = await app.users.login("kim@example.com", PASSWORD, model=Profile)
    assert isinstance(me, Profile)
    assert (me.email, me.phone, me.score, me.tags, me.birthday) == (
        "kim@example.com", "5550000", 3, ["a"], None)
    assert me.created is not None and me.created.tzinfo is UTC  # a system date, as a datetime
    me.phone = "5551212"
    me.tags.append("b")
    me.birthday = WHEN
    updated = await app.users.update(me)
    sent = last_put(emu)
    assert set(sent) == {"phoneNumber", "tags", "birthday"}  # only what changed since loading
    assert isinstance(updated, Profile) and updated is not me
    assert (updated.phone, updated.tags, updated.birthday) == ("5551212", ["a", "b"], WHEN)
    again = await app.users.update(updated)
    assert last_put(emu) == {} and again == updated  # nothing changed: nothing sent
    assert await app.users.find_by_id(me.objectId or "", model=Profile) == updated
    current = await app.users.get_current_user(model=Profile)
    assert current == updated
    assert await app.users.get_current_user(reload=True, model=Profile) == updated
    plain = app.users.current_user  # the scope's cached user saw the update too
    assert plain is not None and plain.get_property("birthday") == WHEN
    assert await app.users.update(plain, model=Profile) == updated
    await app.users.logout()
    assert await app.users.get_current_user(model=Profile) is None
    assert await app.users.login("kim@example.com", PASSWORD, model=Profile) == updated


async def test_register_takes_an_instance_or_a_mapping(app: bl.Backendless, emu: Emulator) -> None:
    made = await app.users.register(Profile(email="new@example.com", phone="1", score=0),
                                    password=PASSWORD)
    sent = [r for r in emu.requests if r.path.endswith("/users/register")][-1].json
    assert sent == {"email": "new@example.com", "phoneNumber": "1", "password": PASSWORD}
    assert isinstance(made, Profile) and made.objectId and made.phone == "1"
    card = await app.users.register({"email": "c@example.com", "password": PASSWORD,
                                     "score": 9}, model=Card)
    assert isinstance(card, Card) and card.object_id and card.score == 9


async def test_frozen_models_and_copies_send_the_fields_that_differ_from_defaults(
        app: bl.Backendless, emu: Emulator) -> None:
    await sign_up(app, score=1)
    card = await app.users.login("kim@example.com", PASSWORD, model=Card)
    changed = attrs.evolve(card, score=2)  # a copy: not loaded, so not tracked
    result = await app.users.update(changed)
    assert last_put(emu) == {"email": "kim@example.com", "score": 2}
    assert isinstance(result, Card) and result.score == 2 and result.object_id == card.object_id
    # an instance the library never loaded sends the fields that differ from their defaults
    built = Card(object_id=card.object_id, score=5)
    assert (await app.users.update(built)).score == 5
    assert last_put(emu) == {"score": 5}


async def test_a_value_that_does_not_fit_the_field_is_a_typed_error(app: bl.Backendless) -> None:
    await sign_up(app, score="high")  # the column is STRING on the server
    with pytest.raises(bl.PropertyTypeMismatch) as caught:
        await app.users.login("kim@example.com", PASSWORD, model=Profile)
    error = caught.value
    assert isinstance(error, bl.BackendlessError)
    assert (error.model, error.property, error.expected, error.got) == (
        "Profile", "score", "int", "str")
    assert "'score'" in str(error) and "int" in str(error) and "'high'" in str(error)
    assert app.users.is_logged_in  # the session itself started: only the reading failed


async def test_a_missing_value_for_a_field_without_default_is_a_typed_error(
        app: bl.Backendless) -> None:
    @attrs.define
    class Strict:
        objectId: str
        nickname: str

    await sign_up(app, nickname="kim")
    me = await app.users.login("kim@example.com", PASSWORD, model=Strict)
    assert me.nickname == "kim"
    with pytest.raises(bl.PropertyTypeMismatch) as caught:
        await app.users.find_by_id(me.objectId, props=["email"], model=Strict)
    assert (caught.value.property, caught.value.got) == ("nickname", "missing")
    await sign_up(app, "other@example.com")  # nickname is null for this one
    with pytest.raises(bl.PropertyTypeMismatch, match="nickname"):
        await app.users.login("other@example.com", PASSWORD, model=Strict)


async def test_wrong_models_and_values_are_refused_before_sending(
        app: bl.Backendless, emu: Emulator) -> None:
    await sign_up(app)
    me = await app.users.login("kim@example.com", PASSWORD, model=Profile)
    puts = len([r for r in emu.requests if r.method == "PUT"])

    class NotAttrs:
        objectId = "x"

    with pytest.raises(TypeError, match="attrs"):
        await app.users.find_by_id(me.objectId or "", model=NotAttrs)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="update takes"):
        await app.users.update(NotAttrs())  # type: ignore[call-overload]

    @attrs.define
    class NoId:
        email: str | None = None

    with pytest.raises(bl.ConfigurationError, match="objectId"):
        await app.users.update(NoId(email="x@example.com"))

    @attrs.define
    class Scores:
        objectId: str | None = None
        ratio: float = 0.0

    scores = await app.users.find_by_id(me.objectId or "", model=Scores)
    scores.ratio = math.nan
    with pytest.raises(ValueError, match="'ratio'"):
        await app.users.update(scores)
    assert len([r for r in emu.requests if r.method == "PUT"]) == puts

    @attrs.define
    class Twice:
        a: str | None = prop("x", default=None)
        b: str | None = prop("x", default=None)

    with pytest.raises(bl.ConfigurationError, match="both map"):
        await app.users.find_by_id(me.objectId or "", model=Twice)


async def test_loaded_instances_are_forgotten_when_dropped(app: bl.Backendless) -> None:
    await sign_up(app)
    me = await app.users.login("kim@example.com", PASSWORD, model=Profile)
    codec = typed.codec(Profile)
    key = id(me)
    assert key in codec._by_instance
    del me
    gc.collect()
    assert key not in codec._by_instance


async def test_the_callback_face_takes_model(app: bl.Backendless) -> None:
    await sign_up(app)
    got: list[Profile] = []
    handle = app.users.login("kim@example.com", PASSWORD,
                             bl.AsyncCallback(got.append, None), model=Profile)
    me = await handle
    assert got == [me] and isinstance(me, Profile)
    me.score = 4
    updated = await app.users.update(me, bl.AsyncCallback(got.append, None))
    assert got[-1] is updated and updated.score == 4


async def test_the_blocking_face_takes_model(emu: Emulator) -> None:
    def script() -> tuple[Profile, Profile, Profile | None]:
        with bl.BlockingBackendless(app_id=emu.app_id, api_key=emu.api_key,
                                    server_url=emu.url) as blocking:
            blocking.users.register({"email": "kim@example.com", "password": PASSWORD})
            me = blocking.users.login("kim@example.com", PASSWORD, model=Profile)
            me.birthday = WHEN
            updated = blocking.users.update(me)
            return me, updated, blocking.users.get_current_user(model=Profile)

    me, updated, current = await asyncio.to_thread(script)
    assert isinstance(me, Profile) and updated.birthday == WHEN and current == updated


def test_a_field_type_that_cannot_be_resolved_is_a_configuration_error() -> None:
    @attrs.define
    class Odd:
        objectId: str | None = None
        thing: Unknown = None  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(bl.ConfigurationError, match=r"Odd\.thing"):
        typed.from_wire(Odd, {"objectId": "X", "thing": 1})


async def test_the_models_own_validators_refusing_a_value_is_a_typed_error(
        app: bl.Backendless) -> None:
    @attrs.define
    class Checked:
        objectId: str | None = None
        score: int = attrs.field(default=0, validator=attrs.validators.ge(0))
        level: int = attrs.field(default=0, validator=attrs.validators.instance_of(int))

        def __attrs_post_init__(self) -> None:
            if self.level > 10:
                raise ValueError("level too high")

    await sign_up(app, score=-5)
    with pytest.raises(bl.PropertyTypeMismatch) as caught:
        await app.users.login("kim@example.com", PASSWORD, model=Checked)
    assert caught.value.property == "score" and "-5" in str(caught.value)
    await sign_up(app, "l@example.com", level=11)
    with pytest.raises(bl.PropertyTypeMismatch, match="level too high"):
        await app.users.login("l@example.com", PASSWORD, model=Checked)


@attrs.define
class Shapes:
    tags: list[str] | None = None
    pair: tuple[int, str] | None = None
    many: tuple[int, ...] = ()
    meta: dict[str, int] | None = None
    labels: set[str] | None = None


def test_containers_are_as_strict_as_scalars() -> None:
    good = typed.from_wire(Shapes, {"tags": ["a", "b"], "pair": [1, "x"], "many": [1, 2],
                                    "meta": {"a": 1}, "labels": ["a", "a"]})
    assert good == Shapes(tags=["a", "b"], pair=(1, "x"), many=(1, 2), meta={"a": 1},
                          labels={"a"})
    # a JSON column holding a string is never split into characters, nor an object into keys
    for bad, name in (({"tags": "abc"}, "tags"), ({"tags": {"a": 1}}, "tags"),
                      ({"tags": [1]}, "tags"), ({"pair": [1]}, "pair"),
                      ({"meta": [1]}, "meta"), ({"meta": {"a": "x"}}, "meta"),
                      ({"many": "12"}, "many"), ({"labels": "ab"}, "labels")):
        with pytest.raises(bl.PropertyTypeMismatch) as caught:
            typed.from_wire(Shapes, bad)
        assert caught.value.property == name, bad
