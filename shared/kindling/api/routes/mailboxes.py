"""Mailboxes: list/get/create/update/delete/restore and the SMTP + IMAP connection tests."""

from __future__ import annotations

from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from kindling.api.envelope import respond, respond_page
from kindling.api.routing import WorkspaceId, api_router, extra_rate_limit, scope
from kindling.api.schemas import Envelope, ListEnvelope, Timestamp
from kindling.mail.connection import ConnectionTestResult, TestIssue
from kindling.mailboxes.models import (
    Mailbox,
    MailboxCreate,
    MailboxStatus,
    MailboxTestRequest,
    MailboxUpdate,
    TestErrorView,
    TestResultView,
)
from kindling.mailboxes.outage import in_outage
from kindling.mailboxes.service import MailboxService
from kindling.platform.settings import get_settings
from kindling.sending import mailbox_health, mailbox_release  # noqa: F401  (register the engine's listeners)

router = api_router("Mailboxes")

MailboxId = Path(max_length=64, description="The mailbox id (uuid).")
_test_limit = Depends(extra_rate_limit("mailbox_test", lambda: get_settings().mailbox_test_rate_limit_per_minute))


class EndpointTlsView(BaseModel):
    """The certificate a mailbox endpoint is pinned to (trust on first use of a self-signed certificate)."""

    self_signed: bool
    fingerprint: str | None = Field(default=None, examples=["sha256:" + "0" * 64])


class MailboxTlsView(BaseModel):
    """Present when an endpoint uses a self-signed certificate: only that exact certificate is accepted."""

    smtp: EndpointTlsView | None = None
    imap: EndpointTlsView | None = None


class MailboxOutageView(BaseModel):
    """Present while the mailbox is `disconnected` or `error`: when the outage began and when the reconnect sweep
    re-tests it next (15 min, 1 h, 4 h, then every 12 h; a credential update re-tests at once)."""

    disconnected_since: Timestamp | None
    next_retest_at: Timestamp | None
    failed_retests: int


class MailboxView(BaseModel):
    id: str
    external_id: str | None
    email_address: str
    display_name: str | None
    status: MailboxStatus
    health_status: str
    health_reasons: list[str] | None
    warmup_enabled: bool
    warmup_type: str
    warmup_progress: int
    sending_enabled: bool
    daily_send_limit: int
    last_tested_at: Timestamp | None
    last_test_error: str | None
    tls: MailboxTlsView | None = None
    outage: MailboxOutageView | None = None
    signature: str | None
    provider: str
    created_at: Timestamp
    updated_at: Timestamp


class RetestView(BaseModel):
    mailbox: MailboxView
    test_result: TestResultView


def mailbox_view(mailbox: Mailbox) -> MailboxView:
    return MailboxView(
        id=mailbox.id,
        external_id=mailbox.external_id,
        email_address=mailbox.email_address,
        display_name=mailbox.display_name,
        status=mailbox.status,
        health_status=mailbox.health_status,
        health_reasons=mailbox.health_reasons,
        warmup_enabled=mailbox.warmup_enabled,
        warmup_type=mailbox.warmup_type,
        warmup_progress=mailbox.warmup_progress,
        sending_enabled=mailbox.sending_enabled,
        daily_send_limit=mailbox.daily_send_limit,
        last_tested_at=mailbox.last_tested_at,
        last_test_error=mailbox.last_test_error,
        tls=_mailbox_tls(mailbox),
        outage=_outage(mailbox),
        signature=mailbox.signature,
        provider=mailbox.provider,
        created_at=mailbox.created_at,
        updated_at=mailbox.updated_at,
    )


def _outage(mailbox: Mailbox) -> MailboxOutageView | None:
    if not in_outage(mailbox):
        return None
    return MailboxOutageView(
        disconnected_since=mailbox.disconnected_since,
        next_retest_at=mailbox.next_retest_at,
        failed_retests=mailbox.retest_attempts,
    )


def _mailbox_tls(mailbox: Mailbox) -> MailboxTlsView | None:
    if mailbox.smtp_tls_pin is None and mailbox.imap_tls_pin is None:
        return None

    def one(pin: str | None) -> EndpointTlsView | None:
        return EndpointTlsView(self_signed=True, fingerprint=pin) if pin else None

    return MailboxTlsView(smtp=one(mailbox.smtp_tls_pin), imap=one(mailbox.imap_tls_pin))


def _issue(found: TestIssue) -> TestErrorView:
    return TestErrorView(code=found.code, message=found.message, detail=found.detail)


