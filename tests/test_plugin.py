"""The pytest plugin as a user meets it: a test suite of their own, with nothing to import.

The plugin is found through the package's ``pytest11`` entry point; these tests write a small
user test suite with ``pytester`` and run it in pytest-asyncio's auto and strict modes.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

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

# The snippets of docs/testing.md, as written there.
DOCS_SUITE = '''
import asyncio

import pytest

from backendless_aio import BlockingBackendless, InvalidLogin, RegistrationDisabled
from backendless_aio.emulator import EmulatorSettings


async def test_profile_update(backendless_app, backendless_user):
    backendless_user.set_property("phoneNumber", "5551212")
    updated = await backendless_app.users.update(backendless_user)
    assert updated.get_property("phoneNumber") == "5551212"


async def test_wrong_password(backendless_app, backendless_user):
    with pytest.raises(InvalidLogin):
        await backendless_app.users.session().login(backendless_user.email, "nope")


async def test_only_what_changed_is_sent(backendless_emulator, backendless_app, backendless_user):
    backendless_user.set_property("city", "Oslo")
    await backendless_app.users.update(backendless_user)
    put = [r for r in backendless_emulator.requests if r.method == "PUT"][-1]
    assert put.json == {"city": "Oslo"}


async def test_my_script(backendless_emulator):
    def script():
        with BlockingBackendless(app_id=backendless_emulator.app_id,
                                 api_key=backendless_emulator.api_key,
                                 server_url=backendless_emulator.url) as app:
            app.users.register({"email": "s@example.com", "password": "pw-123456"})
            return app.users.login("s@example.com", "pw-123456")

    user = await asyncio.to_thread(script)
    assert user.email == "s@example.com"


@pytest.mark.parametrize("backendless_emulator_settings",
                         [EmulatorSettings(fast_password_hashing=True, registration_enabled=False)])
async def test_registration_closed(backendless_app):
    with pytest.raises(RegistrationDisabled):
        await backendless_app.users.register({"email": "a@example.com", "password": "pw-123456"})
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

OVERRIDE_CONFTEST = '''
import attrs
import pytest


@pytest.fixture
def backendless_emulator_settings(backendless_emulator_settings):
    return attrs.evolve(backendless_emulator_settings, required=("name",),
                        dynamic_schema=False)
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
    pytester.makepyfile(test_auto=AUTO_MODE_SUITE, test_docs=DOCS_SUITE)
    result = pytester.runpytest_subprocess(*FLAGS, "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=8)


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
    pytester.makeconftest(OVERRIDE_CONFTEST)
    pytester.makepyfile(test_override=OVERRIDE_SUITE)
    result = pytester.runpytest_subprocess(*FLAGS, "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=1)
