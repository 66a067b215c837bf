"""Suppressions: suppress prospects by email, the blocklist (email and domain entries), and the check."""

from __future__ import annotations

from typing import Literal

from fastapi import Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from kindling.api.envelope import respond, respond_page
from kindling.api.routing import WorkspaceId, api_router, scope
from kindling.api.schemas import Envelope, ListEnvelope, Timestamp
from kindling.suppressions.models import (
    BlockReason,
    SuppressionCreate,
    SuppressionEntry,
    SuppressionType,
    SuppressRequest,
)
from kindling.suppressions.service import SuppressionService

router = api_router("Suppressions")


class _CamelOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class SuppressResultView(_CamelOut):
    suppressed_count: int
    already_suppressed_count: int
    not_found_count: int
    total_processed: int


class SuppressionView(_CamelOut):
    id: str
    type: SuppressionType
    value: str
    source: str
    reason: str | None
    created_at: Timestamp


class CheckView(_CamelOut):
    email: str
    blocked: bool
    reason: BlockReason | None
    entry: SuppressionView | None
    prospect_id: str | None
    prospect_status: str | None


def entry_view(entry: SuppressionEntry) -> SuppressionView:
    return SuppressionView.model_validate(entry.model_dump())


@router.post(
    "/prospects/suppress",
    response_model=Envelope[SuppressResultView],
    openapi_extra=scope("suppressions:write"),
    summary="Suppress prospects by email",
)
def suppress_prospects(workspace_id: WorkspaceId, body: SuppressRequest) -> JSONResponse:
    result = SuppressionService().suppress_emails(workspace_id, body.emails, body.reason)
    return respond(SuppressResultView.model_validate(result.model_dump()))


@router.get(
    "/suppressions",
    response_model=ListEnvelope[SuppressionView],
    openapi_extra=scope("suppressions:read"),
    summary="List suppression entries",
)
def list_suppressions(
    workspace_id: WorkspaceId,
    type: Literal["email", "domain"] | None = Query(default=None),
    limit: int = Query(default=50, ge=1, le=100),
    cursor: str | None = Query(default=None, max_length=2048),
) -> JSONResponse:
    items, next_cursor = SuppressionService().page(workspace_id, type, limit, cursor)
    return respond_page([entry_view(e) for e in items], next_cursor)


@router.post(
    "/suppressions",
    response_model=Envelope[SuppressionView],
    status_code=201,
    openapi_extra=scope("suppressions:write"),
    summary="Add an email or domain to the blocklist",
    description="201 with the new entry; 200 with the existing entry when the value is already blocked. "
    "An email entry also marks an existing prospect `suppressed`.",
)
def create_suppression(workspace_id: WorkspaceId, body: SuppressionCreate) -> JSONResponse:
    entry, created = SuppressionService().create(workspace_id, body)
    return respond(entry_view(entry), 201 if created else 200)


@router.get(
    "/suppressions/check",
    response_model=Envelope[CheckView],
    openapi_extra=scope("suppressions:read"),
    summary="Check whether an address is suppressed",
    description="Blocked by an email entry, a domain entry, or the prospect's global status "
    "(unsubscribed, bounced, suppressed, invalid); `entry` names the blocking entry.",
)
def check_suppression(workspace_id: WorkspaceId, email: str = Query(min_length=3, max_length=320)) -> JSONResponse:
    check = SuppressionService().check(workspace_id, email)
    return respond(
        CheckView(
            email=check.email,
            blocked=check.blocked,
            reason=check.reason,
            entry=entry_view(check.entry) if check.entry else None,
            prospect_id=check.prospect_id,
            prospect_status=check.prospect_status,
        )
    )


@router.delete(
    "/suppressions/{entry_id}",
    status_code=204,
    response_class=Response,
    openapi_extra=scope("suppressions:write"),
    summary="Delete a suppression entry",
    description="Removes the entry; a prospect's `suppressed` status is not changed (PATCH it to reactivate).",
)
def delete_suppression(workspace_id: WorkspaceId, entry_id: str = Path(max_length=64)) -> Response:
    SuppressionService().delete(workspace_id, entry_id)
    return Response(status_code=204)
