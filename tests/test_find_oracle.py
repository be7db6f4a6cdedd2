"""Finding users checked against a plain Python oracle, over real sockets.

One emulator (in a thread of its own, on a SQLite file) holds a few hundred users with varied
properties (strings with quotes and wildcards, ints, doubles, booleans, nulls, created/updated
dates). Clauses are built here as small trees, written out as text (with random keyword case
and minimal parentheses) and evaluated by this module's own three-valued oracle; the emulator
only ever sees the text. ``find_all`` (through paging) and ``count`` must give exactly what the
oracle gives, with no user twice and none missing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backendless_aio as bl
from backendless_aio.blocking import BlockingBackendless
from backendless_aio.emulator import Emulator, EmulatorSettings
from backendless_aio.query import literal

SERVER_KEY = "ORACLE-SERVER-KEY"
N_USERS = 240
NAMES = ["Ada", "ada", "Bob", "bob", "Zoë", "Émile", "O'Neil", "a_b", "100%", "back\\slash",
         "", None, None]
CITIES = ["Oslo", "oslo", "Rome", "Paris", "São Paulo", "New York", None]
TYPES = {"email": "STRING", "name": "STRING", "city": "STRING", "age": "INT",
         "score": "DOUBLE", "vip": "BOOLEAN", "created": "DATETIME", "updated": "DATETIME"}
FAST = settings(max_examples=45, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- the emulator and its users ----------------------------------------------------------------


class Users(list[dict[str, Any]]):
    """The oracle's users (a list, with a short repr for hypothesis's reports)."""

    def __repr__(self) -> str:
        return f"<{len(self)} users>"


@attrs.define
class Population:
    emulator: Emulator
    users: list[dict[str, Any]]  # as the oracle sees them: every column, None when unset
    app: BlockingBackendless
    http: requests.Session

    def post(self, route: str, body: Any) -> requests.Response:
        # the standard library's JSON writes even a lone surrogate (as an escape)
        return self.http.post(f"{self.emulator.root_url}/{route}", data=json.dumps(body),
                              headers={"Content-Type": "application/json"}, timeout=30)


def _populate(emu: Emulator, http: requests.Session) -> list[dict[str, Any]]:
    rng = random.Random(14)
    users: list[dict[str, Any]] = []
    for i in range(N_USERS):
        if i == 0:  # the first values fix the dynamic columns' types
            props: dict[str, Any] = {"name": "Ada", "city": "Oslo", "age": 30, "score": 1.5,
                                     "vip": True}
        else:
            props = {
                "name": rng.choice(NAMES),
                "city": rng.choice(CITIES),
                "age": None if rng.random() < 0.15 else rng.randint(0, 90),
                "score": None if rng.random() < 0.15 else round(rng.uniform(-10, 100), 2),
                "vip": rng.choice([True, False, None]),
            }
        sent = {k: v for k, v in props.items() if v is not None or rng.random() < 0.5}
        answer = http.post(f"{emu.root_url}/users/register",
                           json={"email": f"user{i:03d}@example.com", "password": "pw-123456",
                                 **sent}, timeout=30)
        assert answer.status_code == 200, answer.text
        data = answer.json()
        users.append({"objectId": data["objectId"], "email": data["email"],
                      "created": data["created"], "updated": None, **props})
        emu.advance_clock(rng.uniform(0, 2.5))
    for user in users[::3]:
        answer = http.put(f"{emu.server_root_url}/users/{user['objectId']}",
                          json={"name": user["name"]}, timeout=30)
        assert answer.status_code == 200, answer.text
        user["updated"] = answer.json()["updated"]
        emu.advance_clock(rng.uniform(0, 1.5))
    return users


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Population]:
    db = tmp_path_factory.mktemp("oracle") / "emu.sqlite3"
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    box: list[Emulator] = []
    loop_box: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        async with Emulator(EmulatorSettings(fast_password_hashing=True, db_path=str(db),
                                             server_api_key=SERVER_KEY)) as emu:
            done = asyncio.Event()
            stop.append(done)
            box.append(emu)
            loop_box.append(asyncio.get_running_loop())
            ready.set()
            await done.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30)
    emu = box[0]
    with requests.Session() as http, BlockingBackendless(
            app_id=emu.app_id, api_key=emu.api_key, server_url=emu.url) as app:
        try:
            yield Population(emu, Users(_populate(emu, http)), app, http)
        finally:
            loop_box[0].call_soon_threadsafe(stop[0].set)
            thread.join(30)


# -- clauses as trees, the oracle and the writer ---------------------------------------------

Value = Any


@attrs.frozen
class Pred:
    kind: str  # cmp, null, like, in, between, dateword
    column: str
    op: str = "="
    values: tuple[Value, ...] = ()
    negated: bool = False
    style: str = ""  # cmp: "flipped"; null: "eq"; dateword: the words


@attrs.frozen
class Not:
    child: Node


@attrs.frozen
class Bool:
    op: str  # AND / OR
    children: tuple[Node, ...]


Node = Pred | Not | Bool
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_ASCII_LOWER = {ord(c): ord(c) + 32 for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def like_matches(value: str, pattern: str) -> bool:
    """LIKE as the emulator documents it: % and _, \\ escapes, ASCII letters in any case."""
    value, pattern = value.translate(_ASCII_LOWER), pattern.translate(_ASCII_LOWER)
    regex, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            regex.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        regex.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(regex), value, re.DOTALL) is not None


@attrs.frozen
class DateLit:
    """A DATETIME literal written as a date string: ``millis`` is what it stands for."""

    text: str
    millis: int


def _plain(value: Value) -> Any:
    return value.millis if isinstance(value, DateLit) else value


def evaluate(node: Node, user: dict[str, Any]) -> bool | None:
    """SQL's three-valued logic: None is unknown."""
    if isinstance(node, Bool):
        results = [evaluate(c, user) for c in node.children]
        if node.op == "AND":
            return False if False in results else None if None in results else True
        return True if True in results else None if None in results else False
    if isinstance(node, Not):
        inner = evaluate(node.child, user)
        return None if inner is None else not inner
    x = user[node.column]
    values = [_plain(v) for v in node.values]
    if node.kind == "null":
        return (x is not None) if node.negated else (x is None)
    if x is None:
        return None
    if node.kind in ("cmp", "dateword"):
        return _OPS[node.op](x, values[0])
    if node.kind == "like":
        return like_matches(x, values[0]) != node.negated
    if node.kind == "in":
        return (x in values) != node.negated
    assert node.kind == "between"
    return (values[0] <= x <= values[1]) != node.negated


