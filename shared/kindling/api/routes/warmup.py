"""Warmup: per-mailbox stats (list and one), settings, and the asynchronous bulk update (a Step Functions job)."""

from __future__ import annotations

from typing import Literal

from fastapi import Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from kindling.api.envelope import respond, respond_page
from kindling.api.routing import WorkspaceId, api_router, scope
from kindling.api.schemas import Envelope, ListEnvelope, Timestamp
from kindling.warmup.health import Band, band_for
from kindling.warmup.models import BulkWarmupUpdate, StrategySetting, WarmupSettingsUpdate
from kindling.warmup.ramp import Strategy
from kindling.warmup.service import WarmupReport, WarmupService
from kindling.warmup.stats import LimitReason

router = api_router("Warmup")

MailboxId = Path(max_length=64, description="The mailbox id (uuid).")


class DailyPointView(BaseModel):
    date: str = Field(examples=["2026-06-10"])
    sent: int
    received: int
    inbox_count: int
    spam_count: int
    saved_from_spam: int
    bounced: int


class WarmupStatsView(BaseModel):
    """The reference's warmup object, then the documented extensions: the other settings, the engine's
    strategy, `saved_from_spam` and the 7-day `daily` series (Reachkit's warmup stats)."""

    mailbox_id: str
    email_address: str
    warmup_enabled: bool
    warmup_type: str
    warmup_progress: int
    warmup_target_daily_volume: int
    effective_daily_limit: int
    effective_limit_reason: LimitReason | None
    sent_today: int
    received_today: int
    reputation_score: int | None
    inbox_rate: int | None
    spam_rate: int | None
    last_sent_at: Timestamp | None
    health_status: str
    health_reasons: list[str] | None
    # extensions
    warmup_strategy: StrategySetting
    warmup_window_start_hour: int
    warmup_window_end_hour: int
    warmup_timezone: str
    warmup_reply_rate: int
    strategy: Strategy = Field(description="The strategy the engine runs now.")
    strategy_reason: str | None = Field(description="Why it last changed (`graduated`, `manual_override`, ...).")
    strategy_changed_at: Timestamp | None
    ramp_day: int
    health_band: Band | None = Field(description="The band of `reputation_score`.")
    saved_from_spam: int = Field(description="Own warmup emails rescued from spam by peers, last 7 days.")
    daily: list[DailyPointView] = Field(description="The last 7 days (workspace timezone), oldest first.")


class BulkUpdateAccepted(BaseModel):
    job_id: str
    status: Literal["processing", "completed", "failed"]
    total_items: int


def stats_view(report: WarmupReport) -> WarmupStatsView:
    mailbox, state, stats = report.mailbox, report.state, report.stats
    score = stats.reputation_score
    return WarmupStatsView(
        mailbox_id=mailbox.id,
        email_address=mailbox.email_address,
        warmup_enabled=mailbox.warmup_enabled,
        warmup_type=mailbox.warmup_type,
        warmup_progress=mailbox.warmup_progress,
        warmup_target_daily_volume=state.target_daily_volume,
        effective_daily_limit=report.limit.limit,
        effective_limit_reason=report.limit.reason,
        sent_today=stats.sent_today,
        received_today=stats.received_today,
        reputation_score=score,
        inbox_rate=stats.inbox_rate,
        spam_rate=stats.spam_rate,
        last_sent_at=stats.last_sent_at,
        health_status=mailbox.health_status,
        health_reasons=mailbox.health_reasons,
        warmup_strategy=state.strategy_override or "auto",
        warmup_window_start_hour=state.window_start_hour,
        warmup_window_end_hour=state.window_end_hour,
        warmup_timezone=report.timezone,
        warmup_reply_rate=state.reply_rate,
        strategy=state.strategy,
        strategy_reason=state.strategy_reason,
        strategy_changed_at=state.strategy_changed_at,
        ramp_day=state.ramp_day,
        health_band=None if score is None else band_for(score),
        saved_from_spam=stats.saved_from_spam,
        daily=[DailyPointView.model_validate(point.as_dict()) for point in stats.daily],
    )


@router.get(
    "/warmup/stats",
    response_model=ListEnvelope[WarmupStatsView],
    openapi_extra=scope("warmup:read"),
    summary="List warmup stats",
)
def list_warmup_stats(
    workspace_id: WorkspaceId,
    limit: int = Query(50, ge=1, le=100),
    cursor: str | None = Query(None, max_length=2048),
) -> JSONResponse:
    reports, next_cursor = WarmupService().list_reports(workspace_id, limit, cursor)
    return respond_page([stats_view(r) for r in reports], next_cursor)


@router.get(
    "/warmup/stats/{mailbox_id}",
    response_model=Envelope[WarmupStatsView],
    openapi_extra=scope("warmup:read"),
    summary="Get warmup stats for one mailbox",
)
def get_warmup_stats(workspace_id: WorkspaceId, mailbox_id: str = MailboxId) -> JSONResponse:
    return respond(stats_view(WarmupService().report(workspace_id, mailbox_id)))


@router.patch(
    "/warmup/settings/{mailbox_id}",
    response_model=Envelope[WarmupStatsView],
    openapi_extra=scope("warmup:write"),
    summary="Update warmup settings",
    description="Only the fields sent change. Enabling requires a connected mailbox (else 400 "
    "`mailbox_not_connected`); a deleted mailbox must be restored first (400 `invalid_status`); `aggressive` needs "
    "an established domain (400 `speed_not_allowed` while the mailbox ramps as a New Domain).",
)
def update_warmup_settings(
    workspace_id: WorkspaceId, body: WarmupSettingsUpdate, mailbox_id: str = MailboxId
) -> JSONResponse:
    report = WarmupService().update_settings(workspace_id, mailbox_id, body)
    return respond(stats_view(report))


@router.post(
    "/warmup/bulk-update",
    response_model=Envelope[BulkUpdateAccepted],
    status_code=202,
    openapi_extra=scope("warmup:write"),
    summary="Bulk-update warmup settings (async)",
    description="Applies `updates` (the settings PATCH's fields) to every mailbox in `mailbox_ids` (1-1000) in a "
    "background job; poll GET /jobs/{id}. Mailboxes that are unknown, deleted or cannot be enabled (not "
    "connected) are recorded as per-item errors on the job.",
)
def bulk_update_warmup(workspace_id: WorkspaceId, body: BulkWarmupUpdate) -> JSONResponse:
    job = WarmupService().start_bulk_update(workspace_id, body)
    return respond(BulkUpdateAccepted(job_id=job.id, status=job.status, total_items=job.total_items), 202)


__all__ = ["router"]
