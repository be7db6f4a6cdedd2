"""Salted scrypt password hashes, compared in constant time.

The hash records its own cost parameters, so hashes made with either cost verify later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: A secure cost (one of OWASP's scrypt settings: N=2^14, r=8, p=5; about 16 MiB, ~0.2 s here).
SECURE_COST = (2**14, 8, 5)
#: A deliberately cheap cost for test suites (fast_password_hashing=True).
FAST_COST = (16, 1, 1)
_SALT_BYTES = 16
_KEY_BYTES = 32
_MAXMEM = 64 * 1024 * 1024
_PREFIX = "scrypt"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_KEY_BYTES, maxmem=_MAXMEM
    )


def hash_password(password: str, *, fast: bool = False) -> str:
    """A new salted hash of `password` as `scrypt$N$r$p$salt$key`."""
    n, r, p = FAST_COST if fast else SECURE_COST
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, n, r, p)
    return f"{_PREFIX}${n}${r}${p}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored`; the comparison takes constant time."""
    try:
        prefix, n_s, r_s, p_s, salt_s, key_s = stored.split("$")
        n, r, p = int(n_s), int(r_s), int(p_s)
        salt = base64.b64decode(salt_s, validate=True)
        expected = base64.b64decode(key_s, validate=True)
    except ValueError:
        return False
    if prefix != _PREFIX:
        return False
    actual = _derive(password, salt, n, r, p)
    return hmac.compare_digest(actual, expected)
