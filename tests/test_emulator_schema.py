"""Column types in the emulator: the pure rules (schema.py) and what the Users API does."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from conftest import RawClient
from hypothesis import given
from hypothesis import strategies as st

from backendless_aio._codes import Code
from backendless_aio.emulator import schema
from backendless_aio.emulator.schema import ValueRefused, coerce, infer_type, parse_date

UTC = dt.timezone.utc
INVALID = ("Unable to save object - invalid data type for properties - {}. You can change the "
           "property type in developer console.")


def ms(*args: int, tz: dt.tzinfo = UTC) -> int:
    return int(dt.datetime(*args, tzinfo=tz).timestamp() * 1000)  # type: ignore[misc]


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


# -- the pure rules -----------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "kind"), [
    (True, "BOOLEAN"), (False, "BOOLEAN"), (0, "INT"), (-(2**40), "INT"), (1.5, "DOUBLE"),
    (2.0, "DOUBLE"), ("text", "STRING"), ("", "STRING"), (None, "STRING"), ({}, "JSON"),
    ([1, "a"], "JSON"), ("2024-05-01T12:30:00.000Z", "DATETIME"),
    ("2024-05-01T12:30:00Z", "DATETIME"), ("2024-05-01", "STRING"),
    ("2024-05-01T12:30:00+02:00", "STRING"),
])
def test_infer_type(value: Any, kind: str) -> None:
    assert infer_type(value) == kind


def test_the_persistence_js_refusals() -> None:
    """Backendless's own e2e test: a string into INT, DOUBLE, DATETIME and BOOLEAN columns."""
    for name, kind in (("price", "INT"), ("discount", "DOUBLE"), ("delivered", "BOOLEAN")):
        with pytest.raises(ValueRefused) as caught:
            coerce(name, kind, "invalid number")
        assert caught.value.message == INVALID.format(name)
        assert caught.value.name == name
    with pytest.raises(ValueRefused) as caught:
        coerce("ordered", "DATETIME", "invalid number")
    assert caught.value.message == "Invalid date format for property ordered"


@pytest.mark.parametrize(("kind", "value", "stored"), [
    ("INT", 5, 5), ("INT", 5.0, 5), ("INT", 2**53 - 1, 2**53 - 1), ("DOUBLE", 5, 5.0),
    ("DOUBLE", -0.25, -0.25), ("BOOLEAN", False, False), ("STRING", "x", "x"),
    ("TEXT", "long", "long"), ("JSON", {"a": [1, None]}, {"a": [1, None]}), ("JSON", "s", "s"),
    ("JSON", 3, 3), ("DATETIME", 1714566600000, 1714566600000),
    ("DATETIME", "2024-05-01T12:30:00.000Z", ms(2024, 5, 1, 12, 30)),
    ("DATETIME", 1714566600000.0, 1714566600000), ("JSON", nested(100), nested(100)),
    *((kind, None, None) for kind in sorted(schema.TYPES)),
])
def test_coerce_accepts(kind: str, value: Any, stored: Any) -> None:
    result = coerce("p", kind, value)
    assert result == stored and type(result) is type(stored)


