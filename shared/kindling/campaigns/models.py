"""Campaign shapes: the stored records (campaign, steps with variants, mailbox pool, settings, stats) and the
API's request bodies (camelCase, as the reference's Campaigns section).

Limits (campaign API guide / help center §8.6): name 1-200 characters, 1-50 steps with unique `stepIndex`,
`dailySendLimit` 1-10,000. Designed here: at most `MAX_MAILBOXES` mailboxes per campaign and
`MAX_VARIANTS` live variants per step, so every change to a campaign fits one DynamoDB transaction and one
step (with its variants) fits one item.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic.alias_generators import to_camel

from kindling.platform.models import PatchModel
from kindling.platform.text import SingleLine

CampaignStatus = Literal["draft", "scheduled", "running", "paused", "completed", "cooldown", "errored"]
CAMPAIGN_STATUSES: tuple[str, ...] = ("draft", "scheduled", "running", "paused", "completed", "cooldown", "errored")
# Campaign channels (issue 18; decisions.md "LinkedIn campaigns and steps"): `email` is today's behaviour.
Channel = Literal["email", "linkedin", "multichannel"]
CHANNELS: tuple[str, ...] = get_args(Channel)
# Why a campaign is paused (issue 15; decisions.md "Campaign pause reasons"): stored with the status and the
# instant in one conditional write. Only `mailbox_disconnected` (and the LinkedIn twin) is resumed by the engine.
PausedReason = Literal[
    "api",
    "mailbox_disconnected",
    "safety_cooldown",
    "bounce_shield",
    "high_failure_rate",
    "linkedin_account_disconnected",
]
PAUSED_REASONS: tuple[str, ...] = get_args(PausedReason)
StepType = Literal["email", "linkedin"]
STEP_TYPES: tuple[str, ...] = get_args(StepType)
LinkedInActionType = Literal[
    "view_profile",
    "send_invite",
    "send_message",
    "send_inmail",
    "endorse_skill",
    "like_post",
    "comment",
    "wait_accept",
    "wait_reply",
]
LINKEDIN_ACTION_TYPES: tuple[str, ...] = get_args(LinkedInActionType)
# What a wait step does when its wait runs out (help center §38.6, L4297: "move to the conditional branch
# (if configured) or stop for that prospect"): `stop` or `continue` with the next step. wait_accept stops by
# default; wait_reply goes on by default (what it always did).
LinkedInOnTimeout = Literal["stop", "continue"]
DEFAULT_ON_TIMEOUT: Mapping[str, LinkedInOnTimeout] = {"wait_accept": "stop", "wait_reply": "continue"}
# What a wait_reply step does once the prospect replied (the reference engine's `condition_linkedin_replied`, help
# center L5063: a reply "wakes any parked wait_reply"): `continue` (the default) or `stop` the sequence.
LinkedInOnReply = Literal["continue", "stop"]
DEFAULT_ON_REPLY: LinkedInOnReply = "continue"
# The six LinkedIn reactions (help center §38.10: "6 emoji options"), in the provider's spelling.
ReactionType = Literal["LIKE", "CELEBRATE", "SUPPORT", "LOVE", "INSIGHTFUL", "FUNNY"]
RotationMode = Literal["round_robin", "weighted"]
ROTATION_MODES: tuple[str, ...] = ("round_robin", "weighted")

MAX_STEPS = 50
MAX_MAILBOXES = 40
MAX_VARIANTS = 10
DAILY_SEND_LIMIT_MAX = 10_000
DEFAULT_DAILY_SEND_LIMIT = 50
DEFAULT_SCHEDULE_DAYS: tuple[int, ...] = (1, 2, 3, 4, 5)  # Mon-Fri (help center §6.2); ISO weekday numbers
DEFAULT_RECIPIENT_DOMAIN_DAILY_LIMIT = 50  # decisions.md: per recipient domain per mailbox per day
DEFAULT_MINUTES_BETWEEN_SENDS = 5
DEFAULT_WEIGHT = 100
MAX_SUBJECT = 998  # RFC 5322 line length
MAX_BODY = 100_000
DEFAULT_FOLLOW_UP_DELAY_DAYS = 1  # campaign guide: steps after the first default to a one-day delay
# LinkedIn (help center §38; decisions.md "LinkedIn campaigns and steps").
MAX_LINKEDIN_ACCOUNTS = 20  # designed: the account pool lives on the campaign item, like the mailbox pool
INVITE_NOTE_MAX = 300  # characters of the rendered note (§38.9); blank allowed
LINKEDIN_TEMPLATE_MAX = 8_000  # characters of a message / comment / InMail / note template as written
LINKEDIN_SUBJECT_MAX = 200  # an InMail subject, one line
DEFAULT_MAX_WAIT_DAYS = 14  # wait_accept (§38.6) and wait_reply
MAX_WAIT_DAYS_RANGE: tuple[int, int] = (1, 90)
PREFERRED_SKILL_MAX = 100
DEFAULT_POST_MAX_AGE_DAYS = 30  # like_post / comment: "a recent post"
LINKEDIN_ACCOUNT_ID_PATTERN = r"^li_[A-Za-z0-9_-]{1,61}$"

_TIME_RE = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _hhmm(value: str) -> str:
    if not _TIME_RE.match(value):
        raise ValueError("must be HH:MM (00:00-23:59; 24:00 allowed as a window end)")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"not an IANA timezone: {value!r}") from exc
    if value != "UTC" and "/" not in value:
        # Abbreviations such as "EST" or "CET" exist in the tz database but do not follow daylight saving time
        # the way users expect; ask for a location name instead.
        raise ValueError("use an IANA location name such as America/New_York or UTC")
    return value


def _weekdays(value: list[int]) -> list[int]:
    if len(set(value)) != len(value):
        raise ValueError("days must not repeat")
    return sorted(value)


HHMM = Annotated[str, AfterValidator(_hhmm)]
Timezone = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_timezone)]
Weekday = Annotated[int, Field(ge=1, le=7)]
Weekdays = Annotated[list[Weekday], Field(min_length=1, max_length=7), AfterValidator(_weekdays)]
DailySendLimit = Annotated[int, Field(ge=1, le=DAILY_SEND_LIMIT_MAX)]
Weight = Annotated[int, Field(ge=0, le=1000)]
MailboxWeight = Annotated[int, Field(ge=1, le=1000)]
# A subject is a header: no CR/LF or other control characters.
Subject = Annotated[SingleLine, Field(max_length=MAX_SUBJECT)]
Body = Annotated[str, Field(max_length=MAX_BODY)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
LinkedInAccountId = Annotated[str, StringConstraints(pattern=LINKEDIN_ACCOUNT_ID_PATTERN)]
LinkedInTemplate = Annotated[str, Field(max_length=LINKEDIN_TEMPLATE_MAX)]
LinkedInSubject = Annotated[SingleLine, Field(max_length=LINKEDIN_SUBJECT_MAX)]
MaxWaitDays = Annotated[int, Field(ge=MAX_WAIT_DAYS_RANGE[0], le=MAX_WAIT_DAYS_RANGE[1])]


class LinkedInEngagementConfig(BaseModel):
    """`linkedinEngagementConfig` of an engagement step (the reference names the field, not its shape; designed):
    `preferredSkill` (endorse_skill: matched case-insensitively, partially; blank = the first endorsable skill),
    `reactionType` (like_post, default LIKE), `postMaxAgeDays` (like_post / comment: how recent the post must be)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    preferred_skill: SingleLine | None = Field(default=None, max_length=PREFERRED_SKILL_MAX)
    reaction_type: ReactionType | None = None
    post_max_age_days: int | None = Field(default=None, ge=1, le=365)


