"""The warmup planner at its edges: window hours at their limits, windows ending at midnight and days seen from
zones east of UTC, touching pieces merged, whole seconds, sends spread over several pieces, and clear errors.
Numbers are the spec's (help center L274, L457, L1117-1124), written out."""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from kindling.warmup.planner import WarmupWindow, plan_rng, plan_sends, window_intervals
from kindling.warmup.seeds import seeded_rng

MON = datetime(2026, 6, 8, 0, 0, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)


def plan(**overrides: object) -> tuple[datetime, ...]:
    values: dict[str, object] = {
        "limit": 10,
        "warmup_sent_today": 0,
        "campaign_sent_today": 0,
        "window": WarmupWindow(),
        "day_start": MON,
        "day_end": MON + 24 * H,
        "now": MON,
        "pacer_interval": timedelta(0),
        "last_sent_at": None,
        "rng": random.Random(7),
    }
    values.update(overrides)
    return plan_sends(**values).times  # type: ignore[arg-type]


@pytest.mark.parametrize(("start", "end"), [(23, 24), (0, 1), (23, 1), (0, 24), (5, 4)])
def test_window_hours_at_their_limits_are_accepted(start: int, end: int) -> None:
    assert WarmupWindow(start, end).end_hour == end


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (24, 5, "window hours are start 0-23 and end 1-24"),
        (0, 25, "window hours are start 0-23 and end 1-24"),
        (5, 0, "window hours are start 0-23 and end 1-24"),
        (-1, 5, "window hours are start 0-23 and end 1-24"),
        (7, 7, "an empty window: use 0-24 for all day"),
    ],
)
def test_bad_window_hours_get_a_clear_message(start: int, end: int, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        WarmupWindow(start, end)


def test_all_day_pieces_that_touch_at_midnight_are_one() -> None:
    assert window_intervals(WarmupWindow(), MON, MON + 72 * H) == [(MON, MON + 72 * H)]
    assert window_intervals(WarmupWindow(0, 24, "Europe/Paris"), MON, MON + 72 * H) == [(MON, MON + 72 * H)]


def test_a_window_ending_at_midnight_ends_that_night() -> None:
    assert window_intervals(WarmupWindow(20, 24), MON, MON + 48 * H) == [
        (MON + 20 * H, MON + 24 * H),
        (MON + 44 * H, MON + 48 * H),
    ]


def test_a_window_closing_exactly_at_the_start_adds_nothing() -> None:
    assert window_intervals(WarmupWindow(9, 17), MON + 17 * H, MON + 34 * H) == [(MON + 33 * H, MON + 34 * H)]


def test_the_last_local_day_counts_east_of_utc() -> None:
    # 02:00-04:00 in Tokyo (UTC+9) on Tuesday is 17:00-19:00 UTC on Monday, the UTC day the range ends on.
    window = WarmupWindow(2, 4, "Asia/Tokyo")
    assert window_intervals(window, MON + 12 * H, MON + 20 * H) == [(MON + 17 * H, MON + 19 * H)]


def test_an_overnight_window_opened_the_local_day_before_counts_west_of_utc() -> None:
    # 21:00-20:00 in Los Angeles (UTC-7 in June): at 19:00 on Monday the window that opened on Sunday evening is
    # still open until 20:00; Monday's opens at 21:00. 19:00 PDT on Monday is already Tuesday in UTC.
    window = WarmupWindow(21, 20, "America/Los_Angeles")
    start, end = MON + 26 * H, MON + 30 * H  # Monday 19:00-23:00 PDT
    assert window_intervals(window, start, end) == [(start, start + H), (start + 2 * H, end)]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^aware datetimes only$"):
        window_intervals(WarmupWindow(), MON, datetime(2026, 6, 9))
    with pytest.raises(ValueError, match=r"^aware datetimes only$"):
        window_intervals(WarmupWindow(), datetime(2026, 6, 8), MON + H)


@pytest.mark.parametrize(("pacer", "count"), [(timedelta(0), 9), (timedelta(seconds=1), 9)])
def test_plans_start_at_the_next_whole_second(pacer: timedelta, count: int) -> None:
    # 00:00:00.250 to 00:00:10: the whole seconds left are 00:00:01-00:00:10, room for 9 sends 1 s apart.
    now = MON + timedelta(milliseconds=250)
    times = plan(limit=20, now=now, day_end=MON + timedelta(seconds=10), pacer_interval=pacer)
    assert len(times) == count
    assert times == tuple(MON + timedelta(seconds=s) for s in range(1, 10))


def test_sends_spread_over_several_pieces_of_window() -> None:
    # 09:00-10:00 on three days: 6 sends, two in each hour, each inside the window.
    times = plan(limit=6, window=WarmupWindow(9, 10), day_end=MON + 72 * H, pacer_interval=timedelta(minutes=1))
    assert len(times) == 6
    assert list(times) == sorted(times)
    for day in range(3):
        opens = MON + timedelta(days=day) + 9 * H
        assert sum(opens <= t < opens + H for t in times) == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"limit": -1}, "counts cannot be negative"),
        ({"warmup_sent_today": -1}, "counts cannot be negative"),
        ({"campaign_sent_today": -1}, "counts cannot be negative"),
        ({"pacer_interval": timedelta(seconds=-1)}, "the pacer interval cannot be negative"),
    ],
)
def test_bad_plan_inputs_get_a_clear_message(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        plan(**overrides)


def test_the_plans_randomness_is_its_own() -> None:
    day = date(2026, 6, 8)
    assert plan_rng("mb_1", day).random() == plan_rng("mb_1", day).random()
    assert plan_rng("mb_1", day).random() != plan_rng("mb_1", day + timedelta(days=1)).random()
    assert plan_rng("mb_1", day).random() != seeded_rng("mb_1", day.isoformat()).random()
