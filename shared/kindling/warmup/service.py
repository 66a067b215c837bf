"""Warmup rules for the API: settings changes (one mailbox, or many through the bulk-update job) and the stats.

Settings: enabling requires a connected mailbox (`mailbox_not_connected`, 400); a deleted mailbox must be
restored first (`invalid_status`); `aggressive` is refused while the mailbox ramps as a New Domain
(`speed_not_allowed`, help center L4437). Disabling also drops a pending `auto_enable_warmup`, so the
connection checker does not turn warmup back on.

Writes: the mailbox item first (`warmup_enabled`, `warmup_type`, the mirrored `warmup_progress`), then the
warmup state item, each optimistic; a concurrent writer makes the whole change re-apply to fresh reads.
Applying the same change twice changes nothing the second time, which is what the bulk job's retries need.

Stats: "today" and the 7-day window are in the workspace's timezone (decisions.md, day boundaries).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from kindling.auth.repository import AuthRepository
from kindling.jobs.models import ItemFailure, Job
from kindling.jobs.registry import BatchContext
from kindling.jobs.service import JobService
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.mailboxes.repository import Stale as MailboxStale
from kindling.platform.clock import Clock, get_clock
from kindling.platform.errors import Conflict, InvalidStatus, KindlingError, ValidationFailed, field_error
from kindling.platform.observability import get_logger
from kindling.sending import eligibility
from kindling.sending.repository import SendingRepository, mailbox_state_from_raw
from kindling.warmup.models import (
    JOB_TYPE,
    MANUAL_OVERRIDE,
    BulkWarmupUpdate,
    DayRow,
    WarmupSettingsUpdate,
    WarmupState,
    as_speed,
    progress_for,
)
from kindling.warmup.planner import WarmupWindow
from kindling.warmup.ramp import RampSpeed, Strategy, speed_allowed
from kindling.warmup.repository import Stale, WarmupRepository
from kindling.warmup.stats import EffectiveLimit, WarmupStats, compute_stats, effective_daily_limit

_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class WarmupReport:
    """Everything the warmup stats object shows for one mailbox."""

    mailbox: Mailbox
    state: WarmupState
    stats: WarmupStats
    limit: EffectiveLimit
    timezone: str  # the warmup window's (the workspace's unless set)
    today: date


@dataclass(frozen=True)
class Applied:
    state: WarmupState
    mailbox_changes: dict[str, Any]


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


class CampaignSendsToday(Protocol):
    """Campaign sends of each of a workspace's mailboxes today: the 500/day hard cap is shared with warmup."""

    def __call__(self, workspace_id: str, mailbox_ids: Sequence[str], now: datetime) -> dict[str, int]: ...


def sending_engine_campaign_sends(workspace_id: str, mailbox_ids: Sequence[str], now: datetime) -> dict[str, int]:
    """Today's campaign sends as the sending engine counts them against the hard cap: its per-mailbox state, on
    the engine's counter day (UTC), one BatchGetItem per 100 mailboxes. Warmup keeps no second copy of it."""

    if not mailbox_ids:
        return {}
    repo = SendingRepository()
    keys = {mid: repo.mailbox_state_key(workspace_id, mid) for mid in mailbox_ids}
    found = repo.get_raw(keys.values())
    day = eligibility.day_key(now, "UTC")
    counts: dict[str, int] = {}
    for mid, key in keys.items():
        raw = found.get(key)
        state = mailbox_state_from_raw(mid, raw)
        counts[mid] = state.today(day)[0]
    return counts


def build_report(
    mailbox: Mailbox,
    state: WarmupState,
    rows: Sequence[DayRow],
    *,
    today: date,
    workspace_timezone: str,
    campaign_sent_today: int = 0,
) -> WarmupReport:
    sent_times = [row.last_sent_at for row in rows if row.last_sent_at is not None]
    stats = compute_stats([row.counters for row in rows], today, last_sent_at=max(sent_times, default=None))
    speed = as_speed(mailbox.warmup_type)
    limit = effective_daily_limit(
        warmup_enabled=mailbox.warmup_enabled,
        connected=mailbox.status == "connected",
        target=state.target_daily_volume,
        state=state.ramp_state(speed),
        campaign_sent_today=campaign_sent_today,
    )
    return WarmupReport(mailbox, state, stats, limit, state.timezone or workspace_timezone, today)


def _ramp_strategy(state: WarmupState) -> Strategy:
    """The strategy whose ramp the mailbox is on (Recovery keeps the one it resumes; none recorded: Maintenance)."""
    if state.strategy == "recovery":
        return state.resume_strategy or "maintenance"
    return state.strategy


def _speed_error(speed: RampSpeed) -> ValidationFailed:
    return ValidationFailed(
        f"The {speed} ramp speed is only for established domains; this mailbox ramps as a New Domain.",
        code="speed_not_allowed",
        details=[
            field_error(
                "warmup_type",
                "aggressive needs an established domain: set warmup_strategy to new_mailbox or maintenance",
                "speed_not_allowed",
            )
        ],
    )


