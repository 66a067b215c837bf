"""Sender Lambda: consumes the send queue and sends each batch with one SMTP connection per mailbox.

Message body: a kindling.sending.messages.SendMessage. The whole batch is sent together (connections reused, one
final transaction); a body that is not a send job is reported as that record's failure (Powertools
BatchProcessor, ReportBatchItemFailures) and reaches the dead-letter queue after its retries. A failure of the
batch itself raises: every message comes back, and the ledger's gate keeps the ones already sent from going
out again.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from kindling.platform.observability import get_logger, traced
from kindling.platform.settings import get_settings
from kindling.sending.messages import SendMessage
from kindling.sending.sender import Sender
from kindling.warmup.delivery import WarmupDelivery
from kindling.warmup.messages import WarmupSendMessage, is_warmup_body

processor = BatchProcessor(event_type=EventType.SQS)
# CloudWatch EMF through stdout, flushed per invocation: the dashboard's "Emails sent per minute".
metrics = Metrics(namespace="Kindling", service="sender")
_sender: Sender | None = None
_warmup: WarmupDelivery | None = None


def _get_sender() -> Sender:
    # One per process: it keeps decrypted SMTP passwords by ciphertext, so a warm container asks KMS once.
    global _sender
    if _sender is None:
        _sender = Sender()
    return _sender


def _get_warmup() -> WarmupDelivery:
    global _warmup
    if _warmup is None:
        _warmup = WarmupDelivery()
    return _warmup


def parse_warmup(records: list[dict[str, Any]]) -> tuple[list[WarmupSendMessage], set[str]]:
    """The batch's warmup jobs (kind `warmup`, queued by the warmup tick) and the unreadable ones among them."""
    jobs: list[WarmupSendMessage] = []
    bad: set[str] = set()
    for record in records:
        try:
            jobs.append(WarmupSendMessage.from_body(record["body"]))
        except ValueError:
            bad.add(record["messageId"])
    return jobs, bad


def parse(records: list[dict[str, Any]]) -> tuple[list[SendMessage], set[str]]:
    """The batch's distinct jobs (a claim delivered twice in one batch is sent once) and the unreadable records."""
    jobs: dict[tuple[str, str], SendMessage] = {}
    bad: set[str] = set()
    for record in records:
        try:
            job = SendMessage.from_body(record["body"])
        except ValueError:
            bad.add(record["messageId"])
            continue
        jobs.setdefault((job.send_id, job.token), job)
    return list(jobs.values()), bad


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Every email carries links: a deployed stage without a public base URL refuses before reading the batch
    # (nothing is sent; the messages come back and reach the dead-letter queue, whose alarm fires).
    get_settings().link_base_url()
    records = event.get("Records") or []
    warmup_records = [r for r in records if is_warmup_body(r["body"])]
    jobs, bad = parse([r for r in records if not is_warmup_body(r["body"])])
    warmup_jobs, warmup_bad = parse_warmup(warmup_records)
    bad |= warmup_bad
    if warmup_jobs:
        warm = _get_warmup().process(warmup_jobs)
        get_logger().info(
            "warmup send batch",
            extra={
                "jobs": len(warmup_jobs),
                "sent": warm.sent,
                "bounced": warm.bounced,
                "retrying": warm.retrying,
                "deferred": warm.deferred,
                "dropped": warm.dropped,
                "failed": warm.failed,
                "skipped": warm.skipped,
            },
        )
    result = _get_sender().process(jobs)
    get_logger().info(
        "send batch",
        extra={
            "jobs": len(jobs),
            "sent": result.sent,
            "bounced": result.bounced,
            "retrying": result.retrying,
            "failed": result.failed,
            "unknown": result.unknown,
            "skipped": result.skipped,
            "unreadable": len(bad),
        },
    )

    metrics.add_metric(name="EmailsSent", unit=MetricUnit.Count, value=result.sent)
    metrics.add_metric(name="EmailsBounced", unit=MetricUnit.Count, value=result.bounced)
    metrics.flush_metrics()

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in bad:
            raise ValueError("not a send job")

    return dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )
