"""The event catalogue: subscribable types, payload fields, and the per-type dedup rules (inventory 30.1).

Dedup is enforced once, at emission, by `EventService`'s conditional write; this module is the one table of
rules (key + window) every emitter uses through `emit_event`, the way a concept or engine raises an event.
"Per day" means the UTC calendar day: the key carries the date and the marker lives until the end of that day.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kindling.events.models import EMAIL_EVENTS, LINKEDIN_EVENTS, DomainEvent
from kindling.events.service import EventService, PreparedEvent
from kindling.platform.clock import get_clock

WILDCARD = "*"
SUBSCRIBABLE: tuple[str, ...] = (*EMAIL_EVENTS, *LINKEDIN_EVENTS, WILDCARD)

# Payload fields per type, as the API reference and inventory 30.1 list them: (required, optional).
PAYLOAD_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "reply.received": (
        ("prospectId", "prospectEmail", "campaignId", "receivedAt"),
        ("mailboxId", "subject", "messageId", "channel"),
    ),
    "email.bounced": (
        ("prospectEmail", "campaignId", "bounceType", "bouncedAt"),
        ("prospectId", "mailboxId", "bounceReason"),
    ),
    "email.unsubscribed": (("prospectId", "prospectEmail", "campaignId", "unsubscribedAt"), ()),
    "email.opened": (("prospectId", "prospectEmail", "campaignId", "openedAt"), ("mailboxId", "stepIndex")),
    "email.clicked": (("prospectId", "prospectEmail", "campaignId", "url", "clickedAt"), ("mailboxId", "stepIndex")),
    "prospect.suppressed": (("email", "reason", "suppressedAt"), ("prospectId",)),
    "limit.hit": (("limitType", "currentValue", "limitValue", "hitAt"), ("mailboxId", "campaignId", "domain")),
    "webhook.test": (("webhookId", "timestamp", "message"), ()),
    "bounce_shield.activated": (
        ("bounceRate", "thresholdPercent", "sent", "bounced", "activatedAt"),
        ("windowType", "windowSends", "windowHours", "pausedCampaignIds", "blocklistedCount"),
    ),
    "mailbox.disconnected": (
        ("mailboxId", "email", "status", "code", "disconnectedAt"),
        ("message", "pausedCampaignIds"),
    ),
    "mailbox.reconnected": (
        ("mailboxId", "email", "disconnectedAt", "reconnectedAt"),
        ("resumedCampaignIds",),
    ),
    "linkedin.reply_received": (
        ("campaignId", "enrollmentId", "linkedinAccountId", "messageText", "receivedAt"),
        ("prospectId", "prospectName", "prospectLinkedinUrl", "threadId", "campaignName"),
    ),
    "linkedin.invite_accepted": (
        ("campaignId", "enrollmentId", "linkedinAccountId", "acceptedAt"),
        ("prospectId", "prospectName", "prospectLinkedinUrl", "campaignName", "invitedAt"),
    ),
    "linkedin.message_sent": (("campaignId", "enrollmentId", "linkedinAccountId"), ()),
    "linkedin.account_disconnected": (("linkedinAccountId",), ("reason", "disconnectedAt")),
}

EVER = timedelta(days=36500)  # "one per ... ever": the marker outlives any realistic retention


@dataclass(frozen=True)
class DedupRule:
    """`key(data)` -> the identity deduplicated; `daily` adds the UTC date and ends the window at midnight."""

    key: Callable[[Mapping[str, Any]], str]
    daily: bool
    description: str


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:24]


def _limit_identifier(data: Mapping[str, Any]) -> str:
    parts = (data.get("mailboxId"), data.get("campaignId"), data.get("domain"))
    return ":".join(str(p or "") for p in parts)


DEDUP_RULES: dict[str, DedupRule | None] = {
    "reply.received": DedupRule(
        lambda d: f"{d['prospectId']}:{d['campaignId']}", False, "one per prospect per campaign, ever"
    ),
    "email.bounced": DedupRule(
        lambda d: f"{d.get('prospectId') or d['prospectEmail']}:{d['campaignId']}",
        True,
        "one per prospect per campaign per day",
    ),
    "email.unsubscribed": DedupRule(
        lambda d: f"{d['prospectId']}:{d['campaignId']}", False, "one per prospect per campaign, ever"
    ),
    "email.opened": DedupRule(
        lambda d: f"{d['prospectId']}:{d['campaignId']}", False, "first open only, one per prospect per campaign"
    ),
    "email.clicked": DedupRule(
        lambda d: f"{d['prospectId']}:{_digest(str(d['url']))}", True, "one per unique URL per prospect per day"
    ),
    "prospect.suppressed": DedupRule(lambda d: _digest(str(d["email"]).lower()), True, "one per email per day"),
    "limit.hit": DedupRule(
        lambda d: f"{d['limitType']}:{_limit_identifier(d)}", True, "one per limit type per identifier per day"
    ),
    "webhook.test": None,
    # One per activation: the activation itself is a conditional write (kindling.bounceshield), so never twice.
    "bounce_shield.activated": None,
    # One per outage: the outage is identified by the mailbox and the instant it began.
    "mailbox.disconnected": DedupRule(
        lambda d: f"{d['mailboxId']}:{d['disconnectedAt']}", False, "one per mailbox per outage"
    ),
    "mailbox.reconnected": DedupRule(
        lambda d: f"{d['mailboxId']}:{d['disconnectedAt']}", False, "one per mailbox per outage"
    ),
    "linkedin.reply_received": DedupRule(lambda d: str(d["enrollmentId"]), False, "first reply per enrollment"),
    "linkedin.invite_accepted": DedupRule(lambda d: str(d["enrollmentId"]), False, "one per acceptance"),
    "linkedin.message_sent": None,
    # One per outage: the status helper emits only on the flip that starts the outage; the key is a second guard.
    "linkedin.account_disconnected": DedupRule(
        lambda d: f"{d['linkedinAccountId']}:{d.get('disconnectedAt') or ''}", False, "one per outage"
    ),
}


class InvalidEventPayload(ValueError):
    pass


def validate_payload(event_type: str, data: Mapping[str, Any]) -> None:
    if event_type not in PAYLOAD_FIELDS:
        raise InvalidEventPayload(f"unknown webhook event type {event_type!r}")
    required, optional = PAYLOAD_FIELDS[event_type]
    missing = [f for f in required if data.get(f) is None]
    if missing:
        raise InvalidEventPayload(f"{event_type} payload is missing {', '.join(missing)}")
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        raise InvalidEventPayload(f"{event_type} payload has unknown fields {', '.join(unknown)}")


def dedup_for(event_type: str, data: Mapping[str, Any], now: datetime) -> tuple[str, timedelta] | None:
    """(dedup key, window) for an event about to be emitted at `now`; None when the type is not deduplicated."""
    if event_type not in DEDUP_RULES:
        raise InvalidEventPayload(f"unknown webhook event type {event_type!r}")
    rule = DEDUP_RULES[event_type]
    if rule is None:
        return None
    key = rule.key(data)
    if not rule.daily:
        return key, EVER
    day = now.astimezone(UTC).date()
    end_of_day = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    return f"{key}:{day.isoformat()}", max(end_of_day - now, timedelta(seconds=1))


def emit_event(
    events: EventService,
    workspace_id: str,
    event_type: str,
    data: dict[str, Any],
    *,
    now: datetime | None = None,
    campaign_id: str | None = None,
) -> DomainEvent | None:
    """Validate the payload, apply the type's dedup rule and emit. None when deduplicated."""
    validate_payload(event_type, data)
    dedup = dedup_for(event_type, data, now or get_clock().now())
    campaign = campaign_id if campaign_id is not None else data.get("campaignId")
    return events.emit(
        workspace_id,
        event_type,
        data,
        dedup_key=dedup[0] if dedup else None,
        dedup_window=dedup[1] if dedup else None,
        campaign_id=str(campaign) if campaign is not None else None,
    )


def prepare_event(
    events: EventService,
    workspace_id: str,
    event_type: str,
    data: dict[str, Any],
    *,
    now: datetime,
    campaign_id: str | None = None,
) -> PreparedEvent:
    """Validate the payload and apply the type's dedup rule, for an event written inside the transaction of the
    success it tells of (`EventService.record_in`; published after the commit with `publish_recorded`). Raises
    InvalidEventPayload before anything is written."""
    validate_payload(event_type, data)
    dedup = dedup_for(event_type, data, now)
    campaign = campaign_id if campaign_id is not None else data.get("campaignId")
    return events.prepare(
        workspace_id,
        event_type,
        data,
        occurred_at=now,
        dedup_key=dedup[0] if dedup else None,
        dedup_window=dedup[1] if dedup else None,
        campaign_id=str(campaign) if campaign is not None else None,
    )
