"""wire.py is pure: requests are built and answers parsed without any I/O."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from backendless_aio import errors, wire
from backendless_aio.models import BackendlessUser

USER = {"objectId": "ABC", "___class": "Users", "email": "a@b.c", "created": 1700000000000,
        "updated": None, "ownerId": "ABC", "userStatus": "ENABLED"}


def test_update_request_is_partial_and_templated() -> None:
    changes = {"phoneNumber": "5551212", "when": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)}
    req = wire.update("AB C/1", changes, wire.dumps(changes))
    assert (req.method, req.route, req.path) == ("PUT", "users/{objectId}", "users/AB%20C%2F1")
    assert req.idempotent is True
    assert orjson.loads(req.body or b"") == {"phoneNumber": "5551212", "when": 1704067200000}
    assert req.fields == {"object_id": "AB C/1", "changed": ("phoneNumber", "when")}
    assert "5551212" not in repr(req) and "AB%20C" not in repr(req)
    assert req.log_route == "PUT users/{objectId}"


def test_password_is_a_secret_of_the_request_but_not_in_its_repr() -> None:
    req = wire.login("a@b.c", "hunter2-canary")
    assert req.secrets == ("hunter2-canary",)
    assert "hunter2-canary" not in repr(req)
    assert req.idempotent is False and req.expect is wire.Expect.SESSION


@pytest.mark.parametrize(("make", "method", "path"), [
    (lambda: wire.logout(), "GET", "users/logout"),
    (lambda: wire.is_valid_token("t/k"), "GET", "users/isvalidusertoken/t%2Fk"),
    (lambda: wire.find_by_id("X1"), "GET", "data/Users/X1"),
    (lambda: wire.find_by_id("X1", ["a", "b"]), "GET", "users/X1?props=a,b"),
    (lambda: wire.describe_user_class(), "GET", "users/userclassprops"),
    (lambda: wire.restore_password("a+b@c.d"), "GET", "users/restorepassword/a%2Bb%40c.d"),
    (lambda: wire.resend_email_confirmation("a@c.d"), "POST", "users/resendconfirmation/a%40c.d"),
    (lambda: wire.user_roles(), "GET", "users/userroles"),
    (lambda: wire.login_as_guest(), "POST", "users/register/guest"),
    (lambda: wire.set_user_status("X1", "DISABLED"), "PUT", "users/X1/status"),
])
def test_routes(make: object, method: str, path: str) -> None:
    req = make()  # type: ignore[operator]
    assert (req.method, req.path) == (method, path)



def test_empty_segment_is_refused_before_sending() -> None:
    with pytest.raises(errors.ConfigurationError):
        wire.find_by_id("")


def test_parse_user_answer() -> None:
    req = wire.find_by_id("ABC")
    assert wire.parse_answer(req, 200, orjson.dumps(USER)) == USER


@pytest.mark.parametrize(("code", "cls"), [
    (3018, errors.IdentityConflict), (3024, errors.UpdateFailed), (3028, errors.UserNotLoggedIn),
    (3029, errors.CannotModifyAnotherUser), (3030, errors.UserNotFound),
    (3031, errors.UnknownPropertyOnUpdate), (3045, errors.RequiredPropertyWouldBeEmpty),
    (3064, errors.InvalidUserToken), (2002, errors.WrongApplication),
    (3003, errors.InvalidLogin), (12345, errors.BackendlessFault),
])
def test_fault_bodies_become_typed_faults(code: int, cls: type[errors.BackendlessFault]) -> None:
    req = wire.update("ABC", {}, b"{}")
    body = orjson.dumps({"code": code, "message": "nope", "errorData": {"k": "v"}})
    with pytest.raises(cls) as info:
        wire.parse_answer(req, 400, body)
    fault = info.value
    assert type(fault) is cls
    assert (fault.code, fault.message, fault.status, fault.route) == (
        code, "nope", 400, "PUT users/{objectId}")
    assert fault.detail == {"k": "v"}
    assert str(code) in str(fault)


def test_session_over_codes_share_a_parent() -> None:
    for code in (3023, 3064, 3090, 3091):
        assert issubclass(errors.fault_class(code), errors.SessionOver)
    assert not issubclass(errors.fault_class(3029), errors.SessionOver)


def test_token_in_3064_message_is_redacted() -> None:
    req = wire.update("ABC", {}, b"{}")
    token = "C0FFEE-TOKEN-1234"
    body = orjson.dumps({"code": 3064, "errorData": {},
                         "message": f"Not existing user token - {token}. Relogin user to update "
                                    "your user token"})
    with pytest.raises(errors.InvalidUserToken) as info:
        wire.parse_answer(req, 400, body)
    assert token not in str(info.value) and token not in repr(info.value)
    # and also without knowing the token
    assert token not in wire.redact(f"Not existing user token - {token}.")


@pytest.mark.parametrize(("status", "body", "what"), [
    (200, b"<html>proxy</html>", "not JSON"),
    (200, b'{"objectId": "AB', "not JSON"),
    (200, b"", "empty answer"),
    (200, b"[1, 2]", "not a user object"),
    (502, b"<html><body>Bad Gateway</body></html>", "not JSON"),
    (500, b'{"error": "x"}', "without a Backendless fault code"),
    (503, b"", "no body"),
])
def test_malformed_answers_are_typed(status: int, body: bytes, what: str) -> None:
    req = wire.find_by_id("ABC")
    with pytest.raises(errors.MalformedResponse) as info:
        wire.parse_answer(req, status, body)
    assert what in str(info.value)
    assert info.value.status == status
    assert info.value.route == "GET data/Users/{objectId}"


def test_fault_with_2xx_status_is_still_a_fault() -> None:
    req = wire.find_by_id("ABC")
    with pytest.raises(errors.RateLimited):
        wire.parse_answer(req, 200, b'{"code": 999, "message": "limit"}')


def test_login_answer_without_token_is_malformed() -> None:
    with pytest.raises(errors.MalformedResponse, match="without a user token"):
        wire.parse_answer(wire.login("a", "b"), 200, orjson.dumps(USER))


def test_snippet_is_short_and_redacted() -> None:
    text = wire.snippet(b"secret-key " + b"x" * 500, ["secret-key"])
    assert "secret-key" not in text and len(text) <= 80


def test_describe_answer_is_structured_with_cattrs() -> None:
    req = wire.describe_user_class()
    props = wire.read_properties(req, [
        {"name": "email", "type": "STRING", "required": False, "identity": True,
         "defaultValue": None, "autoLoad": False, "isPrimaryKey": False},
        {"name": "age", "type": "INT"}])
    assert props[0] == wire.UserClassProperty(name="email", type="STRING", identity=True)
    assert props[1].name == "age" and props[1].type == "INT"
    with pytest.raises(errors.MalformedResponse):
        wire.read_properties(req, [{"type": "INT"}])


def test_dumps_refuses_what_cannot_go_on_the_wire() -> None:
    with pytest.raises(errors.ConfigurationError):
        wire.dumps({"x": object()})
    assert wire.dumps({"d": dt.date(1970, 1, 2)}) == b'{"d":86400000}'


def test_user_change_tracking_and_password_write_only() -> None:
    user = BackendlessUser._from_wire(dict(USER))
    assert user.changed == frozenset()
    user.set_property("phoneNumber", "1")
    user.password = "pw-canary"
    assert user.changed == {"phoneNumber", "password"}
    assert user._changes() == {"phoneNumber": "1", "password": "pw-canary"}
    assert "pw-canary" not in repr(user) and "pw-canary" not in str(dict(user.properties))
    assert user.get_property("password") is None and user.password is None
    assert user.created == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.timezone.utc)
    assert user.get_property("created") == user.created
    sent = user._changes()
    user.set_property("later", 2)  # changed while the update is in flight
    user._merge_answer({**USER, "phoneNumber": "1", "updated": 1}, sent)
    assert user.changed == {"later", "password"}  # the password is cleared by users.update
    assert user.get_property("later") == 2 and user.get_property("phoneNumber") == "1"


def test_user_rejects_bad_input() -> None:
    with pytest.raises(TypeError):
        BackendlessUser(["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        BackendlessUser({1: "x"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="token"):
        BackendlessUser({"user-token": "x"})
