"""Signed tracking tokens for the open pixel, click redirects and unsubscribe links (standard library only).

`<payload>.<tag>`, both base64url without padding:
- payload: compact JSON `[1, kind, workspace_id, send_id]`, clicks adding `url` and/or `url_index`
  (`[1, "c", ws, send, url]`, `[1, "c", ws, send, null, 3]`);
- tag: HMAC-SHA256(secret, "kindling.track.v1." + payload) truncated to 128 bits (NIST SP 800-107 allows
  truncation to that length; it keeps links short).

A click token carries its destination inside the signed payload, so the redirect goes only where the
message said: no open redirect. Key rotation: sign with the newest secret, verify against every live one
(`live_secrets`: KINDLING_TRACKING_SECRET, the current one, then KINDLING_TRACKING_SECRET_PREVIOUS when set; the
rotation procedure is in docs/decisions.md).
Verification is constant-time per secret and rejects anything tampered, truncated, re-encoded, of another
kind, or malformed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

VERSION = 1
TAG_BYTES = 16
MAX_TOKEN_LENGTH = 4096
MAX_URL_LENGTH = 2048
MAX_ID_LENGTH = 128
_DOMAIN = b"kindling.track.v1."
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
CURRENT_SECRET_VAR = "KINDLING_TRACKING_SECRET"  # noqa: S105 - a variable name, not a secret
PREVIOUS_SECRET_VAR = "KINDLING_TRACKING_SECRET_PREVIOUS"  # noqa: S105 - a variable name, not a secret


class Kind(StrEnum):
    OPEN = "o"
    CLICK = "c"
    UNSUBSCRIBE = "u"


@dataclass(frozen=True)
class TokenPayload:
    kind: Kind
    workspace_id: str
    send_id: str
    url: str | None = None
    url_index: int | None = None

    def __post_init__(self) -> None:
        for name, value in (("workspace_id", self.workspace_id), ("send_id", self.send_id)):
            if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
                raise ValueError(f"{name} must be a non-empty string of at most {MAX_ID_LENGTH} characters")
        if self.kind is Kind.CLICK:
            if self.url is None and self.url_index is None:
                raise ValueError("a click token needs the url or its index")
        elif self.url is not None or self.url_index is not None:
            raise ValueError(f"a {self.kind.name.lower()} token carries no url")
        if self.url is not None and not is_redirectable(self.url):
            raise ValueError("click urls must be absolute http(s) urls")
        if self.url_index is not None and (
            isinstance(self.url_index, bool) or not isinstance(self.url_index, int) or self.url_index < 0
        ):
            raise ValueError("url_index must be a non-negative integer")


def is_redirectable(url: str) -> bool:
    """Only absolute http(s) URLs with a host, no control characters, of bounded length, are redirect targets."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        return False
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes | None:
    if not _B64URL.match(text):
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if _b64encode(raw) == text else None  # one spelling per token: no re-encoded twins


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not key:
        raise ValueError("an empty tracking secret")
    return key


def _tag(key: bytes, encoded_payload: str) -> bytes:
    return hmac.new(key, _DOMAIN + encoded_payload.encode("ascii"), hashlib.sha256).digest()[:TAG_BYTES]


def sign(payload: TokenPayload, secret: str | bytes) -> str:
    body: list[object] = [VERSION, payload.kind.value, payload.workspace_id, payload.send_id]
    if payload.url is not None or payload.url_index is not None:
        body.append(payload.url)
    if payload.url_index is not None:
        body.append(payload.url_index)
    encoded = _b64encode(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    return f"{encoded}.{_b64encode(_tag(_key(secret), encoded))}"


def verify(token: str, secrets: str | bytes | Sequence[str | bytes], kind: Kind | None = None) -> TokenPayload | None:
    """The payload when `token` was signed by one of `secrets` (and is of `kind` when given), else None."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        return None
    encoded, _, tag_text = token.partition(".")
    tag = _b64decode(tag_text)
    if tag is None or len(tag) != TAG_BYTES or _b64decode(encoded) is None:
        return None
    keys = [secrets] if isinstance(secrets, str | bytes) else list(secrets)
    matched = False
    for secret in keys:
        if not secret:
            continue
        # No early exit: every live secret is tried, so timing does not reveal which one matched.
        matched |= hmac.compare_digest(_tag(_key(secret), encoded), tag)
    if not matched:
        return None
    payload = _parse(_b64decode(encoded) or b"")
    if payload is None or (kind is not None and payload.kind is not kind):
        return None
    return payload


def _parse(raw: bytes) -> TokenPayload | None:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(body, list) or not 4 <= len(body) <= 6 or body[0] != VERSION or isinstance(body[0], bool):
        return None
    try:
        kind = Kind(body[1])
        url = body[4] if len(body) > 4 else None
        index = body[5] if len(body) > 5 else None
        if url is not None and not isinstance(url, str):
            return None
        return TokenPayload(kind, body[2], body[3], url, index)
    except (ValueError, TypeError):
        return None


def open_token(workspace_id: str, send_id: str, secret: str | bytes) -> str:
    return sign(TokenPayload(Kind.OPEN, workspace_id, send_id), secret)


def click_token(workspace_id: str, send_id: str, url: str, secret: str | bytes, url_index: int | None = None) -> str:
    return sign(TokenPayload(Kind.CLICK, workspace_id, send_id, url, url_index), secret)


def unsubscribe_token(workspace_id: str, send_id: str, secret: str | bytes) -> str:
    return sign(TokenPayload(Kind.UNSUBSCRIBE, workspace_id, send_id), secret)


def live_secrets(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The secrets a link may be signed with, current first: KINDLING_TRACKING_SECRET, then the one it replaced.

    New links are signed with the current secret only (the sender reads KINDLING_TRACKING_SECRET); the previous one,
    when set and different, keeps the links of emails sent before the last rotation working.
    """
    current = environ.get(CURRENT_SECRET_VAR) or ""
    if not current:
        raise RuntimeError(f"{CURRENT_SECRET_VAR} is not configured")
    previous = environ.get(PREVIOUS_SECRET_VAR) or ""
    return (current, previous) if previous and previous != current else (current,)
