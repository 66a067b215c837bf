"""Sending windows and the next send time (inventory 6.3-6.5, 6.8, 10.2-10.3), DST included."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kindling.sending.windows import (
    ALL_DAY,
    JITTER_MAX_SECONDS,
    JITTER_MIN_SECONDS,
    Schedule,
    Window,
    add_local_days,
    clamp,
    in_window,
    jitter,
    next_send_time,
    normalize_days,
    parse_time_of_day,
    reschedule_without_mailbox,
    step_due,
)

NY = "America/New_York"
AMS = "Europe/Amsterdam"
EVERY_DAY = (1, 2, 3, 4, 5, 6, 7)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(tz: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A local wall-clock time (the first of a repeated one) as a UTC instant."""
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(tz)).astimezone(UTC)


NY_OFFICE = Schedule.weekly(NY, (1, 2, 3, 4, 5), (Window.parse("09:00", "17:00"),))
# 2026-06-10 is a Wednesday; 2026-06-12 a Friday.


@pytest.mark.parametrize(
    ("when", "schedule", "expected"),
    [
        (local(NY, 2026, 6, 10, 9, 0), NY_OFFICE, True),  # the opening minute is in
        (local(NY, 2026, 6, 10, 8, 59, 59), NY_OFFICE, False),
        (local(NY, 2026, 6, 10, 16, 59, 59), NY_OFFICE, True),
        (local(NY, 2026, 6, 10, 17, 0), NY_OFFICE, False),  # the end is exclusive
        (local(NY, 2026, 6, 13, 12, 0), NY_OFFICE, False),  # Saturday
        (local(NY, 2026, 6, 14, 12, 0), NY_OFFICE, False),  # Sunday
        (utc(2026, 6, 10, 14, 0), Schedule.weekly("UTC", (3,), (ALL_DAY,)), True),
        (utc(2026, 6, 10, 23, 59, 59), Schedule.weekly("UTC", (3,), (ALL_DAY,)), True),
        (utc(2026, 6, 11, 0, 0), Schedule.weekly("UTC", (3,), (ALL_DAY,)), False),
        # Wednesday 02:00 UTC is still Tuesday 22:00 in New York.
        (utc(2026, 6, 10, 2, 0), Schedule.weekly(NY, (3,), (ALL_DAY,)), False),
        (utc(2026, 6, 10, 2, 0), Schedule.weekly(NY, (2,), (ALL_DAY,)), True),
        # startDate / endDate bound the schedule too.
        (local(NY, 2026, 6, 10, 12, 0), Schedule.weekly(NY, windows=(ALL_DAY,), not_before=utc(2026, 6, 11)), False),
        (local(NY, 2026, 6, 10, 12, 0), Schedule.weekly(NY, windows=(ALL_DAY,), not_after=utc(2026, 6, 10, 17)), True),
        (utc(2026, 6, 10, 15, 59, 59), Schedule.weekly(NY, windows=(ALL_DAY,), not_after=utc(2026, 6, 10, 16)), True),
        (utc(2026, 6, 10, 16, 0), Schedule.weekly(NY, windows=(ALL_DAY,), not_after=utc(2026, 6, 10, 16, 0)), False),
        # Fall-back (NY 2026-11-01): 01:30 happens twice and both are inside a 01:00-02:00 window.
        (utc(2026, 11, 1, 5, 30), Schedule.weekly(NY, EVERY_DAY, (Window.parse("01:00", "02:00"),)), True),
        (utc(2026, 11, 1, 6, 30), Schedule.weekly(NY, EVERY_DAY, (Window.parse("01:00", "02:00"),)), True),
        (utc(2026, 11, 1, 7, 0), Schedule.weekly(NY, EVERY_DAY, (Window.parse("01:00", "02:00"),)), False),
        # Spring-forward (Amsterdam 2026-03-29): 01:59:59 UTC is 03:59:59 CEST.
        (utc(2026, 3, 29, 0, 59, 59), Schedule.weekly(AMS, EVERY_DAY, (Window.parse("02:00", "03:00"),)), False),
        (utc(2026, 3, 29, 1, 0), Schedule.weekly(AMS, EVERY_DAY, (Window.parse("03:00", "04:00"),)), True),
    ],
)
def test_in_window(when: datetime, schedule: Schedule, expected: bool) -> None:
    assert in_window(when, schedule) is expected