def _window_error(message: str) -> ValidationFailed:
    return ValidationFailed(
        "The warmup window is invalid.", details=[field_error("warmup_window_end_hour", message, "invalid_window")]
    )


def check_update(patch: WarmupSettingsUpdate) -> None:
    """The rules a change breaks whatever mailbox it is applied to (the bulk update refuses these up front)."""
    changes = patch.changes()
    start, end = changes.get("warmup_window_start_hour"), changes.get("warmup_window_end_hour")
    if start is not None and start == end:
        raise _window_error("an empty window: use 0-24 for all day")
    if changes.get("warmup_strategy") == "new_domain" and changes.get("warmup_type") == "aggressive":
        raise _speed_error("aggressive")


def _move_to(state: WarmupState, strategy: Strategy, now: datetime) -> WarmupState:
    if state.strategy == strategy:
        return state
    resume: Strategy | None = None
    if strategy == "recovery":
        resume = state.strategy  # not recovery, since the strategy changes
    return state.model_copy(
        update={
            "strategy": strategy,
            "resume_strategy": resume,
            "strategy_reason": MANUAL_OVERRIDE,
            "strategy_changed_at": now,
        }
    )


def apply_settings(mailbox: Mailbox, state: WarmupState, patch: WarmupSettingsUpdate, now: datetime) -> Applied:
    """The new warmup state and the mailbox fields to change, or the domain error that refuses the change."""
    check_update(patch)
    if mailbox.is_deleted:
        raise InvalidStatus(f"Mailbox {mailbox.id} is deleted; restore it first.")
    changes = patch.changes()
    if changes.get("warmup_enabled") is True and mailbox.status != "connected":
        raise InvalidStatus(
            f"Warmup can only be enabled on a connected mailbox; mailbox {mailbox.id} is {mailbox.status}.",
            code="mailbox_not_connected",
            details=[field_error("warmup_enabled", f"mailbox status is {mailbox.status}", "mailbox_not_connected")],
        )
    enabled: bool = changes.get("warmup_enabled", mailbox.warmup_enabled)
    speed: RampSpeed = changes.get("warmup_type", as_speed(mailbox.warmup_type))

    settings: dict[str, Any] = {}
    for field, attribute in (
        ("warmup_target_daily_volume", "target_daily_volume"),
        ("warmup_window_start_hour", "window_start_hour"),
        ("warmup_window_end_hour", "window_end_hour"),
        ("warmup_timezone", "timezone"),
        ("warmup_reply_rate", "reply_rate"),
    ):
        if field in changes:
            settings[attribute] = changes[field]
    new = state.model_copy(update=settings)
    try:
        WarmupWindow(new.window_start_hour, new.window_end_hour, new.timezone or "UTC")
    except ValueError as exc:
        raise _window_error(str(exc)) from exc
    if "warmup_strategy" in changes:
        pinned = changes["warmup_strategy"]
        if pinned == "auto":
            new = new.model_copy(update={"strategy_override": None})
        else:
            new = _move_to(new.model_copy(update={"strategy_override": pinned}), pinned, now)
    if not speed_allowed(_ramp_strategy(new), speed):
        raise _speed_error(speed)
    if enabled and new.started_at is None:
        new = new.model_copy(update={"started_at": now})
    if new != state:
        new = new.model_copy(update={"updated_at": now})

    wanted: dict[str, Any] = {
        "warmup_enabled": enabled,
        "warmup_type": speed,
        "warmup_progress": progress_for(new, speed),
    }
    if not enabled:
        wanted["warmup_pending"] = False
    mailbox_changes = {name: value for name, value in wanted.items() if getattr(mailbox, name) != value}
    if mailbox_changes.keys() & {"warmup_enabled", "warmup_type"}:
        mailbox_changes["updated_at"] = now
    return Applied(new, mailbox_changes)


