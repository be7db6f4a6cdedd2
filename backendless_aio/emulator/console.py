"""The Backendless developer console API, on the same host and port as the REST API.

Routes (matched before the REST API's `/{appId}/{apiKey}/...`):

* `POST /console/home/login` `{login, password}`: the developer login. It answers the developer
  and an `auth-key` response header; every other console call must send it back as the
  `auth-key` request header (401 otherwise). The account is `EmulatorSettings.console_login` /
  `console_password`; auth keys live in memory (a restart logs the developer out).
* `GET /console/applications`, `POST /console/applications` `{appName}`,
  `DELETE /{appId}/console/application`.
* `GET /{appId}/console/appsettings`: the app's API keys, one per device type.
* `GET|PUT /{appId}/console/userregistration`, `GET|POST|PUT /{appId}/console/userlogin`,
  `GET|PUT /{appId}/console/data/config`: settings, each a partial update of the current ones.
* `PUT /{appId}/console/data/Users/{objectId}` `{userStatus}`: a console edit of a user record.
* `GET /{appId}/console/security/roles`, `PUT /{appId}/console/security/roles/{name}`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable
from typing import Any

import attrs
import orjson
from aiohttp import web

from .._codes import Code, UserStatus
from .errors import Fault
from .roles import create_role, list_roles
from .service import UsersService, new_object_id, parse_object
from .settings import AppSettings, MultipleLoginsPolicy
from .state import EmulatorState

AUTH_HEADER = "auth-key"
#: The device types an app created by the console has a key for (BL: the CloudCode key).
DEVICE_TYPES = ("JS", "REST", "ANDROID", "IOS", "WP", "AS", "BL")
_KEY_NAMES = {
    "JS": "JavaScript",
    "REST": "REST",
    "ANDROID": "Android",
    "IOS": "iOS",
    "WP": "Windows Phone",
    "AS": "ActionScript",
    "BL": "CloudCode",
}
MAX_APP_NAME = 255
NOT_AUTHORIZED = 401


def is_console_path(segments: list[str]) -> bool:
    """Whether a path's segments name a console route (`/console/...`, `/{appId}/console/...`)."""
    return bool(segments) and (
        segments[0] == "console" or (len(segments) > 1 and segments[1] == "console")
    )


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, content_type="application/json")


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _body(body: bytes, what: str) -> dict[str, Any]:
    return parse_object(body, 400, what)


async def answer(
    state: EmulatorState, request: web.Request, body: bytes, segments: list[str]
) -> web.Response:
    """One console request; every outcome is a JSON answer."""
    try:
        return _dispatch(state, request, body, segments)
    except Fault as fault:
        return _json(fault.body(), status=fault.status)


def _dispatch(
    state: EmulatorState, request: web.Request, body: bytes, segments: list[str]
) -> web.Response:
    method = request.method
    if segments == ["console", "home", "login"]:
        _allow(method, "POST")
        return _login(state, body)
    _authorize(state, request)
    if segments == ["console", "applications"]:
        _allow(method, "GET", "POST")
        if method == "GET":
            return _json([{"id": app.app_id, "name": app.name} for app in state.apps()])
        return _create_app(state, body)
    if segments[0] == "console" or len(segments) < 3:
        raise Fault(404, f"Unknown console route: {method} /{'/'.join(segments)}", status=404)
    app_id, rest = segments[0], segments[2:]
    service = state.service_for(app_id)
    if service is None:
        raise Fault(Code.WRONG_APP, f"Application {app_id} does not exist", status=404)
    if rest == ["application"]:
        _allow(method, "DELETE")
        if app_id == state.settings.app_id:
            raise Fault(400, "The emulator's default app cannot be deleted")
        state.delete_app(app_id)
        return _json({"deleted": app_id})
    if rest == ["appsettings"]:
        _allow(method, "GET")
        return _json(_app_settings(state, app_id))
    if rest == ["userregistration"]:
        _allow(method, "GET", "PUT")
        return _setting(state, service, method, body, REGISTRATION)
    if rest == ["userlogin"]:
        _allow(method, "GET", "POST", "PUT")
        return _setting(state, service, method, body, LOGIN)
    if rest == ["data", "config"]:
        _allow(method, "GET", "PUT")
        return _setting(state, service, method, body, DATA_CONFIG)
    if len(rest) == 3 and rest[:2] == ["data", "Users"]:
        _allow(method, "PUT")
        return _json(_edit_user(service, rest[2], body))
    if rest == ["security", "roles"]:
        _allow(method, "GET")
        return _json(list_roles(service))
    if len(rest) == 3 and rest[:2] == ["security", "roles"]:
        _allow(method, "PUT")
        return _json(create_role(service, rest[2]))
    raise Fault(404, f"Unknown console route: {method} /{'/'.join(segments)}", status=404)


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise Fault(
            405, f"Method {method} is not allowed here; use {', '.join(allowed)}", status=405
        )


