"""Health score (decisions.md formula), bands, rolling window and recompute cadence (inventory 18)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from kindling.warmup.counters import DailyCounters, by_day, total, window_days
from kindling.warmup.health import Band, band_for, health_score, recompute_due, score_counts

TODAY = date(2026, 6, 10)


@pytest.mark.parametrize(
    ("sent", "inbox", "spam", "rescued", "bounced", "score"),
    [
        (0, 0, 0, 0, 0, None),  # no traffic: null, not 100
        (100, 100, 0, 0, 0, 100),
        (100, 0, 0, 0, 0, 50),  # nothing seen anywhere: the whole inbox rate is missing
        (100, 90, 10, 0, 0, 80),  # 100 - (10 * 1.5 + 10 * 0.5)
        (100, 90, 10, 10, 0, 85),  # rescued: counts as inbox placement, still landed in spam
        (100, 95, 0, 0, 5, 83),  # 100 - (5 * 3 + 5 * 0.5) = 82.5, rounded half up
        (100, 80, 0, 0, 20, 30),  # 100 - (60 + 10)
        (100, 0, 100, 0, 0, 0),  # 100 - (150 + 50) clamps at 0
        (3, 2, 1, 0, 0, 33),  # 100 - (33.3 * 1.5 + 33.3 * 0.5)
        (10, 12, 0, 0, 0, 100),  # counters ahead of `sent`: a rate never exceeds 100
        (8, 7, 0, 0, 1, 56),  # 100 - (12.5 * 3 + 12.5 * 0.5) = 56.25
    ],
)
def test_score(sent: int, inbox: int, spam: int, rescued: int, bounced: int, score: int | None) -> None:
    assert score_counts(sent, inbox, spam, rescued, bounced).score == score


def test_rates_are_percentages_of_everything_sent() -> None:
    health = score_counts(sent=200, inbox=150, spam=30, rescued=10, bounced=4)
    assert (health.inbox_rate, health.spam_rate, health.bounce_rate) == (80.0, 15.0, 2.0)
    assert health.sent == 200
    assert health.band == "good"  # 100 - (6 + 22.5 + 10) = 61.5 -> 62


def test_no_traffic_has_no_rates_and_no_band() -> None:
    health = score_counts(0, 0, 0, 0, 0)
    assert (health.score, health.inbox_rate, health.spam_rate, health.bounce_rate, health.band) == (
        None,
        None,
        None,
        None,
        None,
    )


def test_bounces_weigh_most_then_spam_then_missing_inbox_placement() -> None:
    # The same ten emails of a hundred, lost three ways (help center L305).
    bounced = score_counts(100, 90, 0, 0, 10).score
    spam = score_counts(100, 90, 10, 0, 0).score
    missing = score_counts(100, 90, 0, 0, 0).score
    assert bounced is not None and spam is not None and missing is not None
    assert bounced < spam < missing < 100


def test_rescue_raises_the_score() -> None:
    left_in_spam = score_counts(100, 80, 20, 0, 0).score
    rescued = score_counts(100, 80, 20, 20, 0).score
    assert left_in_spam is not None and rescued is not None
    assert rescued > left_in_spam


def test_negative_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        score_counts(10, -1, 0, 0, 0)
    with pytest.raises(ValueError, match="negative"):
        DailyCounters(TODAY, sent=-1)


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (100, "excellent"),
        (80, "excellent"),
        (79, "good"),
        (60, "good"),
        (59, "fair"),
        (40, "fair"),
        (39, "critical"),
        (0, "critical"),
    ],
)
def test_bands(score: int, band: Band) -> None:
    assert band_for(score) == band


@pytest.mark.parametrize("score", [-1, 101])
def test_band_outside_range(score: int) -> None:
    with pytest.raises(ValueError, match="0-100"):
        band_for(score)


@pytest.mark.parametrize(
    ("rows", "score"),
    [
        ([], None),
        # Today and the six days before count.
        ([DailyCounters(TODAY, sent=10, inbox=10)], 100),
        ([DailyCounters(TODAY - timedelta(days=6), sent=10, bounced=10)], 0),
        # The seventh day back is outside the rolling window, and so is a row dated after today.
        ([DailyCounters(TODAY - timedelta(days=7), sent=10, bounced=10)], None),
        ([DailyCounters(TODAY + timedelta(days=1), sent=10, bounced=10)], None),
        (
            [
                DailyCounters(TODAY - timedelta(days=7), sent=50, bounced=50),
                DailyCounters(TODAY - timedelta(days=3), sent=10, inbox=9),
                DailyCounters(TODAY, sent=10, inbox=9, bounced=1),
            ],
            # 20 sent, 18 inbox, 1 bounced: 100 - (5 * 3 + 10 * 0.5) = 80
            80,
        ),
        # Two rows of one day (shards) add up.
        ([DailyCounters(TODAY, sent=5, inbox=5), DailyCounters(TODAY, sent=5, inbox=4, spam=1)], 80),
    ],
)
def test_rolling_seven_day_window(rows: list[DailyCounters], score: int | None) -> None:
    assert health_score(rows, TODAY).score == score


def test_window_helpers() -> None:
    assert window_days(TODAY, 3) == [date(2026, 6, 8), date(2026, 6, 9), date(2026, 6, 10)]
    rows = [DailyCounters(date(2026, 6, 9), sent=2), DailyCounters(date(2026, 6, 9), sent=3, received=1)]
    assert by_day(rows, TODAY, 3) == [
        DailyCounters(date(2026, 6, 8)),
        DailyCounters(date(2026, 6, 9), sent=5, received=1),
        DailyCounters(TODAY),
    ]
    assert total(rows, TODAY, 3) == DailyCounters(TODAY, sent=5, received=1)
    with pytest.raises(ValueError, match="same day"):
        _ = rows[0] + DailyCounters(TODAY)


NOW = datetime(2026, 6, 10, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last", "due"),
    [
        (None, True),
        (NOW - timedelta(hours=6), True),
        (NOW - timedelta(hours=5, minutes=59), False),
        (NOW - timedelta(days=2), True),
        (NOW, False),
    ],
)
def test_recomputed_at_least_every_six_hours(last: datetime | None, due: bool) -> None:
    assert recompute_due(last, NOW) is due