class LinkedInInmailConfig(BaseModel):
    """`linkedinInmailConfig` of a send_inmail step (designed): `sendAsMessageIfConnected` (a 1st-degree
    connection gets a plain message instead, which spends no InMail credit; default true) and `openProfilesOnly`
    (only prospects whose profile accepts free InMail; the others skip the step; default false)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    send_as_message_if_connected: bool = True
    open_profiles_only: bool = False


# --- stored records --------------------------------------------------------------------------------------------
class SendingWindow(BaseModel):
    """A sending window in the campaign's timezone; `days` None = every schedule day."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    start: HHMM
    end: HHMM
    days: Weekdays | None = None

    @model_validator(mode="after")
    def _ordered(self) -> SendingWindow:
        if self.start == "24:00":
            raise ValueError("a window cannot start at 24:00")
        if self.end <= self.start:
            raise ValueError("end must be after start (split a window that crosses midnight in two)")
        return self


class CampaignSettings(BaseModel):
    timezone: str = "UTC"
    daily_send_limit: int = DEFAULT_DAILY_SEND_LIMIT
    sending_window_start: str | None = None
    sending_window_end: str | None = None
    schedule_days: list[int] | None = None  # None = the default, Mon-Fri
    sending_windows: list[SendingWindow] | None = None  # overrides sending_window_start/end when set
    minutes_between_sends: int = DEFAULT_MINUTES_BETWEEN_SENDS
    stop_on_reply: bool = True
    stop_on_bounce: bool = True
    stop_on_unsubscribe: bool = True
    track_opens: bool = True
    track_clicks: bool = True
    recipient_domain_daily_limit: int = DEFAULT_RECIPIENT_DOMAIN_DAILY_LIMIT
    rotation_mode: RotationMode = "round_robin"
    start_date: datetime | None = None
    end_date: datetime | None = None

    @property
    def effective_schedule_days(self) -> tuple[int, ...]:
        return tuple(self.schedule_days) if self.schedule_days else DEFAULT_SCHEDULE_DAYS


