"""The rough edges a new user met (issue 16): configuration from the environment, --version,
the entity-not-found fault, timeouts checked at once in the caller's words, an operation never
awaited, a closed app re-entered, and a forgotten ``aclose()``."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import attrs
import pytest

import backendless_aio as bl
from backendless_aio import cli
from backendless_aio._unclosed import message as unclosed_message
from backendless_aio.config import location_from_environment
from backendless_aio.emulator import Emulator

ENV_NAMES = ("BACKENDLESS_APP_ID", "BACKENDLESS_API_KEY", "BACKENDLESS_SERVER_URL",
             "BACKENDLESS_DOMAIN")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def point_env_at(monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> None:
    monkeypatch.setenv("BACKENDLESS_APP_ID", emulator.app_id)
    monkeypatch.setenv("BACKENDLESS_API_KEY", emulator.api_key)
    monkeypatch.setenv("BACKENDLESS_SERVER_URL", emulator.url)


# -- 1. configuration from the environment --------------------------------------------------------

async def test_backendless_reads_the_environment(clean_env: pytest.MonkeyPatch,
                                                 emulator: Emulator) -> None:
    point_env_at(clean_env, emulator)
    async with bl.Backendless() as app:
        assert app.config.app_id == emulator.app_id
        assert app.config.server_url == emulator.url
        await app.users.register(bl.BackendlessUser({"email": "env@example.com",
                                                     "password": "pw-123456"}))
        user = await app.users.login("env@example.com", "pw-123456")
        assert user.email == "env@example.com"
    assert emulator.api_key not in repr(app) and emulator.api_key not in repr(app.config)


async def test_blocking_backendless_reads_the_environment(clean_env: pytest.MonkeyPatch,
                                                          emulator: Emulator) -> None:
    point_env_at(clean_env, emulator)

    def script() -> list[str]:
        with bl.BlockingBackendless() as app:
            return app.users.get_user_roles()

    assert await asyncio.to_thread(script) == ["NotAuthenticatedUser"]


def test_arguments_win_over_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BACKENDLESS_APP_ID", "ENV-APP")
    clean_env.setenv("BACKENDLESS_API_KEY", "ENV-KEY")
    clean_env.setenv("BACKENDLESS_SERVER_URL", "http://env.example")
    app = bl.Backendless(app_id="ARG-APP")
    assert (app.config.app_id, app.config.api_key) == ("ARG-APP", "ENV-KEY")
    assert app.config.server_url == "http://env.example"
    app = bl.Backendless(server_url="http://arg.example")
    assert (app.config.app_id, app.config.server_url) == ("ENV-APP", "http://arg.example")
    app = bl.Backendless(domain="https://my.backendless.app")  # the other form: env ignored
    assert app.config.domain == "https://my.backendless.app" and app.config.app_id is None
    config = bl.ClientConfig(app_id="CFG", api_key="K")
    assert bl.Backendless(config=config).config is config


def test_the_domain_form_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BACKENDLESS_DOMAIN", "https://my.backendless.app/")
    app = bl.Backendless()
    assert app.config.domain == "https://my.backendless.app"
    clean_env.setenv("BACKENDLESS_APP_ID", "ENV-APP")
    with pytest.raises(bl.ConfigurationError, match="both BACKENDLESS_DOMAIN and"):
        bl.Backendless()
    # the CLI reads the environment through the same function, so it refuses the same way
    with pytest.raises(cli.UsageError, match="both BACKENDLESS_DOMAIN and"):
        cli.resolve_connection(argparse.Namespace())


def test_nothing_configured_says_what_to_set(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(bl.ConfigurationError, match="BACKENDLESS_APP_ID") as raised:
        bl.Backendless()
    assert "app_id=" in str(raised.value)
    clean_env.setenv("BACKENDLESS_APP_ID", "   ")  # blank counts as unset
    with pytest.raises(bl.ConfigurationError, match="app_id is required"):
        bl.Backendless()


def test_location_from_environment_is_pure() -> None:
    env = {"BACKENDLESS_APP_ID": "A", "BACKENDLESS_API_KEY": "SECRET-K"}
    where = location_from_environment(environ=env)
    assert (where.app_id, where.api_key, where.server_url, where.domain) == \
        ("A", "SECRET-K", None, None)
    assert "SECRET-K" not in repr(where)
    assert location_from_environment(environ={}).app_id is None


# -- 2. --version -------------------------------------------------------------------------------

def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"backendless-aio {bl.__version__}\n"


def test_the_version_is_the_packages() -> None:
    from importlib.metadata import version

    assert version("backendless-aio") == bl.__version__


# -- 9. an unknown user ---------------------------------------------------------------------------

async def test_an_unknown_user_is_an_entity_not_found_fault(emulator: Emulator) -> None:
    async with bl.Backendless(app_id=emulator.app_id, api_key=emulator.api_key,
                              server_url=emulator.url) as app:
        with pytest.raises(bl.EntityNotFound) as raised:
            await app.users.find_by_id("NO-SUCH-USER")
        assert raised.value.code == 1000 and type(raised.value) is bl.EntityNotFound
        with pytest.raises(bl.EntityNotFound) as raised:  # users/{id}?props= answers 3030
            await app.users.find_by_id("NO-SUCH-USER", props=["email"])
        assert isinstance(raised.value, bl.UserNotFound) and raised.value.code == 3030


# -- 10. timeouts, checked at once, in the caller's words ----------------------------------------

@pytest.mark.parametrize("value", [-1, 0, 0.0, float("nan")])
def test_a_bad_app_timeout_is_refused_at_construction(value: float) -> None:
    with pytest.raises(bl.ConfigurationError, match=r"^timeout must be a positive number") as e:
        bl.Backendless(app_id="A", api_key="K", timeout=value)
    assert "total" not in str(e.value)


@pytest.mark.parametrize("value", ["5", True, [1]])
def test_a_timeout_of_the_wrong_type_is_refused(value: object) -> None:
    with pytest.raises(bl.ConfigurationError, match=r"^timeout must be a number of seconds"):
        bl.Backendless(app_id="A", api_key="K", timeout=value)  # type: ignore[arg-type]


async def test_a_bad_call_timeout_is_refused_when_the_call_is_made() -> None:
    async with bl.Backendless(app_id="A", api_key="K", server_url="http://127.0.0.1:9") as app:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # and no "never awaited" for the refused call
            with pytest.raises(bl.ConfigurationError, match=r"^timeout must be a positive"):
                app.users.get_user_roles(timeout=-1)  # not awaited: refused at the call
            with pytest.raises(bl.ConfigurationError, match=r"^timeout must be a positive"):
                app.users.is_valid_login(bl.AsyncCallback(), timeout=0)
            gc.collect()
        assert app.users.get_user_roles(timeout=bl.Timeout(total=1)).close() is None


# -- 11. a call never awaited names the public operation ----------------------------------------

async def test_a_call_never_awaited_names_the_public_operation() -> None:
    async with bl.Backendless(app_id="A", api_key="K", server_url="http://127.0.0.1:9") as app:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            app.users.login("someone@example.com", "pw")
            app.users.restore_password("someone@example.com")
            gc.collect()
    texts = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert "coroutine 'AsyncUserService.login' was never awaited" in texts
    assert "coroutine 'AsyncUserService.restore_password' was never awaited" in texts
    assert not any("_login" in text or "_send_none" in text for text in texts)


@attrs.define
class Profile:
    email: str | None = None


async def test_a_modelled_call_never_awaited_names_only_the_public_operation() -> None:
    async with bl.Backendless(app_id="A", api_key="K", server_url="http://127.0.0.1:9") as app:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            app.users.login("someone@example.com", "pw", model=Profile)
            with pytest.raises(bl.ConfigurationError, match="timeout"):
                app.users.get_current_user(model=Profile, timeout=-5)
            gc.collect()
            texts = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
            # a recorded warning keeps its source (the model= wrapper) and so the operation's
            # own coroutine alive: let them go, and hear the second one
            caught.clear()
            gc.collect()
            texts += [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    # the operation and the model= wrapper around it both carry the public name (the refused
    # call was closed: it says nothing)
    assert texts == ["coroutine 'AsyncUserService.login' was never awaited"] * 2


# -- 12. a closed app is not entered again --------------------------------------------------------

async def test_async_with_after_aclose_raises() -> None:
    app = bl.Backendless(app_id="A", api_key="K")
    async with app:
        assert not app.closed
    assert app.closed
    with pytest.raises(bl.BackendlessError, match="closed; make a new one"):
        async with app:
            pytest.fail("entered a closed app")


def test_with_after_close_raises_on_the_blocking_app() -> None:
    app = bl.BlockingBackendless(app_id="A", api_key="K")
    app.close()
    with pytest.raises(bl.BackendlessError, match="closed; make a new one"), app:
        pytest.fail("entered a closed app")


# -- 13. a forgotten aclose() -----------------------------------------------------------------

FORGETFUL_SCRIPT = """
import asyncio, gc
from backendless_aio import Backendless
from backendless_aio.emulator import Emulator, EmulatorSettings

