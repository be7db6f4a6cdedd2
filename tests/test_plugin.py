"""The pytest plugin as a user meets it: a test suite of their own, with nothing to import.

The plugin is found through the package's ``pytest11`` entry point; these tests write a small
user test suite with ``pytester`` and run it in pytest-asyncio's auto and strict modes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DOCS = (Path(__file__).resolve().parent.parent / "docs" / "testing.md").read_text("utf-8")
#: The ```toml blocks of docs/testing.md: the pytest configuration of each mode.
DOCS_TOML = re.findall(r"^```toml\n(.*?)^```", DOCS, re.MULTILINE | re.DOTALL)
#: ``(file name, mode, source)`` of docs/testing.md's test files: the ```python blocks whose
#: first line is ``# NAME.py (MODE mode)`` (or ``# conftest.py``).
DOCS_FILES = [
    (m.group(1), m.group(2), m.group(0).split("\n", 1)[1])
    for m in re.finditer(r"(?<=^```python\n)# (\w+\.py)(?: \((auto|strict) mode\))?\n.*?(?=^```)",
                         DOCS, re.MULTILINE | re.DOTALL)
]

#: The flags every inner run gets: as strict about leaks as our own suite.
FLAGS = ("-p", "no:cacheprovider", "-W", "error::ResourceWarning",
         "-W", "error::pytest.PytestUnraisableExceptionWarning")

AUTO_MODE_SUITE = '''
import pytest

from backendless_aio import Backendless, BackendlessUser, InvalidLogin
from backendless_aio.emulator import Emulator
from backendless_aio.testing import TEST_PASSWORD


async def test_logged_in_user(backendless_app, backendless_user):
    assert isinstance(backendless_app, Backendless)
    assert backendless_app.users.current_user is backendless_user
    assert backendless_user.email == "test-user@example.com"
    backendless_user.set_property("phoneNumber", "5551212")
    updated = await backendless_app.users.update(backendless_user)
    assert updated.get_property("phoneNumber") == "5551212"


async def test_the_emulator_and_the_password(backendless_emulator, backendless_app,
                                             backendless_user):
    assert isinstance(backendless_emulator, Emulator) and backendless_emulator.running
    assert backendless_app.config.server_url == backendless_emulator.url
    await backendless_app.users.logout()
    again = await backendless_app.users.login("test-user@example.com", TEST_PASSWORD)
    assert again.object_id == backendless_user.object_id
    with pytest.raises(InvalidLogin):
        await backendless_app.users.session().login("test-user@example.com", "wrong")


async def test_app_without_a_user(backendless_app):
    assert backendless_app.users.current_user is None
    user = await backendless_app.users.register(
        BackendlessUser({"email": "someone@example.com", "password": "pw-123456"}))
    assert user.object_id
'''

STRICT_MODE_SUITE = '''
import pytest


@pytest.mark.asyncio
async def test_logged_in_user(backendless_app, backendless_user):
    backendless_user.set_property("city", "Oslo")
    updated = await backendless_app.users.update(backendless_user)
    assert updated.get_property("city") == "Oslo"


@pytest.mark.asyncio
async def test_emulator(backendless_emulator):
    assert backendless_emulator.running


def test_a_plain_test_is_untouched():
    assert True
'''

ISOLATION_SUITE = '''
import pytest

from backendless_aio import BackendlessUser, InvalidLogin

EMULATORS = []


@pytest.mark.parametrize("run", [1, 2])
async def test_each_test_gets_a_fresh_emulator(run, backendless_emulator, backendless_app):
    # The same email registers in both runs: a shared emulator would answer 3033, and the
    # login before it would succeed the second time.
    assert backendless_emulator.requests == []
    with pytest.raises(InvalidLogin):
        await backendless_app.users.login("shared@example.com", "pw-123456")
    await backendless_app.users.register(
        BackendlessUser({"email": "shared@example.com", "password": "pw-123456"}))
    EMULATORS.append(backendless_emulator)


def test_the_previous_emulators_are_stopped():
    assert len(EMULATORS) == 2 and EMULATORS[0] is not EMULATORS[1]
    assert not any(emulator.running for emulator in EMULATORS)
'''

OVERRIDE_SUITE = '''
import pytest

from backendless_aio import BackendlessUser, RequiredPropertyMissing, UnknownProperty


async def test_the_overridden_settings_apply(backendless_emulator, backendless_app):
    assert backendless_emulator.settings.required == ("name",)
    assert backendless_emulator.settings.fast_password_hashing  # the default is kept
    with pytest.raises(RequiredPropertyMissing):
        await backendless_app.users.register(
            BackendlessUser({"email": "a@example.com", "password": "pw-123456"}))
    with pytest.raises(UnknownProperty):
        await backendless_app.users.register(BackendlessUser(
            {"email": "a@example.com", "password": "pw-123456", "name": "A", "shoe": 42}))
'''


def test_fixtures_in_auto_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_auto=AUTO_MODE_SUITE)
    result = pytester.runpytest_subprocess(*FLAGS, "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize("mode", ["auto", "strict"])
def test_the_docs_test_files_pass_with_the_docs_configuration(pytester: pytest.Pytester,
                                                              mode: str) -> None:
    """docs/testing.md's pytest configuration for the mode, and its test files for that mode,
    as written there, with every warning an error."""
    configs = [toml for toml in DOCS_TOML if f'asyncio_mode = "{mode}"' in toml]
    assert len(configs) == 1
    pytester.makepyprojecttoml(configs[0])
    files = {name: source for name, wanted, source in DOCS_FILES if wanted == mode}
    assert files, f"docs/testing.md has no test file for {mode} mode"
    pytester.makepyfile(**{name.removesuffix(".py"): source for name, source in files.items()})
    result = pytester.runpytest_subprocess(*FLAGS, "-W", "error")
    tests = sum(source.count("\ndef test_") + source.count("\nasync def test_")
                for source in files.values())
    result.assert_outcomes(passed=tests)


def test_fixtures_in_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_strict=STRICT_MODE_SUITE)
    result = pytester.runpytest_subprocess(*FLAGS, "-o", "asyncio_mode=strict")
    result.assert_outcomes(passed=3)


def test_each_test_gets_a_fresh_emulator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_isolation=ISOLATION_SUITE)
    result = pytester.runpytest_subprocess(*FLAGS, "-o", "asyncio_mode=auto", "-p",
                                           "no:randomly")
    result.assert_outcomes(passed=3)


def test_emulator_settings_can_be_overridden(pytester: pytest.Pytester) -> None:
    [conftest] = [source for name, _, source in DOCS_FILES if name == "conftest.py"]
    pytester.makeconftest(conftest)  # docs/testing.md's, as written there
    pytester.makepyfile(test_override=OVERRIDE_SUITE)
    result = pytester.runpytest_subprocess(*FLAGS, "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=1)
