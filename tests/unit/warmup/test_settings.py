"""Warmup settings: request validation, the settings rules (apply_settings) and the stats wiring (build_report)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from kindling.mailboxes.models import Mailbox
from kindling.platform.errors import InvalidStatus, KindlingError, ValidationFailed
from kindling.warmup.counters import DailyCounters
from kindling.warmup.models import (
    MANUAL_OVERRIDE,
    BulkWarmupUpdate,
    DayRow,
    WarmupSettingsUpdate,
    WarmupState,
    as_speed,
    progress_for,
)
from kindling.warmup.service import Applied, apply_settings, build_report, check_update, local_today

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
WS = "ws_unit000001"
MAILBOX_ID = "5bd50e20-6b75-4429-9a5a-4a09b46e945a"


def mailbox(**fields: Any) -> Mailbox:
    base: dict[str, Any] = {
        "id": MAILBOX_ID,
        "workspace_id": WS,
        "email_address": "jordan@lab.test",
        "status": "connected",
        "smtp_host": "smtp.lab.test",
        "smtp_port": 587,
        "smtp_username": "jordan@lab.test",
        "smtp_security": "starttls",
        "smtp_password_enc": "x",
        "imap_host": "imap.lab.test",
        "imap_port": 993,
        "imap_username": "jordan@lab.test",
        "imap_security": "ssl",
        "imap_password_enc": "x",
        "created_at": NOW - timedelta(days=30),
        "updated_at": NOW - timedelta(days=1),
    }
    base.update(fields)
    return Mailbox.model_validate(base)


def state(**fields: Any) -> WarmupState:
    return WarmupState(workspace_id=WS, mailbox_id=MAILBOX_ID, **fields)


def patch(**fields: Any) -> WarmupSettingsUpdate:
    return WarmupSettingsUpdate.model_validate(fields)


# --- request validation -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"warmup_enabled": True, "warmup_type": "normal", "warmup_target_daily_volume": 50},  # the reference's
        {"warmup_target_daily_volume": 1},
        {"warmup_target_daily_volume": 100},
        {"warmup_type": "conservative", "warmup_strategy": "auto"},
        {"warmup_strategy": "recovery"},
        {"warmup_window_start_hour": 0, "warmup_window_end_hour": 24, "warmup_timezone": "Europe/Amsterdam"},
        {"warmup_window_start_hour": 22, "warmup_window_end_hour": 6},
        {"warmup_reply_rate": 0},
        {"warmup_reply_rate": 100},
    ],
)
def test_valid_settings_bodies(body: dict[str, Any]) -> None:
    assert WarmupSettingsUpdate.model_validate(body).changes() == body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"warmup_target_daily_volume": 0}, "warmup_target_daily_volume"),
        ({"warmup_target_daily_volume": 101}, "warmup_target_daily_volume"),
        ({"warmup_target_daily_volume": "50"}, "warmup_target_daily_volume"),  # strict: no coercion
        ({"warmup_target_daily_volume": 5.5}, "warmup_target_daily_volume"),
        ({"warmup_enabled": "true"}, "warmup_enabled"),
        ({"warmup_type": "turbo"}, "warmup_type"),
        ({"warmup_strategy": "established"}, "warmup_strategy"),
        ({"warmup_window_start_hour": 24}, "warmup_window_start_hour"),
        ({"warmup_window_end_hour": 0}, "warmup_window_end_hour"),
        ({"warmup_timezone": "Mars/Olympus"}, "warmup_timezone"),
        ({"warmup_reply_rate": 101}, "warmup_reply_rate"),
        ({"warmup_enabled": None}, "cannot be null: warmup_enabled"),
        ({"warmup_target_daily_volume": None}, "cannot be null: warmup_target_daily_volume"),
        ({"daily_send_limit": 10}, "daily_send_limit"),  # a mailbox field, not a warmup setting
    ],
)
def test_invalid_settings_bodies(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        WarmupSettingsUpdate.model_validate(body)
    assert field in str(caught.value)


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"mailbox_ids": ["a", "b"], "updates": {"warmup_enabled": True, "warmup_type": "normal"}}, True),
        ({"mailbox_ids": [], "updates": {"warmup_enabled": True}}, False),
        ({"mailbox_ids": ["a"], "updates": {}}, False),
        ({"mailbox_ids": ["a"]}, False),
        ({"mailbox_ids": [""], "updates": {"warmup_enabled": True}}, False),
        ({"mailbox_ids": ["x" * 65], "updates": {"warmup_enabled": True}}, False),
        ({"mailbox_ids": [str(n) for n in range(1001)], "updates": {"warmup_enabled": True}}, False),
        ({"mailbox_ids": [str(n) for n in range(1000)], "updates": {"warmup_enabled": True}}, True),
        ({"mailbox_ids": ["a"], "updates": {"warmup_target_daily_volume": 500}}, False),
    ],
)
def test_bulk_update_bodies(body: dict[str, Any], ok: bool) -> None:
    if ok:
        BulkWarmupUpdate.model_validate(body)
    else:
        with pytest.raises(ValidationError):
            BulkWarmupUpdate.model_validate(body)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"warmup_window_start_hour": 9, "warmup_window_end_hour": 9}, "validation_error"),
        ({"warmup_strategy": "new_domain", "warmup_type": "aggressive"}, "speed_not_allowed"),
    ],
)
def test_check_update_refuses_changes_no_mailbox_can_take(body: dict[str, Any], code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_update(patch(**body))
    assert caught.value.code == code


# --- apply_settings ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["created", "testing", "error", "disconnected"])
def test_enabling_requires_a_connected_mailbox(status: str) -> None:
    with pytest.raises(InvalidStatus) as caught:
        apply_settings(mailbox(status=status), state(), patch(warmup_enabled=True), NOW)
    assert caught.value.code == "mailbox_not_connected"
    assert caught.value.details[0]["field"] == "warmup_enabled"


@pytest.mark.parametrize(
    "body", [{"warmup_enabled": False}, {"warmup_target_daily_volume": 20}, {"warmup_type": "normal"}]
)
def test_a_deleted_mailbox_takes_no_warmup_change(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidStatus) as caught:
        apply_settings(mailbox(status="deleted"), state(), patch(**body), NOW)
    assert caught.value.code == "invalid_status"


@pytest.mark.parametrize("status", ["created", "testing", "error", "disconnected"])
def test_other_settings_and_disabling_do_not_need_a_connection(status: str) -> None:
    applied = apply_settings(
        mailbox(status=status, warmup_pending=True),
        state(),
        patch(warmup_enabled=False, warmup_target_daily_volume=30, warmup_type="conservative"),
        NOW,
    )
    assert applied.state.target_daily_volume == 30
    # Disabling drops a pending auto_enable_warmup, so the checker does not switch it back on.
    assert applied.mailbox_changes == {"warmup_pending": False, "warmup_type": "conservative", "updated_at": NOW}


def test_enabling_starts_the_ramp_and_mirrors_progress_on_the_mailbox() -> None:
    applied = apply_settings(
        mailbox(), state(), patch(warmup_enabled=True, warmup_type="normal", warmup_target_daily_volume=50), NOW
    )
    assert applied.state.started_at == NOW and applied.state.updated_at == NOW
    assert applied.state.strategy == "new_domain" and applied.state.ramp_day == 1
    # Day 1 of the New Domain ramp sends 1 of min(target 50, cap 40): 3 % (rounded half up from 2.5).
    assert applied.mailbox_changes == {"warmup_enabled": True, "warmup_progress": 3, "updated_at": NOW}


def test_applying_the_same_change_twice_changes_nothing_the_second_time() -> None:
    body = patch(warmup_enabled=True, warmup_target_daily_volume=20, warmup_strategy="maintenance")
    first = apply_settings(mailbox(), state(), body, NOW)
    updated = mailbox().model_copy(update=first.mailbox_changes)
    second = apply_settings(updated, first.state, body, NOW + timedelta(minutes=5))
    assert second == Applied(first.state, {})


def test_a_target_change_before_warmup_ever_ran_leaves_progress_at_zero() -> None:
    applied = apply_settings(mailbox(), state(), patch(warmup_target_daily_volume=5), NOW)
    assert applied.state.started_at is None
    assert applied.mailbox_changes == {}
    assert progress_for(applied.state, "normal") == 0


def test_a_mailbox_enabled_by_the_checker_starts_its_ramp_on_its_first_settings_change() -> None:
    # auto_enable_warmup turned warmup on without a warmup state; the next change records the start.
    applied = apply_settings(mailbox(warmup_enabled=True), state(), patch(warmup_target_daily_volume=10), NOW)
    assert applied.state.started_at == NOW
    assert applied.mailbox_changes == {"warmup_progress": 10}  # progress alone does not touch updated_at


@pytest.mark.parametrize(
    ("current", "body", "allowed"),
    [
        (state(), {"warmup_type": "aggressive"}, False),  # New Domain (the default strategy)
        (state(strategy="recovery", resume_strategy="new_domain"), {"warmup_type": "aggressive"}, False),
        (state(strategy="new_mailbox"), {"warmup_type": "aggressive"}, True),
        (state(strategy="maintenance"), {"warmup_type": "aggressive"}, True),
        (state(strategy="recovery"), {"warmup_type": "aggressive"}, True),  # resumes Maintenance
        (state(), {"warmup_type": "aggressive", "warmup_strategy": "new_mailbox"}, True),
        (state(strategy="new_mailbox"), {"warmup_strategy": "new_domain"}, True),  # speed stays normal
        (state(), {"warmup_type": "conservative"}, True),
    ],
)
def test_aggressive_only_for_established_domains(current: WarmupState, body: dict[str, Any], allowed: bool) -> None:
    if allowed:
        apply_settings(mailbox(), current, patch(**body), NOW)
    else:
        with pytest.raises(ValidationFailed) as caught:
            apply_settings(mailbox(), current, patch(**body), NOW)
        assert caught.value.code == "speed_not_allowed"


def test_pinning_a_mailbox_already_aggressive_to_new_domain_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        apply_settings(
            mailbox(warmup_type="aggressive"), state(strategy="maintenance"), patch(warmup_strategy="new_domain"), NOW
        )
    assert caught.value.code == "speed_not_allowed"


@pytest.mark.parametrize(
    ("current", "pinned", "strategy", "resume", "reason"),
    [
        (state(), "maintenance", "maintenance", None, MANUAL_OVERRIDE),
        (state(strategy="new_mailbox", ramp_day=25), "recovery", "recovery", "new_mailbox", MANUAL_OVERRIDE),
        (state(strategy="recovery", resume_strategy="new_mailbox"), "new_domain", "new_domain", None, MANUAL_OVERRIDE),
        # Pinning the strategy it already runs records no transition.
        (state(strategy="maintenance"), "maintenance", "maintenance", None, None),
    ],
)
def test_strategy_override(
    current: WarmupState, pinned: str, strategy: str, resume: str | None, reason: str | None
) -> None:
    applied = apply_settings(mailbox(), current, patch(warmup_strategy=pinned), NOW)
    assert applied.state.strategy_override == pinned
    assert (applied.state.strategy, applied.state.resume_strategy) == (strategy, resume)
    assert applied.state.strategy_reason == reason
    assert applied.state.strategy_changed_at == (NOW if reason else None)
    assert applied.state.ramp_day == current.ramp_day  # the ramp position is kept


def test_auto_unpins_and_keeps_the_current_strategy() -> None:
    pinned = state(strategy="maintenance", strategy_override="maintenance", strategy_reason=MANUAL_OVERRIDE)
    applied = apply_settings(mailbox(), pinned, patch(warmup_strategy="auto"), NOW)
    assert applied.state.strategy_override is None
    assert applied.state.strategy == "maintenance"


@pytest.mark.parametrize(
    ("current", "body", "ok"),
    [
        (state(), {"warmup_window_start_hour": 8, "warmup_window_end_hour": 18}, True),
        (state(), {"warmup_window_start_hour": 22, "warmup_window_end_hour": 6}, True),  # overnight
        # Half a window sent: checked against the stored other half.
        (state(window_start_hour=8, window_end_hour=18), {"warmup_window_start_hour": 18}, False),
        (state(window_start_hour=8, window_end_hour=18), {"warmup_window_end_hour": 12}, True),
        (state(), {"warmup_window_start_hour": 0, "warmup_window_end_hour": 24}, True),
    ],
)
def test_window_is_checked_with_the_stored_half(current: WarmupState, body: dict[str, Any], ok: bool) -> None:
    if ok:
        applied = apply_settings(mailbox(), current, patch(**body), NOW)
        for field, value in body.items():
            assert getattr(applied.state, field.removeprefix("warmup_")) == value
    else:
        with pytest.raises(ValidationFailed) as caught:
            apply_settings(mailbox(), current, patch(**body), NOW)
        assert caught.value.details[0]["code"] == "invalid_window"


def test_timezone_and_reply_rate_are_stored() -> None:
    applied = apply_settings(mailbox(), state(), patch(warmup_timezone="America/New_York", warmup_reply_rate=45), NOW)
    assert (applied.state.timezone, applied.state.reply_rate) == ("America/New_York", 45)


def test_every_refusal_is_a_domain_error_with_a_stable_code() -> None:
    # The bulk job records refusals as per-item errors by catching KindlingError: none may escape as anything else.
    cases = [
        (mailbox(status="error"), state(), patch(warmup_enabled=True)),
        (mailbox(status="deleted"), state(), patch(warmup_enabled=False)),
        (mailbox(), state(), patch(warmup_type="aggressive")),
        (mailbox(), state(window_end_hour=9), patch(warmup_window_start_hour=9)),
    ]
    codes = []
    for box, current, body in cases:
        with pytest.raises(KindlingError) as caught:
            apply_settings(box, current, body, NOW)
        codes.append(caught.value.code)
    assert codes == ["mailbox_not_connected", "invalid_status", "speed_not_allowed", "validation_error"]


# --- build_report (the stats wiring) ----------------------------------------------------------------------------
def row(offset: int, *, last_sent_at: datetime | None = None, **counts: int) -> DayRow:
    return DayRow(DailyCounters(TODAY - timedelta(days=offset), **counts), last_sent_at)


@pytest.mark.parametrize(
    ("box", "current", "campaign", "limit", "reason"),
    [
        (mailbox(), state(), 0, 0, "warmup_disabled"),
        (mailbox(warmup_enabled=True, status="error"), state(), 0, 0, "mailbox_not_connected"),
        (mailbox(warmup_enabled=True), state(), 0, 1, "ramp_up"),  # New Domain day 1
        (mailbox(warmup_enabled=True), state(target_daily_volume=10, strategy="maintenance"), 0, 10, None),
        (mailbox(warmup_enabled=True), state(target_daily_volume=50, strategy="maintenance"), 0, 15, "maintenance"),
        (
            mailbox(warmup_enabled=True),
            state(target_daily_volume=50, strategy="recovery", resume_strategy="maintenance"),
            0,
            7,
            "recovery_mode",
        ),
        # The speed is the mailbox's warmup_type: Aggressive walks the curve faster (day 11 ~ Normal's day 17).
        (
            mailbox(warmup_enabled=True, warmup_type="aggressive"),
            state(strategy="new_mailbox", ramp_day=11, target_daily_volume=50),
            0,
            15,
            "ramp_up",
        ),
        (
            mailbox(warmup_enabled=True),
            state(strategy="new_mailbox", ramp_day=11, target_daily_volume=50),
            0,
            8,
            "ramp_up",
        ),
        # Today's campaign sends count against the 500/day hard cap.
        (mailbox(warmup_enabled=True), state(strategy="maintenance"), 495, 5, "daily_hard_cap"),
        (mailbox(warmup_enabled=True), state(strategy="maintenance"), 490, 10, None),  # a tie: the target
    ],
)
def test_effective_limit_wiring(
    box: Mailbox, current: WarmupState, campaign: int, limit: int, reason: str | None
) -> None:
    report = build_report(box, current, [], today=TODAY, workspace_timezone="UTC", campaign_sent_today=campaign)
    assert (report.limit.limit, report.limit.reason) == (limit, reason)


def test_report_counts_the_window_and_the_latest_send() -> None:
    sent_at = datetime(2026, 6, 9, 17, 30, tzinfo=UTC)
    rows = [
        row(0, received=3),
        row(1, sent=10, inbox=7, spam=3, rescued=2, received=4, last_sent_at=sent_at),
        row(2, sent=5, inbox=5, last_sent_at=sent_at - timedelta(days=1)),
        row(7, sent=100, spam=100, last_sent_at=sent_at - timedelta(days=6)),  # outside the 7-day window
    ]
    report = build_report(mailbox(warmup_enabled=True), state(), rows, today=TODAY, workspace_timezone="Asia/Tokyo")
    stats = report.stats
    assert (stats.sent_today, stats.received_today, stats.saved_from_spam) == (0, 3, 2)
    assert stats.last_sent_at == sent_at
    # 15 sent in the window: inbox 12 + rescued 2 -> 93 %, spam 3 -> 20 %; 100 - (20 * 1.5 + 6.67 * 0.5) = 66.7.
    assert (stats.inbox_rate, stats.spam_rate) == (93, 20)
    assert stats.reputation_score == 67
    assert [p.day for p in stats.daily] == [TODAY - timedelta(days=n) for n in range(6, -1, -1)]
    assert report.timezone == "Asia/Tokyo"  # no timezone set: the workspace's
    pinned = build_report(mailbox(), state(timezone="UTC"), [], today=TODAY, workspace_timezone="Asia/Tokyo")
    assert pinned.timezone == "UTC"


def test_a_mailbox_without_traffic_has_no_score() -> None:
    report = build_report(mailbox(), state(), [], today=TODAY, workspace_timezone="UTC")
    assert report.stats.reputation_score is None and report.stats.inbox_rate is None
    assert report.stats.last_sent_at is None
    assert [p.sent for p in report.stats.daily] == [0] * 7


@pytest.mark.parametrize(
    ("now", "timezone", "expected"),
    [
        (datetime(2026, 6, 10, 23, 30, tzinfo=UTC), "UTC", date(2026, 6, 10)),
        (datetime(2026, 6, 10, 23, 30, tzinfo=UTC), "Europe/Amsterdam", date(2026, 6, 11)),
        (datetime(2026, 6, 10, 3, 0, tzinfo=UTC), "America/Los_Angeles", date(2026, 6, 9)),
    ],
)
def test_today_is_the_workspace_day(now: datetime, timezone: str, expected: date) -> None:
    assert local_today(now, timezone) == expected


@pytest.mark.parametrize(
    ("value", "speed"),
    [("normal", "normal"), ("conservative", "conservative"), ("aggressive", "aggressive"), ("x", "normal")],
)
def test_warmup_type_is_the_ramp_speed(value: str, speed: str) -> None:
    assert as_speed(value) == speed
