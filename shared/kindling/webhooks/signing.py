"""Signing secrets (`whsec_...`) and the `X-Warmy-Signature: t=<unix ms>,v1=<hex>` header (decisions.md).

HMAC-SHA256(secret, "<t>.<raw body>") as lowercase hex. During a rotation overlap the header carries one
`v1=` per live secret, the new one first and the previous one last: the help center's Python snippet keeps
the last `v1` it parses, so receivers still holding the old secret keep verifying until the overlap ends;
receivers on the new secret should accept any `v1` (as `verify` below does).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_hex(24)


def signature(secret: str, timestamp_ms: int, body: bytes) -> str:
    message = str(timestamp_ms).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secrets_in_order: Sequence[str], timestamp_ms: int, body: bytes) -> str:
    if not secrets_in_order:
        raise ValueError("at least one signing secret is required")
    values = [f"v1={signature(s, timestamp_ms, body)}" for s in secrets_in_order]
    return ",".join([f"t={timestamp_ms}", *values])


def verify(secret: str, header: str, body: bytes, now_ms: int | None = None, tolerance_ms: int = 300_000) -> bool:
    """Receiver-side check: any `v1` matches, and `t` is within the replay tolerance when `now_ms` is given."""
    timestamp: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not timestamp.isdigit() or not candidates:
        return False
    if now_ms is not None and abs(now_ms - int(timestamp)) > tolerance_ms:
        return False
    expected = signature(secret, int(timestamp), body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
