"""Campaigns: list/get/create/update, start and pause (the reference), plus steps and variants, the mailbox pool,
preflight, stats and step preview (the peer APIs' extras, in the same style).

Shapes follow the reference's Campaigns examples key for key; the additions are documented extensions:
campaign `pausedReason`, `pausedAt`, `pausedHint`, `sendingWindows`, `minutesBetweenSends`, `recipientDomainDailyLimit`,
`rotationMode`, `mailboxes`, `linkedinAccountIds`; step `variants`, `linkedinOnTimeout`, `linkedinOnReply`; preview
`channel`, `linkedin*`, `issues`; preflight `issues`; stats per step `linkedin` (decisions.md "LinkedIn campaigns and
steps").
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from starlette.concurrency import run_in_threadpool

from kindling.api.envelope import respond, respond_page
from kindling.api.routing import WorkspaceId, api_router, scope
from kindling.api.schemas import Envelope, ListEnvelope, Timestamp
from kindling.campaigns.linkedin_steps import with_defaults
from kindling.campaigns.models import (
    CampaignCreate,
    CampaignHeader,
    CampaignMailbox,
    CampaignMailboxCreate,
    CampaignMailboxUpdate,
    CampaignRecord,
    CampaignStats,
    CampaignStatus,
    CampaignUpdate,
    Channel,
    LinkedInActionType,
    LinkedInEngagementConfig,
    LinkedInInmailConfig,
    LinkedInOnReply,
    LinkedInOnTimeout,
    LinkedInStepStats,
    PausedReason,
    PreviewRequest,
    SendingWindow,
    StepCreate,
    StepRecord,
    StepUpdate,
    VariantCreate,
    VariantRecord,
    VariantUpdate,
)
from kindling.campaigns.rules import PAUSE_HINTS
from kindling.campaigns.service import CampaignService, CampaignView, Preflight
from kindling.campaigns.templates import derived_text
from kindling.enrollments.service import EnrollmentService, campaign_service

router = api_router("Campaigns")

CampaignId = Path(max_length=64, description="The campaign id (uuid).")
StepId = Path(max_length=64, description="The step id (uuid).")
VariantId = Path(max_length=64, description="The variant id (uuid) or its letter.")
MailboxId = Path(max_length=64, description="The mailbox id (uuid).")


class _CamelOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class VariantView(_CamelOut):
    id: str
    letter: str
    subject: str | None
    body_html: str | None
    body_text: str | None
    weight: int
    enabled: bool
    sent_count: int
    open_count: int
    click_count: int
    reply_count: int
    bounce_count: int


class StepView(_CamelOut):
    id: str
    step_index: int
    type: str
    name: str | None
    subject: str | None
    body_html: str | None
    body_text: str | None
    delay_days: int
    delay_hours: int | None
    is_active: bool
    send_as_reply: bool | None
    sent_count: int
    open_count: int
    click_count: int
    reply_count: int
    bounce_count: int
    linkedin_action_type: LinkedInActionType | None = None
    linkedin_message_template: str | None = None
    linkedin_invite_note: str | None = None
    linkedin_subject: str | None = None
    linkedin_max_wait_days: int | None = None
    linkedin_on_timeout: LinkedInOnTimeout | None = None
    linkedin_on_reply: LinkedInOnReply | None = None
    linkedin_engagement_config: LinkedInEngagementConfig | None = None
    linkedin_inmail_config: LinkedInInmailConfig | None = None
    variants: list[VariantView]


class CampaignMailboxView(_CamelOut):
    mailbox_id: str
    active: bool
    weight: int
    max_sends_per_mailbox_per_day: int | None
    added_at: Timestamp


class CampaignSummaryView(_CamelOut):
    id: str
    name: str
    status: CampaignStatus
    channel: Channel
    description: str | None
    timezone: str
    daily_send_limit: int
    sending_window_start: str | None
    sending_window_end: str | None
    schedule_days: list[int] | None
    stop_on_reply: bool
    stop_on_bounce: bool
    stop_on_unsubscribe: bool
    track_opens: bool
    track_clicks: bool
    total_prospects: int
    sent: int
    opened: int
    clicked: int
    replied: int
    bounced: int
    unsubscribed: int
    start_date: Timestamp | None
    end_date: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp
    paused_reason: PausedReason | None  # decisions.md "Campaign pause reasons"
    paused_at: Timestamp | None
    paused_hint: str | None  # e.g. "Will auto-resume after LinkedIn account reconnection."
    sending_windows: list[SendingWindow] | None
    minutes_between_sends: int
    recipient_domain_daily_limit: int
    rotation_mode: str
    mailboxes: list[CampaignMailboxView]
    linkedin_account_ids: list[str]


class CampaignDetailView(CampaignSummaryView):
    steps: list[StepView]


class PoolMailboxView(CampaignMailboxView):
    email_address: str | None
    status: str | None
    usable: bool
    problem: str | None


class PreflightCheckView(BaseModel):
    name: str
    passed: bool
    blocking: bool
    message: str


class PreflightIssueView(_CamelOut):
    code: str
    blocking: bool
    message: str
    step_id: str | None
    count: int | None
    ids: list[str]


class PreflightView(BaseModel):
    checks: list[PreflightCheckView]
    blockingFailures: list[str]
    warnings: list[str]
    summary: str
    issues: list[PreflightIssueView]


class PreviewIssueView(BaseModel):
    code: str
    message: str


class PreviewView(_CamelOut):
    """An email step: subject, bodyHtml, bodyText. A LinkedIn step: those are null and `linkedinText` (the note,
    message, comment or InMail body), `linkedinSubject` (InMail), `characterCount` / `characterLimit` (invite
    note) and `issues` say what was rendered and what would stop it."""

    channel: Literal["email", "linkedin"]
    subject: str | None
    body_html: str | None
    body_text: str | None
    linkedin_action_type: LinkedInActionType | None = None
    linkedin_text: str | None = None
    linkedin_subject: str | None = None
    character_count: int | None = None
    character_limit: int | None = None
    issues: list[PreviewIssueView]


class SendCounts(BaseModel):
    sent: int
    opened: int
    clicked: int
    replied: int
    bounced: int
    unsubscribed: int


class VariantStatsView(SendCounts):
    variantId: str
    letter: str
    enabled: bool


class LinkedInCounts(BaseModel):
    views: int
    invites: int
    acceptances: int
    messages: int
    replies: int


class StepStatsView(SendCounts):
    stepId: str
    stepIndex: int
    type: str
    variants: list[VariantStatsView]
    linkedin: LinkedInCounts | None  # LinkedIn steps only (zero until the LinkedIn engine counts them)


class StatsView(BaseModel):
    campaignId: str
    status: str
    contacts: dict[str, int]
    sends: SendCounts
    steps: list[StepStatsView]


def _counts(stats: CampaignStats | None) -> dict[str, int]:
    s = stats or CampaignStats()
    return {
        "sent_count": s.sent,
        "open_count": s.opened,
        "click_count": s.clicked,
        "reply_count": s.replied,
        "bounce_count": s.bounced,
    }


def variant_view(step: StepRecord, variant: VariantRecord, variant_stats: dict[str, CampaignStats]) -> VariantView:
    return VariantView(
        id=variant.id,
        letter=variant.letter,
        subject=variant.subject,
        body_html=variant.body_html,
        body_text=variant.body_text if variant.body_text is not None else derived_text(variant.body_html),
        weight=variant.weight,
        enabled=variant.enabled,
        **_counts(variant_stats.get(f"{step.id}#{variant.letter}")),
    )


def step_view(
    step: StepRecord, step_stats: dict[str, CampaignStats], variant_stats: dict[str, CampaignStats]
) -> StepView:
    step = with_defaults(step)  # what the engine applies, also for a step stored before a default existed
    primary = step.primary
    return StepView(
        id=step.id,
        step_index=step.step_index,
        type=step.type,
        name=step.name,
        subject=primary.subject,
        body_html=primary.body_html,
        body_text=primary.body_text if primary.body_text is not None else derived_text(primary.body_html),
        delay_days=step.delay_days,
        delay_hours=step.delay_hours,
        is_active=step.is_active,
        send_as_reply=step.send_as_reply,
        variants=[variant_view(step, v, variant_stats) for v in step.variants],
        linkedin_action_type=step.linkedin_action_type,
        linkedin_message_template=step.linkedin_message_template,
        linkedin_invite_note=step.linkedin_invite_note,
        linkedin_subject=step.linkedin_subject,
        linkedin_max_wait_days=step.linkedin_max_wait_days,
        linkedin_on_timeout=step.linkedin_on_timeout,
        linkedin_on_reply=step.linkedin_on_reply,
        linkedin_engagement_config=step.linkedin_engagement_config,
        linkedin_inmail_config=step.linkedin_inmail_config,
        **_counts(step_stats.get(step.id)),
    )


def _pool_entry(entry: CampaignMailbox) -> CampaignMailboxView:
    return CampaignMailboxView.model_validate(entry.model_dump())


def _summary_fields(campaign: CampaignHeader, total_prospects: int) -> dict[str, Any]:
    settings = campaign.settings
    return {
        "id": campaign.campaign_id,
        "name": campaign.name,
        "status": campaign.status,
        "channel": campaign.channel,
        "description": campaign.description,
        "timezone": settings.timezone,
        "daily_send_limit": settings.daily_send_limit,
        "sending_window_start": settings.sending_window_start,
        "sending_window_end": settings.sending_window_end,
        "schedule_days": settings.schedule_days,
        "stop_on_reply": settings.stop_on_reply,
        "stop_on_bounce": settings.stop_on_bounce,
        "stop_on_unsubscribe": settings.stop_on_unsubscribe,
        "track_opens": settings.track_opens,
        "track_clicks": settings.track_clicks,
        "total_prospects": total_prospects,
        **campaign.stats.model_dump(),
        "start_date": settings.start_date,
        "end_date": settings.end_date,
        "created_at": campaign.created_at,
        "updated_at": campaign.updated_at,
        "paused_reason": campaign.paused_reason,
        "paused_at": campaign.paused_at,
        "paused_hint": PAUSE_HINTS.get(campaign.paused_reason or ""),
        "sending_windows": settings.sending_windows,
        "minutes_between_sends": settings.minutes_between_sends,
        "recipient_domain_daily_limit": settings.recipient_domain_daily_limit,
        "rotation_mode": settings.rotation_mode,
        "mailboxes": [_pool_entry(m) for m in campaign.mailboxes],
        "linkedin_account_ids": list(campaign.linkedin_account_ids),
    }


def summary_view(view: CampaignView) -> CampaignSummaryView:
    return CampaignSummaryView(**_summary_fields(view.campaign, view.total_prospects))


def detail_view(view: CampaignView) -> CampaignDetailView:
    steps = [step_view(s, view.step_stats, view.variant_stats) for s in view.steps or []]
    return CampaignDetailView(**_summary_fields(view.campaign, view.total_prospects), steps=steps)


def _service() -> CampaignService:
    return campaign_service()


def _detail(service: CampaignService, record: CampaignRecord) -> CampaignDetailView:
    return detail_view(service.view(record))


# --- campaigns -------------------------------------------------------------------------------------------------
@router.get(
    "/campaigns",
    response_model=ListEnvelope[CampaignSummaryView],
    openapi_extra=scope("campaigns:read"),
    summary="List campaigns (with summary stats)",
)
def list_campaigns(
    workspace_id: WorkspaceId,
    status: CampaignStatus | None = Query(None, description="Only campaigns in this status."),
    limit: int = Query(50, ge=1, le=100),
    cursor: str | None = Query(None, max_length=2048),
) -> JSONResponse:
    views, next_cursor = _service().page(workspace_id, status, limit, cursor)
    return respond_page([summary_view(v) for v in views], next_cursor)


@router.post(
    "/campaigns",
    response_model=Envelope[CampaignDetailView],
    status_code=201,
    openapi_extra=scope("campaigns:write"),
    summary="Create a campaign (always draft)",
    description="`meta` carries `prospects_enrolled`, `prospects_suppressed` and `mailboxes_assigned`.",
)
def create_campaign(workspace_id: WorkspaceId, body: CampaignCreate) -> JSONResponse:
    service = _service()
    outcome = service.create(workspace_id, body)
    return respond(
        _detail(service, outcome.campaign),
        status_code=201,
        prospects_enrolled=outcome.prospects_enrolled,
        prospects_suppressed=outcome.prospects_suppressed,
        mailboxes_assigned=outcome.mailboxes_assigned,
    )


@router.post(
    "/campaigns/steps/preview",
    response_model=Envelope[PreviewView],
    openapi_extra=scope("campaigns:read", idempotent=False),
    summary="Render a step for a prospect (or ad-hoc fields) and a sending mailbox",
)
async def preview_step(workspace_id: WorkspaceId, body: PreviewRequest) -> JSONResponse:
    result = await run_in_threadpool(_service().preview, workspace_id, body)
    issues = [PreviewIssueView(code=i.code, message=i.message) for i in result.issues]
    if result.email is not None:
        email = result.email
        view = PreviewView(
            channel="email", subject=email.subject, body_html=email.body_html, body_text=email.body_text, issues=issues
        )
    else:
        linkedin = result.linkedin
        assert linkedin is not None
        limited = result.character_limit is not None and linkedin.text is not None
        view = PreviewView(
            channel="linkedin",
            subject=None,
            body_html=None,
            body_text=None,
            linkedin_action_type=result.action,
            linkedin_text=linkedin.text,
            linkedin_subject=linkedin.subject,
            character_count=len(linkedin.text) if limited and linkedin.text is not None else None,
            character_limit=result.character_limit,
            issues=issues,
        )
    return respond(view)


@router.get(
    "/campaigns/{campaign_id}",
    response_model=Envelope[CampaignDetailView],
    openapi_extra=scope("campaigns:read"),
    summary="Get a campaign (with steps)",
)
def get_campaign(workspace_id: WorkspaceId, campaign_id: str = CampaignId) -> JSONResponse:
    service = _service()
    return respond(_detail(service, service.get(workspace_id, campaign_id)))


@router.patch(
    "/campaigns/{campaign_id}",
    response_model=Envelope[CampaignDetailView],
    openapi_extra=scope("campaigns:write"),
    summary="Update a campaign (draft or paused only)",
)
def update_campaign(workspace_id: WorkspaceId, body: CampaignUpdate, campaign_id: str = CampaignId) -> JSONResponse:
    service = _service()
    return respond(_detail(service, service.update(workspace_id, campaign_id, body)))


@router.post(
    "/campaigns/{campaign_id}/start",
    response_model=Envelope[CampaignDetailView],
    openapi_extra=scope("campaigns:write", idempotent=False),
    summary="Start (or resume) a campaign",
    description="Draft or paused -> running, or scheduled when startDate is in the future. No request body.",
)
def start_campaign(workspace_id: WorkspaceId, campaign_id: str = CampaignId) -> JSONResponse:
    service = _service()
    return respond(_detail(service, service.start(workspace_id, campaign_id)))


@router.post(
    "/campaigns/{campaign_id}/pause",
    response_model=Envelope[CampaignDetailView],
    openapi_extra=scope("campaigns:write", idempotent=False),
    summary="Pause a running or scheduled campaign",
)
def pause_campaign(workspace_id: WorkspaceId, campaign_id: str = CampaignId) -> JSONResponse:
    service = _service()
    return respond(_detail(service, service.pause(workspace_id, campaign_id)))


def preflight_view(result: Preflight) -> PreflightView:
    return PreflightView(
        checks=[
            PreflightCheckView(name=c.name, passed=c.passed, blocking=c.blocking, message=c.message)
            for c in result.checks
        ],
        blockingFailures=result.blocking_failures,
        warnings=result.warnings,
        summary=result.summary,
        issues=[
            PreflightIssueView(
                code=i.code, blocking=i.blocking, message=i.message, step_id=i.step_id, count=i.count, ids=list(i.ids)
            )
            for i in result.issues
        ],
    )


@router.get(
    "/campaigns/{campaign_id}/preflight",
    response_model=Envelope[PreflightView],
    openapi_extra=scope("campaigns:read"),
    summary="Check a campaign is ready to launch",
)
def campaign_preflight(workspace_id: WorkspaceId, campaign_id: str = CampaignId) -> JSONResponse:
    return respond(preflight_view(_service().preflight(workspace_id, campaign_id)))


def _send_counts(stats: CampaignStats | None) -> SendCounts:
    return SendCounts(**(stats or CampaignStats()).model_dump())


@router.get(
    "/campaigns/{campaign_id}/stats",
    response_model=Envelope[StatsView],
    openapi_extra=scope("campaigns:read"),
    summary="Campaign stats: prospects by status, sends, per step and per variant",
)
def campaign_stats(workspace_id: WorkspaceId, campaign_id: str = CampaignId) -> JSONResponse:
    service = _service()
    record = service.get(workspace_id, campaign_id)
    summary = EnrollmentService().summary(workspace_id, campaign_id)
    steps = [
        StepStatsView(
            stepId=step.id,
            stepIndex=step.step_index,
            variants=[
                VariantStatsView(
                    variantId=v.id,
                    letter=v.letter,
                    enabled=v.enabled,
                    **_send_counts(record.variant_stats.get(f"{step.id}#{v.letter}")).model_dump(),
                )
                for v in step.variants
            ],
            **_send_counts(record.step_stats.get(step.id)).model_dump(),
            type=step.type,
            linkedin=LinkedInCounts(**record.linkedin_step_stats.get(step.id, LinkedInStepStats()).model_dump())
            if step.is_linkedin
            else None,
        )
        for step in record.steps
    ]
    return respond(
        StatsView(
            campaignId=record.campaign_id,
            status=record.status,
            contacts={"total": summary.total, **summary.counts},
            sends=_send_counts(record.stats),
            steps=steps,
        )
    )


# --- steps -----------------------------------------------------------------------------------------------------
def _step(record: CampaignRecord, step: StepRecord) -> StepView:
    return step_view(step, record.step_stats, record.variant_stats)


@router.get(
    "/campaigns/{campaign_id}/steps",
    response_model=ListEnvelope[StepView],
    openapi_extra=scope("campaigns:read"),
    summary="List a campaign's steps (ordered, with variants)",
)
def list_steps(workspace_id: WorkspaceId, campaign_id: str = CampaignId) -> JSONResponse:
    record = _service().get(workspace_id, campaign_id)
    return respond_page([_step(record, s) for s in record.steps], None)


@router.post(
    "/campaigns/{campaign_id}/steps",
    response_model=Envelope[StepView],
    status_code=201,
    openapi_extra=scope("campaigns:write"),
    summary="Add a step (at the end, or at stepIndex)",
)
def create_step(workspace_id: WorkspaceId, body: StepCreate, campaign_id: str = CampaignId) -> JSONResponse:
    record, step = _service().create_step(workspace_id, campaign_id, body)
    return respond(_step(record, step), status_code=201)


@router.get(
    "/campaigns/{campaign_id}/steps/{step_id}",
    response_model=Envelope[StepView],
    openapi_extra=scope("campaigns:read"),
    summary="Get a step",
)
def get_step(workspace_id: WorkspaceId, campaign_id: str = CampaignId, step_id: str = StepId) -> JSONResponse:
    record, step = _service().step(workspace_id, campaign_id, step_id)
    return respond(_step(record, step))


@router.patch(
    "/campaigns/{campaign_id}/steps/{step_id}",
    response_model=Envelope[StepView],
    openapi_extra=scope("campaigns:write"),
    summary="Update a step (subject/body change its first variant)",
)
def update_step(
    workspace_id: WorkspaceId, body: StepUpdate, campaign_id: str = CampaignId, step_id: str = StepId
) -> JSONResponse:
    record, step = _service().update_step(workspace_id, campaign_id, step_id, body)
    return respond(_step(record, step))


@router.delete(
    "/campaigns/{campaign_id}/steps/{step_id}",
    status_code=204,
    response_class=Response,
    openapi_extra=scope("campaigns:write"),
    summary="Delete a step (later steps move up)",
    responses={422: {"description": "`cannot_delete_last_step`"}},
)
def delete_step(workspace_id: WorkspaceId, campaign_id: str = CampaignId, step_id: str = StepId) -> Response:
    _service().delete_step(workspace_id, campaign_id, step_id)
    return Response(status_code=204)


# --- variants --------------------------------------------------------------------------------------------------
@router.get(
    "/campaigns/{campaign_id}/steps/{step_id}/variants",
    response_model=ListEnvelope[VariantView],
    openapi_extra=scope("campaigns:read"),
    summary="List a step's variants",
)
def list_variants(workspace_id: WorkspaceId, campaign_id: str = CampaignId, step_id: str = StepId) -> JSONResponse:
    record, step = _service().step(workspace_id, campaign_id, step_id)
    return respond_page([variant_view(step, v, record.variant_stats) for v in step.variants], None)


@router.post(
    "/campaigns/{campaign_id}/steps/{step_id}/variants",
    response_model=Envelope[VariantView],
    status_code=201,
    openapi_extra=scope("campaigns:write"),
    summary="Add a variant (the next letter; content defaults to the step's)",
)
def create_variant(
    workspace_id: WorkspaceId, body: VariantCreate, campaign_id: str = CampaignId, step_id: str = StepId
) -> JSONResponse:
    record, step, variant = _service().create_variant(workspace_id, campaign_id, step_id, body)
    return respond(variant_view(step, variant, record.variant_stats), status_code=201)


@router.patch(
    "/campaigns/{campaign_id}/steps/{step_id}/variants/{variant_id}",
    response_model=Envelope[VariantView],
    openapi_extra=scope("campaigns:write"),
    summary="Update a variant",
    responses={422: {"description": "`cannot_delete_last_variant` (disabling the last enabled variant)"}},
)
def update_variant(
    workspace_id: WorkspaceId,
    body: VariantUpdate,
    campaign_id: str = CampaignId,
    step_id: str = StepId,
    variant_id: str = VariantId,
) -> JSONResponse:
    record, step, variant = _service().update_variant(workspace_id, campaign_id, step_id, variant_id, body)
    return respond(variant_view(step, variant, record.variant_stats))


@router.delete(
    "/campaigns/{campaign_id}/steps/{step_id}/variants/{variant_id}",
    status_code=204,
    response_class=Response,
    openapi_extra=scope("campaigns:write"),
    summary="Delete a variant",
    responses={422: {"description": "`cannot_delete_last_variant`"}},
)
def delete_variant(
    workspace_id: WorkspaceId, campaign_id: str = CampaignId, step_id: str = StepId, variant_id: str = VariantId
) -> Response:
    _service().delete_variant(workspace_id, campaign_id, step_id, variant_id)
    return Response(status_code=204)


# --- the mailbox pool ------------------------------------------------------------------------------------------
def _pool_views(service: CampaignService, record: CampaignRecord) -> list[PoolMailboxView]:
    checked = {
        c.mailbox_id: c
        for c in service.mailbox_usability(record.workspace_id, [m.mailbox_id for m in record.mailboxes])
    }
    views = []
    for entry in record.mailboxes:
        usability = checked[entry.mailbox_id]
        mailbox = usability.mailbox
        views.append(
            PoolMailboxView(
                **entry.model_dump(),
                email_address=mailbox.email_address if mailbox else None,
                status=mailbox.status if mailbox else None,
                usable=usability.usable,
                problem=usability.problem,
            )
        )
    return views


def _pool_view(service: CampaignService, record: CampaignRecord, mailbox_id: str) -> PoolMailboxView:
    return next(v for v in _pool_views(service, record) if v.mailbox_id == mailbox_id)


@router.get(
    "/campaigns/{campaign_id}/mailboxes",
    response_model=ListEnvelope[PoolMailboxView],
    openapi_extra=scope("campaigns:read"),
    summary="List the campaign's mailboxes and their per-campaign settings",
)
def list_campaign_mailboxes(workspace_id: WorkspaceId, campaign_id: str = CampaignId) -> JSONResponse:
    service = _service()
    record = service.get(workspace_id, campaign_id)
    return respond_page(_pool_views(service, record), None)


@router.post(
    "/campaigns/{campaign_id}/mailboxes",
    response_model=Envelope[PoolMailboxView],
    status_code=201,
    openapi_extra=scope("campaigns:write"),
    summary="Add a mailbox to the campaign's rotation",
    responses={409: {"description": "Already in the campaign."}},
)
def attach_mailbox(
    workspace_id: WorkspaceId, body: CampaignMailboxCreate, campaign_id: str = CampaignId
) -> JSONResponse:
    service = _service()
    record = service.attach_mailbox(workspace_id, campaign_id, body)
    return respond(_pool_view(service, record, body.mailbox_id), status_code=201)


@router.patch(
    "/campaigns/{campaign_id}/mailboxes/{mailbox_id}",
    response_model=Envelope[PoolMailboxView],
    openapi_extra=scope("campaigns:write"),
    summary="Change a mailbox's settings in this campaign (active, weight, daily cap)",
)
def update_campaign_mailbox(
    workspace_id: WorkspaceId, body: CampaignMailboxUpdate, campaign_id: str = CampaignId, mailbox_id: str = MailboxId
) -> JSONResponse:
    service = _service()
    record = service.update_mailbox(workspace_id, campaign_id, mailbox_id, body)
    return respond(_pool_view(service, record, mailbox_id))


@router.delete(
    "/campaigns/{campaign_id}/mailboxes/{mailbox_id}",
    status_code=204,
    response_class=Response,
    openapi_extra=scope("campaigns:write"),
    summary="Remove a mailbox from the campaign's rotation",
)
def detach_mailbox(workspace_id: WorkspaceId, campaign_id: str = CampaignId, mailbox_id: str = MailboxId) -> Response:
    _service().detach_mailbox(workspace_id, campaign_id, mailbox_id)
    return Response(status_code=204)


__all__ = ["router"]
