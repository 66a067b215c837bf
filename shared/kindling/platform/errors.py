"""Domain errors with stable codes. The API maps each class to an HTTP status in one table."""

from __future__ import annotations

from typing import Any


class KindlingError(Exception):
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or []


class ValidationFailed(KindlingError):
    code = "validation_error"


class NotFound(KindlingError):
    code = "not_found"


class Conflict(KindlingError):
    code = "conflict"


class InvalidStatus(KindlingError):
    code = "invalid_status"


class Unprocessable(KindlingError):
    """A well-formed request the current state refuses (e.g. `cannot_delete_last_variant`)."""

    code = "unprocessable"


class BadGateway(KindlingError):
    """An upstream provider (the LinkedIn provider) refused or could not answer what the request needs."""

    code = "provider_error"


class Unauthorized(KindlingError):
    code = "unauthorized"


class InsufficientScope(KindlingError):
    code = "insufficient_scope"


class RateLimited(KindlingError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, limit: int, reset_at: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.limit = limit
        self.reset_at = reset_at


class LimitReached(KindlingError):
    """Refused for now because a sending limit is met (HTTP 429 with `Retry-After`): a mailbox's daily cap, its pacer
    or its backoff. Not the API's own request rate (`RateLimited`); `code` names which limit."""

    code = "limit_reached"

    def __init__(
        self, message: str, *, code: str, retry_after: int, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.retry_after = max(1, retry_after)


class IdempotencyConflict(KindlingError):
    code = "idempotency_conflict"


class PayloadTooLarge(KindlingError):
    code = "payload_too_large"


def field_error(field: str, message: str, code: str = "invalid") -> dict[str, Any]:
    return {"field": field, "message": message, "code": code}
