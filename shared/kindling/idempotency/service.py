"""Idempotency rules, independent of HTTP: claim, replay, conflict, complete."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from kindling.idempotency.repository import IdempotencyRepository
from kindling.platform.clock import Clock, get_clock
from kindling.platform.errors import Conflict, IdempotencyConflict, ValidationFailed, field_error
from kindling.platform.settings import get_settings

MAX_KEY_LENGTH = 255
# A request that holds a key longer than this is presumed dead and the key may be retried.
LOCK_SECONDS = 60


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes


def _without_multipart_boundary(body: bytes) -> bytes:
    """A multipart body with its (random, per-client-call) boundary replaced, so a retried upload matches."""
    if not body.startswith(b"--"):
        return body
    delimiter = body.split(b"\r\n", 1)[0]
    if not 3 <= len(delimiter) <= 72 or b" " in delimiter.strip():
        return body
    return body.replace(delimiter, b"--boundary")


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """Same request = same method, path and JSON body (key order and whitespace do not matter)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode() if body else b""
    except (ValueError, UnicodeDecodeError):
        canonical = _without_multipart_boundary(body)
    return hashlib.sha256(method.upper().encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def validate_key(key: str) -> str:
    key = key.strip()
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            "Invalid Idempotency-Key header.",
            details=[field_error("Idempotency-Key", f"must be 1-{MAX_KEY_LENGTH} printable characters")],
        )
    return key


class IdempotencyService:
    """Claim a key before the work, store the response after it; replay or refuse on reuse."""

    def __init__(self, repository: IdempotencyRepository | None = None, clock: Clock | None = None) -> None:
        self._repo = repository or IdempotencyRepository()
        self._clock = clock

    def begin(self, workspace_id: str, key: str, fingerprint: str) -> StoredResponse | None:
        """Claim (workspace, key) for this request, or return the stored response to replay.

        Raises IdempotencyConflict when the key was used with another request, Conflict while the first
        request with this key is still running.
        """
        digest = _digest(validate_key(key))
        for _ in range(3):
            now = int((self._clock or get_clock()).now().timestamp())
            expires_at = now + get_settings().idempotency_ttl_seconds
            if self._repo.try_lock(workspace_id, digest, fingerprint, now, expires_at, LOCK_SECONDS):
                return None
            record = self._repo.get(workspace_id, digest)
            if record is None:  # deleted between the two calls (released or expired): claim again
                continue
            if record.request_hash != fingerprint:
                raise IdempotencyConflict(
                    "This Idempotency-Key was already used with a different request.",
                    details=[field_error("Idempotency-Key", "reused with a different request body")],
                )
            if record.state != "complete" or record.status_code is None:
                raise Conflict("A request with this Idempotency-Key is still being processed; retry shortly.")
            return StoredResponse(record.status_code, (record.response_body or "").encode())
        raise Conflict("This Idempotency-Key is contended; retry shortly.")

    def finish(self, workspace_id: str, key: str, status_code: int, body: bytes) -> None:
        """Keep a successful response for replay; an error response (4xx or 5xx, returned rather than raised) frees
        the key like a raised error, so the client's retry runs again."""
        digest = _digest(key)
        if status_code >= 400:
            self._repo.release(workspace_id, digest)
        else:
            self._repo.complete(workspace_id, digest, status_code, body.decode())

    def abandon(self, workspace_id: str, key: str) -> None:
        """The request raised instead of answering: free the key (errors are not replayed)."""
        self._repo.release(workspace_id, _digest(key))


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
