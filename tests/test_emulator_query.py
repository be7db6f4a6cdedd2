"""The emulator's whereClause parser and compiler, directly (pure: no server)."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backendless_aio.emulator.query import (
    MAX_DEPTH,
    MAX_PREDICATES,
    Column,
    QueryError,
    compile_sort,
    compile_where,
    parse_date,
    parse_sort,
)

COLUMNS = {
    "name": Column("STRING", "json_extract(props, ?)", ('$."name"',)),
    "age": Column("INT", "json_extract(props, ?)", ('$."age"',)),
    "score": Column("DOUBLE", "json_extract(props, ?)", ('$."score"',)),
    "vip": Column("BOOLEAN", "json_extract(props, ?)", ('$."vip"',)),
    "created": Column("DATETIME", "created"),
    "objectId": Column("STRING_ID", "object_id"),
    "doc": Column("JSON", "json_extract(props, ?)", ('$."doc"',)),
    "accountType": Column("STRING", "?", ("BACKENDLESS",)),
}
ROWS = [
    ("A", 1000, '{"name": "Ada", "age": 36, "score": 1.5, "vip": true}'),
    ("B", 2000, '{"name": "O\'Neil", "age": 20, "vip": false}'),
    ("C", 3000, '{"name": "100%", "score": -2}'),
    ("D", 4000, "{}"),
]


@pytest.fixture(scope="module")
def db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE users (object_id TEXT, created INTEGER, props TEXT)")
    db.executemany("INSERT INTO users VALUES (?, ?, ?)", ROWS)
    return db


def ids(db: sqlite3.Connection, where: str) -> list[str]:
    compiled = compile_where(where, COLUMNS)
    assert compiled is not None
    sql = f"SELECT object_id FROM users WHERE {compiled.sql} ORDER BY rowid"
    return [row[0] for row in db.execute(sql, compiled.params)]


@pytest.mark.parametrize(("where", "expected"), [
    ("age > 30", ["A"]),
    ("age >= 20 and vip = false", ["B"]),
    ("name = 'O''Neil'", ["B"]),
    ("name LIKE '100\\%'", ["C"]),
    ("name like 'a%'", ["A"]),  # ASCII letters in any case
    ("name NOT LIKE '%e%'", ["A", "C"]),
    ("age IS NULL", ["C", "D"]),
    ("age is not null", ["A", "B"]),
    ("vip = null", ["C", "D"]),
    ("vip <> null", ["A", "B"]),
    ("age IN (20, 21)", ["B"]),
    ("age NOT IN (20)", ["A"]),  # NULL is neither in nor not in
    ("score BETWEEN -2 AND 1.5", ["A", "C"]),
    ("score not between 0 and 1", ["A", "C"]),
    ("30 < age", ["A"]),
    ("age > 10 OR score < 0 AND name = 'nobody'", ["A", "B"]),  # AND binds tighter
    ("(age > 10 OR score < 0) AND name = '100%'", ["C"]),
    ("NOT age > 30", ["B"]),
    ("not (age > 30 or vip = true)", ["B"]),
    ("created after 2000", ["C", "D"]),
    ("created BEFORE 2000", ["A"]),
    ("created at or after 2000 and created AT OR BEFORE 3000", ["B", "C"]),
    ("created > '01/01/1970 00:00:02'", ["C", "D"]),
    ("objectId IN ('A', 'D')", ["A", "D"]),
    ("accountType = 'BACKENDLESS' and age = 36", ["A"]),
    ("doc IS NULL", ["A", "B", "C", "D"]),
    ("age = 36.0", ["A"]),
    ("score >= 1.5e0", ["A"]),
    ("name = ''' OR ''1''=''1'", []),
])
def test_clauses(db: sqlite3.Connection, where: str, expected: list[str]) -> None:
    assert ids(db, where) == expected


def test_values_are_always_bound_parameters() -> None:
    hostile = "x' OR 1=1; DROP TABLE users; --"
    compiled = compile_where(f"name = '{hostile.replace(chr(39), chr(39) * 2)}'", COLUMNS)
    assert compiled is not None
    assert hostile in compiled.params and "DROP" not in compiled.sql and "1=1" not in compiled.sql
    assert compile_where(None, COLUMNS) is None and compile_where("  ", COLUMNS) is None


@pytest.mark.parametrize(("where", "words"), [
    ("age >", "expected a value"),
    ("age = 'old'", "does not match the type"),
    ("vip > true", "BOOLEAN"),
    ("name > 5", "does not match the type"),
    ("shoeSize = 44", "does not exist"),
    ("password = 'x'", "does not exist"),
    ("name = \"Ada\"", "single quotes"),
    ("name = 'Ada", "not closed"),
    ("name LIKE 5", "pattern"),
    ("age LIKE '3%'", "text column"),
    ("name LIKE 'a\\'", "backslash"),
    ("age after 5", "compare dates"),
    ("created > 'yesterday'", "supported format"),
    ("created > 1.5", "does not match the type"),
    ("doc = 'x'", "IS [NOT] NULL"),
    ("friend.name = 'x'", "related properties"),
    ("lower(name) = 'x'", "functions"),
    ("age = score", "two columns"),
    ("age = 99999999999999999999", "out of range"),
    ("age = 1e999", "out of range"),
    ("age = 12abc", "malformed number"),
    ("age ~ 3", "unexpected character"),
    ("age === 3", "unknown operator"),
    ("age = 3 age = 4", "AND, OR"),
    ("(age = 3", "')'"),
    ("()", "a column name"),
    ("age IN ()", "a value"),
    ("age BETWEEN 1 OR 2", "AND"),
    ("age IS 3", "NULL"),
    ("age NOT = 3", "LIKE, IN or BETWEEN"),
    ("name = 'x\ud800'", "surrogate"),
])
def test_faults(where: str, words: str) -> None:
    with pytest.raises(QueryError) as caught:
        compile_where(where, COLUMNS)
    assert caught.value.code == 1017
    assert words in caught.value.message, caught.value.message


def test_limits() -> None:
    deep = "(" * (MAX_DEPTH + 1) + "age = 1" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(QueryError, match="nested deeper"):
        compile_where(deep, COLUMNS)
    many = " OR ".join(["age = 1"] * (MAX_PREDICATES + 1))
    with pytest.raises(QueryError, match="more than"):
        compile_where(many, COLUMNS)
    within = " OR ".join(["age = 1"] * MAX_PREDICATES)
    assert compile_where(within, COLUMNS) is not None
    with pytest.raises(QueryError, match="values"):
        compile_where("age IN (" + ", ".join(["1"] * 2001) + ")", COLUMNS)


@pytest.mark.parametrize(("text", "millis"), [
    ("03/23/2015", 1427068800000),
    ("23-Mar-2015", 1427068800000),
    ("23/Mar/2015", 1427068800000),
    ("03.23.2015", 1427068800000),
    ("03-23-2015 00:00:01", 1427068801000),
    ("2015-03-23T00:00:00.250Z", 1427068800250),
    ("10/28/1988 00:00:00 GMT-0200", 594007200000),
    ("03/23/2015 01:02", 1427072520000),
    ("Monday, 23 March 2015", 1427068800000),
    ("2015/03/23/10:30", 1427106600000),
    ("Mon Mar 23 00:00:00 UTC 2015", 1427068800000),
    ("2015-03-23", 1427068800000),
])
def test_dates(text: str, millis: int) -> None:
    assert parse_date(text) == millis


def test_sort() -> None:
    keys = parse_sort(["name", "age DESC, created asc", " "], COLUMNS)
    assert [(k.column, k.descending) for k in keys] == [
        ("name", False), ("age", True), ("created", False)]
    order = compile_sort(keys, COLUMNS, "rowid")
    assert order.sql.endswith("created ASC, rowid ASC")
    assert order.params == ('$."name"', '$."age"')
    assert compile_sort([], COLUMNS, "rowid").sql == "rowid ASC"
    for bad, words in (("nosuch", "does not exist"), ("age sideways", "use 'column'"),
                       ("age desc extra", "use 'column'")):
        with pytest.raises(QueryError, match=words) as caught:
            parse_sort([bad], COLUMNS)
        assert caught.value.code == 1006


_WORDS = st.sampled_from([
    "age", "name", "vip", "created", "doc", "nosuch", "AND", "OR", "NOT", "IN", "IS", "NULL",
    "LIKE", "BETWEEN", "AFTER", "AT", "(", ")", ",", "=", "<>", "!=", "<=", ">", "'a'", "'",
    "''", "1", "-2.5", "1e3", "TRUE", "false", "%", "\\", "'x%'", "'03/23/2015'", "é"])


@settings(max_examples=400, deadline=None, database=None)
@given(text=st.text(max_size=40) | st.lists(_WORDS, max_size=14).map(" ".join))
def test_any_text_is_a_query_error_or_sql_that_runs(db: sqlite3.Connection, text: str) -> None:
    try:
        compiled = compile_where(text, COLUMNS)
    except QueryError as exc:
        assert exc.code == 1017 and exc.message.startswith("Invalid where clause")
        return
    if compiled is not None:
        sql = f"SELECT count(*) FROM users WHERE {compiled.sql}"
        db.execute(sql, compiled.params).fetchone()