class CampaignMailbox(BaseModel):
    """A mailbox in the campaign's rotation pool and its per-campaign settings (help center §13.2)."""

    mailbox_id: str
    active: bool = True
    weight: int = DEFAULT_WEIGHT
    max_sends_per_mailbox_per_day: int | None = None  # the campaign-mailbox cap (help center §3.3c)
    added_at: datetime


class VariantRecord(BaseModel):
    id: str
    letter: str  # A, B, C ... never reused within a step, so a sticky assignment never changes content
    subject: str | None = None
    body_html: str | None = None
    body_text: str | None = None
    weight: int = DEFAULT_WEIGHT
    enabled: bool = True


def _bucket(enrollment_id: str, scale: int) -> int:
    digest = hashlib.sha256(enrollment_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % scale


def assign_variant(variants: Sequence[VariantRecord], enrollment_id: str) -> str:
    """The variant letter for an enrollment: deterministic from its id (sticky: the same id and variant set give
    the same letter on every call and every worker), and proportional to the weights across many ids.

    Only enabled variants take part. When every enabled weight is 0 they share equally (a 0 weight means "no new
    prospects" only while another variant still takes them).
    """
    enabled = [v for v in variants if v.enabled]
    if not enabled:
        raise ValueError("a step needs at least one enabled variant")
    ordered = sorted(enabled, key=lambda v: (len(v.letter), v.letter))
    weights = [max(v.weight, 0) for v in ordered]
    total = sum(weights)
    if total == 0:
        weights, total = [1] * len(ordered), len(ordered)
    point = _bucket(enrollment_id, total)
    for variant, weight in zip(ordered, weights, strict=True):
        if point < weight:
            return variant.letter
        point -= weight
    raise AssertionError("unreachable: the point lies below the total weight")


class StepRecord(BaseModel):
    id: str
    step_index: int
    type: StepType = "email"
    name: str | None = None
    delay_days: int = 0
    delay_hours: int | None = None
    is_active: bool = True
    send_as_reply: bool | None = None  # threads the message under the previous step's (Re: subject)
    variants: list[VariantRecord]  # a LinkedIn step keeps one empty variant A (sticky assignment stays uniform)
    letters_used: int = 1  # how many letters this step has handed out (A=1, B=2, ...)
    linkedin_action_type: LinkedInActionType | None = None
    linkedin_message_template: str | None = None
    linkedin_invite_note: str | None = None
    linkedin_subject: str | None = None
    linkedin_max_wait_days: int | None = None
    linkedin_on_timeout: LinkedInOnTimeout | None = None
    linkedin_on_reply: LinkedInOnReply | None = None
    linkedin_engagement_config: LinkedInEngagementConfig | None = None
    linkedin_inmail_config: LinkedInInmailConfig | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def is_linkedin(self) -> bool:
        return self.type == "linkedin"

    @property
    def primary(self) -> VariantRecord:
        """The step's own content in the reference's step shape: its first variant."""
        return self.variants[0]

    @property
    def enabled_variants(self) -> list[VariantRecord]:
        return [v for v in self.variants if v.enabled]

    def variant(self, variant_id: str) -> VariantRecord | None:
        return next((v for v in self.variants if v.id == variant_id or v.letter == variant_id), None)

    @property
    def delay_total_hours(self) -> int:
        return self.delay_days * 24 + (self.delay_hours or 0)


class CampaignStats(BaseModel):
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0
    bounced: int = 0
    unsubscribed: int = 0


STAT_NAMES: tuple[str, ...] = ("sent", "opened", "clicked", "replied", "bounced", "unsubscribed")


class LinkedInStepStats(BaseModel):
    """A LinkedIn step's counters (help center §28.6 / §39.9): zero until the LinkedIn engine writes them."""

    views: int = 0
    invites: int = 0
    acceptances: int = 0
    messages: int = 0
    replies: int = 0


class CampaignHeader(BaseModel):
    """The campaign item itself (settings, status, mailbox pool) without its steps."""

    campaign_id: str
    workspace_id: str
    name: str
    description: str | None = None
    channel: Channel = "email"
    status: CampaignStatus = "draft"
    paused_reason: str | None = None
    paused_at: datetime | None = None
    status_reason: str | None = None  # why the engine moved it (cooldown, completed, errored)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    settings: CampaignSettings = Field(default_factory=CampaignSettings)
    mailboxes: list[CampaignMailbox] = Field(default_factory=list)
    linkedin_account_ids: list[str] = Field(default_factory=list)  # the LinkedIn account pool (rotates)
    version: int = 0  # bumped by every change to the campaign or its steps (optimistic concurrency)
    created_at: datetime
    updated_at: datetime
    stats: CampaignStats = Field(default_factory=CampaignStats)

    @property
    def id(self) -> str:
        return self.campaign_id

    @model_validator(mode="after")
    def _paused_has_reason(self) -> CampaignHeader:
        # Help center §7.8: a paused campaign without a reason is invisible to the auto-resume sweep.
        if self.status == "paused" and not (self.paused_reason and self.paused_at):
            raise ValueError("a paused campaign needs paused_reason and paused_at")
        if self.paused_reason is not None and self.paused_reason not in PAUSED_REASONS:
            raise ValueError(f"paused_reason must be one of {', '.join(PAUSED_REASONS)}")
        if self.status != "paused" and (self.paused_reason or self.paused_at):
            raise ValueError("only a paused campaign carries paused_reason/paused_at")
        return self

    def mailbox(self, mailbox_id: str) -> CampaignMailbox | None:
        return next((m for m in self.mailboxes if m.mailbox_id == mailbox_id), None)


class CampaignRecord(CampaignHeader):
    """The whole campaign: header, steps ordered by `step_index`, and the per-step / per-variant counters."""

    steps: list[StepRecord] = Field(default_factory=list)
    step_stats: dict[str, CampaignStats] = Field(default_factory=dict)  # by step id
    variant_stats: dict[str, CampaignStats] = Field(default_factory=dict)  # by "<step id>#<letter>"
    linkedin_step_stats: dict[str, LinkedInStepStats] = Field(default_factory=dict)  # by step id (engine)

    def step(self, step_id: str) -> StepRecord | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def header(self) -> CampaignHeader:
        return CampaignHeader.model_validate(self.model_dump(include=set(CampaignHeader.model_fields)))


# --- request bodies --------------------------------------------------------------------------------------------
class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _trimmed(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class VariantInput(_Camel):
    subject: Subject | None = None
    body_html: Body | None = None
    body_text: Body | None = None
    weight: Weight = DEFAULT_WEIGHT
    enabled: bool = True


class VariantCreate(VariantInput):
    """POST .../steps/{stepId}/variants: the next free letter; subject and body default to the step's."""


class VariantUpdate(_Camel, PatchModel):
    subject: Subject | None = None
    body_html: Body | None = None
    body_text: Body | None = None
    weight: Weight | None = None
    enabled: bool | None = None

    NOT_NULLABLE: ClassVar[tuple[str, ...]] = ("weight", "enabled")


class LinkedInStepFields(_Camel):
    """The reference's LinkedIn step fields (decisions.md "LinkedIn campaigns and steps"); which of them each
    `linkedinActionType` takes is checked by `linkedin_steps.linkedin_step_problems`."""

    linkedin_action_type: LinkedInActionType | None = None
    linkedin_message_template: LinkedInTemplate | None = None
    linkedin_invite_note: LinkedInTemplate | None = Field(
        default=None, description="At most 300 characters once rendered; blank allowed (no note)."
    )
    linkedin_subject: LinkedInSubject | None = None
    linkedin_max_wait_days: MaxWaitDays | None = Field(
        default=None, description="wait_accept / wait_reply: days before the timeout (default 14)."
    )
    linkedin_on_timeout: LinkedInOnTimeout | None = Field(
        default=None,
        description=(
            "wait_accept / wait_reply: what happens when the wait runs out (no acceptance / no reply in time): "
            "stop (the prospect stops; wait_accept's default) or continue (the sequence goes on with the next step; "
            "wait_reply's default). After a wait_accept timeout a later acceptance is not counted."
        ),
    )
    linkedin_on_reply: LinkedInOnReply | None = Field(
        default=None,
        description=(
            "wait_reply: what happens as soon as the prospect replied on LinkedIn (at once, without waiting out "
            "the wait): continue (default; the next step) or stop (the sequence ends, status replied)."
        ),
    )
    linkedin_engagement_config: LinkedInEngagementConfig | None = None
    linkedin_inmail_config: LinkedInInmailConfig | None = None


LINKEDIN_STEP_FIELDS: tuple[str, ...] = tuple(LinkedInStepFields.model_fields)


class StepInput(LinkedInStepFields):
    """One step of a create body (or POST .../steps). `variants`, when given, are A, B, C... in order; the
    step-level subject/body then fill whatever a variant leaves out. A `linkedin` step carries the LinkedIn
    fields instead of subject/body."""

    step_index: int = Field(ge=0, le=MAX_STEPS - 1)
    type: StepType = "email"
    name: SingleLine | None = Field(default=None, max_length=200)
    subject: Subject | None = None
    body_html: Body | None = None
    body_text: Body | None = None
    delay_days: int | None = Field(default=None, ge=0, le=365)
    delay_hours: int | None = Field(default=None, ge=0, le=720)
    is_active: bool = True
    send_as_reply: bool | None = None
    variants: list[VariantInput] | None = Field(default=None, min_length=1, max_length=MAX_VARIANTS)


class StepCreate(StepInput):
    """POST /campaigns/{id}/steps: `stepIndex` defaults to the end; an existing index shifts later steps down."""

    step_index: int | None = Field(default=None, ge=0, le=MAX_STEPS - 1)  # type: ignore[assignment]


class StepUpdate(LinkedInStepFields, PatchModel):
    """PATCH a step: subject/body change its first variant (the step's own content in the reference shape); the
    LinkedIn fields change a LinkedIn step (null clears one). The step's `type` does not change."""

    name: SingleLine | None = Field(default=None, max_length=200)
    subject: Subject | None = None
    body_html: Body | None = None
    body_text: Body | None = None
    delay_days: int | None = Field(default=None, ge=0, le=365)
    delay_hours: int | None = Field(default=None, ge=0, le=720)
    is_active: bool | None = None
    send_as_reply: bool | None = None

    NOT_NULLABLE: ClassVar[tuple[str, ...]] = ("delay_days", "is_active")
    NULL_NAMES_BY_ALIAS: ClassVar[bool] = False  # this route's message has always said delay_days / is_active


class SettingsInput(_Camel, PatchModel):
    """The settings a create or PATCH may carry (all optional)."""

    description: str | None = Field(default=None, max_length=2000)
    timezone: Timezone | None = None
    daily_send_limit: DailySendLimit | None = None
    sending_window_start: HHMM | None = None
    sending_window_end: HHMM | None = None
    schedule_days: Weekdays | None = None
    sending_windows: list[SendingWindow] | None = Field(default=None, min_length=1, max_length=50)
    minutes_between_sends: int | None = Field(default=None, ge=0, le=1440)
    stop_on_reply: bool | None = None
    stop_on_bounce: bool | None = None
    stop_on_unsubscribe: bool | None = None
    track_opens: bool | None = None
    track_clicks: bool | None = None
    recipient_domain_daily_limit: int | None = Field(default=None, ge=1, le=10_000)
    rotation_mode: RotationMode | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None

    NOT_NULLABLE: ClassVar[tuple[str, ...]] = (
        "timezone",
        "daily_send_limit",
        "minutes_between_sends",
        "stop_on_reply",
        "stop_on_bounce",
        "stop_on_unsubscribe",
        "track_opens",
        "track_clicks",
        "recipient_domain_daily_limit",
        "rotation_mode",
    )

    @model_validator(mode="after")
    def _window_order(self) -> SettingsInput:
        start, end = self.sending_window_start, self.sending_window_end
        if start is not None and end is not None and end <= start:
            raise ValueError("sendingWindowEnd must be after sendingWindowStart")
        return self

    def setting_changes(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in self.model_fields_set
            if name in CampaignSettings.model_fields and name != "description"
        }


class CampaignCreate(SettingsInput):
    name: SingleLine = Field(min_length=1, max_length=200)
    channel: Channel = "email"
    steps: list[StepInput] = Field(min_length=1, max_length=MAX_STEPS)
    # Required by the email and multichannel channels (checked with the channel's other rules).
    mailbox_ids: list[Id] = Field(default_factory=list, max_length=MAX_MAILBOXES)
    linkedin_account_ids: list[LinkedInAccountId] = Field(
        default_factory=list,
        max_length=MAX_LINKEDIN_ACCOUNTS,
        description="The LinkedIn account pool (linkedin and multichannel campaigns; ids like li_...).",
    )
    prospect_ids: list[Id] | None = Field(default=None, max_length=10_000)

    @field_validator("name", mode="before")
    @classmethod
    def _trim(cls, value: Any) -> Any:
        return _trimmed(value)

    @field_validator("steps")
    @classmethod
    def _unique_indexes(cls, steps: list[StepInput]) -> list[StepInput]:
        seen: set[int] = set()
        for step in steps:
            if step.step_index in seen:
                raise ValueError(f"stepIndex {step.step_index} is used twice; each step needs a unique stepIndex")
            seen.add(step.step_index)
        return steps

    @field_validator("mailbox_ids", "linkedin_account_ids")
    @classmethod
    def _unique_ids(cls, ids: list[str]) -> list[str]:
        return list(dict.fromkeys(ids))


class CampaignUpdate(SettingsInput):
    """PATCH /campaigns/{id} (draft or paused only). `mailboxIds` replaces the pool, keeping the settings of the
    mailboxes that stay."""

    name: SingleLine | None = Field(default=None, min_length=1, max_length=200)
    mailbox_ids: list[Id] | None = Field(default=None, min_length=1, max_length=MAX_MAILBOXES)
    linkedin_account_ids: list[LinkedInAccountId] | None = Field(
        default=None, max_length=MAX_LINKEDIN_ACCOUNTS, description="Replaces the LinkedIn account pool."
    )

    @field_validator("name", mode="before")
    @classmethod
    def _trim(cls, value: Any) -> Any:
        return _trimmed(value)

    NOT_NULLABLE: ClassVar[tuple[str, ...]] = (
        *SettingsInput.NOT_NULLABLE,
        "name",
        "mailbox_ids",
        "linkedin_account_ids",
    )

    @model_validator(mode="after")
    def _unique_mailboxes(self) -> CampaignUpdate:
        if self.mailbox_ids is not None:
            self.mailbox_ids = list(dict.fromkeys(self.mailbox_ids))
        if self.linkedin_account_ids is not None:
            self.linkedin_account_ids = list(dict.fromkeys(self.linkedin_account_ids))
        return self


class CampaignMailboxCreate(_Camel):
    mailbox_id: Id
    active: bool = True
    weight: MailboxWeight = DEFAULT_WEIGHT
    max_sends_per_mailbox_per_day: int | None = Field(default=None, ge=1, le=500)


class CampaignMailboxUpdate(_Camel, PatchModel):
    active: bool | None = None
    weight: MailboxWeight | None = None
    max_sends_per_mailbox_per_day: int | None = Field(default=None, ge=1, le=500)

    NOT_NULLABLE: ClassVar[tuple[str, ...]] = ("active", "weight")


class PreviewContent(LinkedInStepFields):
    """Ad-hoc content: an email step's subject/body, or (`type` linkedin) a LinkedIn step's fields."""

    type: StepType = "email"
    subject: Subject | None = None
    body_html: Body | None = None
    body_text: Body | None = None


class PreviewContact(_Camel):
    """Ad-hoc prospect fields for a preview (the peer API's `contact`)."""

    email: str | None = Field(default=None, max_length=320)
    first_name: str | None = Field(default=None, max_length=500)
    last_name: str | None = Field(default=None, max_length=500)
    company: str | None = Field(default=None, max_length=500)
    role: str | None = Field(default=None, max_length=500)
    phone: str | None = Field(default=None, max_length=100)
    linkedin_url: str | None = Field(default=None, max_length=500)
    website: str | None = Field(default=None, max_length=500)
    country: str | None = Field(default=None, max_length=500)
    city: str | None = Field(default=None, max_length=500)
    industry: str | None = Field(default=None, max_length=500)
    custom_fields: dict[str, str | int | float | bool | None] | None = Field(default=None, max_length=50)


class PreviewRequest(_Camel):
    """POST /campaigns/steps/preview: the content is either `step` (ad hoc) or a stored step (`campaignId` +
    `stepId`, optionally `variant`); the data is a stored prospect (`prospectId`) and/or ad-hoc `contact` fields
    (which win); `mailboxId` supplies the sender tags and `{{signature}}`."""

    step: PreviewContent | None = None
    campaign_id: Id | None = None
    step_id: Id | None = None
    variant: str | None = Field(default=None, max_length=64, description="A letter or a variant id.")
    prospect_id: Id | None = None
    contact: PreviewContact | None = None
    mailbox_id: Id | None = None
    seed: str | None = Field(default=None, max_length=200, description="Spintax seed (same seed, same pick).")

    @model_validator(mode="after")
    def _content(self) -> PreviewRequest:
        if self.step is None and not (self.campaign_id and self.step_id):
            raise ValueError("give either step (subject/bodyHtml) or campaignId and stepId")
        if self.step is not None and (self.campaign_id or self.step_id):
            raise ValueError("give either step or campaignId/stepId, not both")
        return self
