"""The local stack's SQS poller and a batching window: waited out without spinning on SQS, and not waited out at all
while a caller drains the queues (a window only groups messages)."""

from __future__ import annotations

import time
from typing import Any

import boto3

from devstack.provision import EventSource
from devstack.sqs import SqsPoller


class CountingSqs:
    """The SQS client (moto), counting the ReceiveMessage calls made through it."""

    def __init__(self) -> None:
        self.client = boto3.client("sqs", region_name="us-east-1")
        self.receives = 0

    def receive_message(self, **kwargs: Any) -> Any:
        self.receives += 1
        return self.client.receive_message(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def _poller(sqs: CountingSqs, window: int, handled: list[dict[str, Any]]) -> SqsPoller:
    url = sqs.create_queue(QueueName="actions")["QueueUrl"]
    source = EventSource(
        name="ActionQueue",
        function_id="WorkerFunction",
        queue_url=url,
        queue_arn="arn:aws:sqs:us-east-1:123456789012:actions",
        batch_size=5,
        batching_window_seconds=window,
        report_batch_item_failures=True,
    )

    def invoke(function_id: str, event: dict[str, Any]) -> dict[str, Any]:
        handled.append(event)
        return {"batchItemFailures": []}

    return SqsPoller(source, sqs, invoke, region="us-east-1", wait_seconds=0)


def test_a_one_second_batching_window_is_waited_out_without_spinning_on_sqs(aws: None) -> None:
    sqs, handled = CountingSqs(), list[dict[str, Any]]()
    poller = _poller(sqs, 1, handled)
    sqs.send_message(QueueUrl=poller.source.queue_url, MessageBody="one")
    started = time.monotonic()
    assert poller.poll_once() == 1
    assert time.monotonic() - started >= 1  # Lambda invokes at the window's end with what arrived
    assert [len(event["Records"]) for event in handled] == [1]
    # a pause between the empty receives (at most one per 50 ms), not a loop of receives for the whole second
    assert sqs.receives <= 25, sqs.receives


def test_while_the_queues_are_drained_a_poller_does_not_wait_out_its_batching_window(aws: None) -> None:
    sqs, handled = CountingSqs(), list[dict[str, Any]]()
    poller = _poller(sqs, 20, handled)
    sqs.send_message(QueueUrl=poller.source.queue_url, MessageBody="one")
    poller.flush(True)  # what SqsPollers.drain() does while its caller waits
    started = time.monotonic()
    assert poller.poll_once() == 1
    assert time.monotonic() - started < 10  # not the 20-second window
    assert [len(event["Records"]) for event in handled] == [1]
