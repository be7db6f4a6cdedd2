"""The `emulator` command as a process: first line, signals, flags, durability on kill -9."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from conftest import RawClient

from backendless_aio.emulator import DEFAULT_API_KEY, DEFAULT_APP_ID
from backendless_aio.emulator.cli import add_emulator_parser, settings_from_args

REPO = Path(__file__).resolve().parent.parent
PW = "pw-123456"
FIRST_LINE = re.compile(r"^Backendless emulator listening on (http://127\.0\.0\.1:(\d+))$")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


class Running:
    def __init__(self, proc: asyncio.subprocess.Process, url: str, lines: list[str]) -> None:
        self.proc = proc
        self.url = url
        self.lines = lines


@asynccontextmanager
async def emulator_process(*flags: str) -> AsyncIterator[Running]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "backendless_aio",
        "emulator",
        *flags,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    try:
        first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().rstrip("\n")
        match = FIRST_LINE.match(first)
        assert match, (first, await proc.stderr.read() if proc.stderr else b"")
        lines = [first]
        for _ in range(5):
            lines.append((await asyncio.wait_for(proc.stdout.readline(), 5)).decode().rstrip())
        yield Running(proc, match.group(1), lines)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    async with emulator_process("--port", "0", "--fast-password-hashing") as running:
        url = running.url
        assert int(url.rsplit(":", 1)[1]) > 0
        text = "\n".join(running.lines)
        assert DEFAULT_APP_ID in text and DEFAULT_API_KEY in text
        assert f"{url}/{DEFAULT_APP_ID}/{DEFAULT_API_KEY}" in text
        async with aiohttp.ClientSession() as http:
            client = RawClient(http, f"{url}/{DEFAULT_APP_ID}/{DEFAULT_API_KEY}")
            user = await client.register("a@b.co")
            assert user["email"] == "a@b.co"
            api = RawClient(http, f"{url}/api")
            assert (await api.login("a@b.co"))["objectId"] == user["objectId"]
        running.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(running.proc.wait(), 10) == 0


async def test_cli_sigint_exits_zero(tmp_path: Path) -> None:
    flags = ("--app-id", "MY-APP", "--api-key", "MY-KEY", "--db", str(tmp_path / "e.db"))
    async with emulator_process(*flags) as running:
        assert "MY-APP" in running.lines[1] and "MY-KEY" in running.lines[2]
        async with aiohttp.ClientSession() as http:
            answer = await RawClient(http, f"{running.url}/MY-APP/MY-KEY").call("GET", "info")
            assert answer.status == 200 and answer.json["appId"] == "MY-APP"
        running.proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(running.proc.wait(), 10) == 0
        assert running.proc.stderr is not None
        assert b"Traceback" not in await running.proc.stderr.read()


async def test_cli_flags_reach_the_server(tmp_path: Path) -> None:
    flags = (
        "--fast-password-hashing",
        "--no-registration",
        "--server-api-key",
        "SRV",
    )
    async with emulator_process(*flags) as running:
        async with aiohttp.ClientSession() as http:
            client = RawClient(http, f"{running.url}/{DEFAULT_APP_ID}/{DEFAULT_API_KEY}")
            answer = await client.call(
                "POST", "users/register", {"email": "a@b.co", "password": PW}
            )
            assert (answer.status, answer.code) == (403, 3009)
            assert (
                await client.call("GET", "info", root=f"{running.url}/{DEFAULT_APP_ID}/SRV")
            ).status == 200
        running.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(running.proc.wait(), 10) == 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backendless-aio")
    add_emulator_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_flags_map_to_settings() -> None:
    parser = build_parser()
    defaults = settings_from_args(parser.parse_args(["emulator"]))
    assert defaults.db_path == ":memory:" and defaults.port == 0 and defaults.host == "127.0.0.1"
    args = parser.parse_args(
        [
            "emulator",
            "--host", "0.0.0.0",
            "--port", "8765",
            "--app-id", "A",
            "--api-key", "K",
            "--extra-api-key", "K2",
            "--server-api-key", "S",
            "--db", "x.sqlite3",
            "--identity", "name",
            "--required", "phone",
            "--required", "city",
            "--no-dynamic-schema",
            "--cross-user", "allow",
            "--session-timeout", "60",
            "--multiple-logins", "allow",
            "--max-sessions", "3",
            "--lockout-after", "5",
            "--lockout-seconds", "30",
            "--no-registration",
            "--no-login",
            "--fast-password-hashing",
            "--max-body-bytes", "4096",
            "--fault-seed", "9",
            "--latency", "2.5",
        ]
    )  # fmt: skip
    assert args.func.__name__ == "run"
    s = settings_from_args(args)
    assert (s.host, s.port, s.app_id, s.api_key) == ("0.0.0.0", 8765, "A", "K")
    assert s.extra_api_keys == ("K2",) and s.server_api_key == "S" and s.db_path == "x.sqlite3"
    assert (s.identity, s.required, s.dynamic_schema) == ("name", ("phone", "city"), "refuse")
    assert (s.cross_user, s.session_timeout, s.multiple_logins) == ("allow", 60.0, "allow")
    assert (s.max_sessions, s.lockout_after, s.lockout_seconds) == (3, 5, 30.0)
    assert not s.registration_enabled and not s.login_enabled and s.fast_password_hashing
    assert (s.max_body_bytes, s.fault_seed, s.latency) == (4096, 9, 0.0025)
    assert defaults.latency == 0
    with pytest.raises(SystemExit):
        parser.parse_args(["emulator", "--cross-user", "sometimes"])
    with pytest.raises(SystemExit):
        parser.parse_args(["emulator", "--multiple-logins", "never"])


def test_console_and_confirmation_flags_map_to_settings() -> None:
    parser = build_parser()
    defaults = settings_from_args(parser.parse_args(["emulator"]))
    assert (defaults.console_login, defaults.console_password) == ("foo@foo.com", "secret")
    assert not defaults.email_confirmation and defaults.unconfirmed_login and not defaults.strict
    s = settings_from_args(parser.parse_args([
        "emulator", "--email-confirmation", "--no-unconfirmed-login", "--strict",
        "--console-login", "dev@x.co", "--console-password", "pw",
    ]))
    assert s.email_confirmation and not s.unconfirmed_login and s.strict
    assert (s.console_login, s.console_password) == ("dev@x.co", "pw")
    assert s.app_settings().strict and s.app_settings().email_confirmation


async def test_bad_settings_exit_2(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "backendless_aio", "emulator", "--session-timeout", "-5",
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2 and b"session_timeout" in err and out == b""


async def test_answered_updates_survive_kill_9(tmp_path: Path) -> None:
    db = str(tmp_path / "durable.sqlite3")
    flags = ("--db", db, "--fast-password-hashing")
    expected: dict[str, object] = {}
    async with emulator_process(*flags) as running:
        async with aiohttp.ClientSession() as http:
            client = RawClient(http, f"{running.url}/{DEFAULT_APP_ID}/{DEFAULT_API_KEY}")
            user = await client.register("durable@example.com")
            logged = await client.login("durable@example.com")
            route, token = f"users/{user['objectId']}", logged["user-token"]
            for i in range(40):
                body = {"counter": i, f"p{i}": f"value-{i}"}
                answer = await client.call("PUT", route, body, token=token)
                assert answer.status == 200
                expected.update(body)
            final = await client.call("PUT", route, {"password": "changed-pw"}, token=token)
            assert final.status == 200
            # steered over the admin route: the last update is committed but never answered
            admin = RawClient(http, f"{running.url}/__emulator__")
            rule = {"kind": "drop_after", "methods": ["PUT"], "count": 2}
            assert (await admin.call("POST", "faults", rule)).status == 200
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await client.call("PUT", route, {"unanswered": True}, token=token)
            expected["unanswered"] = True
            stats = (await admin.call("GET", "faults")).json["stats"]
            assert stats["drop_after"] == 2  # aiohttp resent the PUT once
        running.proc.send_signal(signal.SIGKILL)  # no chance to clean up
        assert await asyncio.wait_for(running.proc.wait(), 10) == -signal.SIGKILL
    async with emulator_process(*flags) as running:
        async with aiohttp.ClientSession() as http:
            client = RawClient(http, f"{running.url}/{DEFAULT_APP_ID}/{DEFAULT_API_KEY}")
            found = (await client.call("GET", f"data/Users/{user['objectId']}")).json
            for key, value in expected.items():
                assert found[key] == value, key
            assert (await client.call("GET", f"users/isvalidusertoken/{token}")).json is True
            again = await client.login("durable@example.com", "changed-pw")
            assert again["objectId"] == user["objectId"]
        running.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(running.proc.wait(), 10) == 0