def _kw(word: str, case: str) -> str:
    return {"upper": word.upper(), "lower": word.lower(), "title": word.title()}[case]


def _lit(value: Value, case: str) -> str:
    if isinstance(value, DateLit):
        return literal(value.text)
    if isinstance(value, bool):
        return _kw(literal(value), case)
    return literal(value)


def write(node: Node, case: str, parent: int = 0) -> str:
    """The clause as text, with parentheses only where precedence needs them
    (OR 1 < AND 2 < NOT 3)."""
    if isinstance(node, Bool):
        prec = 1 if node.op == "OR" else 2
        text = f" {_kw(node.op, case)} ".join(write(c, case, prec) for c in node.children)
        return f"({text})" if parent > prec else text
    if isinstance(node, Not):
        return f"{_kw('NOT', case)} {write(node.child, case, 3)}"
    col, not_ = node.column, _kw("NOT ", case) if node.negated else ""
    values = [_lit(v, case) for v in node.values]
    if node.kind == "cmp":
        op = "<>" if node.op == "!=" and case == "lower" else node.op
        if node.style == "flipped":
            return f"{values[0]} {_FLIP[op] if op != '<>' else op} {col}"
        return f"{col} {op} {values[0]}"
    if node.kind == "null":
        if node.style == "eq":
            return f"{col} {'!=' if node.negated else '='} {_kw('NULL', case)}"
        return f"{col} {_kw('IS', case)} {not_}{_kw('NULL', case)}"
    if node.kind == "like":
        return f"{col} {not_}{_kw('LIKE', case)} {values[0]}"
    if node.kind == "in":
        return f"{col} {not_}{_kw('IN', case)} ({', '.join(values)})"
    if node.kind == "dateword":
        return f"{col} {_kw(node.style, case)} {values[0]}"
    return (f"{col} {not_}{_kw('BETWEEN', case)} {values[0]} {_kw('AND', case)} "
            f"{values[1]}")


