"""Effective daily limit and its reason, and the stats/series computed from daily counter rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from kindling.warmup.counters import DailyCounters
from kindling.warmup.ramp import RampState
from kindling.warmup.stats import DailyPoint, EffectiveLimit, compute_stats, effective_daily_limit

TODAY = date(2026, 6, 10)


@pytest.mark.parametrize(
    ("enabled", "connected", "target", "state", "campaign_sent", "expected"),
    [
        (False, True, 50, RampState("maintenance"), 0, EffectiveLimit(0, "warmup_disabled")),
        (True, False, 50, RampState("maintenance"), 0, EffectiveLimit(0, "mailbox_not_connected")),
        (False, False, 50, RampState("maintenance"), 0, EffectiveLimit(0, "warmup_disabled")),
        # The target binds: no reason (the reference's example shape).
        (True, True, 10, RampState("new_domain", ramp_day=21), 0, EffectiveLimit(10, None)),
        (True, True, 18, RampState("new_domain", ramp_day=21), 0, EffectiveLimit(18, None)),  # a tie: the target
        # The strategy binds.
        (True, True, 50, RampState("new_domain", ramp_day=1), 0, EffectiveLimit(1, "ramp_up")),
        (True, True, 50, RampState("new_mailbox", ramp_day=30), 0, EffectiveLimit(30, "ramp_up")),
        (True, True, 50, RampState("maintenance", maintenance_day=8), 0, EffectiveLimit(30, "maintenance")),
        (True, True, 50, RampState("maintenance"), 0, EffectiveLimit(15, "maintenance")),
        (
            True,
            True,
            50,
            RampState("recovery", ramp_day=21, resume_strategy="new_mailbox"),
            0,
            EffectiveLimit(9, "recovery_mode"),
        ),
        # The 500/day hard cap minus today's campaign sends binds.
        (True, True, 50, RampState("maintenance", maintenance_day=8), 495, EffectiveLimit(5, "daily_hard_cap")),
        (True, True, 50, RampState("maintenance", maintenance_day=8), 470, EffectiveLimit(30, "maintenance")),
        (True, True, 50, RampState("maintenance", maintenance_day=8), 600, EffectiveLimit(0, "daily_hard_cap")),
        (True, True, 0, RampState("maintenance"), 0, EffectiveLimit(0, None)),
    ],
)
def test_effective_daily_limit(
    enabled: bool, connected: bool, target: int, state: RampState, campaign_sent: int, expected: EffectiveLimit
) -> None:
    assert (
        effective_daily_limit(
            warmup_enabled=enabled,
            connected=connected,
            target=target,
            state=state,
            campaign_sent_today=campaign_sent,
        )
        == expected
    )


def day(offset: int, **counts: int) -> DailyCounters:
    return DailyCounters(TODAY - timedelta(days=offset), **counts)


def test_stats_from_a_week_of_counters() -> None:
    rows = [
        day(0, sent=10, received=9, inbox=8, spam=2, rescued=2),
        day(0, sent=2, received=1, inbox=2),  # a second row of today (a shard) adds up
        day(2, sent=8, received=8, inbox=7, bounced=1),
        day(6, sent=5, received=4, inbox=3, spam=2, rescued=1),
        day(7, sent=100, received=100, bounced=100),  # outside the 7 days
        day(-1, sent=100, bounced=100),  # tomorrow's row (clock skew): ignored
    ]
    last = datetime(2026, 6, 10, 9, 12, tzinfo=UTC)
    stats = compute_stats(reversed(rows), TODAY, last_sent_at=last)
    assert (stats.sent_today, stats.received_today) == (12, 10)
    assert (stats.sent_7d, stats.received_7d) == (25, 22)
    # 25 sent: inbox 20 + rescued 3 = 92%, spam 16%, bounces 4%:
    # 100 - (12 + 24 + 4) = 60
    assert (stats.inbox_rate, stats.spam_rate, stats.bounce_rate, stats.reputation_score) == (92, 16, 4, 60)
    assert stats.saved_from_spam == 3
    assert stats.last_sent_at == last
    assert [point.day for point in stats.daily] == [TODAY - timedelta(days=n) for n in range(6, -1, -1)]
    assert [point.sent for point in stats.daily] == [5, 0, 0, 0, 8, 0, 12]
    assert [point.spam_count for point in stats.daily] == [2, 0, 0, 0, 0, 0, 2]
    assert stats.daily[-1] == DailyPoint(TODAY, 12, 10, 10, 2, 2, 0)
    assert stats.daily[0].as_dict() == {
        "date": "2026-06-04",
        "sent": 5,
        "received": 4,
        "inbox_count": 3,
        "spam_count": 2,
        "saved_from_spam": 1,
        "bounced": 0,
    }


def test_stats_without_traffic_have_null_rates_and_a_zero_series() -> None:
    stats = compute_stats([day(3, received=4)], TODAY)
    assert (stats.reputation_score, stats.inbox_rate, stats.spam_rate, stats.bounce_rate) == (None, None, None, None)
    assert (stats.sent_today, stats.received_today, stats.received_7d, stats.saved_from_spam) == (0, 0, 4, 0)
    assert len(stats.daily) == 7
    assert all(point.sent == 0 for point in stats.daily)


@pytest.mark.parametrize(
    ("sent", "inbox", "spam", "inbox_rate", "spam_rate"),
    [
        (8, 7, 1, 88, 13),  # 87.5 and 12.5 round half up
        (3, 2, 1, 67, 33),
        (200, 199, 1, 100, 1),  # 99.5 -> 100, 0.5 -> 1
        (1000, 996, 4, 100, 0),  # 99.6 -> 100, 0.4 -> 0
    ],
)
def test_rates_are_whole_percentages(sent: int, inbox: int, spam: int, inbox_rate: int, spam_rate: int) -> None:
    stats = compute_stats([day(0, sent=sent, inbox=inbox, spam=spam)], TODAY)
    assert (stats.inbox_rate, stats.spam_rate) == (inbox_rate, spam_rate)
