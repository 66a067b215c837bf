"""The per-type dedup rules (inventory 30.1) and payload checks, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kindling.events.catalog import (
    DEDUP_RULES,
    EMAIL_EVENTS,
    EVER,
    PAYLOAD_FIELDS,
    InvalidEventPayload,
    dedup_for,
    validate_payload,
)
from kindling.events.models import EVENT_TYPES

NOW = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)
CLICK = {"prospectId": "p1", "prospectEmail": "a@b.test", "campaignId": "c1", "url": "https://x.test/a",
         "clickedAt": "t"}  # fmt: skip


def test_every_event_type_has_a_rule_and_fields() -> None:
    assert set(EMAIL_EVENTS) <= set(EVENT_TYPES)
    assert set(DEDUP_RULES) == set(PAYLOAD_FIELDS)
    assert DEDUP_RULES["webhook.test"] is None


def test_ever_rules_ignore_the_day() -> None:
    data = {"prospectId": "p1", "campaignId": "c1"}
    for event_type in ("reply.received", "email.unsubscribed", "email.opened"):
        today = dedup_for(event_type, data, NOW)
        later = dedup_for(event_type, data, NOW + timedelta(days=400))
        assert today == later == ("p1:c1", EVER)
    assert dedup_for("reply.received", {"prospectId": "p1", "campaignId": "c2"}, NOW) != dedup_for(
        "reply.received", data, NOW
    )


def test_daily_rules_key_on_the_utc_day_and_end_at_midnight() -> None:
    key, window = dedup_for("email.clicked", CLICK, NOW) or ("", timedelta(0))
    assert key.endswith(":2026-06-10") and window == timedelta(hours=14, minutes=30)
    other_url = dedup_for("email.clicked", {**CLICK, "url": "https://x.test/b"}, NOW)
    assert other_url is not None and other_url[0] != key
    other_campaign = dedup_for("email.clicked", {**CLICK, "campaignId": "c9"}, NOW)
    assert other_campaign is not None and other_campaign[0] == key  # per URL per prospect per day
    tomorrow = dedup_for("email.clicked", CLICK, NOW + timedelta(days=1))
    assert tomorrow is not None and tomorrow[0].endswith(":2026-06-11")
    bounced = dedup_for("email.bounced", {"prospectId": "p1", "campaignId": "c1"}, NOW)
    assert bounced is not None and bounced[0] == "p1:c1:2026-06-10"
    suppressed = dedup_for("prospect.suppressed", {"email": "A@B.test"}, NOW)
    assert suppressed == dedup_for("prospect.suppressed", {"email": "a@b.test"}, NOW)
    mailbox = dedup_for("limit.hit", {"limitType": "daily_mailbox", "mailboxId": "m1"}, NOW)
    domain = dedup_for("limit.hit", {"limitType": "daily_domain", "mailboxId": "m1"}, NOW)
    assert mailbox is not None and domain is not None and mailbox[0] != domain[0]
    assert dedup_for("webhook.test", {}, NOW) is None


def test_payload_validation() -> None:
    validate_payload("email.clicked", CLICK)
    with pytest.raises(InvalidEventPayload, match="missing url"):
        validate_payload("email.clicked", {k: v for k, v in CLICK.items() if k != "url"})
    with pytest.raises(InvalidEventPayload, match="unknown fields"):
        validate_payload("email.clicked", {**CLICK, "extra": 1})
    with pytest.raises(InvalidEventPayload):
        validate_payload("email.nope", {})


def test_mailbox_outage_events_are_subscribable_once_per_outage() -> None:
    from kindling.events.catalog import SUBSCRIBABLE

    assert {"mailbox.disconnected", "mailbox.reconnected"} <= set(SUBSCRIBABLE)
    down = {"mailboxId": "m1", "email": "a@b.test", "status": "disconnected", "code": "auth_failed",
            "disconnectedAt": "2026-06-10T09:00:00.000Z"}  # fmt: skip
    validate_payload("mailbox.disconnected", down)
    # The same outage a year later is still the same outage; a new outage (another start) is a new event.
    assert dedup_for("mailbox.disconnected", down, NOW) == ("m1:2026-06-10T09:00:00.000Z", EVER)
    assert dedup_for("mailbox.disconnected", down, NOW + timedelta(days=400)) == ("m1:2026-06-10T09:00:00.000Z", EVER)
    again = {**down, "disconnectedAt": "2026-06-12T09:00:00.000Z"}
    assert dedup_for("mailbox.disconnected", again, NOW) != dedup_for("mailbox.disconnected", down, NOW)
    up = {"mailboxId": "m1", "email": "a@b.test", "disconnectedAt": "2026-06-10T09:00:00.000Z",
          "reconnectedAt": "2026-06-10T10:00:00.000Z"}  # fmt: skip
    validate_payload("mailbox.reconnected", up)
    assert dedup_for("mailbox.reconnected", up, NOW) == ("m1:2026-06-10T09:00:00.000Z", EVER)
    with pytest.raises(InvalidEventPayload, match="missing code"):
        validate_payload("mailbox.disconnected", {k: v for k, v in down.items() if k != "code"})
