"""The codes of queries, roles, key kinds and email confirmation each raise a class of their own,
end to end against the emulator, and the fault table names every class once."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_role

import backendless_aio as bl
from backendless_aio.emulator import Emulator, EmulatorSettings
from backendless_aio.errors import fault_class, fault_table

SERVER_KEY = "SERVER-KEY-FOR-FAULT-CLASSES"
PW = "pw-123456"


@pytest.fixture
def emulator_settings(tmp_path: Path) -> EmulatorSettings:
    return EmulatorSettings(fast_password_hashing=True, db_path=str(tmp_path / "emu.sqlite3"),
                            server_api_key=SERVER_KEY)


async def test_a_refused_query_raises_its_own_class(emulator: Emulator) -> None:
    async with bl.Backendless(app_id=emulator.app_id, api_key=emulator.api_key,
                              server_url=emulator.url) as app:
        await app.users.register({"email": "q@example.com", "password": PW})
        with pytest.raises(bl.InvalidWhereClause) as bad_where:
            await app.users.find("email = ")
        with pytest.raises(bl.UnknownColumn) as bad_props:
            await app.users.find(props=["noSuchColumn"])
        with pytest.raises(bl.QueryRefused):
            await app.users.count("nosuch > 3")
    assert (bad_where.value.code, bad_props.value.code) == (1017, 1006)
    assert isinstance(bad_where.value, bl.BackendlessFault)


async def test_what_needs_the_server_key_raises_server_key_required(emulator: Emulator) -> None:
    async with bl.Backendless(app_id=emulator.app_id, api_key=emulator.api_key,
                              server_url=emulator.url) as app:
        user = await app.users.register({"email": "r@example.com", "password": PW})
        with pytest.raises(bl.RolesNeedServerKey) as roles:
            await app.users.assign_role("r@example.com", "AuthenticatedUser")
    # the client sends a login by objectId only when told the key is a server key: a wrong claim
    # reaches the server, which refuses it
    async with bl.Backendless(app_id=emulator.app_id, api_key=emulator.api_key,
                              server_url=emulator.url, server_key=True) as claimed:
        with pytest.raises(bl.LoginByIdNeedsServerKey) as by_id:
            await claimed.users.login_by_object_id(user.object_id or "")
    for caught, code in ((roles, 2011), (by_id, 2014)):
        assert isinstance(caught.value, bl.ServerKeyRequired)
        assert caught.value.code == code


async def test_role_faults_raise_their_classes(emulator: Emulator) -> None:
    async with bl.Backendless(app_id=emulator.app_id, api_key=SERVER_KEY,
                              server_url=emulator.url, server_key=True) as app:
        await app.users.register({"email": "s@example.com", "password": PW})
        with pytest.raises(bl.SystemRoleNotAssignable):
            await app.users.assign_role("s@example.com", "AuthenticatedUser")
        with pytest.raises(bl.SystemRoleNotUnassignable):
            await app.users.unassign_role("s@example.com", "AuthenticatedUser")
        with pytest.raises(bl.RoleNotFound):
            await app.users.assign_role("s@example.com", "NoSuchRole")
        await make_role(emulator, "Editor")
        with pytest.raises(bl.RoleUserNotFound):
            await app.users.assign_role("nobody@example.com", "Editor")
        with pytest.raises(bl.ConfirmationUserNotFound):
            await app.users.create_email_confirmation_url("nobody@example.com")


def test_each_documented_code_has_one_class() -> None:
    table = fault_table()
    codes = [code for code, _, _ in table]
    names = [name for _, name, _ in table]
    assert len(set(codes)) == len(codes) and len(set(names)) == len(names)
    for code, name, _ in table:
        cls = fault_class(code)
        assert cls.__name__ == name and code == cls.CODE
        assert getattr(bl, name) is cls  # exported from the package
    for code in (1004, 1005, 1006, 1017):
        assert issubclass(fault_class(code), bl.QueryRefused)
    for code in (2011, 2014, 3054, 3122):
        assert issubclass(fault_class(code), bl.ServerKeyRequired)
