"""Webhook shapes: the stored subscription and delivery, and the API bodies (camelCase, as the reference)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kindling.events.catalog import SUBSCRIBABLE
from kindling.platform.models import PatchModel
from kindling.platform.text import SingleLine
from kindling.webhooks.targets import MAX_URL_LENGTH

DeliveryStatus = Literal["pending", "delivered", "failed", "cancelled"]
MAX_CAMPAIGN_FILTERS = 100


def _events(value: list[str]) -> list[str]:
    unknown = [e for e in value if e not in SUBSCRIBABLE]
    if unknown:
        raise ValueError(f"unknown event type(s): {', '.join(unknown)}; known: {', '.join(SUBSCRIBABLE)}")
    return list(dict.fromkeys(value))


def _campaigns(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    cleaned = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    return cleaned or None


EventList = Annotated[list[str], Field(min_length=1, max_length=20), AfterValidator(_events)]
CampaignFilter = Annotated[
    list[Annotated[str, Field(max_length=64)]] | None,
    Field(max_length=MAX_CAMPAIGN_FILTERS),
    AfterValidator(_campaigns),
]
Url = Annotated[SingleLine, Field(min_length=1, max_length=MAX_URL_LENGTH)]


class _Api(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class WebhookCreate(_Api):
    url: Url
    events: EventList
    campaign_ids: CampaignFilter = Field(None, description="Only events of these campaigns (extension).")
    is_active: bool = True


class WebhookUpdate(_Api, PatchModel):
    url: Url | None = None
    events: EventList | None = None
    campaign_ids: CampaignFilter = None
    is_active: bool | None = None

    NOT_NULLABLE: ClassVar[tuple[str, ...]] = ("url", "events", "is_active")


class Webhook(BaseModel):
    """The stored subscription. Secrets are KMS ciphertexts; the previous one signs until it expires."""

    id: str
    workspace_id: str
    url: str
    events: list[str]
    campaign_ids: list[str] | None = None
    is_active: bool = True
    secret_enc: str
    previous_secret_enc: str | None = None
    previous_secret_expires_at: datetime | None = None
    last_triggered_at: datetime | None = None
    failure_count: int = 0
    created_at: datetime
    updated_at: datetime

    def matches(self, event_type: str, campaign_id: str | None, data: dict[str, Any]) -> bool:
        if event_type == "webhook.test":
            return data.get("webhookId") == self.id
        if not self.is_active:
            return False
        if event_type not in self.events and "*" not in self.events:
            return False
        if self.campaign_ids is not None:
            return campaign_id is not None and campaign_id in self.campaign_ids
        return True


class WebhookSnapshot(BaseModel):
    """What an attempt needs of its subscription, as it was when the attempt was queued: carried in the delivery
    message so an attempt reads nothing (service.SNAPSHOT_MAX_AGE bounds how old it may be). Secrets stay KMS
    ciphertexts."""

    id: str
    url: str
    is_active: bool
    secret_enc: str
    previous_secret_enc: str | None = None
    previous_secret_expires_at: datetime | None = None
    last_triggered_at: datetime | None = None

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookSnapshot:
        return cls(
            id=webhook.id,
            url=webhook.url,
            is_active=webhook.is_active,
            secret_enc=webhook.secret_enc,
            previous_secret_enc=webhook.previous_secret_enc,
            previous_secret_expires_at=webhook.previous_secret_expires_at,
            last_triggered_at=webhook.last_triggered_at,
        )


class Attempt(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    response_body: str | None = None
    error: str | None = None


class Delivery(BaseModel):
    id: str
    workspace_id: str
    webhook_id: str
    event_id: str
    event_type: str
    data: dict[str, Any]
    timestamp: str  # the envelope's timestamp (the event's time), identical on every attempt
    status: DeliveryStatus = "pending"
    attempt_count: int = 0
    next_attempt_at: datetime | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    reason: str | None = None  # why a delivery was cancelled or failed without a response
    replay_of: str | None = None