SPLIT_DAYS = Schedule.per_day(
    "UTC",
    {1: [Window.parse("09:00", "12:00"), Window.parse("14:00", "17:00")], 2: [Window.parse("10:00", "11:00")]},
)


@pytest.mark.parametrize(
    ("when", "schedule", "expected"),
    [
        # inside: unchanged
        (local(NY, 2026, 6, 10, 10, 15, 7), NY_OFFICE, local(NY, 2026, 6, 10, 10, 15, 7)),
        # before the window: today's opening
        (local(NY, 2026, 6, 10, 6, 0), NY_OFFICE, local(NY, 2026, 6, 10, 9, 0)),
        # after it: tomorrow's opening
        (local(NY, 2026, 6, 10, 17, 0), NY_OFFICE, local(NY, 2026, 6, 11, 9, 0)),
        # Friday evening and the weekend: Monday
        (local(NY, 2026, 6, 12, 18, 0), NY_OFFICE, local(NY, 2026, 6, 15, 9, 0)),
        (local(NY, 2026, 6, 13, 11, 0), NY_OFFICE, local(NY, 2026, 6, 15, 9, 0)),
        # several windows a day, different per day
        (utc(2026, 6, 8, 12, 30), SPLIT_DAYS, utc(2026, 6, 8, 14, 0)),  # Monday lunch -> afternoon window
        (utc(2026, 6, 8, 17, 30), SPLIT_DAYS, utc(2026, 6, 9, 10, 0)),  # Monday evening -> Tuesday 10:00
        (utc(2026, 6, 9, 11, 0), SPLIT_DAYS, utc(2026, 6, 15, 9, 0)),  # Tuesday after 11:00 -> next Monday
        (utc(2026, 6, 10, 9, 0), SPLIT_DAYS, utc(2026, 6, 15, 9, 0)),  # days without windows are inactive
        # New York spring-forward, 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC), every day active
        (
            utc(2026, 3, 8, 5, 0),
            Schedule.weekly(NY, EVERY_DAY, (Window.parse("09:00", "17:00"),)),
            utc(2026, 3, 8, 13, 0),
        ),  # 09:00 EDT
        (
            utc(2026, 3, 8, 5, 0),
            Schedule.weekly(NY, EVERY_DAY, (Window.parse("02:30", "04:00"),)),
            utc(2026, 3, 8, 7, 0),
        ),  # a window opening in the gap opens at the jump (03:00 EDT)
        (
            utc(2026, 3, 8, 5, 0),
            Schedule.weekly(NY, EVERY_DAY, (Window.parse("02:00", "02:45"),)),
            utc(2026, 3, 9, 6, 0),
        ),  # a window wholly inside the gap does not happen that day
        (
            utc(2026, 3, 7, 14, 0),
            Schedule.weekly(NY, EVERY_DAY, (Window.parse("09:00", "17:00"),)),
            utc(2026, 3, 7, 14, 0),
        ),
        # New York fall-back, 2026-11-01 02:00 EDT -> 01:00 EST (06:00 UTC)
        (
            utc(2026, 11, 1, 5, 40),
            Schedule.weekly(NY, EVERY_DAY, (Window.parse("01:30", "01:45"),)),
            utc(2026, 11, 1, 5, 40),
        ),  # first pass, 01:40 EDT
        (
            utc(2026, 11, 1, 5, 50),
            Schedule.weekly(NY, EVERY_DAY, (Window.parse("01:30", "01:45"),)),
            utc(2026, 11, 1, 6, 30),
        ),  # missed the first pass: the repeated 01:30 (EST) reopens it
        (
            utc(2026, 11, 1, 6, 50),
            Schedule.weekly(NY, EVERY_DAY, (Window.parse("01:30", "01:45"),)),
            utc(2026, 11, 2, 6, 30),
        ),
        (
            utc(2026, 11, 1, 0, 0),
            Schedule.weekly(NY, EVERY_DAY, (Window.parse("09:00", "17:00"),)),
            utc(2026, 11, 1, 14, 0),
        ),  # 09:00 EST
        # Amsterdam: spring-forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00 UTC)
        (
            utc(2026, 3, 28, 23, 0),
            Schedule.weekly(AMS, EVERY_DAY, (Window.parse("02:00", "03:30"),)),
            utc(2026, 3, 29, 1, 0),
        ),  # opens at the jump, 03:00 CEST
        (
            utc(2026, 3, 28, 23, 0),
            Schedule.weekly(AMS, EVERY_DAY, (Window.parse("09:00", "17:00"),)),
            utc(2026, 3, 29, 7, 0),
        ),  # 09:00 CEST
        # Amsterdam: fall-back 2026-10-25 03:00 CEST -> 02:00 CET (01:00 UTC)
        (
            utc(2026, 10, 25, 0, 45),
            Schedule.weekly(AMS, EVERY_DAY, (Window.parse("02:30", "02:40"),)),
            utc(2026, 10, 25, 1, 30),
        ),  # after the first 02:40, the second 02:30 (CET)
        (
            utc(2026, 10, 24, 20, 0),
            Schedule.weekly(AMS, EVERY_DAY, (Window.parse("09:00", "17:00"),)),
            utc(2026, 10, 25, 8, 0),
        ),  # 09:00 CET
        # startDate in the future: not before it, and inside the schedule
        (
            local(NY, 2026, 6, 10, 10, 0),
            Schedule.weekly(
                NY, (1, 2, 3, 4, 5), (Window.parse("09:00", "17:00"),), not_before=local(NY, 2026, 6, 12, 11)
            ),
            local(NY, 2026, 6, 12, 11, 0),
        ),
        (
            local(NY, 2026, 6, 10, 10, 0),
            Schedule.weekly(
                NY, (1, 2, 3, 4, 5), (Window.parse("09:00", "17:00"),), not_before=local(NY, 2026, 6, 12, 20)
            ),
            local(NY, 2026, 6, 15, 9, 0),
        ),
    ],
)
def test_clamp(when: datetime, schedule: Schedule, expected: datetime) -> None:
    assert clamp(when, schedule) == expected


