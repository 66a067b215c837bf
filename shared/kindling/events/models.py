"""Event types and the event record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

EVENT_TYPES: tuple[str, ...] = (
    "reply.received",
    "email.bounced",
    "email.unsubscribed",
    "email.opened",
    "email.clicked",
    "prospect.suppressed",
    "limit.hit",
    "webhook.test",
    "linkedin.invite_accepted",
    "linkedin.reply_received",
)


class DomainEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str  # evt_...; travels as X-Warmy-Event-Id and stays stable across retries
    workspace_id: str
    type: str
    data: dict[str, Any]
    occurred_at: datetime
    campaign_id: str | None = None  # lets subscriptions filter by campaign
