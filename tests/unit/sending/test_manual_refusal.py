"""The refusal of a manual (inbox) send, one row per reason `eligibility.check` can give it: which error (422 for a
mailbox that cannot send, 429 for a limit that lifts later), which stable code, and the numbers in the details."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kindling.api.errors import status_for
from kindling.sending import eligibility
from kindling.sending.eligibility import Reason, Snapshot
from kindling.sending.manual import refusal

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
BASE = Snapshot(
    now=NOW,
    active_on_campaign=True,
    mailbox_status="connected",
    sending_enabled=True,
    mailbox_daily_limit=50,
    mailbox_sent_today=0,
    campaign_daily_limit=None,
    campaign_sent_today=0,
    campaign_mailbox_limit=None,
    campaign_mailbox_sent_today=0,
)
MIDNIGHT = "2026-06-11T00:00:00.000Z"


@pytest.mark.parametrize(
    ("changes", "reason", "status", "code", "numbers"),
    [
        ({"mailbox_status": "disconnected"}, "not_connected", 422, "mailbox_unavailable", {}),
        ({"sending_enabled": False}, "sending_disabled", 422, "mailbox_unavailable", {}),
        (
            {"mailbox_daily_limit": 30, "mailbox_sent_today": 30},
            "mailbox_daily_limit",
            429,
            "daily_limit_reached",
            {"limit": 30, "used": 30, "resets_at": MIDNIGHT, "retry_after_seconds": 54000},
        ),
        (
            {"mailbox_daily_limit": 100, "mailbox_sent_today": 20, "warmup_sent_today": 480},
            "hard_cap",
            429,
            "daily_limit_reached",
            {"limit": 500, "used": 500, "resets_at": MIDNIGHT, "retry_after_seconds": 54000},
        ),
        (
            {"recipient_domain_sent_today": 50},
            "recipient_domain_limit",
            429,
            "daily_limit_reached",
            {"limit": 50, "used": 50, "resets_at": MIDNIGHT, "retry_after_seconds": 54000},
        ),
        (
            {"last_send_at": NOW - timedelta(minutes=2), "pacer_interval": timedelta(minutes=5)},
            "pacer",
            429,
            "mailbox_paced",
            {"next_send_at": "2026-06-10T09:03:00.000Z", "retry_after_seconds": 180},
        ),
        (
            {"backoff_until": NOW + timedelta(seconds=90.2)},
            "backoff",
            429,
            "mailbox_paced",
            {"next_send_at": "2026-06-10T09:01:30.200Z", "retry_after_seconds": 91},
        ),
    ],
)
def test_each_refusal_reason_maps_to_a_stable_error(
    changes: dict[str, Any], reason: str, status: int, code: str, numbers: dict[str, Any]
) -> None:
    snapshot = replace(BASE, **changes)
    verdict = eligibility.check(snapshot)
    assert isinstance(verdict, Reason) and verdict.value == reason
    error = refusal(snapshot, verdict)
    assert (status_for(error), error.code) == (status, code)
    (detail,) = error.details
    assert detail["code"] == reason
    assert {k: detail[k] for k in numbers} == numbers
    if status == 429:
        assert getattr(error, "retry_after", None) == numbers["retry_after_seconds"]
