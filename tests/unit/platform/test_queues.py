"""The one SQS sender helper (kindling.platform.queues): batches of ten, delays clamped to SQS's 0..900 seconds, a
clear error for a queue URL that is not configured. Against moto's SQS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from kindling.platform.queues import QueueMessage, delay_until, required_url, send_batches, send_one
from tests.support.aws import moto_table

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("send_at", "seconds"),
    [
        (NOW - timedelta(minutes=5), 0),
        (NOW, 0),
        (NOW + timedelta(milliseconds=1), 1),
        (NOW + timedelta(seconds=61), 61),
        (NOW + timedelta(minutes=15), 900),
        (NOW + timedelta(hours=2), 900),
    ],
)
def test_a_delay_waits_until_the_slot_within_fifteen_minutes(send_at: datetime, seconds: int) -> None:
    assert delay_until(send_at, NOW) == seconds


def test_a_missing_queue_url_names_its_setting() -> None:
    assert required_url("https://q", "KINDLING_SEND_QUEUE_URL") == "https://q"
    for missing in (None, ""):
        with pytest.raises(RuntimeError, match=r"^KINDLING_SEND_QUEUE_URL is not configured$"):
            required_url(missing, "KINDLING_SEND_QUEUE_URL")


class CountingClient:
    """moto's SQS client, counting the requests made through it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.batches: list[int] = []

    def send_message_batch(self, **kwargs: Any) -> Any:
        self.batches.append(len(kwargs["Entries"]))
        return self.client.send_message_batch(**kwargs)


@pytest.fixture
def sqs() -> Iterator[Any]:
    with moto_table():
        yield boto3.client("sqs", region_name="us-east-1")


def _drain(sqs: Any, url: str) -> list[str]:
    bodies: list[str] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)]
        )
    return bodies


def test_twenty_three_messages_go_in_three_requests_and_all_arrive(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="batches")["QueueUrl"]
    client = CountingClient(sqs)
    refused = send_batches(client, url, [QueueMessage(f"m{n}") for n in range(23)])
    assert refused == []
    assert client.batches == [10, 10, 3]
    assert sorted(_drain(sqs, url)) == sorted(f"m{n}" for n in range(23))


def test_a_delayed_message_is_invisible_until_its_delay(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="delays")["QueueUrl"]
    assert send_batches(sqs, url, [QueueMessage("later", delay_seconds=900), QueueMessage("now", 0)]) == []
    assert _drain(sqs, url) == ["now"]


def test_refused_entries_come_back_with_their_position(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="refusals")["QueueUrl"]
    messages = [QueueMessage(f"m{n}") for n in range(12)]
    messages[11] = QueueMessage("too late", delay_seconds=901)  # SQS refuses a delay above 15 minutes
    try:
        refused = send_batches(sqs, url, messages)
    except sqs.exceptions.ClientError:
        pytest.fail("one bad entry must not fail the batch")
    assert [r.position for r in refused] == [11]
    assert len(_drain(sqs, url)) == 11


def test_one_message_is_one_request(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="single")["QueueUrl"]
    send_one(sqs, url, '{"kind":"event"}')
    assert _drain(sqs, url) == ['{"kind":"event"}']
