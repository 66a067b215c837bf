"""Webhook delivery on the local stack: template.yaml's WebhookDelivererFunction (in-process, as the local stack runs
every handler) against the stack's moto server over HTTP, POSTing to a ThreadingHTTPServer on 127.0.0.1.

The benchmark plays Lambda's SQS poller for one deliverer: it receives up to 10 messages, invokes the handler with
that batch (records run concurrently, as in Lambda) and deletes them. Event messages (fan-out) and delivery messages
(attempts) of a batch are handed over as two batches, so the AWS requests of each are counted apart. Counted:
every request the handler sends (botocore, in-process); not counted: the poller's own receive and delete calls,
which are inside the timings all the same.

1. One subscription: SINGLE_EVENTS events emitted, then drained: deliveries/s from the start of the drain to the last
   2xx (fan-outs included).
2. Fan-out: FANOUT_EVENTS events x SUBSCRIPTIONS subscriptions = 10,000 deliveries, emitted in waves of WAVE_EVENTS
   events, each wave drained before the next is emitted (steady traffic rather than one 10,000-message backlog for a
   single deliverer: an attempt whose message waited more than a minute re-reads its subscription, and
   `fanout_snapshot_rereads` counts those). Deliveries/s over the drains; DynamoDB requests per delivery (fan-out
   included), per attempt and per event.
3. Baseline: as many bare http.client POSTs (a connection each, as our transport) to the same receiver, with the
   same concurrency as the deliverer's records; `*_vs_bare` = our rate / the bare rate.

The rates are bounded by the emulator, not by round trips: moto, the deliverer and the receiver share one Python
process (one GIL), and moto spends ~5-10 ms of CPU on each DynamoDB request (expression parsing, serialisation).
The request counts are what carries over to DynamoDB.
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.support import count_aws_requests, total

SINGLE_EVENTS = 300
FANOUT_EVENTS = 1_000
WAVE_EVENTS = 100
SUBSCRIPTIONS = 10
BATCH = 10
# asyncio.to_thread's default pool, which runs the deliverer's records: the baseline gets the same concurrency.
WORKERS = min(32, (os.cpu_count() or 1) + 4)


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


def _drain(stack: Any, queue_url: str, counts: Counter[str]) -> dict[str, Counter[str]]:
    """Feed the queue to the deliverer until empty; the requests the handler sent, per message kind."""
    sqs = stack.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    by_kind: dict[str, Counter[str]] = {"event": Counter(), "delivery": Counter()}
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=BATCH, VisibilityTimeout=120)
        messages = got.get("Messages", [])
        if not messages:
            return by_kind
        for kind in by_kind:
            batch = [m for m in messages if json.loads(m["Body"]).get("kind") == kind]
            if not batch:
                continue
            before = Counter(counts)
            response = stack.invoke("WebhookDelivererFunction", _event(batch, arn))
            by_kind[kind].update(Counter(counts) - before)
            if response["batchItemFailures"]:
                raise RuntimeError(f"deliverer failures: {response['batchItemFailures']}")
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
        )


def _data(tag: str, n: int) -> dict[str, Any]:
    return {
        "prospectId": f"{tag}-p{n}",
        "prospectEmail": f"p{n}@acme.test",
        "campaignId": "c1",
        "mailboxId": "m1",
        "subject": "Re: Quick question",
        "messageId": f"<{n}@acme.test>",
        "receivedAt": "2026-06-10T09:00:00.000Z",
    }


def _body(url: str) -> bytes:
    """A delivery body of the benchmark's events, for the bare POSTs."""
    from kindling.webhooks.formatting import render_body

    return render_body(url, "reply.received", _data("s", 0), "2026-06-10T09:00:00.000Z")


def _emit(workspace_id: str, events: int, tag: str) -> None:
    """Record and publish `events` reply.received events. Straight through EventService, without the catalogue's
    dedup marker: that transaction is not what is measured here (and platform.dynamo.transaction() builds a new
    botocore client per call, ~0.4 s each, which would dominate the run)."""
    from kindling.events.catalog import validate_payload
    from kindling.events.service import EventService

    service = EventService()
    for n in range(events):
        data = _data(tag, n)
        validate_payload("reply.received", data)
        service.emit(workspace_id, "reply.received", data, campaign_id="c1")


