"""Eligibility (inventory 3, 4, 5, 13.2): one reason per rule, the minimum cap wins, counter days per timezone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kindling.sending.eligibility import (
    Eligible,
    Reason,
    Snapshot,
    blocked_until,
    check,
    day_key,
    day_start,
    effective_daily_limit,
    next_day_start,
    pacer_interval,
    remaining_today,
)

NOW = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)

BASE = Snapshot(
    now=NOW,
    active_on_campaign=True,
    mailbox_status="connected",
    sending_enabled=True,
    mailbox_daily_limit=100,
    mailbox_sent_today=10,
    campaign_daily_limit=50,
    campaign_sent_today=10,
    campaign_mailbox_limit=30,
    campaign_mailbox_sent_today=5,
    warmup_sent_today=0,
    recipient_domain_limit=50,
    recipient_domain_sent_today=0,
    last_send_at=NOW - timedelta(minutes=20),
    pacer_interval=timedelta(minutes=15),
)


def snap(**changes: Any) -> Snapshot:
    return replace(BASE, **changes)


def test_the_base_snapshot_is_eligible_with_the_tightest_room() -> None:
    # 30 - 5 (campaign-mailbox) < 50 - 10 (campaign) < 100 - 10 (mailbox) < 500 - 10 (hard cap)
    assert check(BASE) == Eligible(remaining=25)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"active_on_campaign": False}, Reason.INACTIVE_ON_CAMPAIGN),
        ({"mailbox_status": "disconnected"}, Reason.NOT_CONNECTED),
        ({"mailbox_status": "error"}, Reason.NOT_CONNECTED),
        ({"mailbox_status": "testing"}, Reason.NOT_CONNECTED),
        ({"mailbox_status": "created"}, Reason.NOT_CONNECTED),
        ({"sending_enabled": False}, Reason.SENDING_DISABLED),
        ({"host_circuit_open_until": NOW + timedelta(seconds=1)}, Reason.HOST_CIRCUIT_OPEN),
        ({"backoff_until": NOW + timedelta(minutes=5)}, Reason.BACKOFF),
        ({"mailbox_sent_today": 100}, Reason.MAILBOX_DAILY_LIMIT),
        ({"campaign_sent_today": 50}, Reason.CAMPAIGN_DAILY_LIMIT),
        ({"campaign_mailbox_sent_today": 30}, Reason.CAMPAIGN_MAILBOX_LIMIT),
        ({"mailbox_daily_limit": 500, "mailbox_sent_today": 20, "warmup_sent_today": 480}, Reason.HARD_CAP),
        ({"recipient_domain_sent_today": 50}, Reason.RECIPIENT_DOMAIN_LIMIT),
        ({"recipient_domain_limit": 3, "recipient_domain_sent_today": 3}, Reason.RECIPIENT_DOMAIN_LIMIT),
        ({"last_send_at": NOW - timedelta(minutes=14, seconds=59)}, Reason.PACER),
        ({"last_send_at": NOW}, Reason.PACER),
    ],
)
def test_each_rule_has_its_own_reason(changes: dict[str, Any], reason: Reason) -> None:
    assert check(snap(**changes)) is reason


@pytest.mark.parametrize(
    "changes",
    [
        {"host_circuit_open_until": NOW},  # the pause ends at that instant
        {"backoff_until": NOW},
        {"backoff_until": NOW - timedelta(minutes=1)},
        {"last_send_at": NOW - timedelta(minutes=15)},  # exactly the interval later
        {"last_send_at": None},  # never sent
        {"pacer_interval": timedelta(0), "last_send_at": NOW},
        {"campaign_daily_limit": None, "campaign_mailbox_limit": None},  # unset caps do not block
        {"recipient_domain_sent_today": 49},
        {"mailbox_sent_today": 99, "mailbox_daily_limit": 100, "campaign_mailbox_limit": None},
    ],
)
def test_boundaries_that_still_allow_a_send(changes: dict[str, Any]) -> None:
    assert isinstance(check(snap(**changes)), Eligible)


def test_rules_are_checked_in_a_stable_order() -> None:
    everything_wrong = snap(
        active_on_campaign=False,
        mailbox_status="disconnected",
        sending_enabled=False,
        backoff_until=NOW + timedelta(hours=1),
        mailbox_sent_today=1000,
        last_send_at=NOW,
    )
    assert check(everything_wrong) is Reason.INACTIVE_ON_CAMPAIGN
    assert check(replace(everything_wrong, active_on_campaign=True)) is Reason.NOT_CONNECTED
    assert check(snap(backoff_until=NOW + timedelta(hours=1), mailbox_sent_today=1000)) is Reason.BACKOFF
    assert check(snap(mailbox_sent_today=1000, last_send_at=NOW)) is Reason.MAILBOX_DAILY_LIMIT


@pytest.mark.parametrize(
    ("mailbox", "campaign", "campaign_mailbox", "expected"),
    [
        (100, 50, 30, (30, Reason.CAMPAIGN_MAILBOX_LIMIT)),  # the help center's example (inventory 3.3)
        (20, 50, 30, (20, Reason.MAILBOX_DAILY_LIMIT)),
        (100, 10, 30, (10, Reason.CAMPAIGN_DAILY_LIMIT)),
        (100, None, None, (100, Reason.MAILBOX_DAILY_LIMIT)),
        (500, None, None, (500, Reason.MAILBOX_DAILY_LIMIT)),  # a tie names the mailbox limit
        (600, 1000, 900, (500, Reason.HARD_CAP)),  # nothing goes past 500 (inventory 3.2)
        (30, 30, 30, (30, Reason.MAILBOX_DAILY_LIMIT)),
        (40, 30, 30, (30, Reason.CAMPAIGN_DAILY_LIMIT)),
    ],
)
def test_effective_daily_limit_is_the_minimum(
    mailbox: int, campaign: int | None, campaign_mailbox: int | None, expected: tuple[int, Reason]
) -> None:
    assert effective_daily_limit(mailbox, campaign, campaign_mailbox) == expected


def test_limits_count_against_todays_running_total() -> None:
    # Inventory 3.4: 25 sent, limit raised 25 -> 30: five more today.
    raised = snap(mailbox_daily_limit=30, mailbox_sent_today=25, campaign_mailbox_limit=None, campaign_daily_limit=None)
    assert check(raised) == Eligible(remaining=5)
    # Lowered below today's count: silently blocked until tomorrow, never an error or a negative allowance.
    lowered = replace(raised, mailbox_daily_limit=20)
    assert remaining_today(lowered) == (-5, Reason.MAILBOX_DAILY_LIMIT)
    assert check(lowered) is Reason.MAILBOX_DAILY_LIMIT
    assert blocked_until(lowered, Reason.MAILBOX_DAILY_LIMIT) == datetime(2026, 6, 11, tzinfo=UTC)


def test_warmup_counts_toward_the_hard_cap_but_not_the_mailbox_limit() -> None:
    busy_warmup = snap(mailbox_daily_limit=100, mailbox_sent_today=10, warmup_sent_today=400)
    assert check(busy_warmup) == Eligible(remaining=25)  # still bound by the campaign-mailbox cap
    full = snap(
        mailbox_daily_limit=500,
        mailbox_sent_today=100,
        warmup_sent_today=400,
        campaign_mailbox_limit=None,
        campaign_daily_limit=None,
    )
    assert check(full) is Reason.HARD_CAP
    assert check(replace(full, warmup_sent_today=399)) == Eligible(remaining=1)


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        ([5, 15], timedelta(minutes=15)),  # inventory 4.3
        ([15, 5, 10], timedelta(minutes=15)),
        ([None, 7], timedelta(minutes=7)),
        ([], timedelta(0)),
        ([None, 0], timedelta(0)),
        ([2.5], timedelta(minutes=2.5)),
    ],
)
def test_pacer_interval_is_the_longest(minutes: list[float | None], expected: timedelta) -> None:
    assert pacer_interval(minutes) == expected


def test_the_pacer_holds_across_campaigns_and_warmup() -> None:
    # A warmup email 10 minutes ago blocks a campaign whose own interval is 5 when another campaign wants 15.
    shared = snap(last_send_at=NOW - timedelta(minutes=10), pacer_interval=pacer_interval([5, 15, None]))
    assert check(shared) is Reason.PACER
    assert blocked_until(shared, Reason.PACER) == NOW + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("changes", "reason", "expected"),
    [
        ({"backoff_until": NOW + timedelta(minutes=5)}, Reason.BACKOFF, NOW + timedelta(minutes=5)),
        ({"host_circuit_open_until": NOW + timedelta(minutes=3)}, Reason.HOST_CIRCUIT_OPEN, NOW + timedelta(minutes=3)),
        ({"last_send_at": NOW - timedelta(minutes=1)}, Reason.PACER, NOW + timedelta(minutes=14)),
        # Campaign caps reset at midnight in the campaign's timezone (decisions.md)...
        (
            {"campaign_sent_today": 50, "campaign_timezone": "America/New_York"},
            Reason.CAMPAIGN_DAILY_LIMIT,
            datetime(2026, 6, 11, 4, 0, tzinfo=UTC),
        ),
        (
            {"campaign_mailbox_sent_today": 30, "campaign_timezone": "Asia/Kolkata"},
            Reason.CAMPAIGN_MAILBOX_LIMIT,
            datetime(2026, 6, 10, 18, 30, tzinfo=UTC),
        ),
        # ... mailbox counters at midnight in the workspace's timezone.
        (
            {"mailbox_sent_today": 100, "workspace_timezone": "Europe/Amsterdam", "campaign_timezone": "Asia/Tokyo"},
            Reason.MAILBOX_DAILY_LIMIT,
            datetime(2026, 6, 10, 22, 0, tzinfo=UTC),
        ),
        ({"recipient_domain_sent_today": 50}, Reason.RECIPIENT_DOMAIN_LIMIT, datetime(2026, 6, 11, tzinfo=UTC)),
        ({"warmup_sent_today": 490}, Reason.HARD_CAP, datetime(2026, 6, 11, tzinfo=UTC)),
        ({"mailbox_status": "error"}, Reason.NOT_CONNECTED, None),
        ({"sending_enabled": False}, Reason.SENDING_DISABLED, None),
        ({"active_on_campaign": False}, Reason.INACTIVE_ON_CAMPAIGN, None),
    ],
)
def test_blocked_until(changes: dict[str, Any], reason: Reason, expected: datetime | None) -> None:
    s = snap(**changes)
    assert check(s) is reason
    assert blocked_until(s, reason) == expected


@pytest.mark.parametrize(
    ("now", "timezone", "key"),
    [
        (datetime(2026, 6, 10, 23, 59, tzinfo=UTC), "UTC", "2026-06-10"),
        (datetime(2026, 6, 11, 0, 0, tzinfo=UTC), "UTC", "2026-06-11"),
        (datetime(2026, 6, 11, 3, 59, tzinfo=UTC), "America/New_York", "2026-06-10"),
        (datetime(2026, 6, 11, 4, 0, tzinfo=UTC), "America/New_York", "2026-06-11"),
        (datetime(2026, 6, 10, 18, 29, tzinfo=UTC), "Asia/Kolkata", "2026-06-10"),
        (datetime(2026, 6, 10, 18, 30, tzinfo=UTC), "Asia/Kolkata", "2026-06-11"),
        (datetime(2026, 1, 10, 23, 0, tzinfo=UTC), "Europe/Amsterdam", "2026-01-11"),
        (datetime(2026, 7, 10, 22, 0, tzinfo=UTC), "Europe/Amsterdam", "2026-07-11"),
        (datetime(2026, 7, 10, 21, 59, tzinfo=UTC), "Europe/Amsterdam", "2026-07-10"),
    ],
)
def test_day_key(now: datetime, timezone: str, key: str) -> None:
    assert day_key(now, timezone) == key


@pytest.mark.parametrize(
    ("now", "timezone", "expected"),
    [
        # The day before spring-forward in New York is 23 hours long, the day before fall-back 25.
        (datetime(2026, 3, 7, 12, 0, tzinfo=UTC), "America/New_York", datetime(2026, 3, 8, 5, 0, tzinfo=UTC)),
        (datetime(2026, 3, 8, 12, 0, tzinfo=UTC), "America/New_York", datetime(2026, 3, 9, 4, 0, tzinfo=UTC)),
        (datetime(2026, 11, 1, 12, 0, tzinfo=UTC), "America/New_York", datetime(2026, 11, 2, 5, 0, tzinfo=UTC)),
        (datetime(2026, 3, 29, 12, 0, tzinfo=UTC), "Europe/Amsterdam", datetime(2026, 3, 29, 22, 0, tzinfo=UTC)),
        # Santiago's DST starts at 00:00 (September 6, 2026): that day begins at 01:00 local = 04:00 UTC.
        (datetime(2026, 9, 5, 12, 0, tzinfo=UTC), "America/Santiago", datetime(2026, 9, 6, 4, 0, tzinfo=UTC)),
    ],
)
def test_next_day_start_across_dst(now: datetime, timezone: str, expected: datetime) -> None:
    assert next_day_start(now, timezone) == expected
    assert day_key(expected, timezone) != day_key(expected - timedelta(seconds=1), timezone)


def test_day_start_and_naive_times_are_refused() -> None:
    assert day_start(datetime(2026, 6, 10).date(), "UTC") == datetime(2026, 6, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        day_key(datetime(2026, 6, 10, 12, 0), "UTC")
