"""Warmup delivery's retry rule: which refusals are tried again, when, and until which day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from kindling.mail.outcomes import Outcome
from kindling.warmup.content import exchange_id
from kindling.warmup.delivery import (
    exchange_of_message_id,
    message_id_for,
    reserved_day,
    retry_decision,
)
from kindling.warmup.messages import WarmupSendMessage

NOON = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
LATE = datetime(2026, 6, 10, 23, 50, tzinfo=UTC)
DAY = "2026-06-10"


@pytest.mark.parametrize(
    ("outcome", "attempt", "now", "until", "expected"),
    [
        # Transient refusals: 5 minutes after the first try, 15 after the second (the campaign sender's ladder).
        (Outcome.SOFT_RETRY, 1, NOON, None, NOON + timedelta(minutes=5)),
        (Outcome.SOFT_RETRY, 2, NOON, None, NOON + timedelta(minutes=15)),
        (Outcome.CONNECTION_FAILED, 1, NOON, None, NOON + timedelta(minutes=5)),
        (Outcome.AUTH_FAILED, 2, NOON, None, NOON + timedelta(minutes=15)),
        # A rate limit waits at least the soft delay, longer when the mailbox's backoff says so.
        (Outcome.RATE_LIMITED, 1, NOON, None, NOON + timedelta(minutes=5)),
        (Outcome.RATE_LIMITED, 1, NOON, NOON + timedelta(minutes=1), NOON + timedelta(minutes=5)),
        (Outcome.RATE_LIMITED, 1, NOON, NOON + timedelta(hours=1), NOON + timedelta(hours=1)),
        # The backoff only matters for rate limits.
        (Outcome.SOFT_RETRY, 1, NOON, NOON + timedelta(hours=1), NOON + timedelta(minutes=5)),
        # Attempts used up.
        (Outcome.SOFT_RETRY, 3, NOON, None, None),  # 3 tries in all (docs/decisions.md)
        (Outcome.RATE_LIMITED, 4, NOON, None, None),
        # Never retried: permanent refusals, a bounce, a send that may have been accepted, success, a gate refusal.
        (Outcome.REJECTED, 1, NOON, None, None),
        (Outcome.HARD_BOUNCE, 1, NOON, None, None),
        (Outcome.UNKNOWN, 1, NOON, None, None),
        (Outcome.SENT, 1, NOON, None, None),
        (Outcome.SKIPPED, 1, NOON, None, None),
        # The retry would fall on the next UTC day, which never reserved the send.
        (Outcome.SOFT_RETRY, 1, LATE, None, LATE + timedelta(minutes=5)),
        (Outcome.SOFT_RETRY, 2, LATE, None, None),
        (Outcome.SOFT_RETRY, 1, LATE + timedelta(minutes=4, seconds=59), None, LATE + timedelta(minutes=9, seconds=59)),
        (Outcome.SOFT_RETRY, 1, LATE + timedelta(minutes=5), None, None),
        (Outcome.RATE_LIMITED, 1, datetime(2026, 6, 10, 22, 30, tzinfo=UTC), LATE + timedelta(hours=1), None),
    ],
)
def test_retry_decision(
    outcome: Outcome, attempt: int, now: datetime, until: datetime | None, expected: datetime | None
) -> None:
    assert retry_decision(outcome, attempt, now, DAY, until) == expected


def test_a_retry_is_judged_against_the_reserved_day_not_the_current_one() -> None:
    # Delivered just after midnight (the queue's delay), reserved the day before: nothing left to retry on.
    after_midnight = datetime(2026, 6, 11, 0, 2, tzinfo=UTC)
    assert retry_decision(Outcome.SOFT_RETRY, 1, after_midnight, DAY) is None
    assert retry_decision(Outcome.SOFT_RETRY, 1, after_midnight, "2026-06-11") == after_midnight + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("queued_at", "expected"),
    [
        (datetime(2026, 6, 10, 0, 0, tzinfo=UTC), "2026-06-10"),
        (datetime(2026, 6, 10, 23, 59, 59, tzinfo=UTC), "2026-06-10"),
        # Queued at 21:30 in New York (EDT) is 01:30 UTC the next day.
        (datetime(2026, 6, 10, 21, 30, tzinfo=timezone(timedelta(hours=-4))), "2026-06-11"),
    ],
)
def test_reserved_day_is_the_queue_time_in_utc(queued_at: datetime, expected: str) -> None:
    job = WarmupSendMessage(
        exchange_id="x",
        workspace_id="w",
        mailbox_id="m",
        day=date(2026, 6, 10),  # the sender's local day can differ from the UTC day the hard cap counts on
        recipient="r@example.test",
        from_address="s@example.test",
        send_at=queued_at,
        queued_at=queued_at,
    )
    assert reserved_day(job) == expected


EXCHANGE = exchange_id("mb_1", date(2026, 6, 10), 3)


@pytest.mark.parametrize(
    ("message_id", "expected"),
    [
        (message_id_for(EXCHANGE, "sam@acme.test"), EXCHANGE),  # the first email's own Message-ID
        (f"  {message_id_for(EXCHANGE, 'sam@acme.test')}\r\n", EXCHANGE),  # folded header whitespace
        (f"{EXCHANGE}@acme.test", EXCHANGE),  # without brackets, as some NDRs quote it
        (message_id_for(EXCHANGE, "sam@acme.test", reply=True), None),  # a reply's bounce is not the sender's
        ("<a.b.c@acme.test>", None),  # a foreign id
        ("", None),
        (None, None),
    ],
)
def test_the_exchange_of_a_bounced_message_id(message_id: str | None, expected: str | None) -> None:
    assert exchange_of_message_id(message_id) == expected