# -- strategies -------------------------------------------------------------------------------

_TEXT = st.text(alphabet="aAbBoOsSé'%_Ü \\", max_size=5)
_PATTERN = st.lists(st.sampled_from(["%", "_", "a", "A", "o", "O", "b", "s", "é", "Ü", "'",
                                     "\\%", "\\_", "\\\\", "\\a", " ", "0"]),
                    max_size=5).map("".join)
_MILLIS_FMT = ("%m/%d/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S.{ms}Z", "%d-%b-%Y")


def _date_lit(millis: int, fmt: str) -> DateLit:
    when = dt.datetime.fromtimestamp(millis / 1000, tz=dt.timezone.utc)
    if "{ms}" in fmt:
        return DateLit(when.strftime(fmt).replace("{ms}", f"{millis % 1000:03d}"), millis)
    if "%H" not in fmt:
        when = when.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        when = when.replace(microsecond=0)
    return DateLit(when.strftime(fmt), int(when.timestamp() * 1000))


def values_for(column: str, users: Sequence[dict[str, Any]]) -> st.SearchStrategy[Value]:
    present = sorted({u[column] for u in users if u[column] is not None}, key=repr)
    kind = TYPES[column]
    if kind == "STRING":
        return st.one_of(st.sampled_from(present), _TEXT)
    if kind == "INT":
        return st.one_of(st.sampled_from(present), st.integers(-5, 95),
                         st.sampled_from([29.5, 30.0, -0.5]))
    if kind == "DOUBLE":
        return st.one_of(st.sampled_from(present), st.floats(-11, 101, allow_nan=False),
                         st.integers(-10, 100))
    if kind == "BOOLEAN":
        return st.booleans()
    low, high = present[0] - 2000, present[-1] + 2000
    millis = st.one_of(st.sampled_from(present), st.integers(low, high))
    return st.one_of(millis, st.builds(_date_lit, millis, st.sampled_from(_MILLIS_FMT)))


@st.composite
def predicates(draw: st.DrawFn, users: Sequence[dict[str, Any]]) -> Pred:
    column = draw(st.sampled_from(sorted(TYPES)))
    kind_of = TYPES[column]
    kinds = ["cmp", "null", "in"]
    if kind_of != "BOOLEAN":
        kinds.append("between")
    if kind_of == "STRING":
        kinds.append("like")
    if kind_of == "DATETIME":
        kinds.append("dateword")
    kind = draw(st.sampled_from(kinds))
    value = values_for(column, users)
    negated = draw(st.booleans())
    if kind == "cmp":
        ops = ["=", "!="] if kind_of == "BOOLEAN" else list(_OPS)
        return Pred("cmp", column, draw(st.sampled_from(ops)), (draw(value),),
                    style=draw(st.sampled_from(["", "flipped"])))
    if kind == "null":
        return Pred("null", column, negated=negated, style=draw(st.sampled_from(["", "eq"])))
    if kind == "like":
        return Pred("like", column, values=(draw(_PATTERN),), negated=negated)
    if kind == "in":
        return Pred("in", column, values=tuple(draw(st.lists(value, min_size=1, max_size=4))),
                    negated=negated)
    if kind == "dateword":
        word, op = draw(st.sampled_from([("AFTER", ">"), ("BEFORE", "<"),
                                         ("AT OR AFTER", ">="), ("AT OR BEFORE", "<=")]))
        return Pred("dateword", column, op, (draw(value),), style=word)
    low, high = sorted([draw(value), draw(value)], key=_plain)
    return Pred("between", column, values=(low, high), negated=negated)


def clauses(users: Sequence[dict[str, Any]]) -> st.SearchStrategy[Node]:
    return st.recursive(
        predicates(users),
        lambda inner: st.one_of(
            st.builds(Not, inner),
            st.builds(Bool, st.sampled_from(["AND", "OR"]),
                      st.lists(inner, min_size=2, max_size=3).map(tuple))),
        max_leaves=5)


