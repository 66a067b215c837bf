"""The LinkedIn usage counters on the real table (moto): atomic conditional reservations under real races, the
2-per-minute pace, release, the daily and weekly resets with an injected clock, no carry-over."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from kindling.linkedin.usage import LimitReached, PaceLimited, Reservation, UsageRepository
from tests.support.aws import TEST_TABLE

WS = "ws_abc123"
OTHER_WS = "ws_def456"
ACCOUNT = "li_5a2b1c"
WED_9 = datetime(2026, 6, 10, 9, 0, 0, tzinfo=UTC)  # a Wednesday
MINUTE = timedelta(seconds=61)


@pytest.fixture
def repo(aws: None) -> UsageRepository:
    return UsageRepository()


def raw_item(pk: str, sk: str) -> dict[str, Any]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    item: dict[str, Any] = client.get_item(TableName=TEST_TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}})["Item"]
    return item


def race(workers: int, attempt: Callable[[], Reservation]) -> tuple[list[Reservation], list[Exception]]:
    """`workers` threads released together by a barrier, each making one attempt."""
    barrier = threading.Barrier(workers)

    def one() -> Reservation | Exception:
        barrier.wait()
        try:
            return attempt()
        except (LimitReached, PaceLimited) as exc:
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(lambda _: one(), range(workers)))
    return [o for o in outcomes if isinstance(o, Reservation)], [o for o in outcomes if isinstance(o, Exception)]


# --- races -------------------------------------------------------------------------------------------------------
def test_eight_workers_racing_for_the_last_slot_take_it_once(repo: UsageRepository) -> None:
    for n in range(4):  # 4 of the cap of 5 used, a minute apart (the pace allows 2 at once, so the cap decides)
        repo.reserve(WS, ACCOUNT, "engagements_day", 5, WED_9 + n * MINUTE)
    at = WED_9 + 4 * MINUTE
    won, lost = race(8, lambda: repo.reserve(WS, ACCOUNT, "engagements_day", 5, at))
    assert len(won) == 1
    assert len(lost) == 7
    assert all(isinstance(e, LimitReached) and e.used == 5 and e.cap == 5 for e in lost)
    assert repo.usage(WS, ACCOUNT, at)["engagements_day"] == 5


def test_eight_workers_racing_round_after_round_never_exceed_a_cap_of_5(repo: UsageRepository) -> None:
    won_total = 0
    for round_ in range(5):
        at = WED_9 + round_ * MINUTE
        won, lost = race(8, lambda at=at: repo.reserve(WS, ACCOUNT, "messages_day", 5, at))  # type: ignore[misc]
        won_total += len(won)
        assert len(won) + len(lost) == 8
        assert len(won) <= 2  # the pace: never more than 2 in one minute
        assert repo.usage(WS, ACCOUNT, at)["messages_day"] == won_total
    assert won_total == 5
    assert repo.usage(WS, ACCOUNT, WED_9)["messages_day"] == 5
    with pytest.raises(LimitReached):
        repo.reserve(WS, ACCOUNT, "messages_day", 5, WED_9 + 10 * MINUTE)


def test_eight_workers_at_the_same_instant_get_two_pace_slots(repo: UsageRepository) -> None:
    won, lost = race(8, lambda: repo.reserve(WS, ACCOUNT, "profile_views_day", 100, WED_9))
    assert len(won) == 2
    assert len(lost) == 6
    assert all(isinstance(e, PaceLimited) and e.retry_after_seconds == 60 for e in lost)
    assert repo.usage(WS, ACCOUNT, WED_9)["profile_views_day"] == 2


def test_the_pace_is_per_account_across_dimensions(repo: UsageRepository) -> None:
    repo.reserve(WS, ACCOUNT, "profile_views_day", 100, WED_9)
    repo.reserve(WS, ACCOUNT, "invites_week", 100, WED_9 + timedelta(seconds=10))
    with pytest.raises(PaceLimited) as caught:
        repo.reserve(WS, ACCOUNT, "messages_day", 100, WED_9 + timedelta(seconds=20))
    assert caught.value.retry_after_seconds == 40
    # nothing was counted for the refused action
    assert repo.usage(WS, ACCOUNT, WED_9)["messages_day"] == 0
    # other accounts and other workspaces have their own pace and caps
    repo.reserve(WS, "li_other", "messages_day", 100, WED_9 + timedelta(seconds=20))
    repo.reserve(OTHER_WS, ACCOUNT, "messages_day", 100, WED_9 + timedelta(seconds=20))
    repo.reserve(WS, ACCOUNT, "messages_day", 100, WED_9 + timedelta(seconds=60))


def test_the_pace_is_a_sliding_minute_not_a_calendar_minute(repo: UsageRepository) -> None:
    repo.reserve(WS, ACCOUNT, "messages_day", 100, datetime(2026, 6, 10, 9, 0, 59, tzinfo=UTC))
    repo.reserve(WS, ACCOUNT, "messages_day", 100, datetime(2026, 6, 10, 9, 1, 0, tzinfo=UTC))
    with pytest.raises(PaceLimited) as caught:
        repo.reserve(WS, ACCOUNT, "messages_day", 100, datetime(2026, 6, 10, 9, 1, 1, tzinfo=UTC))
    assert caught.value.retry_after_seconds == 58
    with pytest.raises(PaceLimited):
        repo.reserve(WS, ACCOUNT, "messages_day", 100, datetime(2026, 6, 10, 9, 1, 58, tzinfo=UTC))
    repo.reserve(WS, ACCOUNT, "messages_day", 100, datetime(2026, 6, 10, 9, 1, 59, tzinfo=UTC))
    assert repo.usage(WS, ACCOUNT, WED_9)["messages_day"] == 3


def test_a_limit_refusal_says_what_and_until_when(repo: UsageRepository) -> None:
    repo.reserve(WS, ACCOUNT, "engagements_day", 2, WED_9)
    repo.reserve(WS, ACCOUNT, "engagements_day", 2, WED_9 + MINUTE)
    with pytest.raises(LimitReached) as caught:
        repo.reserve(WS, ACCOUNT, "engagements_day", 2, WED_9 + 2 * MINUTE)
    error = caught.value
    assert (error.dimension, error.cap, error.used) == ("engagements_day", 2, 2)
    assert error.resets_at == datetime(2026, 6, 11, tzinfo=UTC)
    assert error.details[0]["remaining"] == 0
    assert error.details[0]["resets_at"] == "2026-06-11T00:00:00.000Z"


def test_a_lower_cap_than_what_was_used_refuses(repo: UsageRepository) -> None:
    # the ramp or an override lowered the cap after 3 were used today
    for n in range(3):
        repo.reserve(WS, ACCOUNT, "messages_day", 10, WED_9 + n * MINUTE)
    with pytest.raises(LimitReached) as caught:
        repo.reserve(WS, ACCOUNT, "messages_day", 2, WED_9 + 5 * MINUTE)
    assert (caught.value.cap, caught.value.used) == (2, 3)


def test_a_cap_of_zero_refuses_without_writing(repo: UsageRepository) -> None:
    with pytest.raises(LimitReached) as caught:
        repo.reserve(WS, ACCOUNT, "inmails_day", 0, WED_9)
    assert (caught.value.cap, caught.value.used) == (0, 0)
    # no pace slot was taken either
    repo.reserve(WS, ACCOUNT, "messages_day", 5, WED_9)
    repo.reserve(WS, ACCOUNT, "messages_day", 5, WED_9)
    assert repo.usage(WS, ACCOUNT, WED_9) == {
        "invites_week": 0,
        "messages_day": 2,
        "inmails_day": 0,
        "profile_views_day": 0,
        "engagements_day": 0,
    }


# --- release ----------------------------------------------------------------------------------------------------------
def test_release_frees_one_slot_once_and_the_slot_can_be_taken_again(repo: UsageRepository) -> None:
    first = repo.reserve(WS, ACCOUNT, "invites_week", 2, WED_9)
    repo.reserve(WS, ACCOUNT, "invites_week", 2, WED_9 + MINUTE)
    with pytest.raises(LimitReached):
        repo.reserve(WS, ACCOUNT, "invites_week", 2, WED_9 + 2 * MINUTE)
    assert repo.release(first) is True
    assert repo.release(first) is False  # a second release of the same reservation frees nothing
    assert repo.usage(WS, ACCOUNT, WED_9)["invites_week"] == 1
    again = repo.reserve(WS, ACCOUNT, "invites_week", 2, WED_9 + 3 * MINUTE)
    assert again.reservation_id != first.reservation_id
    assert repo.usage(WS, ACCOUNT, WED_9)["invites_week"] == 2
    with pytest.raises(LimitReached):
        repo.reserve(WS, ACCOUNT, "invites_week", 2, WED_9 + 4 * MINUTE)


def test_eight_concurrent_releases_of_one_reservation_free_one_slot(repo: UsageRepository) -> None:
    keep = repo.reserve(WS, ACCOUNT, "engagements_day", 5, WED_9)
    gone = repo.reserve(WS, ACCOUNT, "engagements_day", 5, WED_9 + MINUTE)
    barrier = threading.Barrier(8)

    def release() -> bool:
        barrier.wait()
        return repo.release(gone)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: release(), range(8)))
    assert results.count(True) == 1
    assert repo.usage(WS, ACCOUNT, WED_9)["engagements_day"] == 1
    assert repo.release(keep) is True
    assert repo.usage(WS, ACCOUNT, WED_9)["engagements_day"] == 0


def test_release_does_not_give_the_pace_slot_back(repo: UsageRepository) -> None:
    first = repo.reserve(WS, ACCOUNT, "messages_day", 5, WED_9)
    repo.reserve(WS, ACCOUNT, "messages_day", 5, WED_9 + timedelta(seconds=5))
    repo.release(first)
    with pytest.raises(PaceLimited):
        repo.reserve(WS, ACCOUNT, "messages_day", 5, WED_9 + timedelta(seconds=10))


def test_a_release_after_the_period_ended_frees_that_period_not_the_new_one(repo: UsageRepository) -> None:
    late = repo.reserve(WS, ACCOUNT, "messages_day", 1, datetime(2026, 6, 10, 23, 59, tzinfo=UTC))
    thursday = datetime(2026, 6, 11, 0, 5, tzinfo=UTC)
    repo.reserve(WS, ACCOUNT, "messages_day", 1, thursday)
    assert repo.release(late) is True
    assert repo.usage(WS, ACCOUNT, thursday)["messages_day"] == 1
    assert repo.usage(WS, ACCOUNT, WED_9)["messages_day"] == 0


# --- periods --------------------------------------------------------------------------------------------------------
def test_the_daily_cap_resets_at_midnight_utc(repo: UsageRepository, clock: Any) -> None:
    clock.set(datetime(2026, 6, 10, 23, 57, tzinfo=UTC))
    repo.reserve(WS, ACCOUNT, "engagements_day", 2, clock.now())
    clock.advance(timedelta(minutes=1))
    repo.reserve(WS, ACCOUNT, "engagements_day", 2, clock.now())
    clock.set(datetime(2026, 6, 10, 23, 59, 59, tzinfo=UTC))
    with pytest.raises(LimitReached) as caught:
        repo.reserve(WS, ACCOUNT, "engagements_day", 2, clock.now())
    assert caught.value.resets_at == datetime(2026, 6, 11, tzinfo=UTC)
    assert caught.value.retry_after == 1
    clock.set(datetime(2026, 6, 11, 0, 0, 0, tzinfo=UTC))
    reservation = repo.reserve(WS, ACCOUNT, "engagements_day", 2, clock.now())
    assert reservation.period == "2026-06-11"
    assert repo.usage(WS, ACCOUNT, clock.now())["engagements_day"] == 1


def test_the_weekly_invite_cap_resets_on_monday_midnight_utc(repo: UsageRepository, clock: Any) -> None:
    monday = datetime(2026, 6, 8, 10, tzinfo=UTC)
    repo.reserve(WS, ACCOUNT, "invites_week", 2, monday)
    repo.reserve(WS, ACCOUNT, "invites_week", 2, monday + timedelta(days=3))  # Thursday
    sunday_last_second = datetime(2026, 6, 14, 23, 59, 59, tzinfo=UTC)
    with pytest.raises(LimitReached) as caught:
        repo.reserve(WS, ACCOUNT, "invites_week", 2, sunday_last_second)
    assert caught.value.resets_at == datetime(2026, 6, 15, tzinfo=UTC)
    assert repo.usage(WS, ACCOUNT, sunday_last_second)["invites_week"] == 2
    next_monday = datetime(2026, 6, 15, 0, 0, 0, tzinfo=UTC)
    reservation = repo.reserve(WS, ACCOUNT, "invites_week", 2, next_monday)
    assert (reservation.period, reservation.resets_at) == ("2026-06-15", datetime(2026, 6, 22, tzinfo=UTC))
    assert repo.usage(WS, ACCOUNT, next_monday)["invites_week"] == 1
    assert repo.usage(WS, ACCOUNT, sunday_last_second)["invites_week"] == 2


def test_a_daily_counter_is_not_reset_by_the_week_and_the_weekly_not_by_the_day(repo: UsageRepository) -> None:
    tuesday = datetime(2026, 6, 9, 12, tzinfo=UTC)
    repo.reserve(WS, ACCOUNT, "invites_week", 10, tuesday)
    repo.reserve(WS, ACCOUNT, "messages_day", 10, tuesday + MINUTE)
    wednesday = tuesday + timedelta(days=1)
    assert repo.usage(WS, ACCOUNT, wednesday) | {} == {
        "invites_week": 1,
        "messages_day": 0,
        "inmails_day": 0,
        "profile_views_day": 0,
        "engagements_day": 0,
    }


def test_unused_capacity_never_carries_over(repo: UsageRepository) -> None:
    # nothing used on Wednesday; Thursday still gets exactly its own cap of 3, not 6
    thursday = datetime(2026, 6, 11, 9, tzinfo=UTC)
    for n in range(3):
        repo.reserve(WS, ACCOUNT, "messages_day", 3, thursday + n * MINUTE)
    with pytest.raises(LimitReached):
        repo.reserve(WS, ACCOUNT, "messages_day", 3, thursday + 3 * MINUTE)


def test_counters_and_the_pacer_expire(repo: UsageRepository) -> None:
    reservation = repo.reserve(WS, ACCOUNT, "invites_week", 10, WED_9)
    counter = raw_item("ws_abc123#LIUSAGE#li_5a2b1c", "USE#invites_week#2026-06-08")
    # the week ends Monday 2026-06-15 00:00 UTC; kept 8 more days: 2026-06-23 00:00 UTC
    assert counter["expires_at"] == {"N": str(int(datetime(2026, 6, 23, tzinfo=UTC).timestamp()))}
    assert counter["used"] == {"N": "1"}
    assert counter["reservations"] == {"SS": [reservation.reservation_id]}
    pacer = raw_item("ws_abc123#LIUSAGE#li_5a2b1c", "PACE")
    assert pacer["expires_at"] == {"N": str(int(datetime(2026, 6, 11, 9, tzinfo=UTC).timestamp()))}
    assert pacer["newer_ms"] == {"N": str(int(WED_9.timestamp()) * 1000)}


# --- a reservation under the caller's id ----------------------------------------------------------------------------
def test_reserving_again_under_the_same_id_counts_once(repo: UsageRepository) -> None:
    first = repo.reserve(WS, ACCOUNT, "invites_week", 2, WED_9, reservation_id="clm_1")
    again = repo.reserve(WS, ACCOUNT, "invites_week", 2, WED_9 + timedelta(seconds=1), reservation_id="clm_1")
    assert first.reservation_id == again.reservation_id == "clm_1"
    assert repo.usage(WS, ACCOUNT, WED_9)["invites_week"] == 1
    # the repeat took no pace slot either: a second action still fits in this minute
    other = repo.reserve(WS, ACCOUNT, "invites_week", 2, WED_9 + timedelta(seconds=2), reservation_id="clm_2")
    assert other.reservation_id == "clm_2"
    assert repo.usage(WS, ACCOUNT, WED_9)["invites_week"] == 2
    # at the cap, a held id still gets its reservation back; a new one is refused
    assert (
        repo.reserve(WS, ACCOUNT, "invites_week", 2, WED_9 + MINUTE, reservation_id="clm_1").reservation_id == "clm_1"
    )
    with pytest.raises(LimitReached):
        repo.reserve(WS, ACCOUNT, "invites_week", 2, WED_9 + 2 * MINUTE, reservation_id="clm_3")
    # even when the cap was lowered to 0 since
    assert (
        repo.reserve(WS, ACCOUNT, "invites_week", 0, WED_9 + 3 * MINUTE, reservation_id="clm_2").period == "2026-06-08"
    )
    with pytest.raises(LimitReached):
        repo.reserve(WS, ACCOUNT, "invites_week", 0, WED_9 + 3 * MINUTE, reservation_id="clm_4")
    assert repo.usage(WS, ACCOUNT, WED_9)["invites_week"] == 2


def test_eight_duplicates_of_one_action_racing_count_once(repo: UsageRepository) -> None:
    won, lost = race(8, lambda: repo.reserve(WS, ACCOUNT, "messages_day", 5, WED_9, reservation_id="clm_dup"))
    assert lost == []
    assert {r.reservation_id for r in won} == {"clm_dup"}
    assert repo.usage(WS, ACCOUNT, WED_9)["messages_day"] == 1
    # and it is released once
    assert repo.release(won[0]) is True
    assert repo.release(won[1]) is False
    assert repo.usage(WS, ACCOUNT, WED_9)["messages_day"] == 0
