"""Today's warmup plan: count, hard cap, window in the mailbox's timezone, pacer spacing, jitter."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kindling.warmup.planner import (
    SendPlan,
    WarmupWindow,
    day_bounds,
    plan_rng,
    plan_sends,
    window_intervals,
)

DAY = date(2026, 6, 10)
DAY_START, DAY_END = day_bounds(DAY, "UTC")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def plan(
    *,
    limit: int = 10,
    warmup_sent: int = 0,
    campaign_sent: int = 0,
    window: WarmupWindow | None = None,
    now: datetime | None = None,
    pacer: timedelta = timedelta(0),
    last_sent_at: datetime | None = None,
    seed: int = 7,
    rng: random.Random | None = None,
    day_start: datetime = DAY_START,
    day_end: datetime = DAY_END,
) -> SendPlan:
    return plan_sends(
        limit=limit,
        warmup_sent_today=warmup_sent,
        campaign_sent_today=campaign_sent,
        window=window or WarmupWindow(),
        day_start=day_start,
        day_end=day_end,
        now=now or day_start,
        pacer_interval=pacer,
        last_sent_at=last_sent_at,
        rng=rng or random.Random(seed),
    )


@pytest.mark.parametrize(
    ("day", "timezone", "start", "hours"),
    [
        (DAY, "UTC", utc(2026, 6, 10), 24),
        (DAY, "Asia/Kolkata", utc(2026, 6, 9, 18, 30), 24),
        (DAY, "America/New_York", utc(2026, 6, 10, 4), 24),
        (date(2026, 3, 8), "America/New_York", utc(2026, 3, 8, 5), 23),  # spring forward
        (date(2026, 10, 25), "Europe/London", utc(2026, 10, 24, 23), 25),  # clocks go back
    ],
)
def test_day_bounds(day: date, timezone: str, start: datetime, hours: int) -> None:
    lo, hi = day_bounds(day, timezone)
    assert lo == start
    assert hi - lo == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("window", "day", "day_tz", "expected"),
    [
        (WarmupWindow(), DAY, "UTC", [(utc(2026, 6, 10), utc(2026, 6, 11))]),
        # 9-17 in New York (EDT, UTC-4) on a UTC day.
        (WarmupWindow(9, 17, "America/New_York"), DAY, "UTC", [(utc(2026, 6, 10, 13), utc(2026, 6, 10, 21))]),
        # 9-17 in Kolkata (UTC+5:30).
        (WarmupWindow(9, 17, "Asia/Kolkata"), DAY, "UTC", [(utc(2026, 6, 10, 3, 30), utc(2026, 6, 10, 11, 30))]),
        # Overnight 22-06 in London (BST, UTC+1): the end of last night and the start of tonight.
        (
            WarmupWindow(22, 6, "Europe/London"),
            DAY,
            "UTC",
            [(utc(2026, 6, 10), utc(2026, 6, 10, 5)), (utc(2026, 6, 10, 21), utc(2026, 6, 11))],
        ),
        # All day in the window's own timezone over a day of that timezone that has 23 hours.
        (
            WarmupWindow(0, 24, "America/New_York"),
            date(2026, 3, 8),
            "America/New_York",
            [(utc(2026, 3, 8, 5), utc(2026, 3, 9, 4))],
        ),
        # A window in Tokyo over a UTC day: 08-20 JST = 23:00 (day before) to 11:00 UTC, then 23:00 again.
        (
            WarmupWindow(8, 20, "Asia/Tokyo"),
            DAY,
            "UTC",
            [(utc(2026, 6, 10), utc(2026, 6, 10, 11)), (utc(2026, 6, 10, 23), utc(2026, 6, 11))],
        ),
    ],
)
def test_window_intervals(
    window: WarmupWindow, day: date, day_tz: str, expected: list[tuple[datetime, datetime]]
) -> None:
    assert window_intervals(window, *day_bounds(day, day_tz)) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_hour": 24}, "window hours"),
        ({"end_hour": 0}, "window hours"),
        ({"start_hour": 5, "end_hour": 5}, "empty window"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone"),
    ],
)
def test_invalid_windows(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WarmupWindow(**kwargs)  # type: ignore[arg-type]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        window_intervals(WarmupWindow(), datetime(2026, 6, 10), datetime(2026, 6, 11))


def test_sends_are_spread_one_per_equal_slot_over_the_whole_day() -> None:
    result = plan(limit=10)
    assert result.count == 10
    assert result.limited_by is None
    slot = timedelta(days=1) / 10
    for index, when in enumerate(result.times):
        assert DAY_START + index * slot <= when < DAY_START + (index + 1) * slot
        assert when.microsecond == 0
        assert when.tzinfo is not None


@pytest.mark.parametrize(
    ("limit", "warmup_sent", "campaign_sent", "count", "remaining", "limited_by"),
    [
        (10, 0, 0, 10, 10, None),
        (10, 4, 0, 6, 6, None),
        (10, 10, 0, 0, 0, None),
        (10, 12, 0, 0, 0, None),  # the limit was lowered below today's count: nothing more, no error
        (0, 0, 0, 0, 0, None),
        (10, 0, 495, 5, 10, "daily_hard_cap"),  # 500/day counts campaign sends too
        (20, 8, 490, 2, 12, "daily_hard_cap"),
        (10, 0, 500, 0, 10, "daily_hard_cap"),  # 500 a day, campaigns and warmup (inventory 3.2)
        (10, 0, 600, 0, 10, "daily_hard_cap"),
        (10, 0, 490, 10, 10, None),
    ],
)
def test_count(
    limit: int, warmup_sent: int, campaign_sent: int, count: int, remaining: int, limited_by: str | None
) -> None:
    result = plan(limit=limit, warmup_sent=warmup_sent, campaign_sent=campaign_sent)
    assert (result.count, result.remaining, result.limited_by) == (count, remaining, limited_by)


def test_a_plan_made_mid_day_uses_only_the_rest_of_the_day() -> None:
    now = utc(2026, 6, 10, 18, 0, 0) + timedelta(microseconds=250)
    result = plan(limit=12, now=now)
    assert result.count == 12
    assert all(now < when < DAY_END for when in result.times)


def test_the_first_send_waits_for_the_pacer_after_the_last_send() -> None:
    last = utc(2026, 6, 10, 23, 0)
    result = plan(limit=5, now=utc(2026, 6, 10, 22), pacer=timedelta(minutes=10), last_sent_at=last)
    assert result.count == 5
    assert min(result.times) >= last + timedelta(minutes=10)


@pytest.mark.parametrize(
    ("window", "pacer", "limit", "count", "limited_by"),
    [
        # One hour at a 20-minute pacer holds 3 sends.
        (WarmupWindow(9, 10, "Europe/Berlin"), timedelta(minutes=20), 40, 3, "window"),
        (WarmupWindow(9, 10, "Europe/Berlin"), timedelta(minutes=20), 3, 3, None),
        (WarmupWindow(9, 10, "Europe/Berlin"), timedelta(minutes=61), 3, 0, "window"),
        # A whole day at 15 minutes holds 96.
        (WarmupWindow(), timedelta(minutes=15), 150, 96, "window"),
        (WarmupWindow(), timedelta(minutes=15), 96, 96, None),
    ],
)
def test_the_window_at_the_pacer_interval_bounds_the_count(
    window: WarmupWindow, pacer: timedelta, limit: int, count: int, limited_by: str | None
) -> None:
    result = plan(limit=limit, window=window, pacer=pacer)
    assert (result.count, result.limited_by) == (count, limited_by)


def test_nothing_is_planned_after_the_window_has_closed() -> None:
    result = plan(limit=5, window=WarmupWindow(9, 17, "UTC"), now=utc(2026, 6, 10, 17, 0))
    assert (result.count, result.remaining, result.limited_by) == (0, 5, "window")


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize(
    ("window", "pacer", "limit"),
    [
        (WarmupWindow(9, 17, "America/New_York"), timedelta(minutes=7), 40),
        (WarmupWindow(22, 6, "Europe/London"), timedelta(minutes=11), 40),
        (WarmupWindow(), timedelta(minutes=30), 48),  # exactly fills the day: evenly spaced
        (WarmupWindow(8, 20, "Asia/Tokyo"), timedelta(seconds=1), 30),
    ],
)
def test_every_send_is_inside_the_window_and_respects_the_pacer(
    seed: int, window: WarmupWindow, pacer: timedelta, limit: int
) -> None:
    result = plan(limit=limit, window=window, pacer=pacer, seed=seed)
    assert result.count == limit
    assert list(result.times) == sorted(result.times)
    for earlier, later in itertools.pairwise(result.times):
        assert later - earlier >= pacer
    zone = ZoneInfo(window.timezone)
    for when in result.times:
        assert DAY_START <= when < DAY_END
        hour = when.astimezone(zone).hour
        if window.start_hour < window.end_hour:
            assert window.start_hour <= hour < window.end_hour
        else:
            assert hour >= window.start_hour or hour < window.end_hour


def test_a_full_day_at_the_pacer_is_evenly_spaced() -> None:
    result = plan(limit=48, pacer=timedelta(minutes=30), seed=3)
    assert result.times == tuple(DAY_START + index * timedelta(minutes=30) for index in range(48))


def test_jitter_varies_with_the_seed_and_the_plan_is_reproducible() -> None:
    first = plan(limit=20, pacer=timedelta(minutes=5), rng=plan_rng("mbx_1", DAY))
    again = plan(limit=20, pacer=timedelta(minutes=5), rng=plan_rng("mbx_1", DAY))
    other_mailbox = plan(limit=20, pacer=timedelta(minutes=5), rng=plan_rng("mbx_2", DAY))
    other_day = plan(limit=20, pacer=timedelta(minutes=5), rng=plan_rng("mbx_1", DAY + timedelta(days=1)))
    assert first == again
    assert first.times != other_mailbox.times
    assert first.times != other_day.times
    # Not a fixed grid: gaps differ from send to send.
    gaps = {later - earlier for earlier, later in itertools.pairwise(first.times)}
    assert len(gaps) > 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": -1}, "negative"),
        ({"warmup_sent": -1}, "negative"),
        ({"campaign_sent": -1}, "negative"),
        ({"pacer": timedelta(seconds=-1)}, "pacer"),
    ],
)
def test_invalid_plan_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan(**kwargs)  # type: ignore[arg-type]
