"""Campaign enrollments: enroll, unenroll (soft stop), the listing (also as `/contacts`) and the change feed.

Scopes as the reference: `enrollments:write` to enroll and unenroll, `campaigns:read` for the reads (help center:
"Reading campaign data: requires campaigns:read").
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from kindling.api.envelope import respond, respond_page
from kindling.api.routing import WorkspaceId, api_router, scope
from kindling.api.schemas import Envelope, ListEnvelope, Meta, Pagination, Timestamp
from kindling.enrollments.models import (
    Enrollment,
    EnrollmentStatus,
    EnrollRequest,
    UnenrollRequest,
)
from kindling.enrollments.service import EnrollmentService
from kindling.platform.clock import isoformat

router = api_router("Enrollments")

CampaignId = Path(max_length=64, description="The campaign id.")


class _CamelOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class EnrollResultView(_CamelOut):
    enrolled_count: int
    suppressed_count: int
    invalid_count: int
    already_enrolled_count: int
    total_processed: int


class UnenrollResultView(_CamelOut):
    unenrolled_count: int
    total_processed: int


class EnrollmentView(_CamelOut):
    id: str
    campaign_id: str
    prospect_id: str
    email: str
    first_name: str | None
    last_name: str | None
    status: EnrollmentStatus
    previous_status: EnrollmentStatus | None
    current_step: int
    variant: str | None
    mailbox_id: str | None
    next_send_at: Timestamp | None
    last_sent_at: Timestamp | None
    stopped_reason: str | None
    created_at: Timestamp
    updated_at: Timestamp


class EnrollmentChangeView(_CamelOut):
    enrollment_id: str
    prospect_id: str
    email: str
    status: EnrollmentStatus
    previous_status: EnrollmentStatus | None
    updated_at: Timestamp


class ChangesMeta(Meta):
    updated_since: str


class ChangesEnvelope(BaseModel):
    data: list[EnrollmentChangeView]
    pagination: Pagination
    meta: ChangesMeta


def enrollment_view(enrollment: Enrollment) -> EnrollmentView:
    return EnrollmentView.model_validate(enrollment.model_dump(exclude={"workspace_id", "thread_message_ids"}))


def change_view(enrollment: Enrollment) -> EnrollmentChangeView:
    return EnrollmentChangeView(
        enrollment_id=enrollment.id,
        prospect_id=enrollment.prospect_id,
        email=enrollment.email,
        status=enrollment.status,
        previous_status=enrollment.previous_status,
        updated_at=enrollment.updated_at,
    )


@router.post(
    "/campaigns/{campaign_id}/enrollments",
    response_model=Envelope[EnrollResultView],
    openapi_extra=scope("enrollments:write"),
    summary="Enroll prospects",
    description="Adds prospects by id, list id and/or email (at least one; they combine; up to 10,000 ids or "
    "emails and 100 lists per request). Each distinct prospect is counted once: enrolled, suppressed (recorded "
    "with status `suppressed`, never emailed), invalid (unknown id or email, malformed email, global status "
    "`invalid`) or already enrolled. Re-sending the request enrolls nobody twice. An unknown list id is 404.",
)
def enroll(workspace_id: WorkspaceId, body: EnrollRequest, campaign_id: str = CampaignId) -> JSONResponse:
    result = EnrollmentService().enroll(
        workspace_id,
        campaign_id,
        prospect_ids=body.prospect_ids,
        list_ids=body.list_ids,
        emails=body.emails,
    )
    return respond(
        EnrollResultView(
            enrolled_count=result.enrolled,
            suppressed_count=result.suppressed,
            invalid_count=result.invalid,
            already_enrolled_count=result.already_enrolled,
            total_processed=result.total_processed,
        )
    )


@router.delete(
    "/campaigns/{campaign_id}/enrollments",
    response_model=Envelope[UnenrollResultView],
    openapi_extra=scope("enrollments:write"),
    summary="Unenroll prospects",
    description="Soft stop: enrollments still in the sequence become `stopped` (history kept, pending sends "
    "cancelled). Prospects not currently enrolled count in totalProcessed but not in unenrolledCount.",
)
def unenroll(workspace_id: WorkspaceId, body: UnenrollRequest, campaign_id: str = CampaignId) -> JSONResponse:
    result = EnrollmentService().unenroll(workspace_id, campaign_id, prospect_ids=body.prospect_ids, emails=body.emails)
    return respond(UnenrollResultView(unenrolled_count=result.unenrolled, total_processed=result.total_processed))


_LIST_DESCRIPTION = (
    "The campaign's enrollments, newest first, with status, current step (the index of the next step to send) "
    "and next send time; `status` filters."
)
_CHANGES_DESCRIPTION = (
    "Enrollments whose status (or other state) changed at or after `updatedSince`, oldest change first, each "
    "with its previous status. Poll with the last `updatedAt` seen."
)


@router.get(
    "/campaigns/{campaign_id}/enrollments",
    response_model=ListEnvelope[EnrollmentView],
    openapi_extra=scope("campaigns:read"),
    summary="List enrollments",
    description=_LIST_DESCRIPTION,
)
@router.get(
    "/campaigns/{campaign_id}/contacts",
    response_model=ListEnvelope[EnrollmentView],
    openapi_extra=scope("campaigns:read"),
    summary="List enrollments (the peer API's name)",
    description=_LIST_DESCRIPTION,
)
def list_enrollments(
    workspace_id: WorkspaceId,
    campaign_id: str = CampaignId,
    status: EnrollmentStatus | None = Query(default=None),
    limit: int = Query(default=50, ge=1, le=100),
    cursor: str | None = Query(default=None, max_length=2048),
) -> JSONResponse:
    items, next_cursor = EnrollmentService().page(workspace_id, campaign_id, status, limit, cursor)
    return respond_page([enrollment_view(e) for e in items], next_cursor)


@router.get(
    "/campaigns/{campaign_id}/enrollments/changes",
    response_model=ChangesEnvelope,
    openapi_extra=scope("campaigns:read"),
    summary="Enrollment change feed",
    description=_CHANGES_DESCRIPTION,
)
@router.get(
    "/campaigns/{campaign_id}/contacts/changes",
    response_model=ChangesEnvelope,
    openapi_extra=scope("campaigns:read"),
    summary="Enrollment change feed (the peer API's name)",
    description=_CHANGES_DESCRIPTION,
)
def enrollment_changes(
    workspace_id: WorkspaceId,
    campaign_id: str = CampaignId,
    updated_since: datetime = Query(alias="updatedSince"),
    limit: int = Query(default=50, ge=1, le=100),
    cursor: str | None = Query(default=None, max_length=2048),
) -> JSONResponse:
    if updated_since.tzinfo is None:
        updated_since = updated_since.replace(tzinfo=UTC)
    items, next_cursor = EnrollmentService().changes(workspace_id, campaign_id, updated_since, limit, cursor)
    return respond_page([change_view(e) for e in items], next_cursor, updated_since=isoformat(updated_since))
