"""Pure campaign rules: the status machine (every status x every action), sticky weighted variants, letters,
step delays, dates, the sending schedule and the request models' validation."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from kindling.campaigns import rules
from kindling.campaigns.models import (
    CAMPAIGN_STATUSES,
    CampaignCreate,
    CampaignHeader,
    CampaignSettings,
    CampaignUpdate,
    SendingWindow,
    StepRecord,
    VariantRecord,
    assign_variant,
)
from kindling.campaigns.service import normalise_positions, step_details

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)

# status -> the actions allowed from it (everything else is refused). Written out by hand from the reference
# (start: draft/paused; pause: running/scheduled; PATCH and steps: draft/paused) and the engine's transitions.
ALLOWED: dict[str, set[str]] = {
    "draft": {"start", "update", "edit_steps", "edit_mailboxes"},
    "scheduled": {"pause", "edit_mailboxes", "activate", "auto_pause", "complete", "fail"},
    "running": {"pause", "edit_mailboxes", "auto_pause", "cooldown", "complete", "fail"},
    "paused": {"start", "update", "edit_steps", "edit_mailboxes", "complete", "fail", "resume"},
    "completed": set(),
    "cooldown": {"edit_mailboxes", "auto_pause", "recover", "complete", "fail"},
    "errored": set(),
}
TARGET = {
    ("draft", "start"): "running",
    ("paused", "start"): "running",
    ("running", "pause"): "paused",
    ("scheduled", "pause"): "paused",
    ("scheduled", "activate"): "running",
    ("running", "auto_pause"): "paused",
    ("scheduled", "auto_pause"): "paused",
    ("cooldown", "auto_pause"): "paused",
    ("running", "cooldown"): "cooldown",
    ("cooldown", "recover"): "running",
    ("paused", "resume"): "running",
}


def test_the_table_covers_every_status() -> None:
    assert set(ALLOWED) == set(CAMPAIGN_STATUSES)


@pytest.mark.parametrize("status", CAMPAIGN_STATUSES)
@pytest.mark.parametrize("action", rules.ACTIONS)
def test_status_machine(status: str, action: rules.Action) -> None:
    expected_allowed = action in ALLOWED[status]
    assert rules.allowed(status, action) is expected_allowed
    after = rules.next_status(status, action)
    if not expected_allowed:
        assert after is None
    elif action in rules.EDITS:
        assert after == status  # edits never move the status
    elif action == "complete":
        assert after == "completed"
    elif action == "fail":
        assert after == "errored"
    else:
        assert after == TARGET[(status, action)]


@pytest.mark.parametrize(
    ("status", "paused_reason", "cause", "resumes"),
    [
        ("paused", "mailbox_disconnected", "mailbox_disconnected", True),
        ("paused", "linkedin_account_disconnected", "linkedin_account_disconnected", True),
        ("paused", "api", "mailbox_disconnected", False),  # the user paused it: stays paused
        ("paused", "safety_cooldown", "mailbox_disconnected", False),
        ("paused", "bounce_shield", "mailbox_disconnected", False),
        ("paused", "high_failure_rate", "mailbox_disconnected", False),
        ("paused", "api", "api", False),  # the engine never undoes a user pause
        ("paused", "safety_cooldown", "safety_cooldown", False),
        ("paused", "bounce_shield", "bounce_shield", False),
        ("running", None, "mailbox_disconnected", False),
        ("cooldown", None, "mailbox_disconnected", False),
    ],
)
def test_only_disconnect_pauses_resume_by_themselves(
    status: str, paused_reason: str | None, cause: str, resumes: bool
) -> None:
    assert rules.may_auto_resume(status, paused_reason, cause) is resumes


def _active_step(index: int, active: bool) -> StepRecord:
    return StepRecord.model_validate(
        {
            "id": f"s{index}",
            "step_index": index,
            "is_active": active,
            "variants": [{"id": "v", "letter": "A", "subject": "s", "body_html": "b"}],
            "created_at": NOW,
            "updated_at": NOW,
        }
    )


@pytest.mark.parametrize(
    ("actives", "problem"),
    [
        ((), "no_steps"),
        ((False,), "no_active_steps"),
        ((False, False, False), "no_active_steps"),
        ((False, True), None),
        ((True,), None),
    ],
)
def test_a_campaign_cannot_continue_without_an_active_step(actives: tuple[bool, ...], problem: str | None) -> None:
    steps = [_active_step(i, active) for i, active in enumerate(actives)]
    assert rules.cannot_continue(steps) == problem


@pytest.mark.parametrize(
    ("start_date", "expected"),
    [
        (None, "running"),
        (NOW - timedelta(hours=1), "running"),
        (NOW, "running"),
        (NOW + timedelta(minutes=1), "scheduled"),
    ],
)
def test_future_start_date_schedules(start_date: datetime | None, expected: str) -> None:
    assert rules.start_target(start_date, NOW) == expected


@pytest.mark.parametrize(
    ("status", "reason", "at", "ok"),
    [
        ("paused", "api", NOW, True),
        ("paused", None, NOW, False),
        ("paused", "api", None, False),
        ("running", None, None, True),
        ("running", "api", NOW, False),
        ("paused", "mailbox_disconnected", NOW, True),
        ("paused", "safety_cooldown", NOW, True),
        ("paused", "bounce_shield", NOW, True),
        ("paused", "high_failure_rate", NOW, True),
        ("paused", "linkedin_account_disconnected", NOW, True),
        ("paused", "because", NOW, False),  # not a known reason
        ("paused", "", NOW, False),
    ],
)
def test_paused_rows_always_carry_a_reason(status: str, reason: str | None, at: datetime | None, ok: bool) -> None:
    fields: dict[str, Any] = {
        "campaign_id": "c",
        "workspace_id": "ws_abcdef",
        "name": "n",
        "status": status,
        "paused_reason": reason,
        "paused_at": at,
    }
    if ok:
        CampaignHeader(**fields, created_at=NOW, updated_at=NOW)
    else:
        with pytest.raises(ValidationError):
            CampaignHeader(**fields, created_at=NOW, updated_at=NOW)


# --- variants --------------------------------------------------------------------------------------------------
def _variants(*spec: tuple[str, int, bool]) -> list[VariantRecord]:
    return [VariantRecord(id=f"v{letter}", letter=letter, weight=w, enabled=e) for letter, w, e in spec]


@pytest.mark.parametrize(
    ("spec", "shares"),
    [
        ((("A", 50, True), ("B", 50, True)), {"A": 0.5, "B": 0.5}),
        ((("A", 80, True), ("B", 20, True)), {"A": 0.8, "B": 0.2}),
        ((("A", 1, True), ("B", 1, True), ("C", 2, True)), {"A": 0.25, "B": 0.25, "C": 0.5}),
        ((("A", 100, True), ("B", 0, True)), {"A": 1.0}),
        ((("A", 50, False), ("B", 50, True)), {"B": 1.0}),
        ((("A", 0, True), ("B", 0, True)), {"A": 0.5, "B": 0.5}),
    ],
)
def test_assignment_follows_the_weights(spec: tuple[tuple[str, int, bool], ...], shares: dict[str, float]) -> None:
    variants = _variants(*spec)
    n = 20_000
    counts = Counter(assign_variant(variants, f"enr_{i}") for i in range(n))
    assert set(counts) == set(shares)
    for letter, share in shares.items():
        assert abs(counts[letter] / n - share) < 0.015, (letter, counts)


def test_assignment_is_sticky_and_independent_of_order() -> None:
    variants = _variants(("A", 30, True), ("B", 70, True))
    first = [assign_variant(variants, f"enr_{i}") for i in range(500)]
    again = [assign_variant(list(reversed(variants)), f"enr_{i}") for i in range(500)]
    assert first == again
    assert len(set(first)) == 2


def test_assignment_needs_an_enabled_variant() -> None:
    with pytest.raises(ValueError, match="enabled"):
        assign_variant(_variants(("A", 50, False)), "enr_1")


@pytest.mark.parametrize(
    ("number", "letter"), [(1, "A"), (2, "B"), (26, "Z"), (27, "AA"), (28, "AB"), (52, "AZ"), (53, "BA")]
)
def test_letters(number: int, letter: str) -> None:
    assert rules.letter_for(number) == letter


@pytest.mark.parametrize(
    ("spec", "target", "leaves_none"),
    [
        ((("A", 1, True), ("B", 1, True)), "vA", False),
        ((("A", 1, True), ("B", 1, False)), "vA", True),
        ((("A", 1, False), ("B", 1, True)), "vA", False),
        ((("A", 1, True),), "vA", True),
    ],
)
def test_last_enabled_variant(spec: tuple[tuple[str, int, bool], ...], target: str, leaves_none: bool) -> None:
    assert rules.would_leave_no_enabled(_variants(*spec), target) is leaves_none


# --- steps and dates -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("position", "days", "hours", "expected"),
    [
        (0, None, None, (0, None)),
        (0, 3, 5, (0, None)),  # the first step always sends immediately
        (1, None, None, (1, None)),  # later steps default to one day
        (1, 0, 6, (0, 6)),
        (4, 3, None, (3, None)),
    ],
)
def test_step_delays(position: int, days: int | None, hours: int | None, expected: tuple[int, int | None]) -> None:
    assert rules.step_delay(position, days, hours) == expected


@pytest.mark.parametrize(
    ("start", "end", "end_changed", "problems"),
    [
        (None, None, True, []),
        (None, NOW + timedelta(days=1), True, []),
        (None, NOW - timedelta(days=1), True, [("endDate", "must be in the future")]),
        (None, NOW - timedelta(days=1), False, []),  # an old end date does not block other edits
        (NOW + timedelta(days=2), NOW + timedelta(days=1), True, [("endDate", "must be after startDate")]),
        (NOW + timedelta(days=1), NOW + timedelta(days=1), True, [("endDate", "must be after startDate")]),
        (NOW + timedelta(days=1), NOW + timedelta(days=2), True, []),
    ],
)
def test_date_rules(
    start: datetime | None, end: datetime | None, end_changed: bool, problems: list[tuple[str, str]]
) -> None:
    assert rules.date_problems(start, end, NOW, end_changed=end_changed) == problems


# --- the schedule ----------------------------------------------------------------------------------------------
# 2026-06-08 is a Monday.
MON_10_UTC = datetime(2026, 6, 8, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("settings", "when", "inside"),
    [
        (CampaignSettings(), MON_10_UTC, True),  # default: Mon-Fri, all day
        (CampaignSettings(), MON_10_UTC + timedelta(days=5), False),  # Saturday
        (CampaignSettings(schedule_days=[6]), MON_10_UTC + timedelta(days=5), True),
        (CampaignSettings(sending_window_start="09:00", sending_window_end="17:00"), MON_10_UTC, True),
        (CampaignSettings(sending_window_start="11:00", sending_window_end="17:00"), MON_10_UTC, False),
        (CampaignSettings(sending_window_start="09:00", sending_window_end="10:00"), MON_10_UTC, False),  # end excluded
        # 10:00 UTC is 06:00 in New York (EDT): outside 09-17 there.
        (
            CampaignSettings(timezone="America/New_York", sending_window_start="09:00", sending_window_end="17:00"),
            MON_10_UTC,
            False,
        ),
        (
            CampaignSettings(timezone="America/New_York", sending_window_start="09:00", sending_window_end="17:00"),
            MON_10_UTC + timedelta(hours=4),
            True,
        ),
        # Several windows a day, one of them Monday only.
        (
            CampaignSettings(
                sending_windows=[
                    SendingWindow(start="08:00", end="09:30"),
                    SendingWindow(start="09:45", end="10:15", days=[1]),
                ]
            ),
            MON_10_UTC,
            True,
        ),
        (
            CampaignSettings(
                sending_windows=[
                    SendingWindow(start="08:00", end="09:30"),
                    SendingWindow(start="09:45", end="10:15", days=[1]),
                ]
            ),
            MON_10_UTC + timedelta(days=1),
            False,
        ),
        (
            CampaignSettings(sending_windows=[SendingWindow(start="20:00", end="24:00")]),
            MON_10_UTC.replace(hour=23, minute=59),
            True,
        ),
    ],
)
def test_within_schedule(settings: CampaignSettings, when: datetime, inside: bool) -> None:
    assert rules.within_schedule(settings, when) is inside


def test_windows_by_day_and_overlaps() -> None:
    windows = [SendingWindow(start="09:00", end="12:00"), SendingWindow(start="14:00", end="17:00", days=[1, 2])]
    by_day = rules.windows_by_day(CampaignSettings(sending_windows=windows))
    assert set(by_day) == {1, 2, 3, 4, 5}
    assert len(by_day[1]) == 2 and len(by_day[3]) == 1
    assert rules.window_problems(windows) == []
    overlapping = [SendingWindow(start="09:00", end="12:00"), SendingWindow(start="11:00", end="13:00", days=[3])]
    assert rules.window_problems(overlapping) == ["windows overlap on day 3"]


# --- request validation ----------------------------------------------------------------------------------------
def _create(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Q3",
        "mailboxIds": ["m1"],
        "steps": [{"stepIndex": 0, "subject": "Hi", "bodyHtml": "<p>x</p>"}],
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"steps": []}, "steps"),
        ({"steps": [{"stepIndex": i, "subject": "s", "bodyHtml": "b"} for i in range(51)]}, "steps"),
        ({"steps": [{"stepIndex": 0, "subject": "s", "bodyHtml": "b"}] * 2}, "steps"),
        # An empty mailboxIds is the channel's rule now (linkedin campaigns have none): tested in
        # test_linkedin_steps.py::test_pool_problems and over HTTP in test_create_validation.
        ({"mailboxIds": ["m"] * 41}, "mailboxIds"),
        ({"dailySendLimit": 0}, "dailySendLimit"),
        ({"dailySendLimit": 10_001}, "dailySendLimit"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "EST"}, "timezone"),
        ({"sendingWindowStart": "9am"}, "sendingWindowStart"),
        ({"sendingWindowStart": "25:00"}, "sendingWindowStart"),
        ({"scheduleDays": [0]}, "scheduleDays"),
        ({"scheduleDays": [8]}, "scheduleDays"),
        ({"scheduleDays": [1, 1]}, "scheduleDays"),
        ({"sendingWindows": [{"start": "10:00", "end": "09:00"}]}, "sendingWindows"),
        ({"rotationMode": "random"}, "rotationMode"),
        ({"recipientDomainDailyLimit": 0}, "recipientDomainDailyLimit"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_create_validation(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CampaignCreate.model_validate(_create(**overrides))
    locations = {str(part) for error in caught.value.errors() for part in error["loc"]}
    assert field in locations or any(field in str(e["msg"]) for e in caught.value.errors()), caught.value.errors()


def test_create_accepts_the_reference_example_and_limits() -> None:
    body = CampaignCreate.model_validate(
        _create(
            name="  Q3 Outbound  ",
            dailySendLimit=10_000,
            scheduleDays=[5, 1, 3],
            timezone="Europe/London",
            steps=[{"stepIndex": i, "subject": "s", "bodyHtml": "b"} for i in range(50)],
            mailboxIds=["m1", "m2", "m1"],
        )
    )
    assert body.name == "Q3 Outbound"
    assert body.schedule_days == [1, 3, 5]
    assert body.mailbox_ids == ["m1", "m2"]
    assert len(body.steps) == 50


@pytest.mark.parametrize("field", ["name", "dailySendLimit", "timezone", "trackOpens", "mailboxIds"])
def test_patch_refuses_null_for_required_settings(field: str) -> None:
    with pytest.raises(ValidationError):
        CampaignUpdate.model_validate({field: None})


def test_patch_null_clears_optional_settings() -> None:
    patch = CampaignUpdate.model_validate({"endDate": None, "scheduleDays": None, "sendingWindowStart": None})
    assert patch.setting_changes() == {"end_date": None, "schedule_days": None, "sending_window_start": None}


# --- step normalisation (pure helpers of the service) ----------------------------------------------------------
def _step(step_id: str, index: int, days: int, hours: int | None = None, reply: bool | None = None) -> StepRecord:
    variant = VariantRecord(id=f"v-{step_id}", letter="A", subject="s", body_html="b")
    return StepRecord(
        id=step_id,
        step_index=index,
        delay_days=days,
        delay_hours=hours,
        send_as_reply=reply,
        variants=[variant],
        created_at=NOW,
        updated_at=NOW,
    )


Spec = tuple[str, int, int, int | None, bool | None]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # A new first step pushes the old one down: it now waits the default day.
        ([("n", 0, 0, None, None), ("o", 0, 0, None, None)], [("n", 0, 0, None, None), ("o", 1, 1, None, None)]),
        # The first step is deleted: the new first sends immediately and cannot be a reply.
        ([("b", 1, 3, 4, True), ("c", 2, 2, None, True)], [("b", 0, 0, None, None), ("c", 1, 2, None, True)]),
        # Nothing to change.
        ([("a", 0, 0, None, None), ("b", 1, 0, 6, None)], [("a", 0, 0, None, None), ("b", 1, 0, 6, None)]),
    ],
)
def test_normalise_positions(before: list[Spec], after: list[Spec]) -> None:
    result = normalise_positions([_step(*spec) for spec in before], NOW)
    assert [(s.id, s.step_index, s.delay_days, s.delay_hours, s.send_as_reply) for s, _ in result] == after
    changed = [flag for _, flag in result]
    assert changed == [b[2:] != a[2:] for b, a in zip(before, after, strict=True)]


def _content(position: int, reply: bool | None = None, **variant: Any) -> StepRecord:
    fields: dict[str, Any] = {"id": "v", "letter": "A", **variant}
    return _step("a", position, position, reply=reply).model_copy(update={"variants": [VariantRecord(**fields)]})


@pytest.mark.parametrize(
    ("step", "fields"),
    [
        (_step("a", 0, 0), []),
        (_step("a", 0, 0, reply=True), ["sendAsReply"]),
        (_content(1, reply=True, body_html="b"), []),  # a reply may leave the subject to the thread
        (_content(1, body_html="b"), ["subject"]),
        (_content(0, subject="s"), ["bodyHtml"]),
        (_content(0, subject="{{x", body_html="b"), ["subject"]),  # template syntax
        (_content(0, subject="s", body_html="b", enabled=False), ["variants"]),
    ],
)
def test_step_details(step: StepRecord, fields: list[str]) -> None:
    assert [d["field"] for d in step_details(step, "")] == fields
