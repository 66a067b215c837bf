"""The provider's calls into Kindling: its webhooks and the hosted-auth notify callback, verified and typed.

Verification: a per-stack secret (KINDLING_LINKEDIN_WEBHOOK_SECRET). The provider's webhooks carry it in a
custom header (its "Create a webhook" call takes a list of headers to send with every delivery); the hosted-auth
notify callback cannot carry a header, so its notify_url carries the secret in its query (`?secret=...`). Either
place is accepted, compared in constant time; anything else is refused with `invalid_signature` before the body is
read. A verified body that is not one of the documented shapes is refused with `validation_error`; a documented
event Kindling does not use (a message reaction, a read receipt) parses to `IgnoredEvent`, so the route can answer
200 and the provider does not retry it.

Payload shapes (devstack/linkedin_provider/README.md names each page):
- account status: `{"AccountStatus": {"account_id", "account_type", "message": <status>}}`;
- new relation: `{"event": "new_relation", "account_id", "account_type", "webhook_name", "user_full_name",
  "user_provider_id", "user_public_identifier", "user_profile_url", "user_picture_url"}`;
- new message: `{"event": "message_received", "account_id", "account_type", "chat_id", "timestamp",
  "webhook_name", "message_id", "message", "sender": {"attendee_id", "attendee_name", "attendee_provider_id",
  "attendee_profile_url"}, "attendees": [...], ...}`;
- hosted-auth notify: `{"status": "CREATION_SUCCESS" | "RECONNECTED", "account_id", "name"}`.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kindling.platform.errors import PayloadTooLarge, Unauthorized, ValidationFailed
from kindling.platform.jsonsafe import loads_finite
from kindling.platform.text import control_character

# The header Kindling asks the provider to send with every webhook, and the notify URL's query parameter.
SECRET_HEADER = "X-Kindling-Webhook-Secret"  # noqa: S105 - a header name, not a credential
SECRET_QUERY_PARAMETER = "secret"  # noqa: S105 - a parameter name, not a credential
# A webhook body larger than this is refused unread (a message webhook with attachments stays far below it).
MAX_BODY_BYTES = 256 * 1024
_MAX_ID = 256
_MAX_TEXT = 20_000
_MAX_NAME = 500

# The hosted-auth notify statuses (the account-lifecycle page: CREATION_SUCCESS after a new connection,
# RECONNECTED after a reconnection).
LINKED_STATUSES = ("CREATION_SUCCESS", "RECONNECTED")


class InvalidSignature(Unauthorized):
    code = "invalid_signature"


@dataclass(frozen=True)
class AccountStatusChanged:
    account_id: str
    status: str  # the provider's raw status: OK, CREDENTIALS, ERROR, STOPPED, CONNECTING, ...
    account_type: str | None  # the provider's platform name, e.g. LINKEDIN


@dataclass(frozen=True)
class AccountLinked:
    account_id: str
    # The `name` Kindling gave the hosted-auth link (it identifies the pending connection); a reconnection is
    # identified by its account id and may come back without one (None).
    name: str | None
    status: str  # CREATION_SUCCESS or RECONNECTED


@dataclass(frozen=True)
class NewRelation:
    account_id: str
    provider_id: str
    public_identifier: str | None
    full_name: str | None
    profile_url: str | None


@dataclass(frozen=True)
class NewMessage:
    account_id: str
    chat_id: str
    message_id: str
    text: str | None
    sender_provider_id: str | None
    sender_name: str | None
    timestamp: datetime | None
    # The connected user's own LinkedIn id when the payload says it (account_info.user_id): a message whose sender
    # is the account itself was sent from another device, not received.
    account_provider_id: str | None = None

    @property
    def is_from_account(self) -> bool:
        return self.account_provider_id is not None and self.sender_provider_id == self.account_provider_id


@dataclass(frozen=True)
class IgnoredEvent:
    event: str


ProviderEvent = AccountStatusChanged | NewRelation | NewMessage | IgnoredEvent


def verify(secret: str, *, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
    """Refuse (InvalidSignature) a call that carries the stack's secret neither in SECRET_HEADER nor in the query.

    `headers` may use any case for its keys. An empty configured secret refuses everything.
    """
    if not secret:
        raise InvalidSignature("the provider webhook secret is not configured")
    expected = secret.encode()
    presented: list[str] = [value for key, value in headers.items() if key.lower() == SECRET_HEADER.lower()]
    if SECRET_QUERY_PARAMETER in query:
        presented.append(query[SECRET_QUERY_PARAMETER])
    # Every candidate is compared in constant time; no early exit tells which one was close.
    matched = False
    for candidate in presented:
        if isinstance(candidate, str) and hmac.compare_digest(candidate.encode(), expected):
            matched = True
    if not matched:
        raise InvalidSignature("the call does not carry this stack's provider webhook secret")


def _load(body: bytes | str) -> dict[str, Any]:
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"a provider call body holds at most {MAX_BODY_BYTES} bytes")
    try:
        data = loads_finite(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object")
    return data


def _field(data: Mapping[str, Any], key: str, *, required: bool = True, limit: int = _MAX_ID) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise ValidationFailed(f"{key} is required", details=[{"field": key, "issue": "missing"}])
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{key} must be a string", details=[{"field": key, "issue": "type"}])
    if len(value) > limit:
        raise ValidationFailed(f"{key} is too long", details=[{"field": key, "issue": "too_long"}])
    if limit <= _MAX_NAME and control_character(value) is not None:
        raise ValidationFailed(f"{key} holds control characters", details=[{"field": key, "issue": "control"}])
    return value


def _when(value: object) -> datetime | None:
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_webhook(body: bytes | str) -> ProviderEvent:
    """The typed event of one verified webhook body (account status, new relation, new message, or ignored)."""
    data = _load(body)
    status_block = data.get("AccountStatus")
    if status_block is not None:
        if not isinstance(status_block, dict):
            raise ValidationFailed("AccountStatus must be an object")
        status = _field(status_block, "message", limit=64)
        assert status is not None
        return AccountStatusChanged(
            account_id=_field(status_block, "account_id") or "",
            status=status.upper(),
            account_type=_field(status_block, "account_type", required=False, limit=64),
        )
    event = _field(data, "event", limit=64)
    assert event is not None
    if event == "new_relation":
        return NewRelation(
            account_id=_field(data, "account_id") or "",
            provider_id=_field(data, "user_provider_id") or "",
            public_identifier=_field(data, "user_public_identifier", required=False),
            full_name=_field(data, "user_full_name", required=False, limit=_MAX_NAME),
            profile_url=_field(data, "user_profile_url", required=False, limit=2048),
        )
    if event == "message_received":
        sender = data.get("sender")
        if sender is not None and not isinstance(sender, dict):
            raise ValidationFailed("sender must be an object")
        sender = sender or {}
        account_info = data.get("account_info")
        account_provider_id = (
            _field(account_info, "user_id", required=False) if isinstance(account_info, dict) else None
        )
        return NewMessage(
            account_id=_field(data, "account_id") or "",
            chat_id=_field(data, "chat_id") or "",
            message_id=_field(data, "message_id") or "",
            text=_field(data, "message", required=False, limit=_MAX_TEXT),
            sender_provider_id=_field(sender, "attendee_provider_id", required=False),
            sender_name=_field(sender, "attendee_name", required=False, limit=_MAX_NAME),
            timestamp=_when(data.get("timestamp")),
            account_provider_id=account_provider_id,
        )
    return IgnoredEvent(event=event)


def parse_hosted_auth_notify(body: bytes | str) -> AccountLinked:
    """The typed hosted-auth notify callback: the account the user just connected (or reconnected)."""
    data = _load(body)
    status = _field(data, "status", limit=64)
    assert status is not None
    if status not in LINKED_STATUSES:
        raise ValidationFailed(
            f"status must be one of {', '.join(LINKED_STATUSES)}", details=[{"field": "status", "issue": "value"}]
        )
    return AccountLinked(
        account_id=_field(data, "account_id") or "",
        name=_field(data, "name", required=status == "CREATION_SUCCESS", limit=_MAX_NAME),
        status=status,
    )