@pytest.mark.parametrize(("kind", "value"), [
    ("INT", 1.5), ("INT", "5"), ("INT", True), ("INT", 2**53), ("INT", -(2**53)),
    ("INT", [1]), ("DOUBLE", "1.5"), ("DOUBLE", False), ("DOUBLE", math.nan),
    ("DOUBLE", math.inf), ("BOOLEAN", 1), ("BOOLEAN", "true"), ("STRING", 5), ("STRING", True),
    ("STRING", {"a": 1}), ("DATETIME", True), ("DATETIME", "yesterday"), ("DATETIME", 1.5),
    ("DATETIME", 10**17), ("DATETIME", "2024-13-01"), ("JSON", [math.nan]),
    ("JSON", {"a": 2**60}), ("JSON", -math.inf), ("JSON", nested(101)),
])
def test_coerce_refuses(kind: str, value: Any) -> None:
    with pytest.raises(ValueRefused) as caught:
        coerce("prop", kind, value)
    assert "prop" in caught.value.message


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-05-01", ms(2024, 5, 1)),
    ("2024-05-01T12:30", ms(2024, 5, 1, 12, 30)),
    ("2024-05-01T12:30:15.5Z", ms(2024, 5, 1, 12, 30, 15) + 500),
    ("2024-05-01 12:30:15.123", ms(2024, 5, 1, 12, 30, 15) + 123),
    ("2024-05-01T14:30:00+02:00", ms(2024, 5, 1, 12, 30)),
    ("2024-05-01T07:30:00-0500", ms(2024, 5, 1, 12, 30)),
    ("05/01/2024", ms(2024, 5, 1)),
    ("05/01/2024 12:30:00", ms(2024, 5, 1, 12, 30)),
    ("05/01/2024 14:30:00 GMT+0200", ms(2024, 5, 1, 12, 30)),
    ("23-Mar-2015", ms(2015, 3, 23)),  # the whereClause formats Backendless documents
    ("Mon Mar 23 10:00:00 UTC 2015", ms(2015, 3, 23, 10)),
    ("03.23.2015 10:00:00", ms(2015, 3, 23, 10)),
    ("not a date", None), ("2024-02-30", None), ("", None), ("1714566600000", None),
])
def test_parse_date(text: str, expected: int | None) -> None:
    assert parse_date(text) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-schema.MAX_SAFE_INT, schema.MAX_SAFE_INT)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_a_first_value_fits_the_column_it_creates(value: Any) -> None:
    kind = infer_type(value)
    stored = coerce("p", kind, value)
    assert coerce("p", kind, stored) == stored  # storing again changes nothing
    if kind != "DATETIME":
        assert stored == value


@given(st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
                    timezones=st.just(UTC)))
