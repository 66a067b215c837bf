"""Inbox sync Lambda: consumes the sync queue, one connected mailbox per message (`{"workspace_id", "mailbox_id"}`).

Each record syncs its mailbox's INBOX and Junk and applies what every new message means (kindling.inbox.sync and
kindling.inbox.service). Partial batch failures (Powertools BatchProcessor, ReportBatchItemFailures): a record that
fails, or that there is no time left to start, is retried alone; the others in the batch are not.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from kindling.inbox.sync import InboxSync, parse_sync_message
from kindling.platform.observability import traced

processor = BatchProcessor(event_type=EventType.SQS)
# A record is only started with this much time left: a sync that cannot finish would hold its lease for nothing.
START_MARGIN_MS = 45_000


class OutOfTime(Exception):
    """Not started: the invocation is about to time out; SQS delivers the record again."""


def record_handler(record: SQSRecord, lambda_context: Any = None) -> None:
    remaining_ms = lambda_context.get_remaining_time_in_millis() if lambda_context is not None else None
    if remaining_ms is not None and remaining_ms < START_MARGIN_MS:
        raise OutOfTime(record.message_id)
    workspace_id, mailbox_id = parse_sync_message(record.body)
    deadline = time.monotonic() + remaining_ms / 1000 if remaining_ms is not None else None
    InboxSync().sync(workspace_id, mailbox_id, deadline=deadline)


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
