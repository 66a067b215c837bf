"""Delivery through the deliverer and sweep handlers: retries on the injected clock, Retry-After, timeouts,
redirects, DNS rebinding, fan-out and filters, dedup at emission, replay of dead letters."""

from __future__ import annotations

import itertools
import json
import time
from datetime import timedelta
from email.utils import format_datetime

import boto3
import pytest

from kindling.events.catalog import emit_event
from kindling.events.service import EventService
from kindling.platform.settings import reset_settings
from kindling.webhooks.queue import DeliveryMessage
from kindling.webhooks.service import DeliveryService
from tests.integration.webhooks.conftest import Pipeline
from tests.integration.webhooks.receiver import Reply
from tests.unit.webhooks.test_signing_and_retry import reference_verify

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


def reply(pipeline: Pipeline, prospect: str = "p1", campaign: str = "c1") -> str:
    data = {
        "prospectId": prospect,
        "prospectEmail": f"{prospect}@acme.test",
        "campaignId": campaign,
        "mailboxId": "m1",
        "subject": "Re: Quick question",
        "messageId": "<m1@acme.test>",
        "receivedAt": "2026-06-10T09:00:00.000Z",
    }
    event = emit_event(EventService(), pipeline.tenant.workspace_id, "reply.received", data)
    assert event is not None
    return event.id


def webhook(pipeline: Pipeline, webhook_id: str) -> dict[str, object]:
    response = pipeline.client.get(f"/api/v1/webhooks/{webhook_id}", headers=pipeline.tenant.headers)
    data: dict[str, object] = response.json()["data"]
    return data


def test_all_ten_retries_on_schedule_then_dead_letter(pipeline: Pipeline) -> None:
    created = pipeline.create()
    pipeline.receiver.default = Reply(status=500, body=b"boom " * 500)
    event_id = reply(pipeline)
    pipeline.pump()
    assert len(pipeline.receiver.received()) == 1
    for n, delay in enumerate(RETRY_SCHEDULE, start=2):
        pipeline.clock.advance(delay - SECOND)
        assert pipeline.sweep() == 0, f"attempt {n} came early"
        pipeline.clock.advance(SECOND)
        assert pipeline.sweep() == 1, f"attempt {n} is not due"
        pipeline.pump()
        assert len(pipeline.receiver.received()) == n
    pipeline.clock.advance(timedelta(days=10))
    assert pipeline.sweep() == 0
    requests = pipeline.receiver.received()
    assert {r.header("X-Warmy-Event-Id") for r in requests} == {event_id}
    assert [int(r.header("X-Warmy-Attempt")) for r in requests] == list(range(1, 12))
    stamps = [int(r.header("X-Warmy-Timestamp")) for r in requests]
    assert [timedelta(milliseconds=b - a) for a, b in itertools.pairwise(stamps)] == RETRY_SCHEDULE
    assert all(reference_verify(created["secret"], r.header("X-Warmy-Signature"), r.body.decode()) for r in requests)
    assert len({r.body for r in requests}) == 1  # the same body every time
    [delivery] = pipeline.deliveries(created["id"])
    assert delivery["status"] == "failed" and delivery["attemptCount"] == 11 and delivery["failedAt"]
    assert [a["statusCode"] for a in delivery["attempts"]] == [500] * 11
    assert len(delivery["attempts"][0]["responseBody"]) == 1024
    assert pipeline.deliveries(created["id"], status="failed")[0]["id"] == delivery["id"]
    assert pipeline.deliveries(created["id"], status="delivered") == []
    shown = webhook(pipeline, created["id"])
    assert shown["failureCount"] == 1 and shown["lastTriggeredAt"] is None

    # Dead letters are never replayed automatically; the API replays one as a new delivery of the same event.
    pipeline.receiver.reset()
    replayed = pipeline.client.post(
        f"/api/v1/webhooks/{created['id']}/deliveries/{delivery['id']}/replay", headers=pipeline.tenant.headers
    )
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["data"]["replayOf"] == delivery["id"]
    pipeline.pump()
    [again] = pipeline.receiver.received()
    assert again.header("X-Warmy-Event-Id") == event_id
    assert webhook(pipeline, created["id"])["lastTriggeredAt"] is not None
    not_failed = pipeline.client.post(
        f"/api/v1/webhooks/{created['id']}/deliveries/{replayed.json()['data']['id']}/replay",
        headers=pipeline.tenant.headers,
    )
    assert not_failed.status_code == 400 and not_failed.json()["error"]["code"] == "invalid_status"


