"""Webhooks over HTTP on the local stack: API -> domain event -> webhook queue -> deliverer (template.yaml's
WebhookDelivererFunction, fed by the stack's SQS poller) -> a real receiver on 127.0.0.1; retries through
WebhookSweepFunction on an injected clock.

Covered: a domain event (POST /prospects/suppress -> prospect.suppressed) fanned out to every matching subscription
and to no other; signatures checked with the help center's own Python snippet; the secret rotation overlap (two
`v1=` values for 24 hours); 429 with Retry-After honoured; the retry ladder to the dead letter, the delivery log and
the replay of a dead-lettered delivery. Each test has its own workspace (the demo one is shared with other tests)
and deletes its webhooks at the end, so no pending retry of one test reaches another test's receiver.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.moto_patches import apply_moto_patches
from devstack.runtime import LocalStack
from kindling.auth.scopes import ALL_SCOPES
from kindling.auth.service import AuthService
from kindling.platform.clock import ManualClock, isoformat, set_clock
from tests.integration.webhooks.receiver import Receiver, Reply, running_receiver
from tests.unit.webhooks.test_signing_and_retry import reference_verify

SWEEP_EVENT = json.loads((Path(__file__).resolve().parents[2] / "events" / "webhook_sweep.json").read_text())
SECOND = timedelta(seconds=1)
# docs/decisions.md (webhook retries): 10 retries after the first attempt, 1m, 5m, 15m, 1h, 3h, 6h, 12h, 24h, 48h, 72h.
RETRY_SCHEDULE = [
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
    timedelta(hours=48),
    timedelta(hours=72),
]


@pytest.fixture(scope="module", autouse=True)
def _moto_fixes(local_stack: LocalStack) -> None:
    # The stack's moto server serves the API, the pollers and the deliverer's concurrent records at once; these
    # patches make its DynamoDB thread-safe (idempotent; devstack.runtime applies them too once it calls them).
    apply_moto_patches()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    """Every handler and the API read this clock (whole milliseconds, as the signature timestamps)."""
    manual = ManualClock(datetime.now(UTC).replace(microsecond=0))
    previous = set_clock(manual)
    yield manual
    set_clock(previous)


@dataclass
class Tenant:
    client: httpx.Client
    stack: LocalStack
    receiver: Receiver

    def create(self, path: str = "/hook", events: tuple[str, ...] = ("*",)) -> dict[str, Any]:
        created = self.client.post("/api/v1/webhooks", json={"url": self.receiver.url(path), "events": list(events)})
        assert created.status_code == 201, created.text
        hook: dict[str, Any] = created.json()["data"]
        return hook

    def webhook(self, webhook_id: str) -> dict[str, Any]:
        got: dict[str, Any] = self.client.get(f"/api/v1/webhooks/{webhook_id}").json()["data"]
        return got

    def deliveries(self, webhook_id: str, **params: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", params=params)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["data"]
        return items

    def send_test(self, webhook_id: str) -> str:
        queued = self.client.post(f"/api/v1/webhooks/{webhook_id}/test")
        assert queued.status_code == 200, queued.text
        event_id: str = queued.json()["data"]["eventId"]
        return event_id

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.receiver.received()) < count:
            self.stack.drain()
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} requests, got {len(self.receiver.received())}")
            time.sleep(0.05)

    def sweep(self) -> None:
        """Run the retry sweep now (the stack's own schedule may run it too: a lease makes that harmless)."""
        self.stack.invoke("WebhookSweepFunction", SWEEP_EVENT)
        self.stack.drain()


@pytest.fixture
def tenant(local_stack: LocalStack, receiver: Receiver, clock: ManualClock) -> Iterator[Tenant]:
    auth = AuthService()
    workspace = auth.create_workspace("E2E webhooks")
    _, token = auth.create_api_key(workspace.id, name="e2e webhooks", scopes=ALL_SCOPES)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=local_stack.api_url, headers=headers, timeout=30) as client:
        yield Tenant(client, local_stack, receiver)
        # Pending retries of a deleted webhook are cancelled at their next attempt, never sent.
        for hook in client.get("/api/v1/webhooks").json()["data"]:
            client.delete(f"/api/v1/webhooks/{hook['id']}")