def expected(population: Population, node: Node | None) -> list[str]:
    return sorted(u["email"] for u in population.users
                  if node is None or evaluate(node, u) is True)


def found(population: Population, where: str | None, page_size: int) -> list[str]:
    emails = [u.email or "" for u in population.app.users.find_all(
        where, props=["email"], page_size=page_size)]
    assert len(emails) == len(set(emails)), "a user came twice"
    return sorted(emails)


# -- the tests --------------------------------------------------------------------------------


def test_the_oracle_agrees_with_itself_on_like() -> None:
    assert like_matches("O'Neil", "o'%") and like_matches("100%", "100\\%")
    assert not like_matches("1000", "100\\%") and like_matches("a_b", "a\\_b")
    assert not like_matches("axb", "a\\_b") and like_matches("Zoë", "zo_")
    assert not like_matches("Émile", "émile")  # only ASCII letters fold


FIXED = [
    Pred("cmp", "age", ">", (40,)),
    Pred("cmp", "age", "<=", (29.5,)),
    Pred("cmp", "age", "<=", (30,)),
    Pred("cmp", "score", ">=", (1.5,), style="flipped"),
    Pred("cmp", "name", "=", ("O'Neil",)),
    Pred("cmp", "name", "!=", ("Ada",)),
    Pred("cmp", "city", "<", ("Paris",), style="flipped"),
    Pred("null", "age"),
    Pred("null", "vip", negated=True, style="eq"),
    Pred("cmp", "vip", "=", (False,)),
    Pred("like", "name", values=("%\\%",)),
    Pred("like", "name", values=("a%",), negated=True),
    Pred("like", "city", values=("s_o %",)),
    Pred("in", "city", values=("Oslo", "Rome", "nowhere")),
    Pred("in", "age", values=(1, 2, 3, 30), negated=True),
    Pred("between", "score", values=(0, 50.5)),
    Bool("OR", (Pred("cmp", "age", "<", (10,)),
                Bool("AND", (Pred("cmp", "vip", "=", (True,)), Pred("null", "city"))))),
    Not(Bool("AND", (Pred("cmp", "age", ">", (20,)), Pred("cmp", "score", "<", (50,))))),
    Not(Pred("cmp", "age", ">", (45,))),
]


@pytest.mark.parametrize("case", ["upper", "lower"])
def test_fixed_clauses_through_paging(population: Population, case: str) -> None:
    users = population.users
    created = sorted(u["created"] for u in users)
    dated = [
        Pred("dateword", "created", ">", (created[100],), style="AFTER"),
        Pred("cmp", "updated", ">=", (_date_lit(created[60], "%m/%d/%Y %H:%M:%S"),)),
        Pred("dateword", "created", "<=", (_date_lit(created[30], _MILLIS_FMT[1]),),
             style="AT OR BEFORE"),
        Pred("between", "created", values=(created[10], created[200])),
    ]
    for page_size in (7, 100):
        for node in [*FIXED, *dated]:
            where = write(node, case)
            want = expected(population, node)
            assert found(population, where, page_size) == want, where
            assert population.app.users.count(where) == len(want), where
    assert found(population, None, 33) == expected(population, None)
    assert population.app.users.count() == N_USERS


def test_sorted_paging_gives_the_oracle_order(population: Population) -> None:
    def key(u: dict[str, Any]) -> tuple[Any, ...]:
        city, age = u["city"], u["age"]
        # NULL first ascending (SQLite, MySQL), so last descending
        return (city is not None, city or "", -(age if age is not None else -1))

    want = [(u["city"], u["age"]) for u in sorted(population.users, key=key)]
    for page_size in (9, 100):
        got = [(u.get_property("city"), u.get_property("age")) for u in
               population.app.users.find_all(sort_by=["city", "age DESC"], page_size=page_size,
                                             props=["email", "city", "age"])]
        assert got == want
    # ties are broken by insertion order, in the direction of the last key
    newest = population.app.users.find_last()
    oldest = population.app.users.find_first()
    assert newest is not None and oldest is not None
    assert newest.email == population.users[-1]["email"]
    assert oldest.email == population.users[0]["email"]
    top = population.app.users.find_last("age IS NOT NULL", sort_by="age")
    assert top is not None
    assert top.get_property("age") == max(u["age"] for u in population.users
                                           if u["age"] is not None)