@pytest.mark.parametrize(
    ("when", "schedule", "scan_days"),
    [
        (utc(2026, 6, 10), Schedule.weekly("UTC", (), (ALL_DAY,)), 8),  # no active day at all
        (utc(2026, 6, 10), Schedule.per_day("UTC", {}), 8),
        (utc(2026, 6, 9, 12), Schedule.weekly("UTC", (1,), (ALL_DAY,)), 5),  # Tuesday: Monday is 6 days out
        # endDate before the next slot: the campaign has ended for this prospect
        (
            local(NY, 2026, 6, 12, 18),
            Schedule.weekly(NY, windows=(Window.parse("09:00", "17:00"),), not_after=local(NY, 2026, 6, 15, 8)),
            8,
        ),
        (utc(2026, 6, 10, 12), Schedule.weekly("UTC", EVERY_DAY, (ALL_DAY,), not_after=utc(2026, 6, 10, 12)), 8),
    ],
)
def test_clamp_finds_no_slot(when: datetime, schedule: Schedule, scan_days: int) -> None:
    assert clamp(when, schedule, scan_days=scan_days) is None


def test_clamp_scans_eight_days_ahead() -> None:
    monday_only = Schedule.weekly("UTC", (1,), (Window.parse("09:00", "10:00"),))
    tuesday_noon = utc(2026, 6, 9, 12)
    assert clamp(tuesday_noon, monday_only) == utc(2026, 6, 15, 9, 0)
    assert clamp(tuesday_noon, monday_only, scan_days=6) == utc(2026, 6, 15, 9, 0)
    assert clamp(tuesday_noon, monday_only, scan_days=5) is None


TIMEZONES = [NY, AMS, "UTC", "Asia/Kolkata", "Australia/Lord_Howe", "America/Santiago", "Pacific/Chatham"]


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    by_day: dict[int, list[Window]] = {}
    for day in draw(st.sets(st.integers(1, 7), max_size=7)):
        cut = sorted(draw(st.sets(st.integers(0, 1440), min_size=2, max_size=4)))
        by_day[day] = [Window(a, b) for a, b in zip(cut[::2], cut[1::2], strict=False)]
    return Schedule.per_day(draw(st.sampled_from(TIMEZONES)), by_day)


