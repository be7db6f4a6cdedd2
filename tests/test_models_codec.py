"""The typed-model codec on its own (no server): the reader and the change finder that typed.py
writes out per class must agree with the rules for every shape of attrs class."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import backendless_aio as bl
from backendless_aio import typed
from backendless_aio.emulator import Emulator
from backendless_aio.typed import prop
from backendless_aio.values import from_millis

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
LOWEST = (dt.datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // dt.timedelta(milliseconds=1)
HIGHEST = (dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - EPOCH) // \
    dt.timedelta(milliseconds=1)


@attrs.define
class Dated:
    objectId: str | None = None
    when: dt.datetime | None = None
    required_when: dt.datetime = EPOCH


def expected(ms: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=ms)


@pytest.mark.parametrize("ms", [0, 1, 999, 1_764_316_800_123, 2**42 - 1, 2**42, 2**42 + 1,
                                -1, -1000, LOWEST, HIGHEST])
def test_a_date_reads_exactly_at_the_edges_of_every_path(ms: int) -> None:
    loaded = typed.from_wire(Dated, {"when": ms, "required_when": ms})
    assert loaded.when == loaded.required_when == expected(ms) == from_millis(ms)
    assert loaded.when.tzinfo is UTC and loaded.when.microsecond % 1000 == 0


@given(st.integers(min_value=LOWEST, max_value=HIGHEST))
def test_any_millisecond_reads_as_the_same_datetime_as_from_millis(ms: int) -> None:
    loaded = typed.from_wire(Dated, {"when": ms})
    assert loaded.when == expected(ms)


def test_a_date_beyond_the_years_a_datetime_holds_is_a_typed_error() -> None:
    for ms in (HIGHEST + 1, LOWEST - 1):
        with pytest.raises(bl.PropertyTypeMismatch) as caught:
            typed.from_wire(Dated, {"when": ms})
        assert caught.value.property == "when"


def test_nulls_missing_properties_and_datetimes_as_they_are() -> None:
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert typed.from_wire(Dated, {}) == Dated()  # every property missing: the defaults
    # null for `datetime | None` is None; for `datetime` (no None) it gives the default
    assert typed.from_wire(Dated, {"when": None, "required_when": None}) == Dated()
    assert typed.from_wire(Dated, {"when": when}).when is when
    with pytest.raises(bl.PropertyTypeMismatch) as caught:
        typed.from_wire(Dated, {"when": "yesterday"})
    assert (caught.value.property, caught.value.got) == ("when", "str")


@attrs.define
class Shaped:
    """Keyword-only first, a private field with an alias, a renamed property, a field that is
    not in __init__, and a default made from the instance itself."""

    level: int = attrs.field(default=1, kw_only=True)
    objectId: str | None = None
    _nick: str | None = attrs.field(default=None, alias="nick")
    phone: str | None = prop("phoneNumber", default=None)
    shout: str = attrs.Factory(lambda self: (self.phone or "").upper(), takes_self=True)
    tail: str = "t"
    seen: int = attrs.field(default=0, init=False)


def test_every_signature_shape_binds_each_value_to_its_field() -> None:
    data = {"level": 3, "objectId": "id-1", "_nick": "kim", "phoneNumber": "5551212",
            "tail": "x", "seen": 9}
    loaded = typed.from_wire(Shaped, data)
    assert (loaded.level, loaded.objectId, loaded._nick, loaded.phone, loaded.shout,
            loaded.tail, loaded.seen) == (3, "id-1", "kim", "5551212", "5551212", "x", 0)
    given_shout = typed.from_wire(Shaped, {**data, "shout": "hey"})
    assert given_shout.shout == "hey"
    assert typed.from_wire(Shaped, {"phoneNumber": None}) == Shaped()


def test_positional_binding_follows_the_signature_not_the_field_order() -> None:
    @attrs.define
    class Ordered:
        a: str = "a"
        b: int = attrs.field(default=0, kw_only=True)
        c: str = "c"

    # the signature is (a, c, *, b): b must not be passed in c's place
    loaded = typed.from_wire(Ordered, {"a": "A", "b": 7, "c": "C"})
    assert (loaded.a, loaded.b, loaded.c) == ("A", 7, "C")


def test_small_and_empty_models() -> None:
    @attrs.define
    class One:
        score: int = 0

    @attrs.define
    class Empty:
        pass

    one = typed.from_wire(One, {"score": 4, "other": 1})
    assert one == One(4)
    one.score = 5
    assert typed.codec(One).changes(one) == {"score": 5}
    empty = typed.from_wire(Empty, {"objectId": "x"})
    assert isinstance(empty, Empty) and typed.codec(Empty).changes(empty) == {}


def test_changes_are_found_by_value_and_type_under_renamed_properties() -> None:
    loaded = typed.from_wire(Shaped, {"objectId": "id-1", "phoneNumber": "5551212",
                                      "tail": "x", "level": 1, "_nick": "a"})
    codec = typed.codec(Shaped)
    assert codec.changes(loaded) == {}
    before = loaded.phone
    loaded.phone = "".join(["555", "1212"])  # another object, the same value: not a change
    assert loaded.phone is not before
    loaded.tail = "y"
    loaded.level = True  # type: ignore[assignment]  # equal to 1, but another type
    loaded._nick = None
    out: dict[str, Any] = {}
    assert codec.diff(loaded, out) is False
    assert out == {"tail": "y", "level": True, "_nick": None}


def test_a_changed_datetime_is_flagged_for_encoding_and_checked() -> None:
    loaded = typed.from_wire(Dated, {"objectId": "id-1", "when": 0})
    codec = typed.codec(Dated)
    loaded.when = dt.datetime(2024, 5, 1, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    out: dict[str, Any] = {}
    assert codec.diff(loaded, out) is True
    assert out == {"when": dt.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)}
    assert out["when"].tzinfo is UTC
    loaded.when = dt.datetime(2024, 5, 1)  # naive: refused, naming the property
    with pytest.raises(ValueError, match="'when'"):
        codec.changes(loaded)


def test_containers_changed_in_place_are_found() -> None:
    @attrs.define
    class Tagged:
        objectId: str | None = None
        tags: list[str] = attrs.Factory(list)
        meta: dict[str, int] = attrs.Factory(dict)

    loaded = typed.from_wire(Tagged, {"objectId": "id-1", "tags": ["a"], "meta": {"n": 1}})
    loaded.tags.append("b")
    loaded.meta["n"] += 1
    assert typed.codec(Tagged).changes(loaded) == {"tags": ["a", "b"], "meta": {"n": 2}}


def test_system_properties_are_never_changes() -> None:
    loaded = typed.from_wire(Dated, {"objectId": "id-1"})
    loaded.objectId = "other"
    assert typed.codec(Dated).changes(loaded) == {}


def test_an_instance_without_weakref_slot_is_compared_with_defaults() -> None:
    @attrs.define(weakref_slot=False)
    class Unreferenced:
        objectId: str | None = None
        score: int = 0
        city: str | None = None

    loaded = typed.from_wire(Unreferenced, {"objectId": "id-1", "score": 3, "city": None})
    assert typed.codec(Unreferenced).changes(loaded) == {"score": 3}


async def test_a_model_with_a_password_field_changes_the_password(emulator: Emulator) -> None:
    @attrs.define
    class Account:
        objectId: str | None = None
        email: str | None = None
        password: str | None = None

    async with bl.Backendless(app_id=emulator.app_id, api_key=emulator.api_key,
                              server_url=emulator.url) as app:
        await app.users.register({"email": "kim@example.com", "password": "first-pass"})
        me = await app.users.login("kim@example.com", "first-pass", model=Account)
        assert me.password is None  # never read back
        me.password = "second-pass"
        updated = await app.users.update(me)
        assert updated.password is None and updated.email == "kim@example.com"
        sent = [r for r in emulator.requests if r.method == "PUT"][-1].json
        assert sent == {"password": "second-pass"}
        await app.users.logout()
        again = await app.users.login("kim@example.com", "second-pass", model=Account)
        assert again.objectId == me.objectId
        again.password = 12345  # type: ignore[assignment]
        with pytest.raises(TypeError, match="password"):
            await app.users.update(again)
