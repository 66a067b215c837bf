"""SQS event sources: one poller thread per queue -> function mapping, behaving like Lambda's.

What Lambda's event source mapping does, and so do we:
- receive up to min(BatchSize, 10) messages per call and repeat until the batch is full, the
  queue is empty, or MaximumBatchingWindowInSeconds has passed;
- call the function with Lambda's SQS event shape;
- success: delete every message; with ReportBatchItemFailures, delete all but the reported
  `batchItemFailures` (an unknown or empty itemIdentifier fails the whole batch, as on AWS);
- the handler raised: delete nothing. The messages come back when the queue's visibility timeout
  expires and, once received maxReceiveCount times, move to the dead-letter queue. moto's
  ReceiveMessage performs that redrive itself (like SQS), so the poller does not.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from devstack.functions import FunctionError
from devstack.provision import EventSource

log = logging.getLogger(__name__)

Invoke = Callable[[str, Any], Any]


def _record(message: dict[str, Any], source: EventSource, region: str) -> dict[str, Any]:
    attrs = message.get("Attributes") or {}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {
            k: attrs[k]
            for k in (
                "ApproximateReceiveCount",
                "SentTimestamp",
                "SenderId",
                "ApproximateFirstReceiveTimestamp",
                "SequenceNumber",
                "MessageGroupId",
                "MessageDeduplicationId",
                "AWSTraceHeader",
            )
            if k in attrs
        },
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message.get("Body", "").encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": source.queue_arn,
        "awsRegion": region,
    }
    for name, value in (message.get("MessageAttributes") or {}).items():
        # Lambda's event uses camelCase keys and base64 text for binary values.
        converted: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            converted["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            raw = value["BinaryValue"]
            converted["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
        record["messageAttributes"][name] = converted
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


QueueCounter = Callable[[str, bool], int]
"""(queue URL, count delayed messages too) -> messages visible, in flight (and delayed) on that queue."""


def moto_queue_counter(region: str) -> QueueCounter:
    """Count a queue's messages in the in-process moto server's own state: the numbers GetQueueAttributes answers
    (the same properties), without an HTTP round trip per queue. drain() asks for them many times a second, and on
    12 queues the round trips were most of a long e2e test's time."""
    from moto.sqs.models import sqs_backends

    def count(url: str, delayed: bool) -> int:
        account_id, name = url.rstrip("/").split("/")[-2:]  # moto's queue URLs: <endpoint>/<account>/<name>
        queue = sqs_backends[account_id][region].get_queue(name)
        total = int(queue.approximate_number_of_messages) + int(queue.approximate_number_of_messages_not_visible)
        if delayed:
            total += int(queue.approximate_number_of_messages_delayed)
        return total

    return count


