"""Webhooks over HTTP on the local stack: API -> domain event -> webhook queue -> deliverer (template.yaml's
WebhookDelivererFunction) -> a real receiver on 127.0.0.1; retries through WebhookSweepFunction on an
injected clock until the delivery is dead-lettered."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.runtime import LocalStack
from kindling.platform.clock import ManualClock, set_clock
from kindling.webhooks.retry import RETRY_DELAYS
from tests.integration.webhooks.receiver import Receiver, Reply, running_receiver
from tests.unit.webhooks.test_signing_and_retry import reference_verify

SWEEP_EVENT = json.loads((Path(__file__).resolve().parents[2] / "events" / "webhook_sweep.json").read_text())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def _wait_for(receiver: Receiver, count: int, stack: LocalStack, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.received()) < count:
        stack.drain()
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} requests, got {len(receiver.received())}")
        time.sleep(0.05)


def test_webhook_test_event_delivered_then_retried_to_dead_letter(local_stack: LocalStack, receiver: Receiver) -> None:
    headers = {"Authorization": f"Bearer {local_stack.api_key}"}
    with httpx.Client(base_url=local_stack.api_url, headers=headers, timeout=30) as client:
        created = client.post("/api/v1/webhooks", json={"url": receiver.url(), "events": ["reply.received"]})
        assert created.status_code == 201, created.text
        hook: dict[str, Any] = created.json()["data"]
        queued = client.post(f"/api/v1/webhooks/{hook['id']}/test")
        assert queued.status_code == 200, queued.text
        event_id = queued.json()["data"]["eventId"]
        _wait_for(receiver, 1, local_stack)
        [request] = receiver.received()
        assert request.header("X-Warmy-Event-Id") == event_id
        assert reference_verify(hook["secret"], request.header("X-Warmy-Signature"), request.body.decode())
        assert json.loads(request.body)["type"] == "webhook.test"
        assert client.get(f"/api/v1/webhooks/{hook['id']}").json()["data"]["lastTriggeredAt"] is not None

        # Now the endpoint fails: 1 attempt + 10 retries on the schedule, driven by the sweep, then dead letter.
        receiver.reset()
        receiver.default = Reply(status=503)
        clock = ManualClock(datetime.now(UTC))
        previous = set_clock(clock)
        try:
            second = client.post(f"/api/v1/webhooks/{hook['id']}/test").json()["data"]["eventId"]
            _wait_for(receiver, 1, local_stack)
            for n, delay in enumerate(RETRY_DELAYS, start=2):
                clock.advance(delay)
                assert local_stack.invoke("WebhookSweepFunction", SWEEP_EVENT)["queued"] >= 1
                _wait_for(receiver, n, local_stack)
        finally:
            set_clock(previous)
        assert {r.header("X-Warmy-Event-Id") for r in receiver.received()} == {second}
        assert len(receiver.received()) == 11
        deliveries = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", params={"status": "failed"}).json()
        [failed] = deliveries["data"]
        assert failed["eventId"] == second and failed["attemptCount"] == 11
        assert [a["statusCode"] for a in failed["attempts"]] == [503] * 11
        assert client.get(f"/api/v1/webhooks/{hook['id']}").json()["data"]["failureCount"] == 1
        assert client.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
