"""Pure campaign rules: the status machine, sticky weighted variant assignment, variant letters, step
normalisation, dates and the sending schedule. No I/O; table-driven tests in tests/unit/campaigns/.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo

from kindling.campaigns.models import (
    DEFAULT_FOLLOW_UP_DELAY_DAYS,
    CampaignSettings,
    SendingWindow,
    StepRecord,
    VariantRecord,
    assign_variant,
)

__all__ = ["assign_variant"]  # defined with the variant record (the enrollments module imports it from there)

# --- the status machine ----------------------------------------------------------------------------------------
Action = Literal[
    "start",  # API: draft/paused -> running (or scheduled when startDate is in the future)
    "pause",  # API: running/scheduled -> paused (pausedReason "api")
    "update",  # API: PATCH the campaign's settings
    "edit_steps",  # API: create/update/delete steps and variants
    "edit_mailboxes",  # API: attach/detach/configure the mailbox pool (picked up by the next tick)
    "activate",  # engine: scheduled -> running once startDate has come
    "auto_pause",  # engine: running/scheduled/cooldown -> paused with a reason (disconnect, failures, ...)
    "cooldown",  # engine: running -> cooldown (campaign safety: bounce rate / spam complaints)
    "recover",  # engine: cooldown -> running after the 24 h re-check passes
    "complete",  # engine: endDate passed or every enrollment finished
    "fail",  # engine: unrecoverable error -> errored
    "resume",  # engine: paused -> running when the pause's cause is gone (only `AUTO_RESUMABLE` reasons)
]
ACTIONS: tuple[Action, ...] = (
    "start",
    "pause",
    "update",
    "edit_steps",
    "edit_mailboxes",
    "activate",
    "auto_pause",
    "cooldown",
    "recover",
    "complete",
    "fail",
    "resume",
)

# Actions that change the status: (status, action) -> the new status. `start` may land on `scheduled`
# instead (decided by the start date, see `start_target`).
TRANSITIONS: Mapping[tuple[str, Action], str] = {
    ("draft", "start"): "running",
    ("paused", "start"): "running",  # the reference: starting a paused campaign resumes it
    ("running", "pause"): "paused",
    ("scheduled", "pause"): "paused",
    ("scheduled", "activate"): "running",
    ("running", "auto_pause"): "paused",
    ("scheduled", "auto_pause"): "paused",
    ("cooldown", "auto_pause"): "paused",
    ("running", "cooldown"): "cooldown",
    ("cooldown", "recover"): "running",
    ("scheduled", "complete"): "completed",
    ("running", "complete"): "completed",
    ("paused", "complete"): "completed",
    ("cooldown", "complete"): "completed",
    ("scheduled", "fail"): "errored",
    ("running", "fail"): "errored",
    ("paused", "fail"): "errored",
    ("cooldown", "fail"): "errored",
    ("paused", "resume"): "running",
}

# Actions that edit the campaign without changing its status: the statuses that allow them.
EDITS: Mapping[Action, frozenset[str]] = {
    # The reference: PATCH only while draft or paused ("pause it first").
    "update": frozenset({"draft", "paused"}),
    # Steps follow the same rule: changing a sequence under enrollments in flight would skip or repeat steps.
    "edit_steps": frozenset({"draft", "paused"}),
    # The pool may change while sending (help center §13.2: a mailbox can be disabled without removal);
    # nothing changes on a finished campaign.
    "edit_mailboxes": frozenset({"draft", "scheduled", "running", "paused", "cooldown"}),
}


def allowed(status: str, action: Action) -> bool:
    if action in EDITS:
        return status in EDITS[action]
    return (status, action) in TRANSITIONS


def next_status(status: str, action: Action) -> str | None:
    """The status after `action`, None when `action` is refused in `status` (edits keep the status)."""
    if action in EDITS:
        return status if status in EDITS[action] else None
    return TRANSITIONS.get((status, action))


def start_target(start_date: datetime | None, now: datetime) -> str:
    """Help center §7.4: a future startDate schedules the campaign instead of running it."""
    return "scheduled" if start_date is not None and start_date > now else "running"


def refusal_message(status: str, action: Action) -> str:
    messages: dict[Action, str] = {
        "start": f"A {status} campaign cannot be started; only draft or paused campaigns can.",
        "pause": f"A {status} campaign cannot be paused; only running or scheduled campaigns can.",
        "resume": f"A {status} campaign cannot be resumed; only paused campaigns can.",
        "update": f"A {status} campaign cannot be updated; pause it first (only draft or paused campaigns).",
        "edit_steps": f"The steps of a {status} campaign cannot change; pause it first.",
        "edit_mailboxes": f"The mailboxes of a {status} campaign cannot change.",
    }
    return messages.get(action, f"Action {action} is not allowed on a {status} campaign.")


# --- pause reasons ---------------------------------------------------------------------------------------------
# The engine resumes a campaign by itself only when it paused it for a cause that can go away without a person:
# its mailboxes came back. A pause by the user (`api`) or by safety (cooldown, Bounce Shield, failure rate) stays.
AUTO_RESUMABLE: frozenset[str] = frozenset({"mailbox_disconnected", "linkedin_account_disconnected"})


# What a client shows beside a pause the engine will undo by itself (issue 18, "Disconnect and auto-resume").
PAUSE_HINTS: dict[str, str] = {
    "linkedin_account_disconnected": "Will auto-resume after LinkedIn account reconnection.",
}


def may_auto_resume(status: str, paused_reason: str | None, cause: str) -> bool:
    """Whether the engine may resume a campaign because `cause` has cleared: it must be paused for that cause."""
    return status == "paused" and paused_reason == cause and cause in AUTO_RESUMABLE


def cannot_continue(steps: Sequence[StepRecord]) -> str | None:
    """Why a campaign can never send again whatever happens to its mailboxes (it goes to `errored`), or None."""
    if not steps:
        return "no_steps"
    if not any(s.is_active for s in steps):
        return "no_active_steps"
    return None


# --- variants --------------------------------------------------------------------------------------------------
def letter_for(number: int) -> str:
    """1 -> A, 26 -> Z, 27 -> AA (spreadsheet columns): letters are never reused within a step."""
    if number < 1:
        raise ValueError("letters start at 1")
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def would_leave_no_enabled(variants: Sequence[VariantRecord], changed_id: str) -> bool:
    """True when deleting (or disabling) `changed_id` leaves the step with no enabled variant."""
    remaining = [v for v in variants if v.id != changed_id and v.enabled]
    return not remaining


# --- steps -----------------------------------------------------------------------------------------------------
def step_delay(position: int, delay_days: int | None, delay_hours: int | None) -> tuple[int, int | None]:
    """Campaign guide: step 0 always has delay 0 (sends immediately); later steps default to one day."""
    if position == 0:
        return 0, None
    return (DEFAULT_FOLLOW_UP_DELAY_DAYS if delay_days is None else delay_days), delay_hours


# --- dates -----------------------------------------------------------------------------------------------------
def date_problems(
    start: datetime | None, end: datetime | None, now: datetime, *, end_changed: bool = True
) -> list[tuple[str, str]]:
    """(field, message) pairs: endDate must be after startDate and (when being set) in the future."""
    problems: list[tuple[str, str]] = []
    if end is not None:
        if start is not None and end <= start:
            problems.append(("endDate", "must be after startDate"))
        if end_changed and end <= now:
            problems.append(("endDate", "must be in the future"))
    return problems


def end_date_passed(end: datetime | None, now: datetime) -> bool:
    return end is not None and end <= now


# --- the schedule ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    start: time
    end: time | None  # None = until midnight (24:00)

    def contains(self, moment: time) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)


def _time(value: str) -> time | None:
    if value == "24:00":
        return None
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _window(start: str, end: str) -> Window:
    begin = _time(start)
    return Window(start=begin or time(0), end=_time(end))


ALL_DAY = Window(time(0), None)


def windows_by_day(settings: CampaignSettings) -> dict[int, list[Window]]:
    """ISO weekday -> the sending windows that day (campaign timezone). Days outside the schedule are absent.

    `sendingWindows` (several windows a day, optionally per day) wins over sendingWindowStart/End; with
    neither, a schedule day is open all day.
    """
    days = settings.effective_schedule_days
    out: dict[int, list[Window]] = {}
    if settings.sending_windows:
        for day in days:
            todays = [_window(w.start, w.end) for w in settings.sending_windows if w.days is None or day in w.days]
            if todays:
                out[day] = sorted(todays, key=lambda w: w.start)
        return out
    if settings.sending_window_start or settings.sending_window_end:
        single = _window(settings.sending_window_start or "00:00", settings.sending_window_end or "24:00")
        return {day: [single] for day in days}
    return {day: [ALL_DAY] for day in days}


def within_schedule(settings: CampaignSettings, when: datetime) -> bool:
    """Whether `when` (aware) lies in one of the campaign's sending windows, in the campaign's timezone."""
    local = when.astimezone(ZoneInfo(settings.timezone))
    windows = windows_by_day(settings).get(local.isoweekday(), [])
    moment = local.time().replace(tzinfo=None)
    return any(w.contains(moment) for w in windows)


def window_problems(windows: Sequence[SendingWindow]) -> list[str]:
    """Overlapping windows on the same day are refused (the scheduler would count the overlap twice)."""
    problems = []
    for day in range(1, 8):
        todays = sorted(
            (_window(w.start, w.end) for w in windows if w.days is None or day in w.days), key=lambda w: w.start
        )
        for first, second in pairwise(todays):
            if first.end is None or second.start < first.end:
                problems.append(f"windows overlap on day {day}")
                break
    return problems


def has_explicit_window(settings: CampaignSettings) -> bool:
    return bool(settings.sending_windows) or bool(settings.sending_window_start or settings.sending_window_end)
