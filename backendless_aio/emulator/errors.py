"""The one exception the emulator's logic raises: a Backendless fault with its HTTP status."""

from __future__ import annotations

from typing import Any

from .._codes import Code

#: HTTP status of the faults that are not answered with 400.
_STATUS_BY_CODE: dict[int, int] = {
    Code.REGISTRATION_DISABLED: 403,
    Code.RATE_LIMIT: 429,
}


class Fault(Exception):
    """A fault answered as `{"code", "message", "errorData"}` with an HTTP status."""

    def __init__(self, code: int, message: str, *, status: int | None = None) -> None:
        super().__init__(code, message)
        self.code = int(code)
        self.message = message
        self.status = status if status is not None else _STATUS_BY_CODE.get(self.code, 400)

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message)


def error_body(code: int, message: str) -> dict[str, Any]:
    """The shape of every error answer."""
    return {"code": int(code), "message": message, "errorData": {}}
