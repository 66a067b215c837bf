"""Messages on the webhook queue.

- `{"kind": "event", "workspace_id", "event_id"}`: a recorded domain event (from EventService) to fan out;
- `{"kind": "delivery", "workspace_id", "delivery_id", "attempt", "queued_at", "webhook"}`: one attempt of one
  delivery (from the fan-out, the retry sweep or a replay). Each delivery is its own message, so one slow
  endpoint only holds its own message and never the deliveries to other subscriptions. `webhook` is the
  subscription as the sender read it (a `WebhookSnapshot`, secrets still KMS ciphertexts) and `queued_at` when;
  both are optional: without them the deliverer reads the subscription itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from kindling.platform import aws
from kindling.platform.clock import isoformat, parse_iso
from kindling.platform.observability import get_logger
from kindling.platform.queues import QueueMessage, required_url, send_batches
from kindling.platform.settings import get_settings
from kindling.webhooks.models import WebhookSnapshot


@dataclass(frozen=True)
class DeliveryMessage:
    workspace_id: str
    delivery_id: str
    attempt: int
    webhook: WebhookSnapshot | None = None
    queued_at: datetime | None = None

    def body(self) -> str:
        data: dict[str, Any] = {
            "kind": "delivery",
            "workspace_id": self.workspace_id,
            "delivery_id": self.delivery_id,
            "attempt": self.attempt,
        }
        if self.webhook is not None and self.queued_at is not None:
            data["queued_at"] = isoformat(self.queued_at)
            data["webhook"] = self.webhook.model_dump(mode="json", exclude_none=True)
        return json.dumps(data, separators=(",", ":"))


@dataclass(frozen=True)
class EventMessage:
    workspace_id: str
    event_id: str


class BadMessage(ValueError):
    pass


def _snapshot(data: dict[str, Any]) -> tuple[WebhookSnapshot | None, datetime | None]:
    raw, queued_at = data.get("webhook"), data.get("queued_at")
    if raw is None or not isinstance(queued_at, str):
        return None, None
    try:
        return WebhookSnapshot.model_validate(raw), parse_iso(queued_at)
    except (ValidationError, ValueError):
        # The attempt itself is still good: the deliverer reads the subscription instead.
        get_logger().warning("ignoring a malformed webhook snapshot", extra={"delivery_id": data.get("delivery_id")})
        return None, None


def parse_message(body: str) -> DeliveryMessage | EventMessage:
    try:
        data: Any = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadMessage("not JSON") from exc
    if not isinstance(data, dict):
        raise BadMessage("not an object")
    try:
        if data.get("kind") == "event":
            return EventMessage(str(data["workspace_id"]), str(data["event_id"]))
        if data.get("kind") == "delivery":
            webhook, queued_at = _snapshot(data)
            return DeliveryMessage(
                str(data["workspace_id"]), str(data["delivery_id"]), int(data["attempt"]), webhook, queued_at
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadMessage(f"malformed {data.get('kind')} message") from exc
    raise BadMessage(f"unknown kind {data.get('kind')!r}")


class DeliveryQueue(Protocol):
    def send(self, messages: list[DeliveryMessage]) -> None: ...


class SqsDeliveryQueue:
    def send(self, messages: list[DeliveryMessage]) -> None:
        url = required_url(get_settings().webhook_queue_url, "KINDLING_WEBHOOK_QUEUE_URL")
        # Ten per batch: a snapshot is at most ~3 KB (a 2 KB URL and two ciphertexts), far below the batch's cap.
        refused = send_batches(aws.client("sqs"), url, [QueueMessage(m.body()) for m in messages])
        if refused:
            raise RuntimeError(f"{len(refused)} delivery message(s) were not queued: {refused[0].reason}")