class SqsPoller:
    """Polls one queue for one function on a background thread."""

    def __init__(
        self,
        source: EventSource,
        sqs_client: Any,
        invoke: Invoke,
        *,
        region: str,
        wait_seconds: int = 1,
    ) -> None:
        self.source = source
        self._sqs = sqs_client
        self._invoke = invoke
        self._region = region
        self._wait_seconds = wait_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = threading.Event()
        # Set while a caller waits in SqsPollers.drain(): the batching window is not waited out (see drain()).
        self._flush = threading.Event()
        self.batches = 0
        self.errors = 0

    @property
    def busy(self) -> bool:
        return self._busy.is_set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"sqs-poller-{self.source.name}", daemon=True)
        self._thread.start()

    def signal_stop(self) -> None:
        self._stop.set()
        self._flush.set()  # out of a batching window's pause at once

    def flush(self, on: bool) -> None:
        """While on, a received batch goes to the function without waiting out the batching window."""
        if on:
            self._flush.set()
        elif not self._stop.is_set():
            self._flush.clear()

    def join(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("poller %s did not stop within %ss", self.source.name, timeout)
            self._thread = None

    def stop(self) -> None:
        self.signal_stop()
        self.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                # A moto hiccup must not kill the poller; Lambda's pollers retry too.
                log.exception("poller %s failed; retrying", self.source.name)
                self._stop.wait(1.0)

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self.source.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages") or [])

    def poll_once(self) -> int:
        """Receive one batch (long-polling briefly) and process it; returns the number of messages."""
        batch_size = self.source.batch_size
        messages = self._receive(min(batch_size, 10), self._wait_seconds)
        if not messages:
            return 0
        self._busy.set()
        try:
            deadline = time.monotonic() + self.source.batching_window_seconds
            while len(messages) < batch_size and not self._stop.is_set():
                remaining = deadline - time.monotonic()
                windowed = self.source.batching_window_seconds and not self._flush.is_set()
                wait = max(0, min(20, int(remaining))) if windowed else 0
                more = self._receive(min(batch_size - len(messages), 10), wait)
                if not more:
                    if not self.source.batching_window_seconds or remaining <= 0 or self._flush.is_set():
                        break
                    # A sub-second window rounds the long poll down to 0 s: pause between the empty receives
                    # rather than spinning on moto for the whole window.
                    self._flush.wait(min(remaining, 0.05))
                    continue
                messages.extend(more)
            self._process(messages)
            return len(messages)
        finally:
            self._busy.clear()

    def _process(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [_record(m, self.source, self._region) for m in messages]}
        self.batches += 1
        try:
            result = self._invoke(self.source.function_id, event)
        except FunctionError:
            # Whole batch failed: leave every message to reappear after the visibility timeout.
            self.errors += 1
            return
        failed = self._failed_ids(result, {m["MessageId"] for m in messages})
        if failed is None:
            self.errors += 1
            return
        to_delete = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(to_delete), 10):
            chunk = to_delete[start : start + 10]
            self._sqs.delete_message_batch(
                QueueUrl=self.source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )

    def _failed_ids(self, result: Any, batch_ids: set[str]) -> set[str] | None:
        """Message ids to keep; None means the whole batch failed."""
        if not self.source.report_batch_item_failures or not result:
            return set()
        if not isinstance(result, dict):
            return set()
        items = result.get("batchItemFailures")
        if not items:
            return set()
        failed: set[str] = set()
        for item in items:
            identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not identifier or identifier not in batch_ids:
                log.warning("%s: invalid batchItemFailures entry %r fails the whole batch", self.source.name, item)
                return None
            failed.add(identifier)
        return failed


class SqsPollers:
    """All pollers of a stack; `drain()` waits until their queues are empty and they are idle."""

    def __init__(self, pollers: list[SqsPoller], sqs_client: Any, counter: QueueCounter | None = None) -> None:
        self.pollers = pollers
        self._sqs = sqs_client
        self._counter = counter

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()

    def stop(self) -> None:
        for poller in self.pollers:
            poller.signal_stop()  # all at once, so shutdown takes one long-poll, not one per queue
        for poller in self.pollers:
            poller.join()

    def pending(self, delayed: bool = True) -> int:
        """Messages visible or in flight (and, with `delayed`, delayed) on the polled queues, plus busy pollers."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        if delayed:
            names.append("ApproximateNumberOfMessagesDelayed")
        total = 0
        for url in sorted({p.source.queue_url for p in self.pollers}):
            if self._counter is not None:
                total += self._counter(url, delayed)
            else:
                attrs = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
                total += sum(int(v) for v in attrs.values())
        return total + sum(1 for p in self.pollers if p.busy)

    def drain(self, timeout: float = 30.0, interval: float = 0.05, *, delayed: bool = True) -> None:
        """Wait until every polled queue is empty (nothing visible, in flight or delayed) and idle.

        Messages a handler failed stay in flight until their visibility timeout, then are retried or
        redriven to the DLQ, so drain() also waits those out. Raises TimeoutError with the backlog.
        `delayed=False` waits only for what is due now: a message delayed beyond the injected clock (a warmup
        reply waiting for its natural delay) is left for a later drain, after the clock moved on.
        """
        deadline = time.monotonic() + timeout
        quiet = 0
        # While the caller waits, a poller hands what it received to its function at once instead of waiting out
        # the rest of its batching window: a window only groups messages (Lambda invokes at its end with whatever
        # arrived), so waiting it out in wall time cost a second per batch here and changed no outcome.
        for poller in self.pollers:
            poller.flush(True)
        try:
            while True:
                if any(p.busy for p in self.pollers):  # not drained: no need to ask moto (it serves the handler)
                    quiet = 0
                elif self.pending(delayed) == 0:
                    quiet += 1
                    if quiet >= 2:  # twice in a row: a handler may have just enqueued follow-up work
                        return
                else:
                    quiet = 0
                if time.monotonic() > deadline:
                    raise TimeoutError(f"queues not drained after {timeout}s: {self.pending(delayed)} messages pending")
                time.sleep(interval)
        finally:
            for poller in self.pollers:
                poller.flush(False)
