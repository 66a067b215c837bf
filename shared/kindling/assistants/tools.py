"""The tool functions: each calls the same service as its REST endpoint (no HTTP hop) and returns compact JSON.

A tool function is plain and synchronous; its typed signature is its input schema (the SDK reads it), its return
value a JSON-ready dict. The caller's workspace comes from `current_principal()`, which the server sets per call
after authentication, the scope check and the rate limit (kindling.assistants.server). Which scope and rate
category each tool needs, and its description, are in the registry table (kindling.assistants.registry).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from kindling.assistants.context import current_principal
from kindling.campaigns.models import CampaignCreate, CampaignStatus, StepCreate, VariantCreate
from kindling.inbox.models import OverrideLabel
from kindling.mailboxes.models import MailboxStatus
from kindling.platform.clock import isoformat
from kindling.platform.errors import ValidationFailed, field_error
from kindling.prospects.models import GlobalStatus, ProspectCreate, ProspectUpdate
from kindling.warmup.models import BulkWarmupUpdate, WarmupSettingsUpdate

if TYPE_CHECKING:
    from kindling.auth.service import AuthService
    from kindling.campaigns.models import CampaignRecord
    from kindling.campaigns.service import CampaignService, CampaignView, Preflight
    from kindling.enrollments.service import EnrollmentService
    from kindling.inbox.models import Conversation, InboxMessage
    from kindling.inbox.service import InboxService
    from kindling.jobs.models import Job
    from kindling.jobs.service import JobService
    from kindling.mailboxes.models import Mailbox
    from kindling.mailboxes.service import MailboxService
    from kindling.prospects.models import Prospect, ProspectList
    from kindling.prospects.service import ListService, ProspectService
    from kindling.suppressions.service import SuppressionService
    from kindling.warmup.service import WarmupReport, WarmupService
    from kindling.webhooks.models import Delivery, Webhook
    from kindling.webhooks.service import WebhookService

# Only the argument types above load with the module: each tool imports its service when first called, so a cold
# start pays for the concept it serves, not for all of them (bench/coldstart.py measures the MCP function).


def _campaigns() -> CampaignService:
    from kindling.enrollments.service import campaign_service  # cold start: loaded by the tools that use it

    return campaign_service()


def auth_service() -> AuthService:
    from kindling.auth.service import AuthService  # cold start: loaded by the tools that use it

    return AuthService()


def _mailbox_service() -> MailboxService:
    from kindling.mailboxes.service import MailboxService  # cold start: loaded by the tools that use it

    return MailboxService()


def _prospect_service() -> ProspectService:
    from kindling.prospects.service import ProspectService  # cold start: loaded by the tools that use it

    return ProspectService()


def _list_service() -> ListService:
    from kindling.prospects.service import ListService  # cold start: loaded by the tools that use it

    return ListService()


def _suppression_service() -> SuppressionService:
    from kindling.suppressions.service import SuppressionService  # cold start: loaded by the tools that use it

    return SuppressionService()


def _inbox_service() -> InboxService:
    from kindling.inbox.service import InboxService  # cold start: loaded by the tools that use it

    return InboxService()


def _webhook_service() -> WebhookService:
    from kindling.webhooks.service import WebhookService  # cold start: loaded by the tools that use it

    return WebhookService()


def _job_service() -> JobService:
    from kindling.jobs.service import JobService  # cold start: loaded by the tools that use it

    return JobService()


def _warmup_service() -> WarmupService:
    from kindling.warmup.service import WarmupService  # cold start: loaded by the tools that use it

    return WarmupService()


def _enrollment_service() -> EnrollmentService:
    from kindling.enrollments.service import EnrollmentService  # cold start: loaded by the tools that use it

    return EnrollmentService()


# --- argument types ----------------------------------------------------------------------------------------------
Limit = Annotated[int, Field(ge=1, le=100, description="Page size, 1-100.")]
Cursor = Annotated[str | None, Field(max_length=2048, description="`next_cursor` from the previous page.")]
Id = Annotated[str, Field(min_length=1, max_length=64)]
IdempotencyKey = Annotated[
    str | None,
    Field(
        max_length=255,
        description="Optional. The same tool with the same arguments and this key within 24 h returns the first "
        "call's result without doing the work again; the key with other arguments is `idempotency_conflict`.",
    ),
]
Email = Annotated[str, Field(min_length=3, max_length=320)]
RECENT_DELIVERIES = 5
OVERVIEW_PAGE = 100


def _ws() -> str:
    return current_principal().workspace_id


def _page(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor, "has_more": next_cursor is not None}


# --- compact views ------------------------------------------------------------------------------------------------
def mailbox_view(m: Mailbox) -> dict[str, Any]:
    return {
        "id": m.id,
        "email_address": m.email_address,
        "display_name": m.display_name,
        "status": m.status,
        "provider": m.provider,
        "health_status": m.health_status,
        "health_reasons": m.health_reasons or [],
        "sending_enabled": m.sending_enabled,
        "daily_send_limit": m.daily_send_limit,
        "warmup_enabled": m.warmup_enabled,
        "warmup_progress": m.warmup_progress,
        "last_test_error": m.last_test_error,
    }


def warmup_view(report: WarmupReport) -> dict[str, Any]:
    mailbox, state, stats = report.mailbox, report.state, report.stats
    return {
        "mailbox_id": mailbox.id,
        "email_address": mailbox.email_address,
        "warmup_enabled": mailbox.warmup_enabled,
        "warmup_type": mailbox.warmup_type,
        "warmup_progress": mailbox.warmup_progress,
        "target_daily_volume": state.target_daily_volume,
        "effective_daily_limit": report.limit.limit,
        "effective_limit_reason": report.limit.reason,
        "sent_today": stats.sent_today,
        "received_today": stats.received_today,
        "sent_7d": stats.sent_7d,
        "received_7d": stats.received_7d,
        "reputation_score": stats.reputation_score,
        "inbox_rate": stats.inbox_rate,
        "spam_rate": stats.spam_rate,
        "bounce_rate": stats.bounce_rate,
        "saved_from_spam": stats.saved_from_spam,
        "strategy": state.strategy,
        "health_status": mailbox.health_status,
    }


def campaign_view(view: CampaignView) -> dict[str, Any]:
    c = view.campaign
    out: dict[str, Any] = {
        "id": c.campaign_id,
        "name": c.name,
        "status": c.status,
        "paused_reason": c.paused_reason,
        "status_reason": c.status_reason,
        "total_prospects": view.total_prospects,
        "stats": c.stats.model_dump(),
        "mailbox_ids": [m.mailbox_id for m in c.mailboxes],
        "daily_send_limit": c.settings.daily_send_limit,
        "timezone": c.settings.timezone,
        "created_at": isoformat(c.created_at),
    }
    if view.steps is not None:
        out["steps"] = [
            {
                "id": s.id,
                "step_index": s.step_index,
                "name": s.name,
                "delay_days": s.delay_days,
                "is_active": s.is_active,
                "subject": s.primary.subject,
                "variants": [{"id": v.id, "letter": v.letter, "enabled": v.enabled} for v in s.variants],
                "stats": view.step_stats[s.id].model_dump() if s.id in view.step_stats else None,
            }
            for s in view.steps
        ]
    return out


def preflight_view(result: Preflight) -> dict[str, Any]:
    return {
        "checks": [
            {"name": c.name, "passed": c.passed, "blocking": c.blocking, "message": c.message} for c in result.checks
        ],
        "blocking_failures": result.blocking_failures,
        "warnings": result.warnings,
        "summary": result.summary,
    }


def prospect_view(p: Prospect) -> dict[str, Any]:
    return {
        "id": p.id,
        "email": p.email,
        "first_name": p.first_name,
        "last_name": p.last_name,
        "company": p.company,
        "global_status": p.global_status,
        "updated_at": isoformat(p.updated_at),
    }


def list_view(item: ProspectList) -> dict[str, Any]:
    return {"id": item.id, "name": item.name, "prospect_count": item.prospect_count}


def conversation_view(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "channel": c.channel,
        "mailbox_id": c.mailbox_id,
        "campaign_id": c.campaign_id,
        "prospect_id": c.prospect_id,
        "contact_email": c.contact_email,
        "contact_name": c.contact_name,
        "subject": c.subject,
        "label": c.effective_label,
        "unread_count": c.unread_count,
        "message_count": c.message_count,
        "snippet": c.snippet,
        "last_message_at": isoformat(c.last_message_at),
    }


def message_view(m: InboxMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "direction": m.direction,
        "kind": m.kind,
        "from_email": m.from_email,
        "subject": m.subject,
        "text_body": m.text_body,
        "label": m.label,
        "is_read": m.is_read,
        "recorded_at": isoformat(m.recorded_at),
    }


def delivery_view(d: Delivery) -> dict[str, Any]:
    last = d.attempts[-1] if d.attempts else None
    return {
        "id": d.id,
        "event_type": d.event_type,
        "status": d.status,
        "attempt_count": d.attempt_count,
        "last_status_code": last.status_code if last else None,
        "created_at": isoformat(d.created_at),
    }


def webhook_view(w: Webhook, deliveries: list[Delivery]) -> dict[str, Any]:
    return {
        "id": w.id,
        "url": w.url,
        "events": w.events,
        "is_active": w.is_active,
        "failure_count": w.failure_count,
        "last_triggered_at": isoformat(w.last_triggered_at),
        "recent_deliveries": [delivery_view(d) for d in deliveries],
    }


def job_view(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "type": job.type,
        "status": job.status,
        "total_items": job.total_items,
        "processed_items": job.processed_items,
        "failed_items": job.failed_items,
        "errors": [{"item_id": e.item_id, "code": e.code, "message": e.message} for e in job.errors[:20]],
        "created_at": isoformat(job.created_at),
        "completed_at": isoformat(job.completed_at),
    }


# --- reads --------------------------------------------------------------------------------------------------------
def get_workspace_overview() -> dict[str, Any]:
    ws = _ws()
    workspace = auth_service().get_workspace(ws)
    mailboxes = _mailbox_service().list(ws, None, OVERVIEW_PAGE, None)
    campaigns, more_campaigns = _campaigns().page(ws, None, OVERVIEW_PAGE, None)
    return {
        "workspace": {"id": workspace.id, "name": workspace.name, "timezone": workspace.timezone},
        "mailboxes": {
            "count": len(mailboxes.items),
            "more": mailboxes.next_cursor is not None,
            "by_status": dict(Counter(m.status for m in mailboxes.items)),
            "by_health": dict(Counter(m.health_status for m in mailboxes.items)),
            "warmup_enabled": sum(1 for m in mailboxes.items if m.warmup_enabled),
        },
        "campaigns": {
            "count": len(campaigns),
            "more": more_campaigns is not None,
            "by_status": dict(Counter(v.campaign.status for v in campaigns)),
            "sent": sum(v.campaign.stats.sent for v in campaigns),
            "replied": sum(v.campaign.stats.replied for v in campaigns),
            "bounced": sum(v.campaign.stats.bounced for v in campaigns),
        },
    }


def list_mailboxes(status: MailboxStatus | None = None, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    page = _mailbox_service().list(_ws(), status, limit, cursor)
    return _page([mailbox_view(m) for m in page.items], page.next_cursor)


def get_mailbox(mailbox_id: Id) -> dict[str, Any]:
    return mailbox_view(_mailbox_service().get(_ws(), mailbox_id))


def get_warmup_stats(mailbox_id: Id | None = None, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    service = _warmup_service()
    if mailbox_id is not None:
        return warmup_view(service.report(_ws(), mailbox_id))
    reports, next_cursor = service.list_reports(_ws(), limit, cursor)
    return _page([warmup_view(r) for r in reports], next_cursor)


def list_campaigns(status: CampaignStatus | None = None, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    views, next_cursor = _campaigns().page(_ws(), status, limit, cursor)
    return _page([campaign_view(v) for v in views], next_cursor)


def get_campaign(campaign_id: Id) -> dict[str, Any]:
    service = _campaigns()
    return campaign_view(service.view(service.get(_ws(), campaign_id)))


def get_campaign_preflight(campaign_id: Id) -> dict[str, Any]:
    return preflight_view(_campaigns().preflight(_ws(), campaign_id))


def list_prospects_and_lists(
    global_status: GlobalStatus | None = None,
    list_id: Id | None = None,
    email: Annotated[str | None, Field(max_length=320)] = None,
    updated_since: datetime | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    ws = _ws()
    if updated_since is not None and updated_since.tzinfo is None:
        updated_since = updated_since.replace(tzinfo=UTC)
    from kindling.prospects.models import ProspectFilters  # cold start: with the prospects service

    filters = ProspectFilters(global_status=global_status, list_id=list_id, email=email, updated_since=updated_since)
    items, next_cursor = _prospect_service().page(ws, filters, limit, cursor)
    lists, more_lists = _list_service().page(ws, 100, None)
    return {
        **_page([prospect_view(p) for p in items], next_cursor),
        "lists": [list_view(i) for i in lists],
        "more_lists": more_lists is not None,
    }


def check_suppression(email: Email) -> dict[str, Any]:
    check = _suppression_service().check(_ws(), email)
    return {
        "email": check.email,
        "blocked": check.blocked,
        "reason": check.reason,
        "entry": None if check.entry is None else {"id": check.entry.id, "type": check.entry.type},
        "prospect_id": check.prospect_id,
        "prospect_status": check.prospect_status,
    }


def list_conversations(
    campaign_id: Id | None = None,
    mailbox_id: Id | None = None,
    label: OverrideLabel | None = None,
    unread: bool | None = None,
    search: Annotated[str | None, Field(min_length=1, max_length=200)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    channel: Literal["email", "linkedin"] | None = None,
) -> dict[str, Any]:
    from kindling.inbox.models import ConversationFilters  # cold start: with the inbox service

    filters = ConversationFilters(
        channel=channel, campaign_id=campaign_id, mailbox_id=mailbox_id, label=label, unread=unread, search=search
    )
    items, next_cursor = _inbox_service().page(_ws(), filters, limit, cursor)
    return _page([conversation_view(c) for c in items], next_cursor)


def get_conversation(conversation_id: Id) -> dict[str, Any]:
    conversation, messages = _inbox_service().get(_ws(), conversation_id)
    return {**conversation_view(conversation), "messages": [message_view(m) for m in messages]}


def list_webhooks(limit: Limit = 20, cursor: Cursor = None) -> dict[str, Any]:
    ws = _ws()
    service = _webhook_service()
    hooks, next_cursor = service.list_page(ws, limit, cursor)
    items = [webhook_view(w, service.deliveries(ws, w.id, None, RECENT_DELIVERIES, None)[0]) for w in hooks]
    return _page(items, next_cursor)


def get_job(job_id: Id) -> dict[str, Any]:
    return job_view(_job_service().get(_ws(), job_id))


# --- email writes -------------------------------------------------------------------------------------------------
def create_prospects(
    prospects: Annotated[list[ProspectCreate], Field(min_length=1, max_length=100)],
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    ws = _ws()
    service = _prospect_service()
    results = []
    for body in prospects:
        prospect, existed = service.create(ws, body)
        results.append({"id": prospect.id, "email": prospect.email, "created": not existed})
    return {"prospects": results, "created_count": sum(1 for r in results if r["created"])}


def update_prospect(prospect_id: Id, changes: ProspectUpdate, idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    return prospect_view(_prospect_service().update(_ws(), prospect_id, changes))


def add_prospects_to_list(
    list_id: Id,
    prospect_ids: Annotated[list[Id], Field(min_length=1, max_length=1000)],
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    result = _list_service().add(_ws(), list_id, prospect_ids)
    return {
        "added": result.changed,
        "already_members": result.unchanged,
        "not_found": result.not_found,
        "prospect_count": result.prospect_count,
    }


def suppress_prospects(
    emails: Annotated[list[Email], Field(min_length=1, max_length=500)],
    reason: Annotated[str | None, Field(max_length=500)] = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    result = _suppression_service().suppress_emails(_ws(), emails, reason)
    return result.model_dump()


def create_campaign_draft(campaign: CampaignCreate, idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    service = _campaigns()
    outcome = service.create(_ws(), campaign)
    return {
        **campaign_view(service.view(outcome.campaign)),
        "prospects_enrolled": outcome.prospects_enrolled,
        "prospects_suppressed": outcome.prospects_suppressed,
    }


def add_campaign_step_or_variant(
    campaign_id: Id,
    step: StepCreate | None = None,
    variant: VariantCreate | None = None,
    step_id: Annotated[str | None, Field(max_length=64, description="The step a `variant` is added to.")] = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    ws = _ws()
    service = _campaigns()
    if (step is None) == (variant is None) or (variant is not None and step_id is None):
        raise ValidationFailed(
            "Give either `step`, or `variant` with `step_id`.",
            details=[field_error("step", "exactly one of step / (variant + step_id)")],
        )
    if step is not None:
        record, created = service.create_step(ws, campaign_id, step)
        return {"campaign_id": record.campaign_id, "step_id": created.id, "step_index": created.step_index}
    assert variant is not None and step_id is not None
    record, step_record, created_variant = service.create_variant(ws, campaign_id, step_id, variant)
    return {
        "campaign_id": record.campaign_id,
        "step_id": step_record.id,
        "variant_id": created_variant.id,
        "letter": created_variant.letter,
    }


def _status_change(campaign_id: str, action: Literal["start", "pause"]) -> dict[str, Any]:
    service = _campaigns()
    ws = _ws()
    record = service.start(ws, campaign_id) if action == "start" else service.pause(ws, campaign_id)
    return {"id": record.campaign_id, "status": record.status, "paused_reason": record.paused_reason}


def start_campaign(campaign_id: Id, idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    return _status_change(campaign_id, "start")


def pause_campaign(campaign_id: Id, idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    return _status_change(campaign_id, "pause")


def enroll_prospects(
    campaign_id: Id,
    prospect_ids: Annotated[list[Id], Field(max_length=10_000)] = [],  # noqa: B006 (pydantic copies defaults)
    list_ids: Annotated[list[Id], Field(max_length=100)] = [],  # noqa: B006
    emails: Annotated[list[Email], Field(max_length=10_000)] = [],  # noqa: B006
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    return _enroll(campaign_id, prospect_ids, list_ids, emails)


def _enroll(campaign_id: str, prospect_ids: list[str], list_ids: list[str], emails: list[str]) -> dict[str, Any]:
    if not (prospect_ids or list_ids or emails):
        raise ValidationFailed(
            "Provide at least one of prospect_ids, list_ids, emails.",
            details=[field_error("prospect_ids", "provide at least one of prospect_ids, list_ids, emails")],
        )
    result = _enrollment_service().enroll(
        _ws(), campaign_id, prospect_ids=prospect_ids, list_ids=list_ids, emails=emails
    )
    return {
        "enrolled": result.enrolled,
        "suppressed": result.suppressed,
        "invalid": result.invalid,
        "already_enrolled": result.already_enrolled,
        "total_processed": result.total_processed,
    }


def unenroll_prospects(
    campaign_id: Id,
    prospect_ids: Annotated[list[Id], Field(max_length=10_000)] = [],  # noqa: B006
    emails: Annotated[list[Email], Field(max_length=10_000)] = [],  # noqa: B006
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    if not (prospect_ids or emails):
        raise ValidationFailed(
            "Provide at least one of prospect_ids, emails.",
            details=[field_error("prospect_ids", "provide at least one of prospect_ids, emails")],
        )
    result = _enrollment_service().unenroll(_ws(), campaign_id, prospect_ids=prospect_ids, emails=emails)
    return {"unenrolled": result.unenrolled, "total_processed": result.total_processed}


def label_conversation(
    conversation_id: Id,
    label: Annotated[OverrideLabel | None, Field(description="The label to set; null clears the override.")],
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    from kindling.inbox.models import ConversationUpdate  # cold start: with the inbox service

    patch = ConversationUpdate.model_validate({"label_override": label})
    conversation, _ = _inbox_service().update(_ws(), conversation_id, patch)
    return conversation_view(conversation)


# --- warmup writes ------------------------------------------------------------------------------------------------
def update_warmup_settings(mailbox_id: Id, settings: WarmupSettingsUpdate) -> dict[str, Any]:
    return warmup_view(_warmup_service().update_settings(_ws(), mailbox_id, settings))


def bulk_update_warmup(update: BulkWarmupUpdate) -> dict[str, Any]:
    job = _warmup_service().start_bulk_update(_ws(), update)
    return {"job_id": job.id, "status": job.status, "total_items": job.total_items}


# --- LinkedIn writes (the same category and limit as the warmup writes) ----------------------------------------------
def _linkedin_campaign(service: CampaignService, campaign_id: str) -> CampaignRecord:
    """The workspace's campaign (`not_found` otherwise), refused when it has no LinkedIn channel. The channel is
    set at create and never changes, so the check holds for the write that follows."""
    from kindling.campaigns.linkedin_steps import not_linkedin_problems  # cold start: with the campaign service

    record = service.get(_ws(), campaign_id)
    problems = not_linkedin_problems(record.channel)
    if problems:
        raise ValidationFailed(
            f"Campaign {campaign_id} is an {record.channel} campaign; the LinkedIn tools act only on linkedin and "
            "multichannel campaigns (use pause_campaign, start_campaign or enroll_prospects for it).",
            details=[field_error("campaign_id", message, code) for _, message, code in problems],
        )
    return record


def _linkedin_status(record: CampaignRecord) -> dict[str, Any]:
    return {
        "id": record.campaign_id,
        "name": record.name,
        "channel": record.channel,
        "status": record.status,
        "paused_reason": record.paused_reason,
        "paused_at": isoformat(record.paused_at),
        "linkedin_account_ids": list(record.linkedin_account_ids),
    }


def pause_linkedin_campaign(campaign_id: Id) -> dict[str, Any]:
    service = _campaigns()
    _linkedin_campaign(service, campaign_id)
    return _linkedin_status(service.pause(_ws(), campaign_id))


def resume_linkedin_campaign(campaign_id: Id) -> dict[str, Any]:
    service = _campaigns()
    _linkedin_campaign(service, campaign_id)
    return _linkedin_status(service.resume(_ws(), campaign_id))


def enroll_in_linkedin_campaign(
    campaign_id: Id,
    prospect_ids: Annotated[list[Id], Field(max_length=10_000)] = [],  # noqa: B006 (pydantic copies defaults)
    list_ids: Annotated[list[Id], Field(max_length=100)] = [],  # noqa: B006
    emails: Annotated[list[Email], Field(max_length=10_000)] = [],  # noqa: B006
) -> dict[str, Any]:
    _linkedin_campaign(_campaigns(), campaign_id)
    return _enroll(campaign_id, prospect_ids, list_ids, emails)
