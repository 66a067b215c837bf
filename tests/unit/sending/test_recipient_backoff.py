"""Recipient-domain backoff, pure: the wait ladder (5 minutes, doubling, capped at 2 hours), reset on acceptance,
and which SMTP results speak for the recipient's domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kindling.mail.outcomes import Outcome, Stage
from kindling.sending import recipient_backoff as rb

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("level", "wait"),
    [
        (0, timedelta(0)),
        (1, timedelta(minutes=5)),
        (2, timedelta(minutes=10)),
        (3, timedelta(minutes=20)),
        (4, timedelta(minutes=40)),
        (5, timedelta(minutes=80)),
        (6, timedelta(hours=2)),  # 160 minutes capped
        (30, timedelta(hours=2)),
    ],
)
def test_the_wait_doubles_up_to_two_hours(level: int, wait: timedelta) -> None:
    assert rb.delay_for(level) == wait


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (rb.DomainBackoff(), rb.DomainBackoff(1, NOW + timedelta(minutes=5))),
        (rb.DomainBackoff(1, NOW), rb.DomainBackoff(2, NOW + timedelta(minutes=10))),
        (rb.DomainBackoff(7, NOW), rb.DomainBackoff(8, NOW + timedelta(hours=2))),
    ],
)
def test_a_deferral_climbs_one_rung(before: rb.DomainBackoff, after: rb.DomainBackoff) -> None:
    assert rb.on_deferred(before, NOW) == after


@pytest.mark.parametrize(
    ("state", "at", "active"),
    [
        (rb.DomainBackoff(), NOW, False),
        (rb.DomainBackoff(1, NOW + timedelta(minutes=5)), NOW, True),
        (rb.DomainBackoff(1, NOW + timedelta(minutes=5)), NOW + timedelta(minutes=5), False),  # ends exactly then
    ],
)
def test_active(state: rb.DomainBackoff, at: datetime, active: bool) -> None:
    assert state.active(at) is active


def test_an_accepted_message_resets() -> None:
    assert rb.on_accepted(rb.DomainBackoff(4, NOW)) == rb.DomainBackoff()
    assert rb.on_accepted(rb.DomainBackoff()) == rb.DomainBackoff()


@pytest.mark.parametrize(
    ("results", "verdict"),
    [
        ([(Outcome.RATE_LIMITED, Stage.RCPT)], "deferred"),  # 451 4.7.1 to RCPT TO
        ([(Outcome.SOFT_RETRY, Stage.RCPT)], "deferred"),  # any other 4xx to RCPT TO
        ([(Outcome.SOFT_RETRY, Stage.DATA)], "deferred"),
        ([(Outcome.SENT, Stage.DATA), (Outcome.RATE_LIMITED, Stage.RCPT)], "deferred"),  # a deferral wins
        ([(Outcome.SENT, Stage.DATA)], "accepted"),
        ([(Outcome.RATE_LIMITED, Stage.MAIL)], None),  # the mailbox's provider throttling it: not the domain
        ([(Outcome.RATE_LIMITED, Stage.CONNECT)], None),
        ([(Outcome.AUTH_FAILED, Stage.AUTH)], None),
        ([(Outcome.HARD_BOUNCE, Stage.RCPT)], None),  # the address, not the domain's pace
        ([(Outcome.UNKNOWN, Stage.DATA)], None),
        ([(Outcome.CONNECTION_FAILED, None)], None),  # never attempted
        ([], None),
    ],
)
def test_which_results_speak_for_the_domain(results: list[tuple[Outcome, Stage | None]], verdict: str | None) -> None:
    assert rb.domain_verdict(results) == verdict