def test_a_domain_event_fans_out_to_every_matching_subscription(tenant: Tenant) -> None:
    suppressed = tenant.create("/suppressed", ("prospect.suppressed",))
    everything = tenant.create("/all", ("*",))
    replies = tenant.create("/replies", ("reply.received",))
    prospect = tenant.client.post("/api/v1/prospects", json={"email": "fan.out@e2e-hooks.test", "firstName": "Fan"})
    assert prospect.status_code == 201, prospect.text
    body = {"emails": ["Fan.Out@e2e-hooks.test"], "reason": "asked to stop"}
    counts = tenant.client.post("/api/v1/prospects/suppress", json=body).json()["data"]
    assert counts["suppressedCount"] == 1

    tenant.wait_for(2)
    tenant.stack.drain()
    requests = tenant.receiver.received()
    assert sorted(r.path for r in requests) == ["/all", "/suppressed"]
    assert len({r.header("X-Warmy-Event-Id") for r in requests}) == 1  # one event, the same id everywhere
    for request, hook in ((tenant.receiver.received("/suppressed")[0], suppressed),
                          (tenant.receiver.received("/all")[0], everything)):  # fmt: skip
        assert request.header("X-Warmy-Event-Type") == "prospect.suppressed"
        assert reference_verify(hook["secret"], request.header("X-Warmy-Signature"), request.body.decode())
        envelope = json.loads(request.body)
        assert envelope["type"] == "prospect.suppressed"
        assert envelope["data"]["email"] == "fan.out@e2e-hooks.test"
        assert envelope["data"]["reason"] == "asked to stop"
        assert envelope["data"]["prospectId"] == prospect.json()["data"]["id"]
    other = tenant.receiver.received("/all")[0]
    assert not reference_verify(suppressed["secret"], other.header("X-Warmy-Signature"), other.body.decode())
    assert tenant.receiver.received("/replies") == []
    assert tenant.deliveries(replies["id"]) == []
    [logged] = tenant.deliveries(suppressed["id"])
    assert logged["status"] == "delivered" and logged["eventType"] == "prospect.suppressed"
    assert [(a["attempt"], a["statusCode"]) for a in logged["attempts"]] == [(1, 200)]


def test_rotation_signs_with_both_secrets_for_24_hours(tenant: Tenant, clock: ManualClock) -> None:
    hook = tenant.create()
    old = hook["secret"]
    rotated = tenant.client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["data"]["secret"]
    assert rotated.json()["data"]["previousSecretExpiresAt"] == isoformat(clock.now() + timedelta(hours=24))

    tenant.send_test(hook["id"])
    tenant.wait_for(1)
    [during] = tenant.receiver.received()
    header, body = during.header("X-Warmy-Signature"), during.body.decode()
    t, *values = header.split(",")
    assert t == f"t={during.header('X-Warmy-Timestamp')}" and len(values) == 2
    assert reference_verify(old, header, body)  # the snippet keeps the last v1: the previous secret's
    assert reference_verify(new, f"{t},{values[0]}", body)  # the new secret's v1 comes first
    assert not reference_verify(new, f"{t},{values[1]}", body)

    clock.advance(timedelta(hours=24) + SECOND)
    tenant.receiver.reset()
    tenant.send_test(hook["id"])
    tenant.wait_for(1)
    [after] = tenant.receiver.received()
    assert after.header("X-Warmy-Signature").count("v1=") == 1
    assert reference_verify(new, after.header("X-Warmy-Signature"), after.body.decode())
    assert not reference_verify(old, after.header("X-Warmy-Signature"), after.body.decode())


