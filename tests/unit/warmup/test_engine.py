"""The warmup engine's pure rules: pacing, the day/health refresh with strategy transitions, the job body,
and the receiving side's placement counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from kindling.warmup.counters import DailyCounters
from kindling.warmup.delivery import message_id_for
from kindling.warmup.engine import pace, refresh_state
from kindling.warmup.messages import WarmupSendMessage, is_warmup_body
from kindling.warmup.models import DayRow, WarmupState
from kindling.warmup.pool_index import Exchange
from kindling.warmup.receiving import placement, sender_delta

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
MINUTE = timedelta(minutes=1)


def state(**fields: object) -> WarmupState:
    values: dict[str, object] = {
        "workspace_id": "ws_abcdef",
        "mailbox_id": "mb1",
        "started_at": NOW - timedelta(days=3),
    }
    values.update(fields)
    return WarmupState.model_validate(values)


def rows(sent: int, inbox: int, spam: int = 0, rescued: int = 0, bounced: int = 0) -> list[DayRow]:
    return [DayRow(DailyCounters(TODAY, sent=sent, inbox=inbox, spam=spam, rescued=rescued, bounced=bounced))]


@pytest.mark.parametrize(
    ("times", "earliest", "interval", "slots"),
    [
        ([0, 30, 60], 0, 10, [0, 30, 60]),  # far apart: as planned
        ([0, 5, 7], 0, 10, [0, 10, 20]),  # too close: pushed by the pacer
        ([0, 30], 25, 10, [25, 35]),  # the mailbox's next allowed time (a campaign send) comes first
        ([], 0, 10, []),
    ],
)
def test_pace(times: list[int], earliest: int, interval: int, slots: list[int]) -> None:
    got = pace([NOW + t * MINUTE for t in times], NOW + earliest * MINUTE, interval * MINUTE)
    assert got == [NOW + s * MINUTE for s in slots]


@pytest.mark.parametrize(
    ("before", "counts", "new_day", "strategy", "ramp_day", "reason"),
    [
        # a healthy new day moves the ramp one day
        (state(ramp_day=3), rows(10, 10), True, "new_domain", 4, None),
        # no traffic yet counts as healthy
        (state(ramp_day=3), [], True, "new_domain", 4, None),
        # Fair holds the ramp
        (state(ramp_day=3), rows(10, 5, spam=3, rescued=3), True, "new_domain", 3, None),
        # day 21 graduates to New Mailbox
        (state(ramp_day=20), rows(10, 10), True, "new_mailbox", 21, "graduated"),
        # Critical goes to Recovery on a recomputation within the day, keeping the ramp position
        (state(ramp_day=5), rows(10, 2, spam=8), False, "recovery", 5, "health_critical"),
        # and back at 60+
        (
            state(strategy="recovery", resume_strategy="new_domain", ramp_day=5),
            rows(10, 10),
            False,
            "new_domain",
            5,
            "health_recovered",
        ),
        # pinned: the days move, the strategy does not
        (state(ramp_day=5, strategy_override="new_domain"), rows(10, 2, spam=8), False, "new_domain", 5, None),
        (state(ramp_day=20, strategy_override="new_domain"), rows(10, 10), True, "new_domain", 21, None),
    ],
)
def test_refresh_state(
    before: WarmupState, counts: list[DayRow], new_day: bool, strategy: str, ramp_day: int, reason: str | None
) -> None:
    after, transitions = refresh_state(before, counts, today=TODAY, new_day=new_day, speed_name="normal", now=NOW)
    assert (after.strategy, after.ramp_day) == (strategy, ramp_day)
    assert after.strategy_reason == reason
    assert (after.strategy_changed_at == NOW) is (reason is not None)
    assert [t.reason for t in transitions] == ([reason] if reason else [])
    assert after.health_computed_at == NOW


def test_health_is_stored_with_its_band_and_only_recomputed_when_due() -> None:
    after, _ = refresh_state(
        state(), rows(10, 9, spam=1, rescued=1), today=TODAY, new_day=False, speed_name="normal", now=NOW
    )
    assert (after.health_score, after.health_band) == (85, "excellent")  # 10% spam (rescued) costs 15
    fresh = state(health_score=50, health_computed_at=NOW - timedelta(hours=5))
    kept, transitions = refresh_state(
        fresh, rows(10, 0, spam=10), today=TODAY, new_day=False, speed_name="normal", now=NOW
    )
    assert kept.health_score == 50 and transitions == ()


def test_a_mailbox_not_started_does_not_ramp() -> None:
    after, _ = refresh_state(state(started_at=None), [], today=TODAY, new_day=True, speed_name="normal", now=NOW)
    assert after.ramp_day == 1


def test_job_body_round_trip_and_kind() -> None:
    job = WarmupSendMessage(
        exchange_id="wx_abc",
        workspace_id="ws_abcdef",
        mailbox_id="mb1",
        day=TODAY,
        recipient="peer@lab-junk.test",
        from_address="me@lab-mail.test",
        send_at=NOW,
        queued_at=NOW - MINUTE,
    )
    body = job.to_body()
    assert is_warmup_body(body) and WarmupSendMessage.from_body(body) == job
    assert not is_warmup_body('{"v": 1, "send_id": "x"}') and not is_warmup_body("not json")
    with pytest.raises(ValueError, match="not a warmup send message"):
        WarmupSendMessage.from_body('{"v": 1, "send_id": "x"}')


def test_message_ids_are_stable_per_exchange() -> None:
    assert message_id_for("wx_abc", "Me@Lab-Mail.test") == "<wx_abc@lab-mail.test>"
    assert message_id_for("wx_abc", "me@lab-mail.test", reply=True) == "<wx_abc.re@lab-mail.test>"


@pytest.mark.parametrize(
    ("folder", "rescued", "expected"),
    [
        ("INBOX", False, {"inbox": 1, "opened": 1}),
        ("Junk", True, {"spam": 1, "rescued": 1, "opened": 1}),
        ("[Gmail]/Spam", False, {"spam": 1, "opened": 1}),
    ],
)
def test_placement_counts_on_the_senders_day(folder: str, rescued: bool, expected: dict[str, int]) -> None:
    exchange = Exchange("wx_abc", "ws_abcdef", "mb1", "mb2", date(2026, 6, 9), "sent")
    delta = sender_delta(exchange, placement(folder), rescued)
    assert delta == DailyCounters(date(2026, 6, 9), **expected)