# -- the developer -----------------------------------------------------------------------------


def _login(state: EmulatorState, body: bytes) -> web.Response:
    data = _body(body, "Unable to log in to the console")
    login, password = data.get("login"), data.get("password")
    settings = state.settings
    expected = settings.console_login.casefold().encode()
    if not (
        isinstance(login, str)
        and isinstance(password, str)
        and hmac.compare_digest(login.casefold().encode(), expected)
        and hmac.compare_digest(password.encode(), settings.console_password.encode())
    ):
        raise Fault(Code.INVALID_LOGIN, "Invalid developer login or password", status=401)
    key = secrets.token_hex(16)
    state.console_keys.add(_key_hash(key))
    response = _json({"id": "developer", "name": "Developer", "email": settings.console_login})
    response.headers[AUTH_HEADER] = key
    return response


def _authorize(state: EmulatorState, request: web.Request) -> None:
    key = request.headers.get(AUTH_HEADER, "")
    if not key or _key_hash(key) not in state.console_keys:
        raise Fault(
            NOT_AUTHORIZED,
            "Not authorized: log in with POST /console/home/login and send the auth-key it "
            "answers as the auth-key header",
            status=401,
        )


# -- apps --------------------------------------------------------------------------------------


def _create_app(state: EmulatorState, body: bytes) -> web.Response:
    data = _body(body, "Unable to create the application")
    name = data.get("appName")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_APP_NAME:
        raise Fault(400, "appName must be a non-empty string of at most 255 characters")
    if any(app.name == name for app in state.apps()):
        raise Fault(400, f"An application named '{name}' already exists")
    app_id = new_object_id()
    keys = {new_object_id(): kind for kind in DEVICE_TYPES}
    # The emulator-wide behaviour (e.g. --cross-user) applies; Backendless's own rules in full.
    settings = attrs.evolve(state.settings.app_settings(), strict=True)
    app = state.put_app(app_id, name, keys, settings)
    return _json({"id": app.app_id, "name": app.name})


def _app_settings(state: EmulatorState, app_id: str) -> dict[str, Any]:
    app = next(app for app in state.apps() if app.app_id == app_id)
    return {
        "appName": app.name,
        "apiKeys": [
            {"deviceType": kind, "apiKey": key, "name": _KEY_NAMES.get(kind, kind)}
            for key, kind in app.api_keys.items()
        ],
    }


def _edit_user(service: UsersService, object_id: str, body: bytes) -> dict[str, Any]:
    data = _body(body, "Unable to edit the user")
    if data.get("objectId", object_id) != object_id:
        raise Fault(400, "The objectId in the body differs from the one in the path")
    others = set(data) - {"objectId", "userStatus", "___class"}
    if others:
        raise Fault(
            400, f"The emulator's console edits only userStatus, not {', '.join(sorted(others))}"
        )
    status = data.get("userStatus")
    allowed = (
        UserStatus.ENABLED.value,
        UserStatus.DISABLED.value,
        UserStatus.EMAIL_CONFIRMATION_PENDING.value,
    )
    if status not in allowed:
        raise Fault(400, f"userStatus must be one of {', '.join(allowed)}")
    user = service.store.get_user(object_id)
    if user is None:
        raise Fault(Code.USER_NOT_FOUND, f"No user has id {object_id}", status=404)
    service.change_status(user, str(status))
    return service.to_wire(user)