def test_result_view(result: ConnectionTestResult) -> dict[str, object]:
    """`{"smtp_ok", "imap_ok"}` plus `smtp_error`/`imap_error`/`warnings` only when present."""
    out: dict[str, object] = {"smtp_ok": result.smtp.ok, "imap_ok": result.imap.ok}
    if result.smtp.error is not None:
        out["smtp_error"] = _issue(result.smtp.error).model_dump(exclude_none=True)
    if result.imap.error is not None:
        out["imap_error"] = _issue(result.imap.error).model_dump(exclude_none=True)
    if result.warnings:
        out["warnings"] = [_issue(w).model_dump(exclude_none=True) for w in result.warnings]
    tls = {name: probe.tls for name, probe in (("smtp", result.smtp), ("imap", result.imap)) if probe.tls}
    if any(info.self_signed for info in tls.values()):
        out["tls"] = {name: info.as_dict() for name, info in tls.items() if info.self_signed}
    return out


@router.get(
    "/mailboxes",
    response_model=ListEnvelope[MailboxView],
    openapi_extra=scope("mailboxes:read"),
    summary="List mailboxes",
)
def list_mailboxes(
    workspace_id: WorkspaceId,
    status: MailboxStatus | None = Query(None, description="Filter by status; `deleted` lists soft-deleted ones."),
    limit: int = Query(50, ge=1, le=100),
    cursor: str | None = Query(None, max_length=2048),
) -> JSONResponse:
    page = MailboxService().list(workspace_id, status, limit, cursor)
    return respond_page([mailbox_view(m) for m in page.items], page.next_cursor)


@router.post(
    "/mailboxes/test",
    response_model=Envelope[TestResultView],
    openapi_extra=scope("mailboxes:write", idempotent=False),
    dependencies=[_test_limit],
    summary="Test credentials (no save)",
)
async def test_credentials(request: Request, body: MailboxTestRequest) -> JSONResponse:
    result = await run_in_threadpool(MailboxService().test_credentials, body)
    return respond(test_result_view(result))


@router.get(
    "/mailboxes/{mailbox_id}",
    response_model=Envelope[MailboxView],
    openapi_extra=scope("mailboxes:read"),
    summary="Get a mailbox",
)
def get_mailbox(workspace_id: WorkspaceId, mailbox_id: str = MailboxId) -> JSONResponse:
    return respond(mailbox_view(MailboxService().get(workspace_id, mailbox_id)))


@router.post(
    "/mailboxes",
    response_model=Envelope[MailboxView],
    status_code=201,
    openapi_extra=scope("mailboxes:write"),
    summary="Create a mailbox",
    responses={200: {"description": "A soft-deleted mailbox with this email was restored."}, 409: {}},
)
def create_mailbox(workspace_id: WorkspaceId, body: MailboxCreate) -> JSONResponse:
    mailbox, created = MailboxService().create(workspace_id, body)
    return respond(mailbox_view(mailbox), status_code=201 if created else 200)


@router.patch(
    "/mailboxes/{mailbox_id}",
    response_model=Envelope[MailboxView],
    openapi_extra=scope("mailboxes:write"),
    summary="Update a mailbox",
)
def update_mailbox(workspace_id: WorkspaceId, body: MailboxUpdate, mailbox_id: str = MailboxId) -> JSONResponse:
    mailbox = MailboxService().update(workspace_id, mailbox_id, body)
    return respond(mailbox_view(mailbox))


@router.delete(
    "/mailboxes/{mailbox_id}",
    response_model=Envelope[MailboxView],
    openapi_extra=scope("mailboxes:write"),
    summary="Delete (soft) a mailbox",
)
def delete_mailbox(workspace_id: WorkspaceId, mailbox_id: str = MailboxId) -> JSONResponse:
    return respond(mailbox_view(MailboxService().delete(workspace_id, mailbox_id)))


@router.post(
    "/mailboxes/{mailbox_id}/restore",
    response_model=Envelope[MailboxView],
    openapi_extra=scope("mailboxes:write"),
    summary="Restore a deleted mailbox",
    responses={409: {}},
)
def restore_mailbox(workspace_id: WorkspaceId, mailbox_id: str = MailboxId) -> JSONResponse:
    return respond(mailbox_view(MailboxService().restore(workspace_id, mailbox_id)))


@router.post(
    "/mailboxes/{mailbox_id}/test",
    response_model=Envelope[RetestView],
    openapi_extra=scope("mailboxes:write", idempotent=False),
    dependencies=[_test_limit],
    summary="Re-test a mailbox connection",
)
def retest_mailbox(workspace_id: WorkspaceId, mailbox_id: str = MailboxId) -> JSONResponse:
    mailbox, result = MailboxService().retest(workspace_id, mailbox_id)
    return respond({"mailbox": mailbox_view(mailbox).model_dump(mode="json"), "test_result": test_result_view(result)})


__all__ = ["router"]
