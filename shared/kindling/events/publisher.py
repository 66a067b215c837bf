"""Hands recorded events to the webhook pipeline (the webhook queue). The deliverer fans out per subscription."""

from __future__ import annotations

from typing import Protocol

from kindling.events.messages import event_message
from kindling.events.models import DomainEvent
from kindling.platform import aws
from kindling.platform.queues import required_url, send_one
from kindling.platform.settings import get_settings


class EventPublisher(Protocol):
    def publish(self, event: DomainEvent) -> None: ...


class WebhookQueuePublisher:
    def publish(self, event: DomainEvent) -> None:
        url = required_url(get_settings().webhook_queue_url, "KINDLING_WEBHOOK_QUEUE_URL")
        send_one(aws.client("sqs"), url, event_message(event.workspace_id, event.id))