# -- settings: each console object maps to fields of AppSettings -------------------------------


@attrs.frozen
class SettingView:
    """A console settings object: how to show AppSettings, and how to apply a (partial) edit."""

    what: str
    show: Callable[[AppSettings], dict[str, Any]]
    apply: Callable[[AppSettings, dict[str, Any]], AppSettings]


def _bool(data: dict[str, Any], name: str) -> bool:
    value = data[name]
    if not isinstance(value, bool):
        raise Fault(400, f"{name} must be true or false")
    return value


def _count(data: dict[str, Any], name: str, low: int) -> int:
    value = data[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise Fault(400, f"{name} must be a whole number of at least {low}")
    return value


def _show_registration(s: AppSettings) -> dict[str, Any]:
    return {
        "userRegistrationEnabled": s.registration_enabled,
        "emailConfirmationRequired": s.email_confirmation,
    }


def _apply_registration(s: AppSettings, data: dict[str, Any]) -> AppSettings:
    merged = {**_show_registration(s), **data}
    return attrs.evolve(
        s,
        registration_enabled=_bool(merged, "userRegistrationEnabled"),
        email_confirmation=_bool(merged, "emailConfirmationRequired"),
    )


def _show_login(s: AppSettings) -> dict[str, Any]:
    return {
        "enableMultipleLogins": s.multiple_logins == "allow",
        "maxConcurrentLogins": s.max_sessions,
        "logoutLastUser": s.multiple_logins == "second-refused",
        "failedLoginsLock": s.lockout_after or 0,
        "lockoutSeconds": s.lockout_seconds,
        "sessionTimeout": s.session_timeout,
    }


def _apply_login(s: AppSettings, data: dict[str, Any]) -> AppSettings:
    merged = {**_show_login(s), **data}
    multiple = _bool(merged, "enableMultipleLogins")
    refuse_second = _bool(merged, "logoutLastUser")
    policy: MultipleLoginsPolicy = (
        "allow" if multiple else ("second-refused" if refuse_second else "first-loses")
    )
    lock = _count(merged, "failedLoginsLock", 0)
    for name in ("lockoutSeconds", "sessionTimeout"):
        value = merged[name]
        if (not isinstance(value, int | float) or isinstance(value, bool) or value <= 0
                or not math.isfinite(value)):
            raise Fault(400, f"{name} must be a positive number of seconds")
    try:
        return attrs.evolve(
            s,
            multiple_logins=policy,
            max_sessions=_count(merged, "maxConcurrentLogins", 1),
            lockout_after=lock or None,
            lockout_seconds=merged["lockoutSeconds"],
            session_timeout=merged["sessionTimeout"],
        )
    except ValueError as exc:
        raise Fault(400, str(exc)) from None


def _show_data(s: AppSettings) -> dict[str, Any]:
    return {"dynamicSchema": s.dynamic_schema == "create"}


def _apply_data(s: AppSettings, data: dict[str, Any]) -> AppSettings:
    merged = {**_show_data(s), **data}
    if _bool(merged, "dynamicSchema"):
        return attrs.evolve(s, dynamic_schema="create")
    # Off: unknown properties are dropped, unless the app already refuses them (3010 / 3031).
    return attrs.evolve(s, dynamic_schema="refuse" if s.dynamic_schema == "refuse" else "drop")


REGISTRATION = SettingView("user registration", _show_registration, _apply_registration)
LOGIN = SettingView("user login", _show_login, _apply_login)
DATA_CONFIG = SettingView("data config", _show_data, _apply_data)


def _setting(
    state: EmulatorState, service: UsersService, method: str, body: bytes, view: SettingView
) -> web.Response:
    if method == "GET":
        return _json(view.show(service.settings))
    data = _body(body, f"Unable to change the {view.what} settings")
    changed = view.apply(service.settings, data)
    state.set_app_settings(service.app_id, changed)
    return _json(view.show(changed))

