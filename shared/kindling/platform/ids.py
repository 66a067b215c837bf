"""Identifiers: prefixed random ids (`ws_`, `key_`, `req_`, ...) and uuid4 ids where the reference uses uuids."""

from __future__ import annotations

import secrets
import string
import uuid

_ALPHABET36 = string.digits + string.ascii_lowercase
_ALPHABET62 = string.digits + string.ascii_letters


def random_token(length: int, alphabet: str = _ALPHABET36) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def prefixed_id(prefix: str, length: int = 12) -> str:
    """`ws_4b9d10af3c1e`-style ids: a type prefix and lowercase base36 randomness."""
    return f"{prefix}_{random_token(length)}"


def new_uuid() -> str:
    return str(uuid.uuid4())


def request_id() -> str:
    return prefixed_id("req", 14)


def api_key_token() -> str:
    """A secret API key: `ws_` + 40 base62 characters (about 238 bits)."""
    return "ws_" + random_token(40, _ALPHABET62)