class WarmupService:
    def __init__(
        self,
        repository: WarmupRepository | None = None,
        mailboxes: MailboxRepository | None = None,
        workspaces: AuthRepository | None = None,
        campaign_sends: CampaignSendsToday | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._repo = repository or WarmupRepository()
        self._mailboxes = mailboxes or MailboxRepository()
        self._workspaces = workspaces or AuthRepository()
        self._campaign_sends = campaign_sends or sending_engine_campaign_sends
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def _workspace_day(self, workspace_id: str) -> tuple[date, str]:
        timezone = self._workspaces.get_workspace(workspace_id).timezone
        return local_today(self._now(), timezone), timezone

    # --- stats -------------------------------------------------------------------------------------------
    def _report(self, mailbox: Mailbox, today: date, timezone: str, campaign_sent_today: int) -> WarmupReport:
        state, rows = self._repo.load(mailbox.workspace_id, mailbox.id)
        return build_report(
            mailbox, state, rows, today=today, workspace_timezone=timezone, campaign_sent_today=campaign_sent_today
        )

    def report(self, workspace_id: str, mailbox_id: str) -> WarmupReport:
        mailbox = self._mailboxes.get(workspace_id, mailbox_id)
        sent = self._campaign_sends(workspace_id, [mailbox_id], self._now())
        return self._report(mailbox, *self._workspace_day(workspace_id), sent.get(mailbox_id, 0))

    def list_reports(self, workspace_id: str, limit: int, cursor: str | None) -> tuple[list[WarmupReport], str | None]:
        """Active mailboxes (newest first, as GET /mailboxes), one Query each for state + counters and one
        BatchGetItem for the page's campaign sends."""
        page = self._mailboxes.list_page(workspace_id, None, limit, cursor)
        today, timezone = self._workspace_day(workspace_id)
        sent = self._campaign_sends(workspace_id, [m.id for m in page.items], self._now())
        return [self._report(m, today, timezone, sent.get(m.id, 0)) for m in page.items], page.next_cursor

    # --- settings ----------------------------------------------------------------------------------------
    def update_settings(self, workspace_id: str, mailbox_id: str, patch: WarmupSettingsUpdate) -> WarmupReport:
        self.apply(workspace_id, mailbox_id, patch)
        return self.report(workspace_id, mailbox_id)

    def apply(self, workspace_id: str, mailbox_id: str, patch: WarmupSettingsUpdate) -> tuple[Mailbox, WarmupState]:
        mailbox = self._mailboxes.get(workspace_id, mailbox_id)
        state = self._repo.get(workspace_id, mailbox_id)
        now = self._now()
        for _ in range(_MAX_ATTEMPTS):
            applied = apply_settings(mailbox, state, patch, now)
            if applied.mailbox_changes:
                try:
                    mailbox = self._mailboxes.replace(
                        mailbox.model_copy(update=applied.mailbox_changes), mailbox.version
                    )
                except MailboxStale:
                    mailbox = self._mailboxes.get(workspace_id, mailbox_id)
                    continue
            if applied.state != state:
                try:
                    state = self._repo.save(applied.state, state.version)
                except Stale:
                    state = self._repo.get(workspace_id, mailbox_id)
                    continue
            return mailbox, state
        raise Conflict(f"Mailbox {mailbox_id}'s warmup is being changed concurrently; retry.")

    def save_engine_state(
        self,
        workspace_id: str,
        mailbox_id: str,
        change: Callable[[WarmupState], WarmupState],
        *,
        known: tuple[WarmupState, Mailbox] | None = None,
    ) -> WarmupState:
        """For the warmup engine: change the state (optimistically) and keep the mailbox's progress in step.

        `known`: the state and mailbox the caller just read (the tick's batch read), used for the first attempt
        instead of reading them again; each write is still conditional on its version, and a conflict re-reads."""
        known_state, known_mailbox = known if known is not None else (None, None)
        for _ in range(_MAX_ATTEMPTS):
            state = known_state if known_state is not None else self._repo.get(workspace_id, mailbox_id)
            known_state = None
            updated = change(state)
            if updated == state:
                break
            try:
                state = self._repo.save(updated.model_copy(update={"updated_at": self._now()}), state.version)
                break
            except Stale:
                continue
        else:
            raise Conflict(f"Mailbox {mailbox_id}'s warmup state is being changed concurrently; retry.")
        for _ in range(_MAX_ATTEMPTS):
            mailbox = known_mailbox if known_mailbox is not None else self._mailboxes.get(workspace_id, mailbox_id)
            known_mailbox = None
            progress = progress_for(state, as_speed(mailbox.warmup_type))
            if mailbox.is_deleted or mailbox.warmup_progress == progress:
                return state
            try:
                self._mailboxes.replace(mailbox.model_copy(update={"warmup_progress": progress}), mailbox.version)
                return state
            except MailboxStale:
                continue
        raise Conflict(f"Mailbox {mailbox_id} is being changed concurrently; retry.")

    # --- bulk update (the `bulk_warmup_update` job) ------------------------------------------------------
    def start_bulk_update(self, workspace_id: str, body: BulkWarmupUpdate) -> Job:
        check_update(body.updates)
        params = {"updates": body.updates.model_dump(mode="json", exclude_unset=True)}
        return JobService().create(workspace_id, JOB_TYPE, body.mailbox_ids, params)

    def process_bulk_batch(self, context: BatchContext) -> list[ItemFailure]:
        """Apply the job's `updates` to each mailbox of the batch; refusals become per-item errors."""
        patch = WarmupSettingsUpdate.model_validate(context.params["updates"])
        failures: list[ItemFailure] = []
        for mailbox_id in context.item_ids:
            try:
                self.apply(context.workspace_id, mailbox_id, patch)
            except KindlingError as exc:
                failures.append(ItemFailure(item_id=mailbox_id, code=exc.code, message=exc.message))
        get_logger().info(
            "warmup bulk batch",
            extra={"job_id": context.job_id, "items": len(context.item_ids), "failed": len(failures)},
        )
        return failures
