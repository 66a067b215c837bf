"""Webhook deliverer Lambda: consumes the webhook queue.

- `{"kind": "event", ...}`: fan a recorded domain event out to every matching subscription (one delivery
  message each);
- `{"kind": "delivery", ...}`: one signed POST attempt (5 s timeout), then delivered / retry scheduled /
  dead-lettered.

Records of a batch run concurrently (Powertools AsyncBatchProcessor, each record in a worker thread), so a
slow endpoint holds only its own record; failures are reported per record (ReportBatchItemFailures). A
malformed message is logged and acknowledged: retrying it cannot help.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from kindling.platform.observability import get_logger, traced
from kindling.webhooks.queue import BadMessage, DeliveryMessage, parse_message
from kindling.webhooks.service import DeliveryService

processor = AsyncBatchProcessor(event_type=EventType.SQS)


def process(body: str) -> str:
    try:
        message = parse_message(body)
    except BadMessage as exc:
        get_logger().error("malformed webhook queue message", extra={"error": str(exc)})
        return "malformed"
    service = DeliveryService()
    if isinstance(message, DeliveryMessage):
        outcome = service.deliver(
            message.workspace_id, message.delivery_id, message.attempt, message.webhook, message.queued_at
        )
        return outcome.outcome
    return f"fanned_out:{service.fan_out(message.workspace_id, message.event_id)}"


async def record_handler(record: SQSRecord) -> str:
    return await asyncio.to_thread(process, record.body)


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = async_process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
