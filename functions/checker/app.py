"""Checker Lambda: consumes the check queue and runs each mailbox's SMTP + IMAP connection test.

Message body: {"workspace_id", "mailbox_id", "generation"}. Stale messages (the mailbox changed or was
deleted since) are acknowledged without testing. Partial batch failures: one failing record is retried
alone (Powertools BatchProcessor, ReportBatchItemFailures).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from kindling.mailboxes.checks import parse_check_message
from kindling.mailboxes.service import MailboxService
from kindling.platform.errors import NotFound
from kindling.platform.observability import get_logger, traced
from kindling.sending import mailbox_health  # noqa: F401  (its listener announces outages and pauses/resumes campaigns)

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    workspace_id, mailbox_id, generation = parse_check_message(record.body)
    try:
        MailboxService().run_check(workspace_id, mailbox_id, generation)
    except NotFound:
        get_logger().warning("check for a mailbox that does not exist", extra={"mailbox_id": mailbox_id})


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
