"""Webhook retry sweep Lambda (EventBridge schedule, every minute).

Queues every pending delivery whose next attempt is due (retries up to 72 h later, beyond SQS's 15-minute
delay cap, and first attempts whose message was lost), and re-publishes domain events whose emitter crashed
between recording and publishing them.
"""

from __future__ import annotations

from typing import Any

from kindling.events.service import EventService
from kindling.platform.observability import get_logger, traced
from kindling.webhooks.service import DeliveryService


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    republished = EventService().republish_stale()
    queued = DeliveryService().sweep()
    get_logger().info("webhook sweep", extra={"queued": queued, "republished": republished})
    return {"queued": queued, "republished": republished}
