"""What an attempt costs in DynamoDB and what the subscription snapshot in a delivery message means: two writes and
no read per attempt, lastTriggeredAt rewritten about once a minute, a snapshot trusted for a minute and re-read
after that (pause, delete), and delivery items of the earlier layout still read and appended to."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import boto3

from bench.support import count_aws_requests
from kindling.events.catalog import emit_event
from kindling.events.service import EventService
from kindling.platform.clock import epoch_seconds
from kindling.platform.keys import webhook_due_shard, webhook_due_sk, workspace_key
from kindling.webhooks.models import Attempt
from kindling.webhooks.queue import DeliveryMessage
from kindling.webhooks.repository import DeliveryItem, WebhookRepository
from kindling.webhooks.service import DeliveryService
from tests.integration.webhooks.conftest import Pipeline
from tests.integration.webhooks.receiver import Reply

SECOND = timedelta(seconds=1)


class Captured:
    def __init__(self) -> None:
        self.messages: list[DeliveryMessage] = []

    def send(self, messages: list[DeliveryMessage]) -> None:
        self.messages.extend(messages)


class Nowhere:
    def publish(self, event: object) -> None:
        return None


def opened(pipeline: Pipeline, prospect: str, publish: bool = True) -> str:
    data = {"prospectId": prospect, "prospectEmail": f"{prospect}@acme.test", "campaignId": "c1",
            "openedAt": "2026-06-10T09:00:00.000Z"}  # fmt: skip
    events = EventService() if publish else EventService(publisher=Nowhere())
    event = emit_event(events, pipeline.tenant.workspace_id, "email.opened", data)
    assert event is not None
    return event.id


def dynamodb(counts: Counter[str]) -> dict[str, int]:
    return {key.split(".", 1)[1]: n for key, n in counts.items() if key.startswith("dynamodb.")}


def test_an_attempt_is_two_writes_and_last_triggered_is_kept_to_the_minute(pipeline: Pipeline) -> None:
    created = pipeline.create()

    def deliver_one(prospect: str) -> dict[str, int]:
        opened(pipeline, prospect)
        with count_aws_requests() as counts:
            pipeline.pump()
        return dynamodb(counts)

    fan_out = {"GetItem": 1, "Query": 1, "BatchGetItem": 1, "BatchWriteItem": 1}  # event, subscriptions, deliveries
    # First success: claim + outcome + lastTriggeredAt (unknown so far).
    assert deliver_one("p1") == {**fan_out, "UpdateItem": 3}
    first = pipeline.clock.now()
    pipeline.clock.advance(timedelta(minutes=1) - SECOND)  # lastTriggeredAt is kept to the minute
    assert deliver_one("p2") == {**fan_out, "UpdateItem": 2}  # within the minute: no webhook write, no read
    shown = pipeline.client.get(f"/api/v1/webhooks/{created['id']}", headers=pipeline.tenant.headers).json()["data"]
    assert shown["lastTriggeredAt"] == "2026-06-10T09:00:00.000Z" and first.minute == 0
    pipeline.clock.advance(SECOND)
    assert deliver_one("p3") == {**fan_out, "UpdateItem": 3}
    shown = pipeline.client.get(f"/api/v1/webhooks/{created['id']}", headers=pipeline.tenant.headers).json()["data"]
    assert shown["lastTriggeredAt"] == "2026-06-10T09:01:00.000Z"
    assert [d["status"] for d in pipeline.deliveries(created["id"])] == ["delivered"] * 3


def test_a_retry_queued_by_the_sweep_carries_its_subscription_too(pipeline: Pipeline) -> None:
    created = pipeline.create()
    pipeline.receiver.script(Reply(status=503))
    opened(pipeline, "p1")
    pipeline.pump()
    pipeline.clock.advance(timedelta(minutes=1))
    with count_aws_requests() as counts:
        assert pipeline.sweep() == 1
        pipeline.pump()
    # The sweep handler: 1 query for unpublished events, 4 due-shard queries, 1 lease, 1 BatchGetItem for the
    # subscriptions; the attempt: claim + outcome (+ lastTriggeredAt: the webhook's first success). No GetItem.
    assert dynamodb(counts) == {"Query": 5, "UpdateItem": 4, "BatchGetItem": 1}
    [delivery] = pipeline.deliveries(created["id"])
    assert delivery["status"] == "delivered" and [a["statusCode"] for a in delivery["attempts"]] == [503, 200]


def _queue_one(pipeline: Pipeline, prospect: str) -> DeliveryMessage:
    """Fan an event out without sending the delivery message yet (so the subscription can change meanwhile)."""
    event_id = opened(pipeline, prospect, publish=False)
    captured = Captured()
    assert DeliveryService(queue=captured).fan_out(pipeline.tenant.workspace_id, event_id) == 1
    [message] = captured.messages
    assert message.webhook is not None and message.queued_at == pipeline.clock.now()
    return message


def _send(pipeline: Pipeline, message: DeliveryMessage) -> None:
    boto3.client("sqs", region_name="us-east-1").send_message(QueueUrl=pipeline.queue_url, MessageBody=message.body())


def test_a_change_reaches_queued_attempts_within_a_minute(pipeline: Pipeline) -> None:
    created = pipeline.create()
    headers = pipeline.tenant.headers
    fresh, stale = _queue_one(pipeline, "p1"), _queue_one(pipeline, "p2")  # both queued while active
    assert pipeline.client.post(f"/api/v1/webhooks/{created['id']}/pause", headers=headers).status_code == 200
    _send(pipeline, fresh)
    pipeline.pump()
    # Queued before the pause and attempted within the minute: sent as addressed when queued.
    assert len(pipeline.receiver.received()) == 1
    pipeline.clock.advance(timedelta(minutes=1) + SECOND)  # a webhook snapshot is read again after a minute
    _send(pipeline, stale)
    pipeline.pump()
    assert len(pipeline.receiver.received()) == 1  # the attempt re-read the subscription: paused
    cancelled = [d for d in pipeline.deliveries(created["id"]) if d["status"] == "cancelled"]
    assert [(d["reason"], d["attempts"]) for d in cancelled] == [("webhook_paused", [])]


def test_a_deleted_webhook_cancels_its_pending_retries(pipeline: Pipeline) -> None:
    created = pipeline.create()
    pipeline.receiver.default = Reply(status=500)
    opened(pipeline, "p1")
    pipeline.pump()
    [delivery] = pipeline.deliveries(created["id"])
    assert pipeline.client.delete(f"/api/v1/webhooks/{created['id']}", headers=pipeline.tenant.headers).status_code
    pipeline.clock.advance(timedelta(minutes=1))
    assert pipeline.sweep() == 1
    pipeline.pump()
    assert len(pipeline.receiver.received()) == 1
    gone = WebhookRepository().get_delivery(pipeline.tenant.workspace_id, delivery["id"])
    assert (gone.status, gone.reason, gone.attempt_count) == ("cancelled", "webhook_deleted", 1)
    pipeline.clock.advance(timedelta(days=3))
    assert pipeline.sweep() == 0  # out of the due index


def test_a_delivery_of_the_earlier_layout_is_read_and_appended_to(pipeline: Pipeline) -> None:
    """Items written before the attempts moved out of `body` keep their attempts there; new attempts append."""
    ws, now = pipeline.tenant.workspace_id, pipeline.clock.now()
    created = pipeline.create()
    old_attempt = {"attempt": 1, "attempted_at": "2026-06-10T08:59:00Z", "status_code": 500, "duration_ms": 12,
                   "response_body": "boom", "error": None}  # fmt: skip
    body = {"event_id": "evt_old", "event_type": "email.opened", "data": {"prospectId": "p9"},
            "timestamp": "2026-06-10T08:58:00.000Z", "next_attempt_at": "2026-06-10T09:00:00Z",
            "attempts": [old_attempt], "updated_at": "2026-06-10T08:59:00Z", "reason": None, "replay_of": None,
            "delivered_at": None, "failed_at": None}  # fmt: skip
    DeliveryItem(
        pk=workspace_key(ws, "WHDELIVERY", "whd_old"),
        sk="#",
        gsi1pk=workspace_key(ws, "WHDELIVERY", created["id"]),
        gsi1sk=f"{now.isoformat()}#whd_old",
        due_pk=webhook_due_shard("whd_old"),
        due_sk=webhook_due_sk(now, ws, "whd_old"),
        delivery_id="whd_old",
        webhook_id=created["id"],
        status="pending",
        attempt_count=1,
        body=json.dumps(body),
        created_at=now - timedelta(minutes=2),
        expires_at=epoch_seconds(now + timedelta(days=30)),
    ).save()
    repo = WebhookRepository()
    before = repo.get_delivery(ws, "whd_old")
    assert [a.status_code for a in before.attempts] == [500] and before.updated_at.minute == 59
    assert pipeline.sweep() == 1
    pipeline.pump()
    after = repo.get_delivery(ws, "whd_old")
    assert after.status == "delivered" and after.attempt_count == 2
    assert [a.status_code for a in after.attempts] == [500, 200] and after.updated_at == now
    assert isinstance(after.attempts[1], Attempt) and after.attempts[1].attempt == 2


def test_an_outcome_is_recorded_once(pipeline: Pipeline) -> None:
    created = pipeline.create()
    event_id = opened(pipeline, "p1", publish=False)
    captured = Captured()
    DeliveryService(queue=captured).fan_out(pipeline.tenant.workspace_id, event_id)
    [message] = captured.messages
    ws, now, repo = pipeline.tenant.workspace_id, pipeline.clock.now(), WebhookRepository()
    attempt = Attempt(attempt=1, attempted_at=now, status_code=200, duration_ms=3)
    assert repo.finish(ws, message.delivery_id, 0, now, "delivered", attempt=attempt)
    # A second writer that read the same attempt count (a racing duplicate) is refused and changes nothing.
    assert not repo.finish(ws, message.delivery_id, 0, now, "pending", attempt=attempt, next_attempt_at=now)
    [delivery] = pipeline.deliveries(created["id"])
    assert (delivery["status"], delivery["attemptCount"], len(delivery["attempts"])) == ("delivered", 1, 1)
    assert pipeline.sweep() == 0