def _bare_posts(port: int, count: int, body: bytes) -> float:
    """Seconds for `count` bare POSTs, in batches of BATCH run on WORKERS threads (as the deliverer's records)."""

    def one(_: int) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("POST", "/hook", body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        started = time.perf_counter()
        for start in range(0, count, BATCH):
            statuses = list(pool.map(one, range(start, min(start + BATCH, count))))
            if any(s != 200 for s in statuses):
                raise RuntimeError(f"bare POST failed: {statuses}")
        return time.perf_counter() - started


def _reset_received() -> None:
    with _Handler.lock:
        _Handler.received = 0


def _check_received(expected: int) -> None:
    if _Handler.received != expected:
        raise RuntimeError(f"receiver got {_Handler.received} of {expected} deliveries")


def run() -> dict[str, float]:
    from devstack.moto_patches import apply_moto_patches
    from devstack.runtime import LocalStack
    from kindling.auth.service import AuthService
    from kindling.platform.settings import get_settings
    from kindling.webhooks.models import WebhookCreate
    from kindling.webhooks.service import WebhookService

    apply_moto_patches()  # the local stack's emulator fixes (one DynamoDB request at a time, cheap transactions)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = int(server.server_address[1])
    url = f"http://127.0.0.1:{port}/hook"
    figures: dict[str, float] = {}
    try:
        with (
            tempfile.TemporaryDirectory() as state,
            LocalStack(state_dir=Path(state), api=False, mail_lab=False, pollers=False, schedules=False) as stack,
        ):
            queue_url = get_settings().webhook_queue_url
            assert queue_url
            auth, hooks = AuthService(), WebhookService()

            # 1. one subscription, one deliverer
            single = auth.create_workspace("Bench single").id
            hooks.create(single, WebhookCreate(url=url, events=["reply.received"]))
            _emit(single, SINGLE_EVENTS, "s")
            _reset_received()
            with count_aws_requests() as counts:
                started = time.perf_counter()
                single_counts = _drain(stack, queue_url, counts)
                elapsed = time.perf_counter() - started
            _check_received(SINGLE_EVENTS)
            handler = single_counts["event"] + single_counts["delivery"]
            figures["single_deliveries"] = SINGLE_EVENTS
            figures["single_deliveries_per_s"] = round(SINGLE_EVENTS / elapsed, 1)
            figures["single_dynamodb_requests_per_delivery"] = round(total(handler, "dynamodb") / SINGLE_EVENTS, 3)
            figures["single_dynamodb_requests_per_attempt"] = round(
                total(single_counts["delivery"], "dynamodb") / SINGLE_EVENTS, 3
            )
            figures["single_snapshot_rereads"] = single_counts["delivery"]["dynamodb.GetItem"]
            bare = _bare_posts(port, SINGLE_EVENTS, _body(url))
            figures["bare_posts_per_s"] = round(SINGLE_EVENTS / bare, 1)
            figures["single_vs_bare"] = round(figures["single_deliveries_per_s"] / figures["bare_posts_per_s"], 3)

            # 2. fan-out: 1,000 events x 10 subscriptions
            fan = auth.create_workspace("Bench fan-out").id
            for _ in range(SUBSCRIPTIONS):
                hooks.create(fan, WebhookCreate(url=url, events=["*"]))
            _reset_received()
            fan_counts: dict[str, Counter[str]] = {"event": Counter(), "delivery": Counter()}
            elapsed = 0.0
            for wave in range(0, FANOUT_EVENTS, WAVE_EVENTS):
                _emit(fan, min(WAVE_EVENTS, FANOUT_EVENTS - wave), f"f{wave}")
                with count_aws_requests() as counts:
                    started = time.perf_counter()
                    for kind, counted in _drain(stack, queue_url, counts).items():
                        fan_counts[kind].update(counted)
                    elapsed += time.perf_counter() - started
            deliveries = FANOUT_EVENTS * SUBSCRIPTIONS
            _check_received(deliveries)
            handler = fan_counts["event"] + fan_counts["delivery"]
            figures["fanout_deliveries"] = deliveries
            figures["fanout_seconds"] = round(elapsed, 2)
            figures["fanout_deliveries_per_s"] = round(deliveries / elapsed, 1)
            figures["fanout_dynamodb_requests_per_delivery"] = round(total(handler, "dynamodb") / deliveries, 3)
            figures["fanout_dynamodb_requests_per_attempt"] = round(
                total(fan_counts["delivery"], "dynamodb") / deliveries, 3
            )
            figures["fanout_dynamodb_requests_per_event"] = round(
                total(fan_counts["event"], "dynamodb") / FANOUT_EVENTS, 3
            )
            figures["fanout_snapshot_rereads"] = fan_counts["delivery"]["dynamodb.GetItem"]
            figures["fanout_sqs_requests_per_delivery"] = round(total(handler, "sqs") / deliveries, 3)
            figures["fanout_kms_requests_per_delivery"] = round(total(handler, "kms") / deliveries, 4)
            bare = _bare_posts(port, deliveries, _body(url))
            figures["fanout_bare_posts_per_s"] = round(deliveries / bare, 1)
            ratio = figures["fanout_deliveries_per_s"] / figures["fanout_bare_posts_per_s"]
            figures["fanout_vs_bare"] = round(ratio, 3)
            print(json.dumps({kind: dict(sorted(c.items())) for kind, c in fan_counts.items()}))
    finally:
        server.shutdown()
        server.server_close()
    return figures