def test_429_retry_after_is_honoured(tenant: Tenant, clock: ManualClock) -> None:
    hook = tenant.create()
    tenant.receiver.script(Reply(status=429, headers={"Retry-After": "120"}, body=b"slow down"), Reply(status=204))
    event_id = tenant.send_test(hook["id"])
    tenant.wait_for(1)
    [pending] = tenant.deliveries(hook["id"])
    assert pending["status"] == "pending" and pending["lastStatusCode"] == 429
    assert pending["nextRetryAt"] == isoformat(clock.now() + timedelta(seconds=120))  # not the 1-minute step

    clock.advance(timedelta(seconds=119))
    tenant.sweep()
    assert len(tenant.receiver.received()) == 1  # not due yet
    clock.advance(SECOND)
    tenant.sweep()
    tenant.wait_for(2)
    second = tenant.receiver.received()[1]
    assert second.header("X-Warmy-Event-Id") == event_id and second.header("X-Warmy-Attempt") == "2"
    [delivered] = tenant.deliveries(hook["id"])
    assert delivered["status"] == "delivered"
    assert [a["statusCode"] for a in delivered["attempts"]] == [429, 204]
    assert delivered["attempts"][0]["responseBody"] == "slow down"


def test_retries_to_the_dead_letter_then_the_log_and_a_replay(tenant: Tenant, clock: ManualClock) -> None:
    hook = tenant.create(events=("reply.received",))  # test events reach it whatever it subscribes to
    first = tenant.send_test(hook["id"])
    tenant.wait_for(1)
    [request] = tenant.receiver.received()
    assert request.header("X-Warmy-Event-Id") == first
    assert reference_verify(hook["secret"], request.header("X-Warmy-Signature"), request.body.decode())
    assert json.loads(request.body)["type"] == "webhook.test"
    assert tenant.webhook(hook["id"])["lastTriggeredAt"] == isoformat(clock.now())

    # Now the endpoint fails: 1 attempt + 10 retries on the schedule, driven by the sweep, then the dead letter.
    tenant.receiver.reset()
    tenant.receiver.default = Reply(status=503)
    clock.advance(SECOND)  # the log is newest first by creation time
    second = tenant.send_test(hook["id"])
    tenant.wait_for(1)
    for n, delay in enumerate(RETRY_SCHEDULE, start=2):
        clock.advance(delay)
        tenant.sweep()
        tenant.wait_for(n)
    assert {r.header("X-Warmy-Event-Id") for r in tenant.receiver.received()} == {second}
    assert [r.header("X-Warmy-Attempt") for r in tenant.receiver.received()] == [str(n) for n in range(1, 12)]
    [failed] = tenant.deliveries(hook["id"], status="failed")
    assert failed["eventId"] == second and failed["attemptCount"] == 11 and failed["failedAt"]
    assert [a["statusCode"] for a in failed["attempts"]] == [503] * 11
    assert tenant.webhook(hook["id"])["failureCount"] == 1
    clock.advance(timedelta(days=4))
    tenant.sweep()
    assert len(tenant.receiver.received()) == 11  # a dead letter is never retried on its own

    # The log lists both deliveries, newest first; a replay sends the dead letter again (same event id).
    assert [d["eventId"] for d in tenant.deliveries(hook["id"])] == [second, first]
    tenant.receiver.default = Reply(status=200)
    replayed = tenant.client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/replay")
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["data"]["replayOf"] == failed["id"]
    tenant.wait_for(12)
    again = tenant.receiver.received()[-1]
    assert again.header("X-Warmy-Event-Id") == second and again.header("X-Warmy-Attempt") == "1"
    assert reference_verify(hook["secret"], again.header("X-Warmy-Signature"), again.body.decode())
    log = tenant.deliveries(hook["id"])
    assert [(d["status"], d["replayOf"]) for d in log] == [
        ("delivered", failed["id"]),
        ("failed", None),
        ("delivered", None),
    ]
    assert tenant.deliveries(hook["id"], status="delivered")[0]["id"] == replayed.json()["data"]["id"]
    assert tenant.webhook(hook["id"])["lastTriggeredAt"] == isoformat(clock.now())
