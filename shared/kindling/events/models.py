"""Event types and the event record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

EMAIL_EVENTS: tuple[str, ...] = (
    "reply.received",
    "email.bounced",
    "email.unsubscribed",
    "email.opened",
    "email.clicked",
    "prospect.suppressed",
    "limit.hit",
    "webhook.test",
    "bounce_shield.activated",  # Kindling (issue 15): the workspace's Bounce Shield tripped
    "mailbox.disconnected",  # Kindling (issue 15): a mailbox that worked stopped working (once per outage)
    "mailbox.reconnected",  # Kindling (issue 15): that outage ended (a re-test or new credentials worked)
)
# Reserved: accepted in subscriptions, emitted by the LinkedIn channel when it exists.
LINKEDIN_EVENTS: tuple[str, ...] = (
    "linkedin.reply_received",
    "linkedin.invite_accepted",
    "linkedin.message_sent",
    "linkedin.account_disconnected",
)
EVENT_TYPES: tuple[str, ...] = (*EMAIL_EVENTS, *LINKEDIN_EVENTS)


class DomainEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str  # evt_...; travels as X-Warmy-Event-Id and stays stable across retries
    workspace_id: str
    type: str
    data: dict[str, Any]
    occurred_at: datetime
    campaign_id: str | None = None  # lets subscriptions filter by campaign
