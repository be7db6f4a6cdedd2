"""Property values on the client: what set_property accepts, read-only system properties, and
datetimes that come back as datetimes on every read path (against the emulator)."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_roles_client import ROLE, console_app
from test_roles_client import client as role_client

import backendless_aio as bl
from backendless_aio import wire
from backendless_aio.emulator import Emulator, EmulatorSettings
from backendless_aio.emulator.faults import FaultRule
from backendless_aio.values import PropertyTypes, check_value

PASSWORD = "s3cret-pass"
UTC = dt.timezone.utc
WHEN = dt.datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)
NESTED_101: Any = 1
for _ in range(101):
    NESTED_101 = [NESTED_101]


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    """conftest's ``emulator`` (cheap hashes, recorded requests, a SQLite file), by this file's
    short name."""
    return emulator


def make_app(emu: Emulator) -> bl.Backendless:
    return bl.Backendless(app_id=emu.app_id, api_key=emu.api_key, server_url=emu.url,
                          retry=bl.RetryPolicy(backoff=False))


@pytest.fixture
async def app(emu: Emulator) -> AsyncIterator[bl.Backendless]:
    async with make_app(emu) as application:
        yield application


async def login(app: bl.Backendless, email: str = "amy@example.com",
                **props: Any) -> bl.BackendlessUser:
    await app.users.register({"email": email, "password": PASSWORD, **props})
    return await app.users.login(email, PASSWORD)


def describes(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.path.endswith("/users/userclassprops"))


# -- what set_property accepts -------------------------------------------------------------------
@pytest.mark.parametrize(("value", "error"), [
    (math.nan, ValueError), (math.inf, ValueError), (-math.inf, ValueError),
    (2**70, ValueError), (2**53, ValueError), (-(2**53), ValueError),
    (object(), TypeError), (b"bytes", TypeError), (decimal.Decimal("1.5"), TypeError),
    (dt.datetime(2024, 5, 1), ValueError), (dt.date(2024, 5, 1), TypeError),
    ({1, 2}, TypeError), ({"a": math.nan}, ValueError), ([object()], TypeError),
    ({1: "a"}, TypeError), ([WHEN], TypeError), ("\ud800", ValueError),
    (NESTED_101, ValueError),
])
def test_values_that_cannot_round_trip_are_refused_naming_the_property(
        value: Any, error: type[Exception]) -> None:
    user = bl.BackendlessUser({"objectId": "ID-1", "kept": 1})
    with pytest.raises(error) as caught:
        user.set_property("favourite", value)
    assert "'favourite'" in str(caught.value)
    assert user.changed == frozenset({"kept"}) and "favourite" not in user
    with pytest.raises(error):
        bl.BackendlessUser({"favourite": value})


def test_accepted_values_are_kept_as_they_will_come_back() -> None:
    user = bl.BackendlessUser()
    paris = dt.timezone(dt.timedelta(hours=2))
    user.set_properties({"t": (1, "a", [True]), "d": WHEN.astimezone(paris),
                         "fine": dt.datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
                         "n": 2**53 - 1, "x": -0.5, "j": {"k": [None, 1.5]}})
    assert user.get_property("t") == [1, "a", [True]]  # a tuple is a JSON array
    assert user.get_property("d") == WHEN and user.get_property("d").tzinfo is UTC
    assert user.get_property("fine").microsecond == 123000  # Backendless keeps milliseconds
    assert user.get_property("n") == 2**53 - 1 and user.get_property("j") == {"k": [None, 1.5]}


@pytest.mark.parametrize("name", ["objectId", "ownerId", "created", "updated", "___class",
                                  "lastLogin", "userStatus", "socialAccount", "accountType"])
def test_system_properties_are_read_only(name: str) -> None:
    user = bl.BackendlessUser({"objectId": "ID-1"})
    with pytest.raises(ValueError, match=name):
        user.set_property(name, "other")
    assert user.object_id == "ID-1" and user.changed == frozenset()


async def test_a_user_built_from_an_object_id_updates_that_user(app: bl.Backendless) -> None:
    me = await login(app)
    other = bl.BackendlessUser({"objectId": me.object_id, "created": 5, "city": "Oslo"})
    assert other.changed == frozenset({"city"})  # system properties are never sent
    await app.users.update(other)
    assert other.get_property("city") == "Oslo" and other.get_property("email") == me.email
    with pytest.raises(TypeError):
        bl.BackendlessUser({"objectId": 42})


# -- datetimes on every read path -----------------------------------------------------------------
async def test_a_datetime_comes_back_as_the_same_datetime_on_every_read_path(
        app: bl.Backendless, emu: Emulator) -> None:
    me = await login(app)
    me.set_property("birthday", WHEN)
    answer = await app.users.update(me)
    put = [r for r in emu.requests if r.method == "PUT"][-1]
    assert put.json == {"birthday": "2024-05-01T12:30:15.250Z"}  # a new column: typed by form
    assert answer.get_property("birthday") == WHEN
    types = {p.name: p.type for p in await app.users.describe_user_class()}
    assert types["birthday"] == "DATETIME"
    later = WHEN + dt.timedelta(days=1)
    me.set_property("birthday", later)
    await app.users.update(me)
    put = [r for r in emu.requests if r.method == "PUT"][-1]
    assert put.json == {"birthday": int(later.timestamp() * 1000)}  # a known DATETIME column
    assert me.get_property("birthday") == later
    reloaded = await app.users.get_current_user(reload=True)
    assert reloaded is not None and reloaded.get_property("birthday") == later
    found = await app.users.find_by_id(me.object_id or "")
    assert found.get_property("birthday") == later
    assert found.properties["birthday"] == later
    picked = await app.users.find_by_id(me.object_id or "", props=["birthday"])
    assert picked.get_property("birthday") == later
    (queried,) = await app.users.find("email = 'amy@example.com'")
    assert queried.get_property("birthday") == later
    assert [u.get_property("birthday") async for u in app.users.find_all()] == [later]
    first = await app.users.find_first()
    assert first is not None and first.get_property("birthday") == later
    await app.users.logout()
    again = await app.users.login("amy@example.com", PASSWORD)
    assert again.get_property("birthday") == later
    fresh = await app.users.register({"email": "bo@example.com", "password": PASSWORD,
                                      "birthday": WHEN})
    assert fresh.get_property("birthday") == WHEN


async def test_a_new_app_learns_the_types_once(emu: Emulator) -> None:
    async with make_app(emu) as first:
        me = await login(first, birthday=WHEN, score=7)
        assert me.get_property("birthday") == WHEN
    async with make_app(emu) as second:  # knows nothing yet: one userclassprops
        before = describes(emu)
        me = await second.users.login("amy@example.com", PASSWORD)
        assert me.get_property("birthday") == WHEN and me.get_property("score") == 7
        assert describes(emu) == before + 1
        await second.users.find_by_id(me.object_id or "")
        me.set_property("score", 8)
        await second.users.update(me)
        other = second.users.session("other")
        await other.login("amy@example.com", PASSWORD)  # scopes share the app's knowledge
        assert describes(emu) == before + 1


async def test_when_the_types_cannot_be_learnt_values_stay_numbers(
        emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    async with make_app(emu) as first:
        await login(first, birthday=WHEN)
    emu.faults.add(FaultRule(kind="status", status=400, code=1000, path_contains="userclassprops"))
    async with make_app(emu) as second:
        me = await second.users.login("amy@example.com", PASSWORD)
        assert me.get_property("birthday") == int(WHEN.timestamp() * 1000)
        await second.users.find_by_id(me.object_id or "")
        assert describes(emu) == 1  # not asked again for the same columns
    assert "property_types_failed" in caplog.text


async def test_a_datetime_into_a_number_column_is_refused_by_the_server(
        app: bl.Backendless) -> None:
    me = await login(app, stamp=1714566600000)
    await app.users.describe_user_class()
    me.set_property("stamp", WHEN)
    with pytest.raises(bl.BackendlessFault) as caught:
        await app.users.update(me)
    assert caught.value.code == 3024 and "stamp" in caught.value.message
    assert "invalid data type" in caught.value.message


# -- any value the client accepts comes back equal ---------------------------------------------
_ints = st.integers(-(2**53 - 1), 2**53 - 1)
_floats = st.floats(allow_nan=False, allow_infinity=False)
_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
_json = st.recursive(
    st.none() | st.booleans() | _ints | _floats | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8)
_dates = st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
                      timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=-5))]))
VALUES = (st.booleans() | _ints | _floats | _text | _dates
          | st.lists(_json, max_size=3) | st.dictionaries(_text, _json, max_size=3))


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def round_trip(loop: asyncio.AbstractEventLoop, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Any]:
    """One emulator, app and logged-in user for every example."""
    path = tmp_path_factory.mktemp("round-trip") / "emu.sqlite3"
    emu = Emulator(EmulatorSettings(fast_password_hashing=True, db_path=str(path)))
    loop.run_until_complete(emu.start())
    app = make_app(emu)
    user = loop.run_until_complete(login(app))
    counter = iter(range(10**9))

    async def check(value: Any) -> None:
        name = f"p{next(counter)}"  # a fresh column each time: the value's type makes it
        user.set_property(name, value)
        kept = user.get_property(name)
        await app.users.update(user)
        assert user.get_property(name) == kept
        reloaded = await app.users.find_by_id(user.object_id or "")
        assert reloaded.get_property(name) == kept
        assert type(reloaded.get_property(name)) is type(kept)

    yield lambda value: loop.run_until_complete(check(value))
    loop.run_until_complete(app.aclose())
    loop.run_until_complete(emu.stop())


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=VALUES)
def test_any_accepted_value_comes_back_equal_after_update_and_reload(
        round_trip: Any, value: Any) -> None:
    round_trip(value)


async def test_numbers_this_client_wrote_need_no_question(app: bl.Backendless,
                                                          emu: Emulator) -> None:
    me = await login(app, score=7)  # register sent 7 and got 7 back: a number column
    me.set_property("level", 3)
    await app.users.update(me)
    await app.users.find_by_id(me.object_id or "")
    assert describes(emu) == 0
    assert me.get_property("score") == 7 and me.get_property("level") == 3


async def test_the_role_and_object_id_read_paths_give_datetimes_too(
        emulator: Emulator, emu_http: aiohttp.ClientSession) -> None:
    app_id, keys = await console_app(emulator, emu_http)
    async with role_client(emulator, app_id, keys["JS"]) as app, \
            role_client(emulator, app_id, keys["BL"], server_key=True) as admin:
        await app.users.register({"email": "r@example.com", "password": PASSWORD,
                                  "birthday": WHEN})
        await admin.users.assign_role("r@example.com", ROLE)
        (found,) = await admin.users.find_by_role(ROLE)
        assert found.get_property("birthday") == WHEN
        me = await admin.users.login_by_object_id(found.object_id or "")
        assert me.get_property("birthday") == WHEN


@settings(max_examples=200, deadline=None)
@given(value=VALUES)
def test_accepted_values_survive_json_unchanged(value: Any) -> None:
    """Pure: what check_value keeps goes through the wire's JSON and back equal (datetimes as
    the milliseconds of a DATETIME column)."""
    kept = check_value("p", value)
    types = PropertyTypes()
    if isinstance(kept, dt.datetime):
        types.created(["p"])  # a known DATETIME column: milliseconds on the wire
    sent, created = types.encode({"p": kept})
    assert created == []
    back = orjson.loads(wire.dumps(sent))
    types.convert(back)
    assert back["p"] == kept and type(back["p"]) is type(kept)