def test_retry_after_on_429_in_seconds_and_http_date(pipeline: Pipeline) -> None:
    created = pipeline.create()
    later = format_datetime(pipeline.clock.now() + timedelta(minutes=2, hours=2), usegmt=True)
    pipeline.receiver.script(
        Reply(status=429, headers={"Retry-After": "120"}),
        Reply(status=429, headers={"Retry-After": later}),
        Reply(status=204, body=b""),
    )
    reply(pipeline)
    pipeline.pump()
    pipeline.clock.advance(timedelta(seconds=119))
    assert pipeline.sweep() == 0
    pipeline.clock.advance(SECOND)
    assert pipeline.sweep() == 1
    pipeline.pump()
    [delivery] = pipeline.deliveries(created["id"])
    assert delivery["nextRetryAt"] == "2026-06-10T11:02:00.000Z"
    pipeline.clock.advance(timedelta(hours=2) - SECOND)
    assert pipeline.sweep() == 0
    pipeline.clock.advance(SECOND)
    assert pipeline.sweep() == 1
    pipeline.pump()
    [delivery] = pipeline.deliveries(created["id"])
    assert delivery["status"] == "delivered" and [a["statusCode"] for a in delivery["attempts"]] == [429, 429, 204]


def test_timeout_and_one_slow_endpoint_does_not_delay_the_others(pipeline: Pipeline) -> None:
    slow = pipeline.create(url=pipeline.receiver.url("/slow"))
    fast = pipeline.create(url=pipeline.receiver.url("/fast"))
    pipeline.receiver.on_path("/slow", Reply(delay=6.0))
    reply(pipeline)
    started = time.monotonic()
    pipeline.pump()
    [fast_request] = pipeline.receiver.received("/fast")
    assert fast_request.at - started < 2.0
    [slow_delivery] = pipeline.deliveries(slow["id"])
    attempt = slow_delivery["attempts"][0]
    assert attempt["error"] == "timeout" and attempt["statusCode"] is None
    assert 4900 <= attempt["durationMs"] < 6000
    assert slow_delivery["status"] == "pending" and slow_delivery["nextRetryAt"] == "2026-06-10T09:01:00.000Z"
    assert pipeline.deliveries(fast["id"])[0]["status"] == "delivered"


def test_redirects_are_not_followed(pipeline: Pipeline) -> None:
    created = pipeline.create(url=pipeline.receiver.url("/moved"))
    pipeline.receiver.on_path("/moved", Reply(status=302, headers={"Location": pipeline.receiver.url("/elsewhere")}))
    reply(pipeline)
    pipeline.pump()
    assert [r.path for r in pipeline.receiver.received()] == ["/moved"]
    [delivery] = pipeline.deliveries(created["id"])
    assert delivery["attempts"][0]["statusCode"] == 302 and delivery["status"] == "pending"