# Spans every 2026 DST transition of the zones above; half the draws land within two days of one.
TRANSITIONS_2026 = {
    NY: (utc(2026, 3, 8, 7), utc(2026, 11, 1, 6)),
    AMS: (utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)),
    "Australia/Lord_Howe": (utc(2026, 4, 4, 15), utc(2026, 10, 3, 15, 30)),  # 30-minute shifts
    "America/Santiago": (utc(2026, 4, 5, 3), utc(2026, 9, 6, 4)),  # shifts at midnight
    "Pacific/Chatham": (utc(2026, 4, 4, 14), utc(2026, 9, 26, 14)),
}
instants = st.one_of(
    st.integers(int(utc(2026, 1, 1).timestamp()), int(utc(2027, 1, 1).timestamp())).map(
        lambda ts: datetime.fromtimestamp(ts, UTC)
    ),
    st.builds(
        lambda at, seconds: at + timedelta(seconds=seconds),
        st.sampled_from([at for pair in TRANSITIONS_2026.values() for at in pair]),
        st.integers(-2 * 86400, 2 * 86400),
    ),
)


@settings(max_examples=60, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(when=instants, schedule=schedules())
def test_clamp_only_defers_to_the_earliest_legal_instant(when: datetime, schedule: Schedule) -> None:
    slot = clamp(when, schedule)
    horizon = slot if slot is not None else when + timedelta(days=8)
    # Windows open on whole minutes and DST moves whole minutes: checking `when` and every minute after it is
    # exhaustive.
    probe = when.replace(second=0) + timedelta(minutes=1)
    if in_window(when, schedule):
        assert slot == when
        return
    while probe < horizon:
        assert not in_window(probe, schedule), (when, schedule, probe, slot)
        probe += timedelta(minutes=1)
    if slot is not None:
        assert slot >= when
        assert in_window(slot, schedule)


@pytest.mark.parametrize(
    ("start", "end", "days", "when", "inside"),
    [
        # Overnight windows: 22:00-06:00 on Mon-Fri nights (the early hours belong to the night's start day).
        ("22:00", "06:00", [1, 2, 3, 4, 5], utc(2026, 6, 8, 23, 0), True),  # Monday 23:00
        ("22:00", "06:00", [1, 2, 3, 4, 5], utc(2026, 6, 9, 3, 0), True),  # Tuesday 03:00 (Monday night)
        ("22:00", "06:00", [1, 2, 3, 4, 5], utc(2026, 6, 8, 3, 0), False),  # Monday 03:00 (Sunday night)
        ("22:00", "06:00", [1, 2, 3, 4, 5], utc(2026, 6, 13, 5, 59), True),  # Saturday 05:59 (Friday night)
        ("22:00", "06:00", [1, 2, 3, 4, 5], utc(2026, 6, 13, 6, 0), False),
        ("22:00", "06:00", [1, 2, 3, 4, 5], utc(2026, 6, 13, 22, 0), False),  # Saturday night is off
        ("22:00", "06:00", [6, 7], utc(2026, 6, 8, 5, 0), True),  # Monday 05:00 (Sunday night), 0 = 7
        ("22:00", "24:00", [1], utc(2026, 6, 8, 23, 59), True),
        ("22:00", "00:00", [1], utc(2026, 6, 8, 23, 59), True),  # 00:00 as an end means midnight
        ("22:00", "00:00", [1], utc(2026, 6, 9, 0, 0), False),
        (9, 17, [3], utc(2026, 6, 10, 16, 59), True),  # hours as integers
        ("9", "17:30", [3], utc(2026, 6, 10, 17, 29), True),
    ],
)
def test_from_campaign_windows(start: str | int, end: str | int, days: list[int], when: datetime, inside: bool) -> None:
    assert in_window(when, Schedule.from_campaign("UTC", start, end, days)) is inside


def test_from_campaign_defaults() -> None:
    schedule = Schedule.from_campaign(None, None, None, None)
    assert schedule.timezone == "UTC"
    assert [bool(schedule.windows_on(d)) for d in range(1, 8)] == [True] * 5 + [False] * 2  # Mon-Fri
    assert schedule.windows_on(1) == (ALL_DAY,)
    sunday = Schedule.from_campaign("UTC", None, None, [0])
    assert sunday.windows_on(7) == (ALL_DAY,)
    assert clamp(utc(2026, 6, 13, 12), Schedule.from_campaign(NY, None, None, None)) == local(NY, 2026, 6, 15, 0, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus", "window_start": None, "window_end": None, "schedule_days": None}, "timezone"),
        ({"timezone": "UTC", "window_start": "09:00", "window_end": "09:00", "schedule_days": None}, "differ"),
        ({"timezone": "UTC", "window_start": "09:00", "window_end": None, "schedule_days": None}, "together"),
        ({"timezone": "UTC", "window_start": "24:00", "window_end": "09:00", "schedule_days": None}, "range"),
        ({"timezone": "UTC", "window_start": "9:60", "window_end": "10:00", "schedule_days": None}, "range"),
        ({"timezone": "UTC", "window_start": "nine", "window_end": "10:00", "schedule_days": None}, "time of day"),
        ({"timezone": "UTC", "window_start": None, "window_end": None, "schedule_days": [8]}, "0-7"),
        ({"timezone": "UTC", "window_start": None, "window_end": None, "schedule_days": [-1]}, "0-7"),
    ],
)
def test_from_campaign_rejects(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Schedule.from_campaign(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 0), (60, 60), (120, 60), (-1, 10), (0, 1441)],
)
def test_windows_need_start_before_end_within_the_day(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="window"):
        Window(start, end)


