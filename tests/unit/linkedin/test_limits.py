"""LinkedIn limits (help center §37; the tables decided in docs/decisions.md, "LinkedIn accounts and limits"): every
row of every table, written out here literally, and the boundaries of ramp weeks, resets and the pace."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from kindling.linkedin import limits
from kindling.platform.errors import RateLimited, ValidationFailed

DIMS = ("invites_week", "messages_day", "inmails_day", "profile_views_day", "engagements_day")

# Help center L2505-2510: invites/week, messages/day, InMails/day, profile views/day, engagements/day.
TYPE_ROWS = [
    ("free", (150, 100, 0, 30, 30)),
    ("premium", (200, 150, 15, 50, 40)),
    ("sales_navigator", (200, 150, 50, 60, 50)),
    ("recruiter", (200, 150, 100, 60, 50)),
]

# The strategy ramps, week 1 first (docs/decisions.md).
RAMP_ROWS = [
    ("new_account", "invites_week", (50, 75, 100, 125, 150, 200)),
    ("new_account", "messages_day", (20, 30, 45, 60, 80, 100)),
    ("new_account", "inmails_day", (25, 25, 25, 30, 35, 40)),
    ("new_account", "profile_views_day", (10, 20, 30, 40, 50, 60)),
    ("new_account", "engagements_day", (5, 10, 15, 20, 25, 30)),
    ("established", "invites_week", (100, 125, 150, 200)),
    ("established", "messages_day", (40, 60, 90, 120)),
    ("established", "inmails_day", (25, 30, 35, 40)),
    ("established", "profile_views_day", (30, 45, 60, 80)),
    ("established", "engagements_day", (15, 20, 30, 40)),
    ("veteran", "invites_week", (150, 200)),
    ("veteran", "messages_day", (80, 150)),
    ("veteran", "inmails_day", (25, 40)),
    ("veteran", "profile_views_day", (50, 100)),
    ("veteran", "engagements_day", (25, 50)),
    ("recovery", "invites_week", (25, 35, 50, 60, 70, 80, 90, 100)),
    ("recovery", "messages_day", (10, 15, 20, 25, 30, 40, 45, 50)),
    ("recovery", "inmails_day", (5, 5, 10, 10, 15, 15, 20, 20)),
    ("recovery", "profile_views_day", (5, 8, 12, 15, 19, 22, 26, 30)),
    ("recovery", "engagements_day", (2, 3, 5, 7, 9, 11, 13, 15)),
]


def caps(*values: int) -> dict[str, int]:
    return dict(zip(DIMS, values, strict=True))


# --- the vocabulary ---------------------------------------------------------------------------------------------------
def test_the_vocabulary() -> None:
    assert limits.DIMENSIONS == DIMS
    assert limits.ACCOUNT_TYPES == ("free", "premium", "sales_navigator", "recruiter")
    assert limits.STRATEGIES == ("new_account", "established", "veteran", "recovery")
    assert {"invites_week"} == set(limits.WEEKLY)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("free", "free"),
        ("basic", "free"),
        ("premium", "premium"),
        ("classic", "premium"),
        ("premium_career", "premium"),
        ("Premium Business", "premium"),
        ("sales_navigator", "sales_navigator"),
        ("Sales Navigator", "sales_navigator"),
        ("sales-navigator", "sales_navigator"),
        ("recruiter", "recruiter"),
        ("Recruiter Lite", "recruiter"),
        ("  RECRUITER_LITE ", "recruiter"),
    ],
)
def test_account_type_spellings(given: str, expected: str) -> None:
    assert limits.parse_account_type(given) == expected
    assert limits.account_type_for_caps(given) == expected


@pytest.mark.parametrize("given", ["gold", "", "enterprise", 3, None, ["free"]])
def test_an_unknown_account_type_is_refused_on_input(given: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        limits.parse_account_type(given)
    assert caught.value.code == "validation_error"
    assert caught.value.details == [
        {"field": "linkedin_account_type", "message": "unknown account type", "code": "invalid_account_type"}
    ]


@pytest.mark.parametrize("given", [None, "", "gold", "enterprise", "free-ish"])
def test_an_unknown_account_type_gets_premium_caps_never_free(given: str | None) -> None:
    assert limits.account_type_for_caps(given) == "premium"
    assert limits.effective_caps(given, "veteran", 2, {}) == caps(200, 150, 15, 50, 40)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("new_account", "new_account"),
        ("New Account", "new_account"),
        ("established", "established"),
        ("steady", "established"),
        ("Steady", "established"),
        ("veteran", "veteran"),
        ("recovery", "recovery"),
    ],
)
def test_strategy_spellings(given: str, expected: str) -> None:
    assert limits.parse_strategy(given) == expected


@pytest.mark.parametrize("given", ["fast", "", None, 1, "new"])
def test_an_unknown_strategy_is_refused(given: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        limits.parse_strategy(given)
    assert caught.value.details == [{"field": "strategy", "message": "unknown strategy", "code": "invalid_strategy"}]


@pytest.mark.parametrize(
    ("strategy", "weeks"), [("new_account", 6), ("established", 4), ("veteran", 2), ("recovery", 8), ("steady", 4)]
)
def test_ramp_lengths(strategy: str, weeks: int) -> None:
    assert limits.ramp_length(strategy) == weeks


# --- the tables -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("account_type", "row"), TYPE_ROWS)
def test_account_type_cap_table(account_type: str, row: tuple[int, ...]) -> None:
    assert limits.TYPE_CAPS[account_type] == caps(*row)  # type: ignore[index]


@pytest.mark.parametrize(("account_type", "row"), TYPE_ROWS)
def test_the_type_cap_holds_above_a_higher_ramp(account_type: str, row: tuple[int, ...]) -> None:
    # A 2-week veteran's ramp is 200/150/40/100/50: everything the type allows less of is the type's cap.
    expected = {dim: min(value, ramp) for dim, value, ramp in zip(DIMS, row, (200, 150, 40, 100, 50), strict=True)}
    assert limits.effective_caps(account_type, "veteran", 2, {}) == expected


def test_full_ramp_caps_per_type_written_out() -> None:
    assert limits.effective_caps("free", "veteran", 9, {}) == caps(150, 100, 0, 30, 30)
    assert limits.effective_caps("premium", "veteran", 9, {}) == caps(200, 150, 15, 50, 40)
    assert limits.effective_caps("sales_navigator", "veteran", 9, {}) == caps(200, 150, 40, 60, 50)
    assert limits.effective_caps("recruiter", "veteran", 9, {}) == caps(200, 150, 40, 60, 50)


@pytest.mark.parametrize(("strategy", "dimension", "weeks"), RAMP_ROWS)
def test_strategy_ramp_table(strategy: str, dimension: str, weeks: tuple[int, ...]) -> None:
    assert limits.RAMPS[strategy][dimension] == weeks  # type: ignore[index]
    for week, value in enumerate(weeks, start=1):
        assert limits.ramp_cap(strategy, dimension, week) == value  # type: ignore[arg-type]
    # before week 1 is week 1; after the ramp the last week holds
    assert limits.ramp_cap(strategy, dimension, 0) == weeks[0]  # type: ignore[arg-type]
    assert limits.ramp_cap(strategy, dimension, -3) == weeks[0]  # type: ignore[arg-type]
    assert limits.ramp_cap(strategy, dimension, len(weeks) + 1) == weeks[-1]  # type: ignore[arg-type]
    assert limits.ramp_cap(strategy, dimension, 52) == weeks[-1]  # type: ignore[arg-type]


@pytest.mark.parametrize(("strategy", "dimension", "weeks"), RAMP_ROWS)
def test_a_recruiter_is_held_to_its_strategy_ramp(strategy: str, dimension: str, weeks: tuple[int, ...]) -> None:
    recruiter = dict(zip(DIMS, (200, 150, 100, 60, 50), strict=True))
    for week, value in enumerate(weeks, start=1):
        assert limits.effective_caps("recruiter", strategy, week, {})[dimension] == min(value, recruiter[dimension])  # type: ignore[index]


@pytest.mark.parametrize(
    ("account_type", "strategy", "week", "expected"),
    [
        # the help center's own examples
        ("sales_navigator", "new_account", 1, caps(50, 20, 25, 10, 5)),  # a brand-new SN starts at 25 InMails
        ("sales_navigator", "new_account", 3, caps(100, 45, 25, 30, 15)),  # "held at 25/day in week 3"
        ("sales_navigator", "veteran", 1, caps(150, 80, 25, 50, 25)),
        ("sales_navigator", "veteran", 2, caps(200, 150, 40, 60, 50)),  # 40 InMails: the veteran's cap, not 50
        ("premium", "veteran", 2, caps(200, 150, 15, 50, 40)),  # "a veteran Premium account is held at 15/day"
        ("free", "veteran", 2, caps(150, 100, 0, 30, 30)),  # Free: no InMail
        ("free", "new_account", 1, caps(50, 20, 0, 10, 5)),
        ("recruiter", "new_account", 1, caps(50, 20, 25, 10, 5)),  # held to the new_account ramp
        ("classic", "steady", 3, caps(150, 90, 15, 50, 30)),  # the reference's example: engagements_per_day 30
        ("premium", "recovery", 1, caps(25, 10, 5, 5, 2)),
        ("premium", "recovery", 8, caps(100, 50, 15, 30, 15)),
        (None, "established", 4, caps(200, 120, 15, 50, 40)),
    ],
)
def test_effective_caps_examples(account_type: str | None, strategy: str, week: int, expected: dict[str, int]) -> None:
    assert limits.effective_caps(account_type, strategy, week, {}) == expected


def test_an_unknown_strategy_has_no_caps() -> None:
    with pytest.raises(ValidationFailed):
        limits.effective_caps("premium", "turbo", 1, {})


# --- overrides in the cap ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, caps(200, 150, 40, 60, 50)),
        ({"inmails_day": 10}, caps(200, 150, 10, 60, 50)),  # lower than the type and the ramp: the override
        ({"inmails_day": 50}, caps(200, 150, 40, 60, 50)),  # higher than the ramp: the ramp still wins
        ({"invites_week": 199, "engagements_day": 49}, caps(199, 150, 40, 60, 49)),
        ({"profile_views_day": 0}, caps(200, 150, 40, 60, 50) | {"profile_views_day": 0}),
        ({"messages_day": 150}, caps(200, 150, 40, 60, 50)),
        ({"messages_day": 149}, caps(200, 149, 40, 60, 50)),
    ],
)
def test_effective_cap_is_the_minimum_with_the_override(overrides: dict[str, int], expected: dict[str, int]) -> None:
    assert limits.effective_caps("sales_navigator", "veteran", 2, overrides) == expected  # type: ignore[arg-type]


def test_a_negative_override_never_makes_a_negative_cap() -> None:
    assert limits.effective_caps("premium", "veteran", 2, {"messages_day": -5})["messages_day"] == 0


def test_remaining() -> None:
    assert [limits.remaining(30, used) for used in (0, 4, 29, 30, 31)] == [30, 26, 1, 0, 0]


# --- ramp weeks -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("started", "today", "week"),
    [
        (date(2026, 6, 1), date(2026, 6, 1), 1),
        (date(2026, 6, 1), date(2026, 6, 7), 1),  # day 6: still week 1
        (date(2026, 6, 1), date(2026, 6, 8), 2),  # day 7: week 2
        (date(2026, 6, 1), date(2026, 6, 14), 2),
        (date(2026, 6, 1), date(2026, 6, 15), 3),
        (date(2026, 6, 1), date(2026, 7, 13), 7),
        (date(2026, 6, 1), date(2026, 5, 31), 1),  # a start in the future is week 1
        (date(2026, 6, 1), date(2026, 5, 1), 1),
    ],
)
def test_ramp_week(started: date, today: date, week: int) -> None:
    assert limits.ramp_week(started, today) == week


def test_ramp_week_1_to_2_changes_the_caps() -> None:
    started = date(2026, 6, 1)
    day6 = limits.ramp_week(started, date(2026, 6, 7))
    day7 = limits.ramp_week(started, date(2026, 6, 8))
    assert limits.effective_caps("premium", "new_account", day6, {})["engagements_day"] == 5
    assert limits.effective_caps("premium", "new_account", day7, {})["engagements_day"] == 10


def test_a_restriction_restarts_in_recovery() -> None:
    start = limits.after_restriction(date(2026, 6, 10))
    assert (start.strategy, start.ramp_week, start.ramp_started_on) == ("recovery", 1, date(2026, 6, 10))
    assert limits.ramp_week(start.ramp_started_on, date(2026, 6, 10)) == 1


# --- periods and resets -----------------------------------------------------------------------------------------------
def at(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("dimension", "now", "reset", "key"),
    [
        ("messages_day", "2026-06-10T09:00:00", "2026-06-11T00:00:00", "2026-06-10"),
        ("messages_day", "2026-06-10T23:59:59", "2026-06-11T00:00:00", "2026-06-10"),
        ("messages_day", "2026-06-11T00:00:00", "2026-06-12T00:00:00", "2026-06-11"),
        ("engagements_day", "2026-06-10T00:00:00", "2026-06-11T00:00:00", "2026-06-10"),
        ("inmails_day", "2026-12-31T23:59:59", "2027-01-01T00:00:00", "2026-12-31"),
        ("profile_views_day", "2026-06-10T12:00:00", "2026-06-11T00:00:00", "2026-06-10"),
        ("invites_week", "2026-06-10T09:00:00", "2026-06-15T00:00:00", "2026-06-08"),  # Wednesday
        ("invites_week", "2026-06-14T23:59:59", "2026-06-15T00:00:00", "2026-06-08"),  # Sunday, last second
        ("invites_week", "2026-06-15T00:00:00", "2026-06-22T00:00:00", "2026-06-15"),  # Monday 00:00: a new week
        ("invites_week", "2026-06-08T00:00:00", "2026-06-15T00:00:00", "2026-06-08"),
        ("invites_week", "2027-01-03T12:00:00", "2027-01-04T00:00:00", "2026-12-28"),  # across the year end
        # the instant, not the local calendar: 01:30 at +02:00 on Monday is Sunday 23:30 UTC
        ("invites_week", "2026-06-15T01:30:00+02:00", "2026-06-15T00:00:00", "2026-06-08"),
        ("messages_day", "2026-06-11T01:30:00+02:00", "2026-06-11T00:00:00", "2026-06-10"),
        ("messages_day", "2026-06-10T22:30:00-03:00", "2026-06-12T00:00:00", "2026-06-11"),
    ],
)
def test_resets(dimension: str, now: str, reset: str, key: str) -> None:
    moment = at(now)
    assert limits.next_reset(dimension, moment) == at(reset)  # type: ignore[arg-type]
    assert limits.next_reset(dimension, moment).tzinfo == UTC  # type: ignore[arg-type]
    assert limits.period_key(dimension, moment) == key  # type: ignore[arg-type]


def test_period_start() -> None:
    assert limits.period_start("invites_week", at("2026-06-14T23:59:59")) == at("2026-06-08T00:00:00")
    assert limits.period_start("engagements_day", at("2026-06-14T23:59:59")) == at("2026-06-14T00:00:00")


@pytest.mark.parametrize(
    ("period", "moment", "starts", "ends"),
    [
        ("day", "2026-06-10T00:00:00", "2026-06-10", "2026-06-11T00:00:00"),
        ("day", "2026-06-10T23:59:59", "2026-06-10", "2026-06-11T00:00:00"),
        ("week", "2026-06-08T00:00:00", "2026-06-08", "2026-06-15T00:00:00"),  # a Monday
        ("week", "2026-06-14T23:59:59", "2026-06-08", "2026-06-15T00:00:00"),  # the Sunday after
        ("week", "2026-06-15T00:00:00", "2026-06-15", "2026-06-22T00:00:00"),
        ("week", "2026-12-31T12:00:00", "2026-12-28", "2027-01-04T00:00:00"),  # across a year end
    ],
)
def test_activity_periods_are_the_utc_day_and_the_week_from_monday(
    period: str, moment: str, starts: str, ends: str
) -> None:
    assert limits.activity_period(period, at(moment)) == (starts, at(ends))


def test_an_activity_period_is_taken_in_utc_whatever_the_moments_timezone() -> None:
    eastern = datetime(2026, 6, 14, 21, 30, tzinfo=timezone(timedelta(hours=-5)))  # Monday 02:30 UTC
    assert limits.activity_period("day", eastern) == ("2026-06-15", at("2026-06-16T00:00:00"))
    assert limits.activity_period("week", eastern) == ("2026-06-15", at("2026-06-22T00:00:00"))


# --- pace -------------------------------------------------------------------------------------------------------------
def test_the_pace_is_two_per_minute() -> None:
    assert (limits.PACE_ACTIONS, limits.PACE_WINDOW_SECONDS) == (2, 60)


@pytest.mark.parametrize(
    ("older_seconds_ago", "wait"),
    [(None, 0), (0, 60), (1, 59), (10, 50), (59, 1), (59.5, 1), (60, 0), (61, 0), (3600, 0), (-5, 65)],
)
def test_pace_retry_after(older_seconds_ago: float | None, wait: int) -> None:
    now = at("2026-06-10T09:00:00")
    older = None if older_seconds_ago is None else now - timedelta(seconds=older_seconds_ago)
    assert limits.pace_retry_after(older, now) == wait


# --- actions ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "dimension"),
    [
        ("view_profile", "profile_views_day"),
        ("send_invite", "invites_week"),
        ("send_message", "messages_day"),
        ("send_inmail", "inmails_day"),
        ("endorse_skill", "engagements_day"),
        ("like_post", "engagements_day"),
        ("comment", "engagements_day"),
        ("wait_accept", None),
        ("wait_reply", None),
    ],
)
def test_the_cap_each_action_uses(action: str, dimension: str | None) -> None:
    assert limits.dimension_for_action(action) == dimension


def test_an_unknown_action_uses_no_cap_silently() -> None:
    with pytest.raises(ValueError, match="unknown LinkedIn action type 'repost'"):
        limits.dimension_for_action("repost")


# --- the refusals -----------------------------------------------------------------------------------------------------
def test_limit_reached_carries_the_details() -> None:
    error = limits.LimitReached("engagements_day", 30, 30, at("2026-06-11T00:00:00"), now=at("2026-06-10T23:00:00"))
    assert isinstance(error, RateLimited)
    assert (error.code, error.dimension, error.cap, error.used) == ("linkedin_limit_reached", "engagements_day", 30, 30)
    assert error.resets_at == at("2026-06-11T00:00:00")
    assert (error.retry_after, error.limit, error.reset_at) == (3600, 30, 1781136000)
    assert error.details == [
        {
            "field": "engagements_day",
            "message": "limit reached",
            "code": "limit_reached",
            "limit": 30,
            "used": 30,
            "remaining": 0,
            "resets_at": "2026-06-11T00:00:00.000Z",
        }
    ]
    assert "engagements_day limit of 30" in error.message
    assert "2026-06-11T00:00:00.000Z" in error.message


def test_limit_reached_waits_at_least_a_second() -> None:
    error = limits.LimitReached("messages_day", 5, 5, at("2026-06-11T00:00:00"), now=at("2026-06-11T00:00:00"))
    assert error.retry_after == 1
    late = limits.LimitReached("messages_day", 5, 5, at("2026-06-11T00:00:00"), now=at("2026-06-10T23:59:59.2"))
    assert late.retry_after == 1


def test_limit_reached_reads_the_injected_clock_by_default(clock: Any) -> None:
    error = limits.LimitReached("messages_day", 5, 5, clock.now() + timedelta(seconds=90))
    assert error.retry_after == 90
    assert limits.PaceLimited(30).reset_at == int(clock.now().timestamp()) + 30


def test_the_refusal_messages() -> None:
    with pytest.raises(ValidationFailed, match=r"^linkedin_account_type must be one of free, premium, "):
        limits.parse_account_type("gold")
    with pytest.raises(ValidationFailed) as caught:
        limits.parse_account_type("gold")
    assert caught.value.message == (
        "linkedin_account_type must be one of free, premium, sales_navigator, recruiter (or classic)."
    )
    with pytest.raises(ValidationFailed) as caught:
        limits.parse_strategy("turbo")
    assert caught.value.message == "strategy must be one of new_account, established, veteran, recovery (or steady)."


def test_periods_are_utc_whatever_the_machine_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Pacific/Auckland")  # UTC+12 in June
    time.tzset()
    try:
        assert limits.period_key("messages_day", at("2026-06-10T13:00:00")) == "2026-06-10"
        assert limits.next_reset("messages_day", at("2026-06-10T13:00:00")) == at("2026-06-11T00:00:00")
        assert limits.period_key("invites_week", at("2026-06-14T13:00:00")) == "2026-06-08"
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(("given", "seconds"), [(42, 42), (1, 1), (0, 1), (-3, 1)])
def test_pace_limited(given: int, seconds: int) -> None:
    error = limits.PaceLimited(given, now=at("2026-06-10T09:00:00"))
    assert error.reset_at == 1781082000 + seconds
    assert isinstance(error, RateLimited)
    assert (error.code, error.retry_after_seconds, error.retry_after, error.limit) == (
        "linkedin_pace_limited",
        seconds,
        seconds,
        2,
    )
    assert error.details == [
        {
            "field": "pace",
            "message": "too many actions this minute",
            "code": "pace_limited",
            "limit": 2,
            "retry_after_seconds": seconds,
        }
    ]
    assert f"retry in {seconds} s" in error.message
