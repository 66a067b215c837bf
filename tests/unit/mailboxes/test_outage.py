"""The outage rules (issue 15 part 1), as pure functions with the spec's numbers: disconnected vs error, the
re-test backoff (15 min, 1 h, 4 h, then every 12 h), the 24 h notification and the sweep's due instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.outage import (
    ends_outage,
    failure_fields,
    notify_at,
    outage_status,
    retest_delay,
    starts_outage,
    success_fields,
    sweep_due_at,
)

T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


def mailbox(**fields: Any) -> Mailbox:
    base: dict[str, Any] = {
        "id": "mbx_1",
        "workspace_id": "ws_abc123",
        "email_address": "a@lab.test",
        "status": "connected",
        "smtp_host": "smtp.lab.test",
        "smtp_port": 587,
        "smtp_username": "a@lab.test",
        "smtp_security": "starttls",
        "smtp_password_enc": "x",
        "imap_host": "imap.lab.test",
        "imap_port": 993,
        "imap_username": "a@lab.test",
        "imap_security": "ssl",
        "imap_password_enc": "x",
        "created_at": T0,
        "updated_at": T0,
    }
    base.update(fields)
    return Mailbox.model_validate(base)


@pytest.mark.parametrize(
    ("failed_retests", "delay"),
    [
        (0, timedelta(minutes=15)),
        (1, timedelta(hours=1)),
        (2, timedelta(hours=4)),
        (3, timedelta(hours=12)),
        (4, timedelta(hours=12)),
        (50, timedelta(hours=12)),
    ],
)
def test_retest_backoff_is_15_minutes_1_hour_4_hours_then_every_12_hours(failed_retests: int, delay: timedelta) -> None:
    assert retest_delay(failed_retests) == delay


def test_retest_backoff_refuses_a_negative_count() -> None:
    with pytest.raises(ValueError, match="negative"):
        retest_delay(-1)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"status": "connected"}, "disconnected"),  # it works now: a failure is a disconnection
        ({"status": "testing", "last_connected_at": T0}, "disconnected"),  # re-test after it worked before
        ({"status": "created", "last_connected_at": T0}, "disconnected"),  # new credentials for a mailbox that worked
        ({"status": "testing"}, "error"),  # its first test: it never worked
        ({"status": "created"}, "error"),
        ({"status": "error"}, "error"),
        ({"status": "disconnected", "last_connected_at": T0}, "disconnected"),
        ({"status": "disconnected"}, "disconnected"),  # stays disconnected on the next failed re-test
    ],
)
def test_disconnected_when_it_ever_worked_error_when_it_never_did(fields: dict[str, Any], status: str) -> None:
    assert outage_status(mailbox(**fields)) == status


def test_the_sweeps_walk_through_an_outage() -> None:
    """Down at 09:00; re-tests at 09:15, 10:15, 14:15, 02:15 (+1 d), 14:15 (+1 d)...; notified at 09:00 (+1 d)."""
    down = mailbox(**failure_fields(mailbox(), "auth_failed", "auth_failed (SMTP): ...", T0))
    assert (down.status, down.disconnected_since, down.retest_attempts) == ("disconnected", T0, 0)
    assert down.last_connected_at == T0  # it worked until now: after new credentials it is still `disconnected`
    assert outage_status(down.model_copy(update={"status": "created"})) == "disconnected"
    assert down.next_retest_at == datetime(2026, 6, 10, 9, 15, tzinfo=UTC)
    seen = [down.next_retest_at]
    current = down
    for _ in range(4):
        now = current.next_retest_at
        assert now is not None
        current = current.model_copy(update=failure_fields(current, "auth_failed", "...", now, backoff="advance"))
        seen.append(current.next_retest_at)
    assert seen == [
        datetime(2026, 6, 10, 9, 15, tzinfo=UTC),
        datetime(2026, 6, 10, 10, 15, tzinfo=UTC),
        datetime(2026, 6, 10, 14, 15, tzinfo=UTC),
        datetime(2026, 6, 11, 2, 15, tzinfo=UTC),
        datetime(2026, 6, 11, 14, 15, tzinfo=UTC),
    ]
    assert current.disconnected_since == T0  # the outage keeps its start
    assert notify_at(current) == datetime(2026, 6, 11, 9, 0, tzinfo=UTC)  # 24 h after it went down
    # The sweep looks again at whichever comes first: at 02:15 (+1 d) the re-test, then the notification at 09:00.
    at_0215 = down.model_copy(update={"next_retest_at": datetime(2026, 6, 11, 2, 15, tzinfo=UTC)})
    assert sweep_due_at(at_0215) == datetime(2026, 6, 11, 2, 15, tzinfo=UTC)
    at_1415 = down.model_copy(update={"next_retest_at": datetime(2026, 6, 11, 14, 15, tzinfo=UTC)})
    assert sweep_due_at(at_1415) == datetime(2026, 6, 11, 9, 0, tzinfo=UTC)
    notified = at_1415.model_copy(update={"outage_notified_at": datetime(2026, 6, 11, 9, 0, tzinfo=UTC)})
    assert notify_at(notified) is None and sweep_due_at(notified) == datetime(2026, 6, 11, 14, 15, tzinfo=UTC)


def test_new_credentials_restart_the_backoff_within_the_same_outage() -> None:
    late = mailbox(status="testing", last_connected_at=T0, disconnected_since=T0, retest_attempts=5)
    now = T0 + timedelta(days=3)
    fields = failure_fields(late, "auth_failed", "...", now)  # the check after a PATCH: "restart"
    assert (fields["retest_attempts"], fields["next_retest_at"]) == (0, now + timedelta(minutes=15))
    assert fields["disconnected_since"] == T0


def test_an_error_mailbox_is_retested_but_never_notified() -> None:
    never = mailbox(**failure_fields(mailbox(status="testing"), "auth_failed", "...", T0))
    assert never.status == "error" and notify_at(never) is None
    assert sweep_due_at(never) == datetime(2026, 6, 10, 9, 15, tzinfo=UTC)
    assert sweep_due_at(mailbox()) is None  # connected: nothing for the sweep


def test_an_outage_starts_once_and_ends_on_success() -> None:
    up = mailbox()
    down = up.model_copy(update=failure_fields(up, "auth_failed", "...", T0))
    assert starts_outage(up, down) and not ends_outage(up, down)
    again = down.model_copy(update=failure_fields(down, "auth_failed", "...", T0 + timedelta(minutes=15)))
    assert not starts_outage(down, again)  # the same outage: nothing new to announce
    back = again.model_copy(update=success_fields(T0 + timedelta(hours=1)))
    assert ends_outage(again, back) and not starts_outage(again, back)
    assert (back.status, back.disconnected_since, back.next_retest_at, back.last_connected_at) == (
        "connected",
        None,
        None,
        T0 + timedelta(hours=1),
    )
    assert not ends_outage(up, up.model_copy(update=success_fields(T0)))  # a connected mailbox re-tested


def test_the_flip_back_to_connected_leaves_a_resume_marker_due_at_once() -> None:
    down = mailbox(**failure_fields(mailbox(), "auth_failed", "...", T0))
    back = down.model_copy(update=success_fields(T0 + timedelta(hours=1), down))
    # The marker is the ended outage's start (09:00), already past: the next sweep finishes the resume.
    assert (back.status, back.resume_pending_since) == ("connected", T0)
    assert sweep_due_at(back) == datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    # A connected mailbox re-tested with nothing pending leaves none.
    assert success_fields(T0, mailbox())["resume_pending_since"] is None
    # Down again before the resume happened: the marker goes, the new outage's re-test is what is due.
    again = back.model_copy(update=failure_fields(back, "auth_failed", "...", T0 + timedelta(hours=2)))
    assert again.resume_pending_since is None
    assert sweep_due_at(again) == datetime(2026, 6, 10, 11, 15, tzinfo=UTC)
    # A pending marker on a mailbox no longer connected (its credentials being changed) is not swept.
    assert sweep_due_at(back.model_copy(update={"status": "testing"})) is None