def test_overlapping_windows_in_one_day_are_refused_touching_ones_are_not() -> None:
    with pytest.raises(ValueError, match="overlap"):
        Schedule.per_day("UTC", {1: [Window.parse("09:00", "12:00"), Window.parse("11:00", "13:00")]})
    touching = Schedule.per_day("UTC", {1: [Window.parse("12:00", "13:00"), Window.parse("09:00", "12:00")]})
    assert touching.windows_on(1) == (Window(540, 720), Window(720, 780))  # sorted
    assert in_window(utc(2026, 6, 8, 12, 0), touching)


@pytest.mark.parametrize(
    ("value", "end", "minutes"),
    [
        ("09:00", False, 540),
        ("9", False, 540),
        (0, False, 0),
        ("23:59", False, 1439),
        ("24:00", True, 1440),
        (24, True, 1440),
    ],
)
def test_parse_time_of_day(value: str | int, end: bool, minutes: int) -> None:
    assert parse_time_of_day(value, allow_end_of_day=end) == minutes


def test_normalize_days() -> None:
    assert normalize_days([0, 1, 7, 1]) == frozenset({1, 7})
    with pytest.raises(ValueError, match="0-7"):
        normalize_days([True])


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        in_window(datetime(2026, 6, 10, 12), NY_OFFICE)
    with pytest.raises(ValueError, match="aware"):
        clamp(datetime(2026, 6, 10, 12), NY_OFFICE)
    with pytest.raises(ValueError, match="aware"):
        Schedule.weekly("UTC", not_before=datetime(2026, 6, 10))