def test_iso_utc_dates_read_back_to_the_millisecond(when: dt.datetime) -> None:
    when = when.replace(microsecond=when.microsecond // 1000 * 1000)
    text = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert infer_type(text) == "DATETIME"
    expected = (when - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(milliseconds=1)
    assert coerce("d", "DATETIME", text) == expected


# -- the Users API with typed columns -----------------------------------------------------------
async def _types(emu_raw: RawClient) -> dict[str, str]:
    answer = await emu_raw.call("GET", "users/userclassprops")
    return {p["name"]: p["type"] for p in answer.json}


async def test_first_values_type_the_columns_and_wrong_types_are_refused(
        emu_raw: RawClient) -> None:
    user = await emu_raw.register(
        "order@example.com", title="t", price=1234, discount=2.5,
        ordered="2024-05-01T12:30:00.000Z", delivered=True, tags=["a"])
    assert user["ordered"] == ms(2024, 5, 1, 12, 30)  # a DATETIME goes out as milliseconds
    types = await _types(emu_raw)
    assert {k: types[k] for k in ("title", "price", "discount", "ordered", "delivered", "tags")} \
        == {"title": "STRING", "price": "INT", "discount": "DOUBLE", "ordered": "DATETIME",
            "delivered": "BOOLEAN", "tags": "JSON"}
    logged = await emu_raw.login("order@example.com")
    route, token = f"users/{user['objectId']}", logged["user-token"]
    for name, message in (("price", INVALID.format("price")),
                          ("discount", INVALID.format("discount")),
                          ("ordered", "Invalid date format for property ordered"),
                          ("delivered", INVALID.format("delivered"))):
        answer = await emu_raw.call("PUT", route, {name: "invalid number", "title": "changed"},
                                    token=token)
        assert (answer.status, answer.code) == (400, Code.UPDATE_GENERAL), answer.body
        assert answer.json["message"] == message
    stored = (await emu_raw.call("GET", f"data/Users/{user['objectId']}")).json
    assert stored["title"] == "t"  # nothing of a refused update is applied
    # a wrong type at registration is refused too, with the registration's code
    answer = await emu_raw.call("POST", "users/register",
                                {"email": "o2@example.com", "password": "pw-123456",
                                 "price": "cheap"})
    assert (answer.status, answer.code) == (400, Code.REGISTER_GENERAL)
    assert answer.json["message"] == INVALID.format("price")


async def test_datetime_columns_take_the_accepted_forms(emu_raw: RawClient) -> None:
    user = await emu_raw.register("d@example.com", birthday=ms(2000, 1, 2))
    assert (await _types(emu_raw))["birthday"] == "INT"  # a number types a column as INT
    logged = await emu_raw.login("d@example.com")
    route, token = f"users/{user['objectId']}", logged["user-token"]
    answer = await emu_raw.call("PUT", route, {"when": "2024-05-01T12:30:00.000Z"}, token=token)
    assert answer.json["when"] == ms(2024, 5, 1, 12, 30)
    for form in ("2024-05-01T14:30:00+02:00", "05/01/2024 12:30:00", ms(2024, 5, 1, 12, 30)):
        answer = await emu_raw.call("PUT", route, {"when": form}, token=token)
        assert answer.status == 200 and answer.json["when"] == ms(2024, 5, 1, 12, 30), form
    answer = await emu_raw.call("PUT", route, {"when": "tomorrow"}, token=token)
    assert answer.json["message"] == "Invalid date format for property when"


async def test_a_user_object_carries_every_column(emu_raw: RawClient) -> None:
    await emu_raw.register("a@example.com", score=3, nickname="a", note=None)
    other = await emu_raw.register("b@example.com")
    assert other["score"] is None and other["nickname"] is None
    found = (await emu_raw.call("GET", f"data/Users/{other['objectId']}")).json
    assert found["score"] is None and found["nickname"] is None
    types = await _types(emu_raw)
    assert "note" not in types  # a null creates no column: the first real value types it
    logged = await emu_raw.login("b@example.com")
    answer = await emu_raw.call("PUT", f"users/{other['objectId']}", {"note": 1.5},
                                token=logged["user-token"])
    assert answer.json["note"] == 1.5 and (await _types(emu_raw))["note"] == "DOUBLE"


async def test_int_columns_keep_floats_with_no_fraction_and_double_columns_take_ints(
        emu_raw: RawClient) -> None:
    user = await emu_raw.register("n@example.com", count=1, ratio=0.5)
    logged = await emu_raw.login("n@example.com")
    answer = await emu_raw.call("PUT", f"users/{user['objectId']}", {"count": 4.0, "ratio": 2},
                                token=logged["user-token"])
    assert answer.json["count"] == 4 and type(answer.json["count"]) is int
    assert answer.json["ratio"] == 2.0 and type(answer.json["ratio"]) is float
    answer = await emu_raw.call("PUT", f"users/{user['objectId']}", {"count": 4.5},
                                token=logged["user-token"])
    assert answer.json["message"] == INVALID.format("count")


async def test_deeply_nested_json_is_refused_never_a_500(emu_raw: RawClient) -> None:
    user = await emu_raw.register("deep@example.com", deep=nested(100))
    assert user["deep"] == nested(100)
    logged = await emu_raw.call("POST", "users/login",
                                {"login": "deep@example.com", "password": "pw-123456"})
    for depth in (101, 1000):  # orjson reads up to 1024 levels; storing them could not
        body = b'{"deep":' + b"[" * depth + b"1" + b"]" * depth + b"}"
        answer = await emu_raw.call("PUT", f"users/{user['objectId']}", data=body,
                                    token=logged.json["user-token"],
                                    headers={"Content-Type": "application/json"})
        assert (answer.status, answer.code) == (400, Code.UPDATE_GENERAL), answer.body