async def main():
    async with Emulator(EmulatorSettings(fast_password_hashing=True)) as emu:
        app = Backendless(app_id=emu.app_id, api_key=emu.api_key, server_url=emu.url)
        await app.users.get_user_roles()           # a pooled connection is open now
        print("where:", app.config.where, flush=True)
        # forgotten: await app.aclose()
        del app
        gc.collect()
        await asyncio.sleep(0.05)
        print("still serving", flush=True)

asyncio.run(main())
"""


def test_a_forgotten_aclose_is_reported_once_in_our_words(tmp_path: Path) -> None:
    script = tmp_path / "forgetful.py"
    script.write_text(textwrap.dedent(FORGETFUL_SCRIPT))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    where = done.stdout.splitlines()[0].removeprefix("where: ")
    assert "still serving" in done.stdout
    assert done.stderr.count(unclosed_message(where)) == 1, done.stderr
    assert "await app.aclose()" in done.stderr
    assert "Unclosed client session" not in done.stderr
    assert "Unclosed connector" not in done.stderr


async def test_a_forgotten_app_warns_and_its_connections_are_closed(emulator: Emulator) -> None:
    app = bl.Backendless(app_id=emulator.app_id, api_key=emulator.api_key,
                         server_url=emulator.url)
    await app.users.get_user_roles()
    connector = app.connector
    assert connector is not None and not connector.closed
    contexts: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: contexts.append(context))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del app
            gc.collect()
    finally:
        loop.set_exception_handler(None)
    ours = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(ours) == 1 and "was never closed" in str(ours[0].message)
    assert [c["message"] for c in contexts] == [str(ours[0].message)]
    assert connector.closed


async def test_a_closed_app_says_nothing(emulator: Emulator) -> None:
    async with bl.Backendless(app_id=emulator.app_id, api_key=emulator.api_key,
                              server_url=emulator.url) as app:
        await app.users.get_user_roles()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del app
        gc.collect()
    assert caught == []
