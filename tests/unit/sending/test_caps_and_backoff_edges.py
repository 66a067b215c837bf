"""Eligibility and backoff at their edges: which cap is named on a tie, the pacer with no earlier send, and a
mailbox that is not backing off keeping no success history. Numbers are the spec's, written out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from kindling.sending.backoff import CLEAR, BackoffState, on_success
from kindling.sending.circuit import HostCircuit, on_connection_failure
from kindling.sending.eligibility import Reason, Snapshot, blocked_until, local_day, pacer_interval, remaining_today

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


def snapshot(**overrides: object) -> Snapshot:
    values: dict[str, object] = {
        "now": NOW,
        "active_on_campaign": True,
        "mailbox_status": "connected",
        "sending_enabled": True,
        "mailbox_daily_limit": 50,
        "mailbox_sent_today": 0,
        "campaign_daily_limit": None,
        "campaign_sent_today": 0,
        "campaign_mailbox_limit": None,
        "campaign_mailbox_sent_today": 0,
    }
    values.update(overrides)
    return Snapshot(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # Ties name the mailbox's own limit first, then the campaign's, then the campaign-mailbox cap.
        ({"mailbox_daily_limit": 10, "campaign_daily_limit": 10}, (10, Reason.MAILBOX_DAILY_LIMIT)),
        (
            {"mailbox_daily_limit": 20, "campaign_daily_limit": 10, "campaign_mailbox_limit": 10},
            (10, Reason.CAMPAIGN_DAILY_LIMIT),
        ),
        ({"mailbox_daily_limit": 500, "warmup_sent_today": 0}, (500, Reason.MAILBOX_DAILY_LIMIT)),
        ({"mailbox_daily_limit": 600}, (500, Reason.HARD_CAP)),
    ],
)
def test_the_binding_cap_on_a_tie(overrides: dict[str, object], expected: tuple[int, Reason]) -> None:
    assert remaining_today(snapshot(**overrides)) == expected


def test_the_pacer_with_no_earlier_send_never_blocks_until_a_time() -> None:
    assert blocked_until(snapshot(last_send_at=None, pacer_interval=timedelta(minutes=5)), Reason.PACER) is None
    assert blocked_until(
        snapshot(last_send_at=NOW, pacer_interval=timedelta(minutes=5)), Reason.PACER
    ) == NOW + timedelta(minutes=5)


def test_a_zero_interval_is_no_interval() -> None:
    assert pacer_interval([0, None, 0.0]) == timedelta(0)


def test_a_mailbox_not_backing_off_keeps_no_success_history() -> None:
    stale = BackoffState(level=0, until=None, successes=(NOW - timedelta(minutes=5),))
    assert on_success(stale, NOW) == CLEAR


def test_a_failure_below_the_threshold_keeps_the_pause_a_host_already_has() -> None:
    paused_until = NOW + timedelta(minutes=3)
    assert on_connection_failure(HostCircuit(2, paused_until), NOW) == HostCircuit(3, paused_until)
    assert on_connection_failure(HostCircuit(4, None), NOW) == HostCircuit(5, NOW + timedelta(minutes=5))


def test_a_naive_time_has_no_local_day() -> None:
    with pytest.raises(ValueError, match=r"^an aware datetime is required$"):
        local_day(datetime(2026, 6, 10, 9, 0), "UTC")
    assert local_day(NOW, "Asia/Tokyo") == date(2026, 6, 10)
    assert local_day(NOW + timedelta(hours=15), "Asia/Tokyo") == date(2026, 6, 11)
