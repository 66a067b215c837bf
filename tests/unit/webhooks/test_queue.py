"""Webhook queue messages: delivery messages with and without the subscription snapshot, event messages, bad ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from kindling.webhooks.models import WebhookSnapshot
from kindling.webhooks.queue import BadMessage, DeliveryMessage, EventMessage, parse_message

QUEUED = datetime(2026, 6, 10, 9, 0, 0, 123000, tzinfo=UTC)
SNAPSHOT = WebhookSnapshot(
    id="wh_1",
    url="https://hooks.acme.test/in",
    is_active=True,
    secret_enc="c2VjcmV0",
    previous_secret_enc="b2xk",
    previous_secret_expires_at=datetime(2026, 6, 11, 9, 0, tzinfo=UTC),
    last_triggered_at=None,
)


@pytest.mark.parametrize(
    "message",
    [
        DeliveryMessage("ws_abc123", "whd_1", 1, SNAPSHOT, QUEUED),
        DeliveryMessage("ws_abc123", "whd_1", 7, SNAPSHOT.model_copy(update={"previous_secret_enc": None}), QUEUED),
        DeliveryMessage("ws_abc123", "whd_1", 2),
    ],
)
def test_delivery_messages_round_trip(message: DeliveryMessage) -> None:
    assert parse_message(message.body()) == message


def test_the_snapshot_keeps_secrets_as_ciphertexts_only() -> None:
    body = json.loads(DeliveryMessage("ws_abc123", "whd_1", 1, SNAPSHOT, QUEUED).body())
    assert body["queued_at"] == "2026-06-10T09:00:00.123Z"
    assert set(body["webhook"]) == {"id", "url", "is_active", "secret_enc", "previous_secret_enc",
                                    "previous_secret_expires_at"}  # fmt: skip
    assert "secret" not in body["webhook"]


def test_a_snapshot_without_its_time_is_not_sent() -> None:
    body = json.loads(DeliveryMessage("ws_abc123", "whd_1", 1, SNAPSHOT, None).body())
    assert "webhook" not in body and "queued_at" not in body


BASE: dict[str, Any] = {"kind": "delivery", "workspace_id": "ws_abc123", "delivery_id": "whd_1", "attempt": 3}


@pytest.mark.parametrize(
    "extra",
    [
        {"webhook": {"id": "wh_1"}, "queued_at": "2026-06-10T09:00:00.000Z"},  # fields missing
        {"webhook": SNAPSHOT.model_dump(mode="json"), "queued_at": "yesterday"},
        {"webhook": SNAPSHOT.model_dump(mode="json")},  # no time: cannot tell how old
        {"webhook": "wh_1", "queued_at": "2026-06-10T09:00:00.000Z"},
    ],
)
def test_a_malformed_snapshot_is_dropped_and_the_attempt_kept(extra: dict[str, Any]) -> None:
    assert parse_message(json.dumps({**BASE, **extra})) == DeliveryMessage("ws_abc123", "whd_1", 3)


def test_event_messages() -> None:
    body = json.dumps({"kind": "event", "workspace_id": "ws_abc123", "event_id": "evt_1"})
    assert parse_message(body) == EventMessage("ws_abc123", "evt_1")


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1]",
        json.dumps({"kind": "delivery", "workspace_id": "ws_abc123", "delivery_id": "whd_1"}),
        json.dumps({**BASE, "attempt": "third"}),
        json.dumps({"kind": "event", "workspace_id": "ws_abc123"}),
        json.dumps({**BASE, "kind": "other"}),
    ],
)
def test_bad_messages(body: str) -> None:
    with pytest.raises(BadMessage):
        parse_message(body)
