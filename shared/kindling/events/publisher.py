"""Hands recorded events to the webhook pipeline (the webhook queue). The deliverer fans out per subscription."""

from __future__ import annotations

import json
from typing import Protocol

from kindling.events.models import DomainEvent
from kindling.platform import aws
from kindling.platform.settings import get_settings


class EventPublisher(Protocol):
    def publish(self, event: DomainEvent) -> None: ...


class WebhookQueuePublisher:
    def publish(self, event: DomainEvent) -> None:
        url = get_settings().webhook_queue_url
        if not url:
            raise RuntimeError("KINDLING_WEBHOOK_QUEUE_URL is not configured")
        aws.client("sqs").send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"kind": "event", "workspace_id": event.workspace_id, "event_id": event.id}),
        )
