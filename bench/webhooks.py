"""Webhook delivery benchmark on the local stack (moto server), one deliverer, a receiver on 127.0.0.1.

1. Deliveries/s from one deliverer (batches of 10, as the event source mapping sends them) to one subscription.
2. Fan-out of 1,000 events to 10 subscriptions (10,000 deliveries): deliveries/s from fan-out to the last 2xx,
   and AWS requests per delivery sent by the deliverer (fan-out included; the benchmark's own SQS receive and
   delete calls, which Lambda's poller would make, are not counted).
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.support import count_aws_requests, total

SINGLE_EVENTS = 300
FANOUT_EVENTS = 1_000
SUBSCRIPTIONS = 10


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with _Handler.lock:
            _Handler.received += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def _event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def _drain(stack: Any, queue_url: str, counts: Counter[str]) -> Counter[str]:
    """Feed the queue to the deliverer until empty; returns the requests the deliverer itself sent."""
    sqs = stack.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    handler_counts: Counter[str] = Counter()
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=120)
        messages = got.get("Messages", [])
        if not messages:
            return handler_counts
        before = Counter(counts)
        response = stack.invoke("WebhookDelivererFunction", _event(messages, arn))
        handler_counts.update(Counter(counts) - before)
        if response["batchItemFailures"]:
            raise RuntimeError(f"deliverer failures: {response['batchItemFailures']}")
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
        )


def _emit(workspace_id: str, events: int, tag: str) -> None:
    from kindling.events.service import EventService
    from kindling.webhooks.catalog import emit_webhook_event

    service = EventService()
    for n in range(events):
        data = {
            "prospectId": f"{tag}-p{n}",
            "prospectEmail": f"p{n}@acme.test",
            "campaignId": "c1",
            "mailboxId": "m1",
            "subject": "Re: Quick question",
            "messageId": f"<{n}@acme.test>",
            "receivedAt": "2026-06-10T09:00:00.000Z",
        }
        if emit_webhook_event(service, workspace_id, "reply.received", data) is None:
            raise RuntimeError("unexpected dedup")


def run() -> dict[str, float]:
    from devstack.runtime import LocalStack
    from kindling.auth.service import AuthService
    from kindling.platform.settings import get_settings
    from kindling.webhooks.models import WebhookCreate
    from kindling.webhooks.service import WebhookService

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    figures: dict[str, float] = {}
    try:
        with (
            tempfile.TemporaryDirectory() as state,
            LocalStack(state_dir=Path(state), api=False, mail_lab=False, pollers=False, schedules=False) as stack,
        ):
            queue_url = get_settings().webhook_queue_url
            assert queue_url
            auth, hooks = AuthService(), WebhookService()

            # 1. one subscription
            single = auth.create_workspace("Bench single").id
            hooks.create(single, WebhookCreate(url=url, events=["reply.received"]))
            _emit(single, SINGLE_EVENTS, "s")
            with count_aws_requests() as counts:
                started = time.perf_counter()
                _drain(stack, queue_url, counts)
                elapsed = time.perf_counter() - started
            figures["single_subscription_deliveries_per_s"] = round(SINGLE_EVENTS / elapsed, 1)

            # 2. fan-out: 1,000 events x 10 subscriptions
            fan = auth.create_workspace("Bench fan-out").id
            for _ in range(SUBSCRIPTIONS):
                hooks.create(fan, WebhookCreate(url=url, events=["*"]))
            started = time.perf_counter()
            _emit(fan, FANOUT_EVENTS, "f")
            figures["emit_events_per_s"] = round(FANOUT_EVENTS / (time.perf_counter() - started), 1)
            _Handler.received = 0
            with count_aws_requests() as counts:
                started = time.perf_counter()
                handler = _drain(stack, queue_url, counts)
                elapsed = time.perf_counter() - started
            deliveries = FANOUT_EVENTS * SUBSCRIPTIONS
            if _Handler.received != deliveries:
                raise RuntimeError(f"receiver got {_Handler.received} of {deliveries} deliveries")
            figures["fanout_deliveries"] = deliveries
            figures["fanout_seconds"] = round(elapsed, 2)
            figures["fanout_deliveries_per_s"] = round(deliveries / elapsed, 1)
            figures["dynamodb_requests_per_delivery"] = round(total(handler, "dynamodb") / deliveries, 3)
            figures["sqs_requests_per_delivery"] = round(total(handler, "sqs") / deliveries, 3)
            figures["kms_requests_per_delivery"] = round(total(handler, "kms") / deliveries, 4)
            print(json.dumps(dict(sorted(handler.items()))))
    finally:
        server.shutdown()
        server.server_close()
    return figures
