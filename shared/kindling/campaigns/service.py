"""Campaign rules: create (always draft), update, the status machine (start / pause / engine transitions), steps
and variants, the mailbox pool, preflight, preview and stats.

Every change reads the campaign, applies a pure change and writes it back conditioned on the version it read;
a concurrent writer makes the write `Stale` and the change is re-applied to a fresh read (`_mutate`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from kindling.campaigns import linkedin_steps, rules, templates
from kindling.campaigns.linkedin_accounts import (
    ACCOUNT_PROBLEM_TEXT,
    LinkedInAccountDirectory,
    LinkedInAccountState,
    account_problem,
    linkedin_directory,
)
from kindling.campaigns.models import (
    DEFAULT_FOLLOW_UP_DELAY_DAYS,
    INVITE_NOTE_MAX,
    LINKEDIN_STEP_FIELDS,
    MAX_MAILBOXES,
    MAX_STEPS,
    MAX_VARIANTS,
    PAUSED_REASONS,
    CampaignCreate,
    CampaignHeader,
    CampaignMailbox,
    CampaignMailboxCreate,
    CampaignMailboxUpdate,
    CampaignRecord,
    CampaignSettings,
    CampaignStats,
    CampaignUpdate,
    LinkedInActionType,
    PreviewRequest,
    StepCreate,
    StepInput,
    StepRecord,
    StepUpdate,
    VariantCreate,
    VariantInput,
    VariantRecord,
    VariantUpdate,
)
from kindling.campaigns.repository import CampaignRepository, Stale
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.platform.clock import Clock, get_clock
from kindling.platform.errors import (
    Conflict,
    InvalidStatus,
    NotFound,
    Unprocessable,
    ValidationFailed,
    field_error,
)
from kindling.platform.ids import new_uuid
from kindling.prospects.models import Prospect
from kindling.prospects.repository import ProspectRepository

_MAX_ATTEMPTS = 6
API_PAUSE_REASON = "api"
# Preflight reads the prospects of at most this many enrollments (newest first) for its per-prospect LinkedIn
# checks (URL, rendered note length): enough to show a problem, bounded for a campaign of any size.
PREFLIGHT_PROSPECT_SAMPLE = 1_000
_SAMPLE_IDS = 20  # prospect ids listed per preflight issue


class EnrolledProspect(Protocol):
    """What campaigns read of an enrollment (`kindling.enrollments.models.Enrollment`)."""

    @property
    def prospect_id(self) -> str: ...

    @property
    def status(self) -> str: ...


class EnrollmentCounts(Protocol):
    """What campaigns read of an enrollment summary (`kindling.enrollments.models.EnrollmentSummary`)."""

    @property
    def total(self) -> int: ...

    @property
    def custom_field_keys(self) -> frozenset[str]: ...

    def count(self, status: str) -> int: ...


class Enrolled(Protocol):
    """What campaigns read of an enroll result (`kindling.enrollments.models.EnrollResult`)."""

    @property
    def enrolled(self) -> int: ...

    @property
    def suppressed(self) -> int: ...


class Enrollments(Protocol):
    """What campaigns need from the enrollments package (its `EnrollmentService`, passed in by whoever builds a
    `CampaignService`: enrollments sit above campaigns, so campaigns never import them)."""

    def enroll(
        self,
        workspace_id: str,
        campaign_id: str,
        *,
        prospect_ids: Sequence[str] = (),
        list_ids: Sequence[str] = (),
        emails: Sequence[str] = (),
    ) -> Enrolled: ...

    def summary(self, workspace_id: str, campaign_id: str) -> EnrollmentCounts: ...

    def page(
        self, workspace_id: str, campaign_id: str, status: str | None, limit: int, cursor: str | None
    ) -> tuple[Sequence[EnrolledProspect], str | None]: ...


@dataclass(frozen=True)
class CreateOutcome:
    campaign: CampaignRecord
    prospects_enrolled: int
    prospects_suppressed: int
    mailboxes_assigned: int


@dataclass(frozen=True)
class MailboxUsability:
    mailbox_id: str
    mailbox: Mailbox | None
    problem: str | None  # None = usable; else not_found / deleted / not_connected / sending_disabled

    @property
    def usable(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class LinkedInAccountUsability:
    account_id: str
    state: LinkedInAccountState | None
    problem: str | None  # None = usable; else not_found / not_connected

    @property
    def usable(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class PreflightCheck:
    name: str
    passed: bool
    blocking: bool
    message: str


@dataclass(frozen=True)
class PreflightIssue:
    """One finding behind a failed check, with a stable `code` (decisions.md "LinkedIn campaigns and steps")."""

    code: str
    blocking: bool
    message: str
    step_id: str | None = None
    count: int | None = None
    ids: tuple[str, ...] = ()  # prospect or account ids (at most 20)


@dataclass(frozen=True)
class Preflight:
    checks: list[PreflightCheck]
    issues: list[PreflightIssue] = field(default_factory=list)

    @property
    def blocking_failures(self) -> list[str]:
        return [c.name for c in self.checks if c.blocking and not c.passed]

    @property
    def warnings(self) -> list[str]:
        return [c.name for c in self.checks if not c.blocking and not c.passed]

    @property
    def summary(self) -> str:
        blocking, warnings = self.blocking_failures, self.warnings
        if not blocking and not warnings:
            return "All checks passed. Ready to launch."
        if not blocking:
            return f"Ready to launch, with {len(warnings)} warning(s): {', '.join(warnings)}."
        return f"{len(blocking)} blocking issue(s) to fix before launching: {', '.join(blocking)}."


@dataclass(frozen=True)
class PreviewIssue:
    code: str  # missing_linkedin_url / invalid_linkedin_url / unresolvable_sales_navigator_url / invite_note_too_long
    message: str


@dataclass(frozen=True)
class PreviewResult:
    """An email step's rendering (`email`) or a LinkedIn step's (`linkedin`), and what would stop it being sent."""

    channel: str
    email: templates.Preview | None = None
    linkedin: templates.LinkedInPreview | None = None
    action: LinkedInActionType | None = None
    character_limit: int | None = None
    issues: list[PreviewIssue] = field(default_factory=list)


@dataclass(frozen=True)
class CampaignView:
    """A campaign with its enrollment total, as the API shows it."""

    campaign: CampaignHeader
    total_prospects: int
    steps: list[StepRecord] | None = None  # None for list items
    step_stats: dict[str, CampaignStats] = field(default_factory=dict)
    variant_stats: dict[str, CampaignStats] = field(default_factory=dict)


def _problem(mailbox: Mailbox | None) -> str | None:
    if mailbox is None:
        return "not_found"
    if mailbox.is_deleted:
        return "deleted"
    if mailbox.status != "connected":
        return "not_connected"
    if not mailbox.sending_enabled:
        return "sending_disabled"
    return None


_PROBLEM_TEXT = {
    "not_found": "no such mailbox in this workspace",
    "deleted": "the mailbox was deleted",
    "not_connected": "the mailbox is not connected",
    "sending_disabled": "sending is disabled on the mailbox",
}


def unusable_error(checked: Sequence[MailboxUsability], message: str) -> ValidationFailed:
    details = [
        {
            **field_error("mailboxIds", f"{c.mailbox_id}: {_PROBLEM_TEXT[c.problem]}", c.problem),
            "mailboxId": c.mailbox_id,
        }
        for c in checked
        if c.problem is not None
    ]
    return ValidationFailed(message, code="unusable_mailboxes", details=details)


def _fail(details: list[dict[str, Any]], message: str = "The request is invalid.") -> None:
    if details:
        raise ValidationFailed(message, details=details)


def _settings_details(settings: CampaignSettings, now: datetime, *, end_changed: bool) -> list[dict[str, Any]]:
    details = [
        field_error(name, message)
        for name, message in rules.date_problems(settings.start_date, settings.end_date, now, end_changed=end_changed)
    ]
    start, end = settings.sending_window_start, settings.sending_window_end
    if start is not None and end is not None and end <= start:
        details.append(field_error("sendingWindowEnd", "must be after sendingWindowStart"))
    if settings.sending_windows:
        details += [field_error("sendingWindows", p) for p in rules.window_problems(settings.sending_windows)]
    return details


def _variant_from(
    data: VariantInput,
    letter: str,
    *,
    subject: str | None = None,
    body_html: str | None = None,
    body_text: str | None = None,
) -> VariantRecord:
    return VariantRecord(
        id=new_uuid(),
        letter=letter,
        subject=data.subject if data.subject is not None else subject,
        body_html=data.body_html if data.body_html is not None else body_html,
        body_text=data.body_text if data.body_text is not None else body_text,
        weight=data.weight,
        enabled=data.enabled,
    )


def build_step(data: StepInput, position: int, now: datetime) -> StepRecord:
    """A stored step from its input: variants A, B, ... (the step's own content is A when no variants are given),
    the first step's delay forced to 0 and later steps' defaulted to one day."""
    if data.variants:
        variants = [
            _variant_from(
                v, rules.letter_for(n), subject=data.subject, body_html=data.body_html, body_text=data.body_text
            )
            for n, v in enumerate(data.variants, start=1)
        ]
    else:
        variants = [
            VariantRecord(
                id=new_uuid(), letter="A", subject=data.subject, body_html=data.body_html, body_text=data.body_text
            )
        ]
    delay_days, delay_hours = rules.step_delay(position, data.delay_days, data.delay_hours)
    step = StepRecord(
        id=new_uuid(),
        step_index=position,
        type=data.type,
        name=data.name,
        delay_days=delay_days,
        delay_hours=delay_hours,
        is_active=data.is_active,
        send_as_reply=data.send_as_reply,
        variants=variants,
        letters_used=len(variants),
        created_at=now,
        updated_at=now,
        **{name: getattr(data, name) for name in LINKEDIN_STEP_FIELDS},
    )
    return linkedin_steps.with_defaults(step)


def step_details(step: StepRecord, prefix: str, channel: str | None = None) -> list[dict[str, Any]]:
    """Content problems of a step: the channel's step types (when `channel` is given), the LinkedIn fields, and for
    an email step reply threading on the first step, missing subject/body, template syntax."""
    details: list[dict[str, Any]] = []
    if channel is not None:
        details += [
            field_error(prefix + f, m, c) for f, m, c in linkedin_steps.channel_step_problems(channel, step.type)
        ]
    details += [field_error(prefix + f, m, c) for f, m, c in linkedin_steps.linkedin_step_problems(step)]
    if step.is_linkedin:
        syntax = templates.check_linkedin(step, prefix)
        details += syntax
        note = step.linkedin_invite_note
        if note and not syntax and step.linkedin_action_type == "send_invite":
            bare = templates.bare_note(note)
            if linkedin_steps.note_too_long(bare):
                details.append(
                    field_error(
                        prefix + "linkedinInviteNote",
                        f"the note is {len(bare)} characters before any merge tag is filled; at most {INVITE_NOTE_MAX}",
                        "invite_note_too_long",
                    )
                )
        return details
    if step.step_index == 0 and step.send_as_reply:
        details.append(field_error(prefix + "sendAsReply", "the first step has no previous message to reply to"))
    if not step.enabled_variants:
        details.append(field_error(prefix + "variants", "a step needs at least one enabled variant"))
    for variant in step.variants:
        where = prefix if variant is step.variants[0] else f"{prefix}variants.{variant.letter}."
        # A reply reuses the thread's subject ("Re: ..."), so only the other steps need their own.
        if not (variant.subject or "").strip() and not step.send_as_reply:
            details.append(field_error(where + "subject", "a subject is required (unless the step is sent as a reply)"))
        if not (variant.body_html or "").strip():
            details.append(field_error(where + "bodyHtml", "a body is required"))
        details += templates.check_variant(variant, where)
    return details


def normalise_positions(steps: list[StepRecord], now: datetime) -> list[tuple[StepRecord, bool]]:
    """Steps renumbered 0..n-1 after an insert or delete; the first step sends immediately and cannot be a reply,
    and a former first step that moved down gets the default follow-up delay. (step, changed) pairs."""
    out = []
    for position, step in enumerate(steps):
        update: dict[str, Any] = {}
        if position == 0:
            if step.delay_days or step.delay_hours:
                update.update(delay_days=0, delay_hours=None)
            if step.send_as_reply:
                update["send_as_reply"] = None
        elif step.step_index == 0 and step.delay_days == 0 and not step.delay_hours:
            update["delay_days"] = DEFAULT_FOLLOW_UP_DELAY_DAYS
        if update:
            update["updated_at"] = now
        out.append((step.model_copy(update={**update, "step_index": position}), bool(update)))
    return out


_URL_ISSUES = {
    "missing": ("missing_linkedin_url", "The prospect has no LinkedIn URL; LinkedIn steps cannot reach it."),
    "invalid": ("invalid_linkedin_url", "The prospect's LinkedIn URL is not a profile (linkedin.com/in/...)."),
    "unresolvable_sales_navigator": (
        "unresolvable_sales_navigator_url",
        "The prospect's Sales Navigator URL has no member id to resolve.",
    ),
}


def linkedin_preview_issues(
    step: StepRecord, prospect: dict[str, Any] | None, rendered: templates.LinkedInPreview
) -> list[PreviewIssue]:
    """What would stop this LinkedIn step for this prospect: its URL (when a prospect is given), a note over 300."""
    issues: list[PreviewIssue] = []
    if prospect is not None:
        kind = linkedin_steps.classify_linkedin_url(prospect.get("linkedin_url")).kind
        if kind in _URL_ISSUES:
            issues.append(PreviewIssue(*_URL_ISSUES[kind]))
    if step.linkedin_action_type == "send_invite" and rendered.text and linkedin_steps.note_too_long(rendered.text):
        issues.append(
            PreviewIssue(
                "invite_note_too_long",
                f"The rendered note is {len(rendered.text)} characters; LinkedIn takes at most {INVITE_NOTE_MAX}.",
            )
        )
    return issues


class CampaignService:
    def __init__(
        self,
        repository: CampaignRepository | None = None,
        mailboxes: MailboxRepository | None = None,
        *,
        enrollments: Enrollments,
        clock: Clock | None = None,
        linkedin_accounts: LinkedInAccountDirectory | None = None,
    ) -> None:
        self._repo = repository or CampaignRepository()
        self._mailboxes = mailboxes or MailboxRepository()
        self._enrollments = enrollments
        self._clock = clock
        self._linkedin_accounts = linkedin_accounts

    @property
    def linkedin_accounts(self) -> LinkedInAccountDirectory:
        """The injected directory, else the installed one (`linkedin_accounts.use_linkedin_directory`)."""
        return self._linkedin_accounts or linkedin_directory()

    def linkedin_usability(self, workspace_id: str, account_ids: Iterable[str]) -> list[LinkedInAccountUsability]:
        out = []
        for account_id in account_ids:
            state = self.linkedin_accounts.get(workspace_id, account_id)
            out.append(LinkedInAccountUsability(account_id, state, account_problem(state)))
        return out

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    @property
    def enrollments(self) -> Enrollments:
        return self._enrollments

    # --- reads -------------------------------------------------------------------------------------------------
    def get(self, workspace_id: str, campaign_id: str) -> CampaignRecord:
        return self._repo.get(workspace_id, campaign_id)

    def view(self, record: CampaignRecord) -> CampaignView:
        total = self.enrollments.summary(record.workspace_id, record.campaign_id).total
        return CampaignView(
            campaign=record,
            total_prospects=total,
            steps=record.steps,
            step_stats=dict(record.step_stats),
            variant_stats=dict(record.variant_stats),
        )

    def page(
        self, workspace_id: str, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[CampaignView], str | None]:
        headers, next_cursor = self._repo.list_page(workspace_id, status, limit, cursor)
        views = [
            CampaignView(campaign=h, total_prospects=self.enrollments.summary(workspace_id, h.campaign_id).total)
            for h in headers
        ]
        return views, next_cursor

    def mailbox_usability(self, workspace_id: str, mailbox_ids: Iterable[str]) -> list[MailboxUsability]:
        out = []
        for mailbox_id in mailbox_ids:
            try:
                mailbox: Mailbox | None = self._mailboxes.get(workspace_id, mailbox_id)
            except NotFound:
                mailbox = None
            out.append(MailboxUsability(mailbox_id, mailbox, _problem(mailbox)))
        return out

    def _require_usable(self, workspace_id: str, mailbox_ids: Sequence[str]) -> None:
        """Campaign guide: every mailbox given must be connected with sending enabled."""
        checked = self.mailbox_usability(workspace_id, mailbox_ids)
        if any(not c.usable for c in checked):
            raise unusable_error(checked, "One or more mailboxes are disconnected or have sending disabled.")

    # --- create / update ---------------------------------------------------------------------------------------
    def create(self, workspace_id: str, body: CampaignCreate) -> CreateOutcome:
        now = self._now()
        settings = CampaignSettings().model_copy(update=body.setting_changes())
        details = _settings_details(settings, now, end_changed=True)
        details += [
            field_error(f, m, c)
            for f, m, c in linkedin_steps.pool_problems(body.channel, body.mailbox_ids, body.linkedin_account_ids)
        ]
        ordered = sorted(body.steps, key=lambda s: s.step_index)
        steps = [build_step(data, position, now) for position, data in enumerate(ordered)]
        for data, step in zip(ordered, steps, strict=True):
            # Details name the step as the client sent it (its place in the body).
            details += step_details(step, f"steps.{body.steps.index(data)}.", body.channel)
        _fail(details)
        if body.mailbox_ids:
            self._require_usable(workspace_id, body.mailbox_ids)
        record = CampaignRecord(
            campaign_id=new_uuid(),
            workspace_id=workspace_id,
            name=body.name,
            description=body.description,
            channel=body.channel,
            status="draft",
            settings=settings,
            mailboxes=[CampaignMailbox(mailbox_id=m, added_at=now) for m in body.mailbox_ids],
            linkedin_account_ids=body.linkedin_account_ids,
            steps=steps,
            created_at=now,
            updated_at=now,
        )
        self._repo.insert(record)
        enrolled = suppressed = 0
        if body.prospect_ids:
            result = self.enrollments.enroll(workspace_id, record.campaign_id, prospect_ids=body.prospect_ids)
            enrolled, suppressed = result.enrolled, result.suppressed
        return CreateOutcome(record, enrolled, suppressed, len(record.mailboxes))

    def update(self, workspace_id: str, campaign_id: str, body: CampaignUpdate) -> CampaignRecord:
        changes = body.setting_changes()
        if body.mailbox_ids is not None:
            self._require_usable(workspace_id, body.mailbox_ids)

        def change(record: CampaignRecord, now: datetime) -> CampaignRecord:
            settings = record.settings.model_copy(update=changes)
            settings = CampaignSettings.model_validate(settings.model_dump())
            _fail(_settings_details(settings, now, end_changed="end_date" in changes))
            update: dict[str, Any] = {"settings": settings, "updated_at": now}
            if body.name is not None:
                update["name"] = body.name
            if "description" in body.model_fields_set:
                update["description"] = body.description
            if body.mailbox_ids is not None:
                kept = {m.mailbox_id: m for m in record.mailboxes}
                update["mailboxes"] = [
                    kept.get(m) or CampaignMailbox(mailbox_id=m, added_at=now) for m in body.mailbox_ids
                ]
            if body.linkedin_account_ids is not None:
                update["linkedin_account_ids"] = body.linkedin_account_ids
            pool_changed = body.mailbox_ids is not None or body.linkedin_account_ids is not None
            if pool_changed:
                mailbox_ids = (
                    body.mailbox_ids if body.mailbox_ids is not None else [m.mailbox_id for m in record.mailboxes]
                )
                account_ids = (
                    body.linkedin_account_ids if body.linkedin_account_ids is not None else record.linkedin_account_ids
                )
                _fail(
                    [
                        field_error(f, m, c)
                        for f, m, c in linkedin_steps.pool_problems(record.channel, mailbox_ids, account_ids)
                    ]
                )
            return record.model_copy(update=update)

        return self._mutate(workspace_id, campaign_id, "update", change)

    # --- the status machine ------------------------------------------------------------------------------------
    def start(self, workspace_id: str, campaign_id: str) -> CampaignRecord:
        """Checks in the reference's order: a step and a usable mailbox, the end date, then the templates'
        custom fields against the enrolled prospects' columns. A future startDate schedules instead."""
        return self._start(workspace_id, campaign_id, "start")

    def resume(self, workspace_id: str, campaign_id: str) -> CampaignRecord:
        """A person resumes a paused campaign (the MCP's `resume_linkedin_campaign`): `start` with its checks,
        whatever the pause reason (as starting a paused campaign over REST), but only from `paused`: a draft is
        refused (`invalid_status`) rather than launched, in the same conditional write."""
        return self._start(workspace_id, campaign_id, "resume")

    def _start(self, workspace_id: str, campaign_id: str, action: Literal["start", "resume"]) -> CampaignRecord:
        def change(record: CampaignRecord, now: datetime) -> CampaignRecord:
            self._start_checks(record, now)
            target = rules.start_target(record.settings.start_date, now)
            return record.model_copy(
                update={
                    "status": target,
                    "paused_reason": None,
                    "paused_at": None,
                    "status_reason": None,
                    "started_at": record.started_at or (now if target == "running" else None),
                    "updated_at": now,
                }
            )

        return self._mutate(workspace_id, campaign_id, action, change)

    def _start_checks(self, record: CampaignRecord, now: datetime) -> None:
        if not any(s.is_active for s in record.steps):
            raise ValidationFailed(
                "The campaign needs at least one active step.",
                details=[field_error("steps", "no active step", "no_steps")],
            )
        if record.channel in ("email", "multichannel"):
            pool = [m.mailbox_id for m in record.mailboxes if m.active]
            checked = self.mailbox_usability(record.workspace_id, pool)
            if not any(c.usable for c in checked):
                if not pool:
                    raise ValidationFailed(
                        "The campaign has no active mailbox to send from.",
                        code="unusable_mailboxes",
                        details=[field_error("mailboxIds", "no active mailbox in the campaign", "no_mailboxes")],
                    )
                raise unusable_error(checked, "None of the campaign's mailboxes is connected with sending enabled.")
        if record.channel in ("linkedin", "multichannel"):
            self._linkedin_start_checks(record)
        if rules.end_date_passed(record.settings.end_date, now):
            raise ValidationFailed(
                "The campaign's end date has passed; change it or set it to null.",
                code="end_date_expired",
                details=[field_error("endDate", "has passed", "end_date_expired")],
            )
        available = self.enrollments.summary(record.workspace_id, record.campaign_id).custom_field_keys
        missing = templates.unresolved(record.steps, available)
        if missing:
            names = ", ".join(f"custom.{m}" for m in missing)
            have = ", ".join(sorted(available)) or "none"
            raise ValidationFailed(
                f"The templates use custom fields the enrolled prospects do not have: {names}. "
                f"Available custom fields: {have}.",
                code="unresolved_custom_fields",
                details=[
                    {
                        **field_error(
                            f"custom.{m}", "no enrolled prospect has this custom field", "missing_custom_field"
                        ),
                        "available": sorted(available),
                    }
                    for m in missing
                ],
            )

    def _linkedin_start_checks(self, record: CampaignRecord) -> None:
        """§7.9: at least one connected LinkedIn account; an InMail step needs a connected account that can send
        InMail (not Free)."""
        accounts = self.linkedin_usability(record.workspace_id, record.linkedin_account_ids)
        usable = [a for a in accounts if a.usable]
        if not usable:
            details = [
                {
                    **field_error(
                        "linkedinAccountIds", f"{a.account_id}: {ACCOUNT_PROBLEM_TEXT[a.problem]}", a.problem
                    ),
                    "linkedinAccountId": a.account_id,
                }
                for a in accounts
                if a.problem is not None
            ] or [field_error("linkedinAccountIds", "no LinkedIn account in the campaign", "no_linkedin_accounts")]
            raise ValidationFailed(
                "None of the campaign's LinkedIn accounts is connected.",
                code="unusable_linkedin_accounts",
                details=details,
            )
        inmail_steps = [
            s for s in record.steps if s.is_active and s.is_linkedin and s.linkedin_action_type == "send_inmail"
        ]
        if inmail_steps and not any(
            linkedin_steps.can_send_inmail(a.state.account_type if a.state else None) for a in usable
        ):
            raise ValidationFailed(
                "The campaign has an InMail step but every connected LinkedIn account is a Free account, which "
                "cannot send InMail.",
                code="inmail_not_available",
                details=[
                    field_error(
                        f"steps.{s.step_index}.linkedinActionType",
                        "InMail needs a paid account",
                        "inmail_on_free_account",
                    )
                    for s in inmail_steps
                ],
            )

    def pause(self, workspace_id: str, campaign_id: str) -> CampaignRecord:
        return self.transition(workspace_id, campaign_id, "pause", reason=API_PAUSE_REASON)

    def transition(
        self, workspace_id: str, campaign_id: str, action: rules.Action, *, reason: str | None = None
    ) -> CampaignRecord:
        """A status change by the API (pause) or the engine (activate, auto_pause, cooldown, recover, complete,
        fail). Pausing always records a reason and the instant, in the same write (help center §7.8)."""
        if action in ("pause", "auto_pause") and not reason:
            raise ValueError("pausing needs a reason")
        if action in ("start", "update", "edit_steps", "edit_mailboxes"):
            raise ValueError(f"{action} has its own method")

        def change(record: CampaignRecord, now: datetime) -> CampaignRecord:
            target = rules.next_status(record.status, action)
            assert target is not None  # _mutate refused it otherwise
            update: dict[str, Any] = {"status": target, "updated_at": now, "paused_reason": None, "paused_at": None}
            if target == "paused":
                update.update(paused_reason=reason, paused_at=now)
            else:
                update["status_reason"] = reason
            if target == "running" and record.started_at is None:
                update["started_at"] = now
            if target == "completed":
                update["completed_at"] = now
            return record.model_copy(update=update)

        return self._mutate(workspace_id, campaign_id, action, change)

    def auto_pause(self, workspace_id: str, campaign_id: str, reason: str) -> CampaignRecord:
        """The engine pauses a campaign that can no longer send (one of `PAUSED_REASONS` other than `api`)."""
        if reason not in PAUSED_REASONS or reason == API_PAUSE_REASON:
            raise ValueError(f"not an engine pause reason: {reason}")
        return self.transition(workspace_id, campaign_id, "auto_pause", reason=reason)

    def _campaigns_in(self, workspace_id: str, statuses: Iterable[str]) -> list[CampaignHeader]:
        found: list[CampaignHeader] = []
        for status in statuses:
            cursor: str | None = None
            while True:
                page, cursor = self._repo.list_page(workspace_id, status, 100, cursor)
                found.extend(page)
                if cursor is None:
                    break
        return found

    def pause_campaigns_for_mailbox(
        self, workspace_id: str, mailbox_id: str, reason: str = "mailbox_disconnected"
    ) -> list[str]:
        """A mailbox stopped working: every live campaign with it in its pool and no usable mailbox left pauses
        with `reason` (ids returned). Campaigns that still have a usable mailbox keep sending from it."""
        paused: list[str] = []
        for header in self._campaigns_in(workspace_id, ("running", "scheduled", "cooldown")):
            pool = [m.mailbox_id for m in header.mailboxes if m.active]
            if mailbox_id not in pool or any(c.usable for c in self.mailbox_usability(workspace_id, pool)):
                continue
            try:
                self.auto_pause(workspace_id, header.campaign_id, reason)
            except (InvalidStatus, NotFound):
                continue  # it moved on (paused by the user, completed) meanwhile
            paused.append(header.campaign_id)
        return paused

    def resume_campaigns_paused_for(
        self, workspace_id: str, reason: str = "mailbox_disconnected", mailbox_id: str | None = None
    ) -> list[str]:
        """The cause `reason` cleared (e.g. `mailbox_id` reconnected): resume the campaigns paused for exactly that
        reason (with `mailbox_id` in their pool when given) once a pool mailbox is usable again. A campaign paused by
        the user or by safety stays paused; one that can never send again (every step deleted) goes to `errored`.
        The reason is re-checked inside the conditional write, so a user pause in between is never undone."""
        if reason not in rules.AUTO_RESUMABLE:
            raise ValueError(f"campaigns paused for {reason} are never resumed by the engine")
        resumed: list[str] = []
        for header in self._campaigns_in(workspace_id, ("paused",)):
            pool = [m.mailbox_id for m in header.mailboxes if m.active]
            if header.paused_reason != reason or (mailbox_id is not None and mailbox_id not in pool):
                continue
            if not any(c.usable for c in self.mailbox_usability(workspace_id, pool)):
                continue
            try:
                if self._resume(workspace_id, header.campaign_id, reason).status == "running":
                    resumed.append(header.campaign_id)
            except (InvalidStatus, NotFound):
                continue
        return resumed

    def auto_resume(
        self, workspace_id: str, campaign_id: str, reason: str, *, reset_failure_window: bool = False
    ) -> CampaignRecord:
        """The engine resumes one campaign it paused for `reason` (re-checked inside the conditional write: a pause
        by the user in between stays); `InvalidStatus` when it is no longer paused for that reason.
        `reset_failure_window`: the campaign's failure-rate window restarts at the resume, in the same transaction
        (issue 18: the LinkedIn auto-resume "resets their failure-rate window")."""
        if reason not in rules.AUTO_RESUMABLE:
            raise ValueError(f"campaigns paused for {reason} are never resumed by the engine")
        return self._resume(workspace_id, campaign_id, reason, reset_failure_window=reset_failure_window)

    def _resume(
        self, workspace_id: str, campaign_id: str, reason: str, *, reset_failure_window: bool = False
    ) -> CampaignRecord:
        record = self._repo.get(workspace_id, campaign_id)
        problem = rules.cannot_continue(record.steps)
        if problem is not None and rules.may_auto_resume(record.status, record.paused_reason, reason):
            return self.transition(workspace_id, campaign_id, "fail", reason=problem)

        def change(current: CampaignRecord, now: datetime) -> CampaignRecord:
            if not rules.may_auto_resume(current.status, current.paused_reason, reason):
                raise InvalidStatus(f"campaign {campaign_id} is no longer paused for {reason}")
            return current.model_copy(
                update={
                    "status": "running",
                    "paused_reason": None,
                    "paused_at": None,
                    "status_reason": f"{reason}_cleared",
                    "started_at": current.started_at or now,
                    "updated_at": now,
                }
            )

        return self._write(
            workspace_id,
            campaign_id,
            "resume",
            lambda r, now: (change(r, now), [], []),
            failure_window_reset=reset_failure_window,
        )

    def advance_due(self, now: datetime | None = None) -> int:
        """Engine tick: run scheduled campaigns whose start date came, complete those whose end date passed."""
        moment = now or self._now()
        done = 0
        for workspace_id, campaign_id in self._repo.due(moment):
            try:
                record = self._repo.get(workspace_id, campaign_id)
            except NotFound:
                continue
            settings = record.settings
            if record.status == "scheduled" and rules.end_date_passed(settings.end_date, moment):
                self.transition(workspace_id, campaign_id, "complete", reason="end_date")
            elif record.status == "scheduled" and settings.start_date is not None and settings.start_date <= moment:
                self.transition(workspace_id, campaign_id, "activate")
            elif rules.end_date_passed(settings.end_date, moment) and rules.allowed(record.status, "complete"):
                self.transition(workspace_id, campaign_id, "complete", reason="end_date")
            else:
                continue
            done += 1
        return done

    # --- steps -------------------------------------------------------------------------------------------------
    def steps(self, workspace_id: str, campaign_id: str) -> CampaignRecord:
        return self._repo.get(workspace_id, campaign_id)

    def step(self, workspace_id: str, campaign_id: str, step_id: str) -> tuple[CampaignRecord, StepRecord]:
        record = self._repo.get(workspace_id, campaign_id)
        return record, self._find_step(record, step_id)

    @staticmethod
    def _find_step(record: CampaignRecord, step_id: str) -> StepRecord:
        step = record.step(step_id)
        if step is None:
            raise NotFound(f"Step {step_id} not found in campaign {record.campaign_id}.")
        return step

    def create_step(self, workspace_id: str, campaign_id: str, body: StepCreate) -> tuple[CampaignRecord, StepRecord]:
        new_id: list[str] = []

        def change(record: CampaignRecord, now: datetime) -> tuple[CampaignRecord, list[StepRecord], list[str]]:
            if len(record.steps) >= MAX_STEPS:
                raise ValidationFailed(
                    f"A campaign has at most {MAX_STEPS} steps.", details=[field_error("steps", "too many steps")]
                )
            position = len(record.steps) if body.step_index is None else min(body.step_index, len(record.steps))
            step = build_step(body, position, now)
            if position == 0 and body.delay_days:
                step = step.model_copy(update={"delay_days": 0, "delay_hours": None})
            _fail(step_details(step, "", record.channel))
            new_id[:] = [step.id]
            ordered = [*record.steps[:position], step, *record.steps[position:]]
            normalised = normalise_positions(ordered, now)
            puts = [s for s, changed in normalised if changed or s.id == step.id]
            return record.model_copy(update={"steps": [s for s, _ in normalised], "updated_at": now}), puts, []

        saved = self._mutate_steps(workspace_id, campaign_id, change)
        return saved, self._find_step(saved, new_id[0])

    def update_step(
        self, workspace_id: str, campaign_id: str, step_id: str, body: StepUpdate
    ) -> tuple[CampaignRecord, StepRecord]:
        fields = body.model_fields_set

        def change(record: CampaignRecord, now: datetime) -> tuple[CampaignRecord, list[StepRecord], list[str]]:
            step = self._find_step(record, step_id)
            update: dict[str, Any] = {
                name: getattr(body, name)
                for name in ("name", "delay_days", "delay_hours", "is_active", "send_as_reply", *LINKEDIN_STEP_FIELDS)
                if name in fields
            }
            action = update.get("linkedin_action_type", step.linkedin_action_type)
            if step.is_linkedin and action != step.linkedin_action_type and action is not None:
                # A new action drops the old action's fields the PATCH does not set (defaults included).
                keep = linkedin_steps.ACTION_FIELDS[action]
                for attr in linkedin_steps.LINKEDIN_FIELDS:
                    if attr not in fields and (attr not in keep or attr in linkedin_steps.ACTION_SPECIFIC_FIELDS):
                        update[attr] = None
            content: dict[str, Any] = {
                n: getattr(body, n) for n in ("subject", "body_html", "body_text") if n in fields
            }
            variants = list(step.variants)
            if content:
                variants[0] = variants[0].model_copy(update=content)
            if step.step_index == 0 and (update.get("delay_days") or update.get("delay_hours")):
                raise ValidationFailed(
                    "The first step always sends immediately.",
                    details=[field_error("delayDays", "the first step's delay is always 0")],
                )
            updated = step.model_copy(update={**update, "variants": variants, "updated_at": now})
            if updated.step_index > 0 and "delay_days" in update and update["delay_days"] is None:
                updated = updated.model_copy(update={"delay_days": DEFAULT_FOLLOW_UP_DELAY_DAYS})
            updated = linkedin_steps.with_defaults(updated)
            _fail(step_details(updated, "", record.channel))
            steps = [updated if s.id == step_id else s for s in record.steps]
            return record.model_copy(update={"steps": steps, "updated_at": now}), [updated], []

        saved = self._mutate_steps(workspace_id, campaign_id, change)
        return saved, self._find_step(saved, step_id)

    def delete_step(self, workspace_id: str, campaign_id: str, step_id: str) -> CampaignRecord:
        def change(record: CampaignRecord, now: datetime) -> tuple[CampaignRecord, list[StepRecord], list[str]]:
            self._find_step(record, step_id)
            if len(record.steps) == 1:
                raise Unprocessable(
                    "A campaign keeps at least one step; change this one instead.", code="cannot_delete_last_step"
                )
            remaining = [s for s in record.steps if s.id != step_id]
            normalised = normalise_positions(remaining, now)
            puts = [s for s, changed in normalised if changed]
            return record.model_copy(update={"steps": [s for s, _ in normalised], "updated_at": now}), puts, [step_id]

        return self._mutate_steps(workspace_id, campaign_id, change)

    # --- variants ----------------------------------------------------------------------------------------------
    def create_variant(
        self, workspace_id: str, campaign_id: str, step_id: str, body: VariantCreate
    ) -> tuple[CampaignRecord, StepRecord, VariantRecord]:
        new_id: list[str] = []

        def change(record: CampaignRecord, now: datetime) -> tuple[CampaignRecord, list[StepRecord], list[str]]:
            step = self._find_step(record, step_id)
            if len(step.variants) >= MAX_VARIANTS:
                raise ValidationFailed(
                    f"A step has at most {MAX_VARIANTS} variants.", details=[field_error("variants", "too many")]
                )
            primary = step.primary
            variant = _variant_from(
                body,
                rules.letter_for(step.letters_used + 1),
                subject=primary.subject,
                body_html=primary.body_html,
                body_text=primary.body_text,
            )
            new_id[:] = [variant.id]
            updated = step.model_copy(
                update={"variants": [*step.variants, variant], "letters_used": step.letters_used + 1, "updated_at": now}
            )
            _fail(step_details(updated, ""))
            steps = [updated if s.id == step_id else s for s in record.steps]
            return record.model_copy(update={"steps": steps, "updated_at": now}), [updated], []

        saved = self._mutate_steps(workspace_id, campaign_id, change)
        step = self._find_step(saved, step_id)
        return saved, step, self._find_variant(step, new_id[0])

    @staticmethod
    def _find_variant(step: StepRecord, variant_id: str) -> VariantRecord:
        variant = step.variant(variant_id)
        if variant is None:
            raise NotFound(f"Variant {variant_id} not found in step {step.id}.")
        return variant

    def update_variant(
        self, workspace_id: str, campaign_id: str, step_id: str, variant_id: str, body: VariantUpdate
    ) -> tuple[CampaignRecord, StepRecord, VariantRecord]:
        fields = {n: getattr(body, n) for n in body.model_fields_set}

        def change(record: CampaignRecord, now: datetime) -> tuple[CampaignRecord, list[StepRecord], list[str]]:
            step = self._find_step(record, step_id)
            variant = self._find_variant(step, variant_id)
            if fields.get("enabled") is False and rules.would_leave_no_enabled(step.variants, variant.id):
                raise Unprocessable(
                    "The last enabled variant of a step cannot be disabled.", code="cannot_delete_last_variant"
                )
            changed = variant.model_copy(update=fields)
            variants = [changed if v.id == variant.id else v for v in step.variants]
            updated = step.model_copy(update={"variants": variants, "updated_at": now})
            _fail(step_details(updated, ""))
            steps = [updated if s.id == step_id else s for s in record.steps]
            return record.model_copy(update={"steps": steps, "updated_at": now}), [updated], []

        saved = self._mutate_steps(workspace_id, campaign_id, change)
        step = self._find_step(saved, step_id)
        return saved, step, self._find_variant(step, variant_id)

    def delete_variant(self, workspace_id: str, campaign_id: str, step_id: str, variant_id: str) -> StepRecord:
        def change(record: CampaignRecord, now: datetime) -> tuple[CampaignRecord, list[StepRecord], list[str]]:
            step = self._find_step(record, step_id)
            variant = self._find_variant(step, variant_id)
            if rules.would_leave_no_enabled(step.variants, variant.id):
                raise Unprocessable(
                    "Deleting this variant would leave the step with no enabled variant.",
                    code="cannot_delete_last_variant",
                )
            variants = [v for v in step.variants if v.id != variant.id]
            updated = step.model_copy(update={"variants": variants, "updated_at": now})
            steps = [updated if s.id == step_id else s for s in record.steps]
            return record.model_copy(update={"steps": steps, "updated_at": now}), [updated], []

        saved = self._mutate_steps(workspace_id, campaign_id, change)
        return self._find_step(saved, step_id)

    # --- the mailbox pool --------------------------------------------------------------------------------------
    def attach_mailbox(self, workspace_id: str, campaign_id: str, body: CampaignMailboxCreate) -> CampaignRecord:
        self._require_usable(workspace_id, [body.mailbox_id])

        def change(record: CampaignRecord, now: datetime) -> CampaignRecord:
            if record.channel == "linkedin":
                raise ValidationFailed(
                    "A linkedin campaign sends no email.",
                    details=[field_error("mailboxId", "a linkedin campaign sends no email", "mailboxes_not_allowed")],
                )
            if record.mailbox(body.mailbox_id) is not None:
                raise Conflict(f"Mailbox {body.mailbox_id} is already in this campaign.")
            if len(record.mailboxes) >= MAX_MAILBOXES:
                raise ValidationFailed(
                    f"A campaign has at most {MAX_MAILBOXES} mailboxes.", details=[field_error("mailboxId", "too many")]
                )
            entry = CampaignMailbox(
                mailbox_id=body.mailbox_id,
                active=body.active,
                weight=body.weight,
                max_sends_per_mailbox_per_day=body.max_sends_per_mailbox_per_day,
                added_at=now,
            )
            return record.model_copy(update={"mailboxes": [*record.mailboxes, entry], "updated_at": now})

        return self._mutate(workspace_id, campaign_id, "edit_mailboxes", change)

    def update_mailbox(
        self, workspace_id: str, campaign_id: str, mailbox_id: str, body: CampaignMailboxUpdate
    ) -> CampaignRecord:
        fields = {n: getattr(body, n) for n in body.model_fields_set}

        def change(record: CampaignRecord, now: datetime) -> CampaignRecord:
            current = self._pooled(record, mailbox_id)
            changed = current.model_copy(update=fields)
            pool = [changed if m.mailbox_id == mailbox_id else m for m in record.mailboxes]
            return record.model_copy(update={"mailboxes": pool, "updated_at": now})

        return self._mutate(workspace_id, campaign_id, "edit_mailboxes", change)

    def detach_mailbox(self, workspace_id: str, campaign_id: str, mailbox_id: str) -> CampaignRecord:
        def change(record: CampaignRecord, now: datetime) -> CampaignRecord:
            self._pooled(record, mailbox_id)
            pool = [m for m in record.mailboxes if m.mailbox_id != mailbox_id]
            return record.model_copy(update={"mailboxes": pool, "updated_at": now})

        return self._mutate(workspace_id, campaign_id, "edit_mailboxes", change)

    @staticmethod
    def _pooled(record: CampaignRecord, mailbox_id: str) -> CampaignMailbox:
        entry = record.mailbox(mailbox_id)
        if entry is None:
            raise NotFound(f"Mailbox {mailbox_id} is not in campaign {record.campaign_id}.")
        return entry

    # --- preflight ---------------------------------------------------------------------------------------------
    def preflight(self, workspace_id: str, campaign_id: str) -> Preflight:
        record = self._repo.get(workspace_id, campaign_id)
        now = self._now()
        summary = self.enrollments.summary(workspace_id, campaign_id)
        active_steps = [s for s in record.steps if s.is_active]
        pool = [m.mailbox_id for m in record.mailboxes if m.active]
        checked = self.mailbox_usability(workspace_id, pool)
        usable = [c for c in checked if c.usable]
        unusable = [f"{c.mailbox_id} ({_PROBLEM_TEXT[c.problem]})" for c in checked if c.problem is not None]
        syntax = templates.syntax_problems(record.steps)
        missing = templates.unresolved(record.steps, summary.custom_field_keys)
        content = [
            f"step {s.step_index}: {d['message']}"
            for s in active_steps
            for d in step_details(s, "", record.channel)
            if d["code"] != "template_syntax"
        ]
        in_sequence = summary.count("pending") + summary.count("active")
        settings = record.settings
        days = ",".join(str(d) for d in settings.effective_schedule_days)
        checks = [
            PreflightCheck(
                "has_steps",
                bool(active_steps),
                True,
                f"{len(active_steps)} active step(s)." if active_steps else "The campaign has no active step.",
            ),
            PreflightCheck(
                "has_prospects",
                in_sequence > 0,
                False,
                f"{in_sequence} prospect(s) waiting in the sequence ({summary.total} enrolled)."
                if in_sequence
                else "No prospect is waiting in the sequence; enroll prospects before or after launching.",
            ),
        ]
        if record.channel in ("email", "multichannel"):
            checks += [
                PreflightCheck(
                    "has_mailboxes",
                    bool(pool),
                    True,
                    f"{len(pool)} active mailbox(es) in the rotation."
                    if pool
                    else "No active mailbox in the campaign.",
                ),
                PreflightCheck(
                    "mailbox_connected",
                    bool(usable),
                    True,
                    (
                        f"{len(usable)} of {len(pool)} mailbox(es) connected with sending enabled."
                        if usable
                        else "No usable mailbox."
                    )
                    + (f" Unusable: {', '.join(unusable)}." if unusable else ""),
                ),
            ]
        checks += [
            PreflightCheck(
                "templates_valid",
                not (syntax or missing or content),
                True,
                "Every template is valid and its custom fields exist."
                if not (syntax or missing or content)
                else "; ".join(
                    [*syntax, *content]
                    + (
                        [
                            f"missing custom fields: {', '.join('custom.' + m for m in missing)} "
                            f"(available: {', '.join(sorted(summary.custom_field_keys)) or 'none'})"
                        ]
                        if missing
                        else []
                    )
                ),
            ),
            PreflightCheck(
                "schedule_set",
                rules.has_explicit_window(settings),
                False,
                f"Sending on days {days} in {settings.timezone}"
                + (
                    " within the configured windows."
                    if rules.has_explicit_window(settings)
                    else "; no sending window set, so any hour of those days."
                ),
            ),
            PreflightCheck(
                "end_date_ok",
                not rules.end_date_passed(settings.end_date, now),
                True,
                "The end date has passed."
                if rules.end_date_passed(settings.end_date, now)
                else "The end date is not reached.",
            ),
        ]
        issues: list[PreflightIssue] = []
        if record.channel in ("linkedin", "multichannel"):
            linkedin_checks, issues = self._linkedin_preflight(record)
            checks += linkedin_checks
        return Preflight(checks, issues)

    def _waiting_prospects(self, workspace_id: str, campaign_id: str) -> list[Prospect]:
        """The prospects of the first `PREFLIGHT_PROSPECT_SAMPLE` enrollments still in the sequence."""
        ids: list[str] = []
        cursor: str | None = None
        seen = 0
        while seen < PREFLIGHT_PROSPECT_SAMPLE:
            page, cursor = self.enrollments.page(workspace_id, campaign_id, None, 100, cursor)
            seen += len(page)
            ids += [e.prospect_id for e in page if e.status in ("pending", "active")]
            if cursor is None:
                break
        found = ProspectRepository().get_many(workspace_id, ids[:PREFLIGHT_PROSPECT_SAMPLE])
        return [found[i] for i in ids if i in found]

    def _linkedin_preflight(self, record: CampaignRecord) -> tuple[list[PreflightCheck], list[PreflightIssue]]:
        """§7.9 and §38: connected accounts, InMail on Free accounts, prospects' LinkedIn URLs, rendered invite
        notes over 300 characters, and messages before any invite (1st-degree only)."""
        issues: list[PreflightIssue] = []
        checks: list[PreflightCheck] = []
        accounts = self.linkedin_usability(record.workspace_id, record.linkedin_account_ids)
        usable = [a for a in accounts if a.usable]
        for problem, code in (
            ("not_found", "linkedin_account_not_found"),
            ("not_connected", "linkedin_account_not_connected"),
        ):
            bad = [a.account_id for a in accounts if a.problem == problem]
            if bad:
                issues.append(
                    PreflightIssue(
                        code,
                        not usable,
                        f"{len(bad)} LinkedIn account(s): {ACCOUNT_PROBLEM_TEXT[problem]}.",
                        None,
                        len(bad),
                        tuple(bad[:_SAMPLE_IDS]),
                    )
                )
        checks.append(
            PreflightCheck(
                "has_linkedin_accounts",
                bool(record.linkedin_account_ids),
                True,
                f"{len(record.linkedin_account_ids)} LinkedIn account(s) in the rotation."
                if record.linkedin_account_ids
                else "No LinkedIn account in the campaign.",
            )
        )
        checks.append(
            PreflightCheck(
                "linkedin_account_connected",
                bool(usable),
                True,
                f"{len(usable)} of {len(accounts)} LinkedIn account(s) connected."
                if usable
                else "No connected LinkedIn account.",
            )
        )
        active = [s for s in record.steps if s.is_active and s.is_linkedin]
        inmail = [s for s in active if s.linkedin_action_type == "send_inmail"]
        if inmail:
            free = [
                a.account_id
                for a in usable
                if not linkedin_steps.can_send_inmail(a.state.account_type if a.state else None)
            ]
            none_can = bool(usable) and len(free) == len(usable)
            if free:
                for step in inmail:
                    issues.append(
                        PreflightIssue(
                            "inmail_on_free_account",
                            none_can,
                            f"step {step.step_index} sends InMail, which {len(free)} Free account(s) cannot send"
                            + (" (no connected account can)." if none_can else "; the other accounts send it."),
                            step.id,
                            len(free),
                            tuple(free[:_SAMPLE_IDS]),
                        )
                    )
            checks.append(
                PreflightCheck(
                    "inmail_account_type",
                    not free,
                    none_can or not free,
                    "Every connected account can send InMail."
                    if not free
                    else f"{len(free)} connected account(s) are Free and cannot send InMail.",
                )
            )
        for step in linkedin_steps.messages_before_connection(record.steps):
            issues.append(
                PreflightIssue(
                    "message_before_connection",
                    False,
                    f"step {step.step_index} sends a LinkedIn message before any invite: it reaches only prospects "
                    "who are already 1st-degree connections.",
                    step.id,
                )
            )
        checks.append(
            PreflightCheck(
                "linkedin_sequence_order",
                not any(i.code == "message_before_connection" for i in issues),
                False,
                "Every LinkedIn message follows an invite or a wait for acceptance."
                if not any(i.code == "message_before_connection" for i in issues)
                else "A LinkedIn message step comes before any invite (1st-degree connections only).",
            )
        )
        prospects = self._waiting_prospects(record.workspace_id, record.campaign_id) if active else []
        by_kind: dict[str, list[str]] = {}
        for prospect in prospects:
            kind = linkedin_steps.classify_linkedin_url(prospect.linkedin_url).kind
            if kind in ("missing", "invalid", "unresolvable_sales_navigator"):
                by_kind.setdefault(kind, []).append(prospect.id)
        url_codes = {
            "missing": ("missing_linkedin_url", "have no LinkedIn URL"),
            "invalid": ("invalid_linkedin_url", "have a LinkedIn URL that is not a profile (linkedin.com/in/...)"),
            "unresolvable_sales_navigator": (
                "unresolvable_sales_navigator_url",
                "have a Sales Navigator URL without a member id",
            ),
        }
        for url_kind, (code, text) in url_codes.items():
            ids = by_kind.get(url_kind, [])
            if ids:
                issues.append(
                    PreflightIssue(
                        code,
                        False,
                        f"{len(ids)} prospect(s) {text}; LinkedIn steps cannot reach them.",
                        None,
                        len(ids),
                        tuple(ids[:_SAMPLE_IDS]),
                    )
                )
        unreachable = sum(len(v) for v in by_kind.values())
        checks.append(
            PreflightCheck(
                "prospects_linkedin_url",
                unreachable == 0,
                False,
                f"{len(prospects)} waiting prospect(s) checked; each has a usable LinkedIn URL."
                if unreachable == 0
                else f"{unreachable} of {len(prospects)} waiting prospect(s) checked have no usable LinkedIn URL.",
            )
        )
        long_notes = 0
        for step in active:
            if step.linkedin_action_type != "send_invite" or not step.linkedin_invite_note:
                continue
            too_long = [p.id for p in prospects if linkedin_steps.note_too_long(self._rendered_note(step, p))]
            if too_long:
                long_notes += len(too_long)
                issues.append(
                    PreflightIssue(
                        "invite_note_too_long",
                        False,
                        f"step {step.step_index}: the rendered invite note exceeds {INVITE_NOTE_MAX} characters for "
                        f"{len(too_long)} prospect(s).",
                        step.id,
                        len(too_long),
                        tuple(too_long[:_SAMPLE_IDS]),
                    )
                )
        checks.append(
            PreflightCheck(
                "invite_note_length",
                long_notes == 0,
                False,
                f"Every rendered invite note fits in {INVITE_NOTE_MAX} characters."
                if long_notes == 0
                else f"{long_notes} rendered invite note(s) exceed {INVITE_NOTE_MAX} characters.",
            )
        )
        return checks, issues

    @staticmethod
    def _rendered_note(step: StepRecord, prospect: Prospect) -> str:
        data = prospect.model_dump(mode="json", exclude={"workspace_id", "custom_fields"})
        rendered = templates.render_linkedin_preview(
            step, data, prospect.custom_fields, None, f"{prospect.id}:{step.id}"
        )
        return rendered.text or ""

    # --- preview -----------------------------------------------------------------------------------------------
    def preview(self, workspace_id: str, body: PreviewRequest) -> PreviewResult:
        if body.step is not None:
            content = VariantRecord(
                id="preview",
                letter="A",
                subject=body.step.subject,
                body_html=body.step.body_html,
                body_text=body.step.body_text,
            )
            now = self._now()
            step = StepRecord(
                id="preview",
                step_index=0,
                type=body.step.type,
                variants=[content],
                created_at=now,
                updated_at=now,
                **{name: getattr(body.step, name) for name in LINKEDIN_STEP_FIELDS},
            )
            _fail([field_error("step." + f, m, c) for f, m, c in linkedin_steps.linkedin_step_problems(step)])
        else:
            assert body.campaign_id and body.step_id
            record = self._repo.get(workspace_id, body.campaign_id)
            step = self._find_step(record, body.step_id)
            content = self._find_variant(step, body.variant) if body.variant else step.primary
        prospect: dict[str, Any] | None = None
        custom: dict[str, Any] = {}
        if body.prospect_id:
            found = ProspectRepository().get(workspace_id, body.prospect_id)
            prospect = found.model_dump(mode="json", exclude={"workspace_id", "custom_fields"})
            custom.update(found.custom_fields)
        if body.contact is not None:
            given = body.contact.model_dump(exclude_none=True, exclude={"custom_fields"})
            prospect = {**(prospect or {}), **given}
            custom.update(body.contact.custom_fields or {})
        sender: dict[str, Any] | None = None
        if body.mailbox_id:
            mailbox = self._mailboxes.get(workspace_id, body.mailbox_id)
            sender = {
                "sender_name": mailbox.display_name,
                "sender_email": mailbox.email_address,
                "signature": mailbox.signature,
            }
        seed = body.seed or f"{body.prospect_id or ''}:{body.step_id or ''}"
        if not step.is_linkedin:
            return PreviewResult("email", email=templates.render_preview(content, prospect, custom, sender, seed))
        rendered = templates.render_linkedin_preview(step, prospect, custom, None, seed)
        return PreviewResult(
            "linkedin",
            linkedin=rendered,
            action=step.linkedin_action_type,
            character_limit=INVITE_NOTE_MAX if step.linkedin_action_type == "send_invite" else None,
            issues=linkedin_preview_issues(step, prospect, rendered),
        )

    # --- plumbing ----------------------------------------------------------------------------------------------
    def _mutate(
        self,
        workspace_id: str,
        campaign_id: str,
        action: rules.Action,
        change: Callable[[CampaignRecord, datetime], CampaignRecord],
    ) -> CampaignRecord:
        def wrapped(record: CampaignRecord, now: datetime) -> tuple[CampaignRecord, list[StepRecord], list[str]]:
            return change(record, now), [], []

        return self._write(workspace_id, campaign_id, action, wrapped)

    def _mutate_steps(
        self,
        workspace_id: str,
        campaign_id: str,
        change: Callable[[CampaignRecord, datetime], tuple[CampaignRecord, list[StepRecord], list[str]]],
    ) -> CampaignRecord:
        return self._write(workspace_id, campaign_id, "edit_steps", change)

    def _write(
        self,
        workspace_id: str,
        campaign_id: str,
        action: rules.Action,
        change: Callable[[CampaignRecord, datetime], tuple[CampaignRecord, list[StepRecord], list[str]]],
        *,
        failure_window_reset: bool = False,
    ) -> CampaignRecord:
        for _ in range(_MAX_ATTEMPTS):
            record = self._repo.get(workspace_id, campaign_id)
            if not rules.allowed(record.status, action):
                raise InvalidStatus(rules.refusal_message(record.status, action))
            now = self._now()
            updated, puts, deletes = change(record, now)
            try:
                return self._repo.save(
                    updated,
                    record.version,
                    step_puts=puts,
                    step_deletes=deletes,
                    failure_window_since=now if failure_window_reset else None,
                )
            except Stale:
                continue
        raise Conflict("The campaign kept changing while this request ran; retry it.")