# --- step delays, jitter, next send time -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "days", "hours", "tz", "expected"),
    [
        (utc(2026, 6, 10, 9, 0), 0, None, "UTC", utc(2026, 6, 10, 9, 0)),
        (utc(2026, 6, 10, 9, 0), 3, None, "UTC", utc(2026, 6, 13, 9, 0)),
        (utc(2026, 6, 10, 9, 0), 1, 2.5, "UTC", utc(2026, 6, 11, 11, 30)),
        # Same local time the next day across spring-forward: 23 real hours.
        (local(NY, 2026, 3, 7, 10, 0), 1, None, NY, local(NY, 2026, 3, 8, 10, 0)),
        (local(NY, 2026, 3, 7, 10, 0), 1, None, NY, utc(2026, 3, 8, 14, 0)),
        # ... and across fall-back: 25 real hours.
        (local(AMS, 2026, 10, 24, 10, 0), 1, None, AMS, utc(2026, 10, 25, 9, 0)),
        # A wall time that does not exist on the target day moves forward past the gap.
        (local(NY, 2026, 3, 7, 2, 30), 1, None, NY, utc(2026, 3, 8, 7, 30)),
        # A repeated one takes its first occurrence.
        (local(NY, 2026, 10, 31, 1, 30), 1, None, NY, utc(2026, 11, 1, 5, 30)),
        # Hours are elapsed time, added after the days.
        (local(NY, 2026, 3, 7, 23, 0), 0, 4, NY, utc(2026, 3, 8, 8, 0)),
    ],
)
def test_step_due(base: datetime, days: int, hours: float | None, tz: str, expected: datetime) -> None:
    assert step_due(base, days, hours, tz) == expected


def test_negative_delays_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        step_due(utc(2026, 6, 10), -1, None, "UTC")
    with pytest.raises(ValueError, match="negative"):
        step_due(utc(2026, 6, 10), 0, -1, "UTC")


def test_add_local_days_is_exact_in_utc() -> None:
    assert add_local_days(utc(2026, 6, 10, 12), 7, "UTC") == utc(2026, 6, 17, 12)


def test_jitter_is_one_to_five_minutes() -> None:
    rng = random.Random(3)
    draws = [jitter(rng).total_seconds() for _ in range(5000)]
    assert min(draws) == JITTER_MIN_SECONDS == 60
    assert max(draws) == JITTER_MAX_SECONDS == 300


def test_next_send_time_inside_the_window_is_delay_plus_jitter() -> None:
    schedule = Schedule.weekly("UTC", EVERY_DAY, (Window.parse("08:00", "20:00"),))
    previous = utc(2026, 6, 10, 9, 0)
    for seed in range(200):
        slot = next_send_time(previous, 2, 1, schedule, random.Random(seed))
        assert slot is not None
        assert timedelta(seconds=60) <= slot - utc(2026, 6, 12, 10, 0) <= timedelta(seconds=300)


def test_next_send_time_deferred_to_an_opening_is_spread_over_its_first_minutes() -> None:
    previous = local(NY, 2026, 6, 12, 16, 59)  # Friday: with the jitter, after closing
    slots = {next_send_time(previous, 0, None, NY_OFFICE, random.Random(seed)) for seed in range(300)}
    opening = local(NY, 2026, 6, 15, 9, 0)
    assert all(s is not None and in_window(s, NY_OFFICE) for s in slots)
    assert all(s is not None and opening <= s <= opening + timedelta(minutes=5) for s in slots)
    assert len(slots) > 100  # not all stacked on 09:00:00
    # Deterministic for a given seed.
    rng_a, rng_b = random.Random(42), random.Random(42)
    assert next_send_time(previous, 0, None, NY_OFFICE, rng_a) == next_send_time(previous, 0, None, NY_OFFICE, rng_b)


def test_next_send_time_never_spreads_out_of_a_short_window() -> None:
    tiny = Schedule.weekly("UTC", EVERY_DAY, (Window.parse("09:00", "09:02"),))
    for seed in range(100):
        slot = next_send_time(utc(2026, 6, 10, 12), 0, None, tiny, random.Random(seed))
        assert slot is not None and in_window(slot, tiny)
        assert utc(2026, 6, 11, 9, 0) <= slot < utc(2026, 6, 11, 9, 2)


def test_next_send_time_is_none_without_a_slot() -> None:
    never = Schedule.weekly("UTC", (), (ALL_DAY,))
    assert next_send_time(utc(2026, 6, 10), 0, None, never, random.Random(1)) is None


def test_no_usable_mailbox_retries_an_hour_later_inside_the_schedule() -> None:
    assert reschedule_without_mailbox(local(NY, 2026, 6, 10, 10, 0), NY_OFFICE) == local(NY, 2026, 6, 10, 11, 0)
    assert reschedule_without_mailbox(local(NY, 2026, 6, 10, 16, 30), NY_OFFICE) == local(NY, 2026, 6, 11, 9, 0)
