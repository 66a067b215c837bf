"""SQS event sources behave like Lambda's: batch size, partial failures, retries, redrive to the DLQ."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from devstack.runtime import LocalStack
from tests.fixtures.devstack import recorder
from tests.integration.devstack.conftest import send


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _deliveries(tag: str) -> list[list[dict[str, Any]]]:
    """The batches the function got that hold messages with this tag (records only those)."""
    batches = []
    for call in recorder.calls("batch"):
        records = [r for r in call.event["Records"] if json.loads(r["body"])["tag"] == tag]
        if records:
            batches.append(records)
    return batches


def _dlq_bodies(stack: LocalStack) -> list[dict[str, Any]]:
    assert stack.stack is not None
    sqs = stack.client("sqs")
    url = stack.stack.ref("WorkDeadLetterQueue")
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return bodies
        for m in messages:
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_records_have_lambdas_sqs_event_shape(fixture_stack: LocalStack, calls: None) -> None:
    assert fixture_stack.stack is not None
    tag = _tag()
    sqs = fixture_stack.client("sqs")
    sqs.send_message(
        QueueUrl=fixture_stack.stack.ref("WorkQueue"),
        MessageBody=json.dumps({"tag": tag}),
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "demo"}},
    )
    fixture_stack.drain(timeout=20)
    [[record]] = _deliveries(tag)
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == fixture_stack.stack.attr("WorkQueue", "Arn")
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp", "SenderId"} <= set(record["attributes"])
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "demo",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert len(record["md5OfBody"]) == 32
    assert record["receiptHandle"]
    assert record["messageId"]


def test_batch_size_is_respected(fixture_stack: LocalStack, calls: None) -> None:
    tag = _tag()
    ids = send(fixture_stack, "WorkQueue", [{"tag": tag, "n": n} for n in range(7)])
    fixture_stack.drain(timeout=20)
    batches = _deliveries(tag)
    sizes = [len(b) for b in batches]
    assert max(sizes) == 3  # BatchSize: 3 in the fixture template
    assert sum(sizes) == 7
    assert sorted(r["messageId"] for b in batches for r in b) == sorted(ids)


def test_partial_batch_failure_deletes_only_the_successes(fixture_stack: LocalStack, calls: None) -> None:
    tag = _tag()
    ok_a, bad, ok_b = send(
        fixture_stack, "WorkQueue", [{"tag": tag, "mode": "ok"}, {"tag": tag, "mode": "item-fail"}, {"tag": tag}]
    )
    fixture_stack.drain(timeout=20)
    seen: dict[str, list[str]] = {}
    for batch in _deliveries(tag):
        for record in batch:
            seen.setdefault(record["messageId"], []).append(record["attributes"]["ApproximateReceiveCount"])
    # The successes were deleted after the first delivery; only the reported failure came back,
    # until maxReceiveCount (2) sent it to the dead-letter queue.
    assert seen[ok_a] == ["1"]
    assert seen[ok_b] == ["1"]
    assert seen[bad] == ["1", "2"]
    assert _dlq_bodies(fixture_stack) == [{"tag": tag, "mode": "item-fail"}]


def test_an_exception_returns_the_whole_batch_after_the_visibility_timeout(
    fixture_stack: LocalStack, calls: None
) -> None:
    tag = _tag()
    ids = send(fixture_stack, "WorkQueue", [{"tag": tag, "mode": "raise-once"}, {"tag": tag, "mode": "ok"}])
    fixture_stack.drain(timeout=20)
    first, second = [c for c in recorder.calls("batch") if any(tag in r["body"] for r in c.event["Records"])]
    assert sorted(r["messageId"] for r in first.event["Records"]) == sorted(ids)
    # Nothing was deleted: both messages, the healthy one too, came back together...
    assert sorted(r["messageId"] for r in second.event["Records"]) == sorted(ids)
    assert {r["attributes"]["ApproximateReceiveCount"] for r in second.event["Records"]} == {"2"}
    # ...once the queue's 1 s visibility timeout had passed.
    assert second.at - first.at >= 0.9
    assert _dlq_bodies(fixture_stack) == []


def test_redrive_to_the_dlq_after_max_receive_count(fixture_stack: LocalStack, calls: None) -> None:
    tag = _tag()
    [message_id] = send(fixture_stack, "WorkQueue", [{"tag": tag, "mode": "raise"}])
    fixture_stack.drain(timeout=20)
    counts = [r["attributes"]["ApproximateReceiveCount"] for b in _deliveries(tag) for r in b]
    assert counts == ["1", "2"]  # maxReceiveCount: 2, then moto's ReceiveMessage moves it to the DLQ
    assert _dlq_bodies(fixture_stack) == [{"tag": tag, "mode": "raise"}]
    assert message_id


def test_an_unknown_item_identifier_fails_the_whole_batch(fixture_stack: LocalStack) -> None:
    [poller] = fixture_stack.pollers
    batch_ids = {"a", "b"}
    assert poller._failed_ids({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, batch_ids) is None
    assert poller._failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, batch_ids) is None
    assert poller._failed_ids({"batchItemFailures": [{"itemIdentifier": "a"}]}, batch_ids) == {"a"}
    assert poller._failed_ids({"batchItemFailures": []}, batch_ids) == set()
    assert poller._failed_ids(None, batch_ids) == set()


def test_drain_can_leave_a_message_delayed_beyond_now(fixture_stack: LocalStack, calls: None) -> None:
    """`drain(delayed=False)` waits for what is due now only (the warmup e2e's replies wait hours of injected time on
    the send queue); the default drain waits for delayed messages too."""
    assert fixture_stack.stack is not None
    sqs = fixture_stack.client("sqs")
    url = fixture_stack.stack.ref("WorkQueue")
    tag = _tag()
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"tag": tag, "n": 0}), DelaySeconds=900)
    try:
        send(fixture_stack, "WorkQueue", [{"tag": tag, "n": 1}])
        fixture_stack.drain(timeout=20, delayed=False)
        assert [[json.loads(r["body"])["n"] for r in b] for b in _deliveries(tag)] == [[1]]
        with pytest.raises(TimeoutError, match="1 messages pending"):
            fixture_stack.drain(timeout=1)
    finally:
        sqs.purge_queue(QueueUrl=url)  # the package's stack is shared: leave nothing delayed behind


def test_the_in_process_queue_counter_answers_what_get_queue_attributes_answers(fixture_stack: LocalStack) -> None:
    """drain() counts the moto server's queues in its own state; the figures must be the API's, message by message:
    visible, in flight (received, not deleted) and delayed."""
    from devstack.sqs import moto_queue_counter

    sqs = fixture_stack.client("sqs")
    url = sqs.create_queue(QueueName=f"counted-{_tag()}")["QueueUrl"]
    count = moto_queue_counter("us-east-1")
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]

    def api() -> dict[str, int]:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return {name: int(attrs[name]) for name in names}

    assert count(url, True) == 0
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"visible {n}")
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=900)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=900)["Messages"]
    assert len(received) == 1
    assert api() == {
        "ApproximateNumberOfMessages": 2,
        "ApproximateNumberOfMessagesNotVisible": 1,
        "ApproximateNumberOfMessagesDelayed": 1,
    }
    assert count(url, True) == 4
    assert count(url, False) == 3
    sqs.delete_message(QueueUrl=url, ReceiptHandle=received[0]["ReceiptHandle"])
    assert count(url, False) == 2 == api()["ApproximateNumberOfMessages"]
