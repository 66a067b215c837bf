"""Sending to SQS: the one place that chunks messages into SendMessageBatch requests (10 entries each), clamps a
delay to what SQS allows and says which queue URL is missing. Standard library only: the caller passes its SQS
client (`kindling.platform.aws.client("sqs")`, or the tracking function's lean botocore client)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

BATCH = 10  # SendMessageBatch entries per request
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds ceiling


@dataclass(frozen=True)
class QueueMessage:
    body: str
    delay_seconds: int | None = None  # None: the queue's default delay


@dataclass(frozen=True)
class Refused:
    position: int  # in the messages given to `send_batches`
    code: str
    reason: str


def required_url(url: str | None, setting: str) -> str:
    """The configured queue URL, or a RuntimeError naming the environment variable that is missing."""
    if not url:
        raise RuntimeError(f"{setting} is not configured")
    return url


def delay_until(send_at: datetime, now: datetime) -> int:
    """Whole seconds a message waits before it is visible: until `send_at`, within 0..15 minutes."""
    return max(0, min(MAX_DELAY_SECONDS, math.ceil((send_at - now).total_seconds())))


def send_batches(client: Any, url: str, messages: Sequence[QueueMessage]) -> list[Refused]:
    """Send `messages` in requests of ten; the entries SQS refused, if any."""
    refused: list[Refused] = []
    for start in range(0, len(messages), BATCH):
        chunk = messages[start : start + BATCH]
        entries: list[dict[str, Any]] = []
        for n, message in enumerate(chunk):
            entry: dict[str, Any] = {"Id": str(n), "MessageBody": message.body}
            if message.delay_seconds is not None:
                entry["DelaySeconds"] = message.delay_seconds
            entries.append(entry)
        response = client.send_message_batch(QueueUrl=url, Entries=entries)
        refused += [
            Refused(start + int(failed["Id"]), str(failed.get("Code", "")), str(failed.get("Message", "")))
            for failed in response.get("Failed") or []
        ]
    return refused


def send_one(client: Any, url: str, body: str) -> None:
    """One message, one SendMessage request."""
    client.send_message(QueueUrl=url, MessageBody=body)