def test_address_checked_again_at_delivery_time(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    created = pipeline.create(url=f"http://localhost:{pipeline.receiver.port}/hook")  # allowed while private is on
    monkeypatch.setenv("KINDLING_ALLOW_PRIVATE_TARGETS", "false")
    reset_settings()
    reply(pipeline)
    pipeline.pump()
    assert pipeline.receiver.received() == []
    [delivery] = pipeline.deliveries(created["id"])
    assert delivery["attempts"][0]["error"].startswith("private_address")
    assert delivery["status"] == "pending"


def test_fan_out_filters_and_paused(pipeline: Pipeline) -> None:
    replies = pipeline.create(url=pipeline.receiver.url("/a"), events=["reply.received"])
    campaign = pipeline.create(url=pipeline.receiver.url("/b"), events=["*"], campaignIds=["c1"])
    opens = pipeline.create(url=pipeline.receiver.url("/c"), events=["email.opened"])
    paused = pipeline.create(url=pipeline.receiver.url("/d"), events=["*"], isActive=False)
    first = reply(pipeline, "p1", "c1")
    second = reply(pipeline, "p2", "c2")
    pipeline.pump()
    seen = {(r.path, r.header("X-Warmy-Event-Id")) for r in pipeline.receiver.received()}
    assert seen == {("/a", first), ("/b", first), ("/a", second)}
    assert len(pipeline.receiver.received()) == 3
    assert [len(pipeline.deliveries(w["id"])) for w in (replies, campaign, opens, paused)] == [2, 1, 0, 0]


def test_duplicate_and_lost_messages(pipeline: Pipeline) -> None:
    created = pipeline.create()

    class Lost:
        def send(self, messages: list[DeliveryMessage]) -> None:
            return None

    event_id = emit_event(
        EventService(publisher=type("Nowhere", (), {"publish": lambda self, event: None})()),
        pipeline.tenant.workspace_id,
        "email.opened",
        {"prospectId": "p1", "prospectEmail": "p1@acme.test", "campaignId": "c1", "stepIndex": 0,
         "openedAt": "2026-06-10T09:00:00.000Z"},
    )  # fmt: skip
    assert event_id is not None
    assert DeliveryService(queue=Lost()).fan_out(pipeline.tenant.workspace_id, event_id.id) == 1
    assert pipeline.sweep() == 0 and pipeline.receiver.received() == []
    pipeline.clock.advance(timedelta(minutes=5))  # the first attempt's lease expires: the sweep queues it
    assert pipeline.sweep() == 1
    [delivery] = pipeline.deliveries(created["id"])
    duplicate = DeliveryMessage(pipeline.tenant.workspace_id, delivery["id"], 1)
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=duplicate.body())
    sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody="not json")
    pipeline.pump()
    assert len(pipeline.receiver.received()) == 1
    assert pipeline.deliveries(created["id"])[0]["status"] == "delivered"
    # Re-fanning the same event (a duplicate event message) creates no second delivery.
    sqs.send_message(
        QueueUrl=pipeline.queue_url,
        MessageBody=json.dumps(
            {"kind": "event", "workspace_id": pipeline.tenant.workspace_id, "event_id": event_id.id}
        ),
    )
    pipeline.pump()
    assert len(pipeline.receiver.received()) == 1 and len(pipeline.deliveries(created["id"])) == 1


def test_dedup_windows_at_emission(pipeline: Pipeline) -> None:
    created = pipeline.create()
    events, ws = EventService(), pipeline.tenant.workspace_id
    click = {"prospectId": "p1", "prospectEmail": "p1@acme.test", "campaignId": "c1", "url": "https://x.test/a",
             "clickedAt": "2026-06-10T09:00:00.000Z"}  # fmt: skip
    assert emit_event(events, ws, "email.clicked", click) is not None
    assert emit_event(events, ws, "email.clicked", click) is None
    assert emit_event(events, ws, "email.clicked", {**click, "url": "https://x.test/b"}) is not None
    first_reply = reply(pipeline)
    with pytest.raises(AssertionError):
        reply(pipeline)  # one reply.received per prospect per campaign, ever
    pipeline.clock.advance(timedelta(hours=15))  # 2026-06-11 00:00 UTC: a new day
    assert emit_event(events, ws, "email.clicked", click) is not None
    pipeline.clock.advance(timedelta(days=400))
    with pytest.raises(AssertionError):
        reply(pipeline)
    assert emit_event(events, ws, "webhook.test", {"webhookId": created["id"], "timestamp": "t",
                                                          "message": "m"}) is not None  # fmt: skip
    pipeline.pump()
    types = [r.header("X-Warmy-Event-Type") for r in pipeline.receiver.received()]
    assert sorted(types) == ["email.clicked", "email.clicked", "email.clicked", "reply.received", "webhook.test"]
    assert first_reply in {r.header("X-Warmy-Event-Id") for r in pipeline.receiver.received()}
