"""Sending windows at their edges: the campaign fields mapped onto a schedule, the bounds and timezone carried
through every constructor, clamping in zones on both sides of UTC, and the errors a bad schedule gets.

Written against the mutants `make mutate` found alive in kindling.sending.windows (docs/decisions.md,
"Mutation testing"); every expected value is spelled out here, not read from the module.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kindling.sending.windows import Schedule, Window, clamp, in_window, parse_time_of_day, step_due

START = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
END = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
MON_FRI_9_TO_5 = tuple((Window(540, 1020),) if day <= 5 else () for day in range(1, 8))


def local(tz: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(tz)).astimezone(UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("timezone", "start", "end", "days", "expected"),
    [
        # Both unset: all day on Monday-Friday, in UTC when no timezone is given.
        (None, None, None, None, Schedule("UTC", tuple((Window(0, 1440),) if d <= 5 else () for d in range(1, 8)))),
        ("Europe/Paris", None, None, [6], Schedule("Europe/Paris", ((),) * 5 + ((Window(0, 1440),), ()))),
        # A daytime window on the default days.
        (None, "09:00", "17:00", None, Schedule("UTC", MON_FRI_9_TO_5)),
        ("Asia/Tokyo", 9, "17:00", None, Schedule("Asia/Tokyo", MON_FRI_9_TO_5)),
        # Overnight 22:00-00:01 on Monday: the night's last minute belongs to Tuesday morning.
        (None, "22:00", "00:01", [1], Schedule("UTC", ((Window(1320, 1440),), (Window(0, 1),), (), (), (), (), ()))),
        # Overnight ending at midnight: nothing spills into the next day.
        (None, "22:00", "00:00", [1], Schedule("UTC", ((Window(1320, 1440),), (), (), (), (), (), ()))),
        # Sunday night runs into Monday morning.
        (None, "23:00", "02:00", [7], Schedule("UTC", ((Window(0, 120),), (), (), (), (), (), (Window(1380, 1440),)))),
    ],
)
def test_from_campaign_maps_the_api_fields(
    timezone: str | None, start: str | int | None, end: str | None, days: list[int] | None, expected: Schedule
) -> None:
    plain = Schedule.from_campaign(timezone, start, end, days)
    assert plain == expected
    bounded = Schedule.from_campaign(timezone, start, end, days, start_date=START, end_date=END)
    assert (bounded.timezone, bounded.week) == (expected.timezone, expected.week)
    assert (bounded.not_before, bounded.not_after) == (START, END)


def test_every_constructor_keeps_the_bounds_and_the_timezone() -> None:
    assert Schedule.weekly().timezone == "UTC"
    weekly = Schedule.weekly(not_before=START, not_after=END)
    assert (weekly.not_before, weekly.not_after) == (START, END)
    per_day = Schedule.per_day("UTC", {1: [Window(0, 60)]}, not_before=START, not_after=END)
    assert (per_day.not_before, per_day.not_after) == (START, END)
    assert per_day.week[0] == (Window(0, 60),)


def test_a_window_may_end_at_midnight_but_not_start_there() -> None:
    assert Window.parse("22:00", "24:00") == Window(1320, 1440)
    assert Window.parse(22, 24) == Window(1320, 1440)
    assert parse_time_of_day("24:00", allow_end_of_day=True) == 1440
    with pytest.raises(ValueError, match=re.escape("time of day out of range: '24:00'")):
        parse_time_of_day("24:00")


@pytest.mark.parametrize("value", ["25:00", "99", 25, "24:01", -1])
def test_times_past_the_end_of_the_day_are_refused(value: str | int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_time_of_day(value, allow_end_of_day=True)


@pytest.mark.parametrize(("hours", "expected"), [(0, timedelta(0)), (0.5, timedelta(minutes=30)), (None, timedelta(0))])
def test_step_due_accepts_zero_and_fractional_hours(hours: float | None, expected: timedelta) -> None:
    previous = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    assert step_due(previous, 0, hours, "UTC") == previous + expected


def test_clamp_counts_days_on_the_campaigns_clock_west_of_utc() -> None:
    # 18:00 in Los Angeles is 01:00 UTC the next day; with no day to scan beyond today, the answer is tonight's
    # 20:00 window, on the local date, whatever the UTC date says.
    schedule = Schedule.weekly("America/Los_Angeles", range(1, 8), (Window(1200, 1260),))
    when = local("America/Los_Angeles", 2026, 6, 11, 18, 0)
    assert clamp(when, schedule, scan_days=0) == local("America/Los_Angeles", 2026, 6, 11, 20, 0)


def test_clamp_counts_days_on_the_campaigns_clock_east_of_utc() -> None:
    # 05:00 in Tokyo is 20:00 UTC the day before: today's 09:00 window is found.
    schedule = Schedule.weekly("Asia/Tokyo", range(1, 8), (Window(540, 600),))
    when = local("Asia/Tokyo", 2026, 6, 11, 5, 0)
    assert clamp(when, schedule, scan_days=0) == local("Asia/Tokyo", 2026, 6, 11, 9, 0)


@pytest.mark.parametrize("seconds", [0, 7])  # the search for the jump starts from `when`: both land on it exactly
def test_a_window_opening_in_the_spring_gap_on_the_last_scanned_day_opens_at_the_jump(seconds: int) -> None:
    # New York skips 02:00-03:00 on Sunday 8 March 2026 (07:00 UTC). A Sunday-only window from 02:30 opens at the
    # jump, exactly 03:00 EDT = 07:00:00 UTC, found even when that Sunday is the last day scanned (1 + 7 days).
    schedule = Schedule.weekly("America/New_York", [7], (Window(150, 240),))
    when = local("America/New_York", 2026, 3, 1, 5, 0) + timedelta(seconds=seconds)  # Sunday 1 March, after its window
    assert clamp(when, schedule, scan_days=7) == datetime(2026, 3, 8, 7, 0, 0, tzinfo=UTC)
    assert clamp(when, schedule, scan_days=6) is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_time_of_day(True), "a time of day is an hour or 'HH:MM'"),
        (lambda: step_due(START, -1, None, "UTC"), "delays cannot be negative"),
        (lambda: step_due(START, 0, -0.5, "UTC"), "delays cannot be negative"),
        (lambda: Schedule("UTC", ((),) * 6), "a schedule has exactly seven days"),
        (lambda: Schedule("UTC", ((),) * 7, datetime(2026, 6, 1)), "startDate/endDate must be aware datetimes"),
        (lambda: Schedule("UTC", ((),) * 7, None, datetime(2026, 6, 1)), "startDate/endDate must be aware datetimes"),
        (
            lambda: Schedule.from_campaign(None, "09:00", None, None),
            "sendingWindowStart and sendingWindowEnd are set together",
        ),
        (
            lambda: Schedule.from_campaign(None, None, "17:00", None),
            "sendingWindowStart and sendingWindowEnd are set together",
        ),
        (
            lambda: Schedule.from_campaign(None, "09:00", "09:00", None),
            "sendingWindowStart and sendingWindowEnd must differ",
        ),
        (lambda: clamp(datetime(2026, 6, 1), Schedule()), "an aware datetime is required"),
        (lambda: in_window(datetime(2026, 6, 1), Schedule()), "an aware datetime is required"),
    ],
)
def test_a_bad_schedule_gets_a_clear_message(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()  # type: ignore[operator]