@FAST
@given(data=st.data())
def test_generated_clauses_match_the_oracle(population: Population, data: st.DataObject) -> None:
    node = data.draw(clauses(population.users))
    case = data.draw(st.sampled_from(["upper", "lower", "title"]))
    page_size = data.draw(st.sampled_from([17, 100]))
    where = write(node, case)
    want = expected(population, node)
    assert population.app.users.count(where) == len(want), where
    assert found(population, where, page_size) == want, where


@settings(max_examples=40, deadline=None, database=None)
@given(text=st.text(max_size=12) | st.sampled_from(["' OR '1'='1", "x'); DROP TABLE users; --",
                                                   "%", "_", "\\", "''", "' OR 1=1 --"]))
def test_quotes_and_sql_in_literals_never_widen_a_query(population: Population,
                                                        text: str) -> None:
    want = sum(1 for u in population.users if u["name"] == text)
    assert population.app.users.count(f"name = {literal(text)}") == want
    want = sum(1 for u in population.users if u["email"] == text)
    assert population.app.users.count(f"email = {literal(text)}") == want
    assert population.app.users.count() == N_USERS  # and nothing was dropped


_SALAD = st.lists(st.sampled_from([
    "age", "name", "created", "vip", "nosuch", "AND", "or", "NOT", "IN", "IS", "NULL", "LIKE",
    "BETWEEN", "after", "at", "(", ")", ",", "=", "<>", "!=", ">=", "<", "'x'", "'", "''", "1",
    "-2.5", "1e3", "9999999999999999999999", "TRUE", "\"q\"", "a.b", "f(", "%", "\\", " ",
    "\x00", "\ud800", "é", "--", ";", "*"]), max_size=12).map(" ".join)


@settings(max_examples=60, deadline=None, database=None)
@given(text=st.text(max_size=30) | _SALAD)
def test_random_text_is_a_fault_or_an_answer_never_a_500(population: Population,
                                                         text: str) -> None:
    for route, body in (("data/Users/find", {"where": text, "pageSize": 5}),
                        ("data/Users/count", {"where": text})):
        answer = population.post(route, body)
        assert answer.status_code in (200, 400), (text, answer.status_code, answer.text)
        data = answer.json()
        if answer.status_code == 400:
            # 400: a body JSON cannot carry (a lone surrogate); 1017: the clause
            assert data["code"] in (1017, 400) and data["message"], (text, data)
        else:
            assert isinstance(data, list if route.endswith("find") else int)


def test_client_faults_for_bad_clauses(population: Population) -> None:
    with pytest.raises(bl.BackendlessFault) as caught:
        population.app.users.find("age = 'old'")
    assert caught.value.code == 1017 and "type" in caught.value.message
    with pytest.raises(bl.BackendlessFault) as caught:
        population.app.users.count("shoeSize > 3")
    assert caught.value.code == 1017 and "shoeSize" in caught.value.message
    with pytest.raises(bl.BackendlessFault) as caught:
        population.app.users.find(sort_by="nosuch")
    assert caught.value.code == 1006


def test_blocking_callbacks(population: Population) -> None:
    want = sum(1 for u in population.users if u["vip"] is True)
    got: list[Any] = []
    future = population.app.users.count("vip = true", bl.AsyncCallback(got.append))
    assert future.result(30) == want and got == [want]
    faults: list[BaseException] = []
    future = population.app.users.find_first("age = 'x'", bl.AsyncCallback(None, faults.append))
    with pytest.raises(bl.BackendlessFault):
        future.result(30)
    assert isinstance(faults[0], bl.BackendlessFault) and faults[0].code == 1017
    pages = population.app.users.find_all("vip = true", page_size=10)
    first = next(pages)
    pages.close()  # leaving early closes the pages on the facade's loop
    assert first.get_property("vip") is True
    with pytest.raises(ValueError):
        population.app.users.find_all(page_size=101)
