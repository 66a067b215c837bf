"""Messages on the webhook queue.

- `{"kind": "event", "workspace_id", "event_id"}`: a recorded domain event (from EventService) to fan out;
- `{"kind": "delivery", "workspace_id", "delivery_id", "attempt"}`: one attempt of one delivery (from the
  fan-out, the retry sweep or a replay). Each delivery is its own message, so one slow endpoint only holds
  its own message and never the deliveries to other subscriptions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from kindling.platform import aws
from kindling.platform.settings import get_settings


@dataclass(frozen=True)
class DeliveryMessage:
    workspace_id: str
    delivery_id: str
    attempt: int

    def body(self) -> str:
        return json.dumps(
            {
                "kind": "delivery",
                "workspace_id": self.workspace_id,
                "delivery_id": self.delivery_id,
                "attempt": self.attempt,
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class EventMessage:
    workspace_id: str
    event_id: str


class BadMessage(ValueError):
    pass


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
            return DeliveryMessage(str(data["workspace_id"]), str(data["delivery_id"]), int(data["attempt"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise BadMessage(f"malformed {data.get('kind')} message") from exc
    raise BadMessage(f"unknown kind {data.get('kind')!r}")


class DeliveryQueue(Protocol):
    def send(self, messages: list[DeliveryMessage]) -> None: ...


class SqsDeliveryQueue:
    def send(self, messages: list[DeliveryMessage]) -> None:
        url = get_settings().webhook_queue_url
        if not url:
            raise RuntimeError("KINDLING_WEBHOOK_QUEUE_URL is not configured")
        sqs = aws.client("sqs")
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            response = sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(n), "MessageBody": m.body()} for n, m in enumerate(chunk)],
            )
            failed = response.get("Failed") or []
            if failed:
                raise RuntimeError(f"{len(failed)} delivery message(s) were not queued: {failed[0].get('Message')}")
