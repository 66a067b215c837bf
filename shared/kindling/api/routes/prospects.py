"""Prospects (list/create/get/update) and prospect lists (CRUD, add/remove members)."""

from __future__ import annotations

from datetime import datetime

from fastapi import Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from kindling.api.envelope import FiniteJSONResponse, current_meta, respond, respond_page
from kindling.api.routing import WorkspaceId, api_router, scope
from kindling.api.schemas import Envelope, ListEnvelope, Meta, Timestamp
from kindling.prospects.models import (
    CustomValue,
    GlobalStatus,
    ListCreate,
    ListMembersChange,
    ListUpdate,
    MembershipResult,
    Prospect,
    ProspectCreate,
    ProspectFilters,
    ProspectList,
    ProspectUpdate,
)
from kindling.prospects.service import ListService, ProspectService

router = api_router("Prospects")

ProspectId = Path(max_length=64, description="The prospect id (uuid).")
ListId = Path(max_length=64, description="The list id.")


class _CamelOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ProspectView(_CamelOut):
    id: str
    email: str
    first_name: str | None
    last_name: str | None
    company: str | None
    role: str | None
    phone: str | None
    global_status: GlobalStatus
    linkedin_url: str | None
    website: str | None
    country: str | None
    city: str | None
    industry: str | None
    custom_fields: dict[str, CustomValue]
    created_at: Timestamp
    updated_at: Timestamp


class CreatedProspectEnvelope(BaseModel):
    data: ProspectView
    alreadyExisted: bool
    meta: Meta


class ListView(_CamelOut):
    id: str
    name: str
    color: str | None
    prospect_count: int
    created_at: Timestamp
    updated_at: Timestamp


class MembershipView(_CamelOut):
    added_count: int | None = None
    removed_count: int | None = None
    unchanged_count: int
    not_found_count: int
    prospect_count: int


def prospect_view(prospect: Prospect) -> ProspectView:
    return ProspectView.model_validate(prospect.model_dump(exclude={"workspace_id"}))


def list_view(item: ProspectList) -> ListView:
    return ListView.model_validate(item.model_dump(exclude={"workspace_id"}))


# --- prospects -------------------------------------------------------------------------------------


@router.get(
    "/prospects",
    response_model=ListEnvelope[ProspectView],
    openapi_extra=scope("prospects:read"),
    summary="List prospects",
)
def list_prospects(
    workspace_id: WorkspaceId,
    global_status: GlobalStatus | None = Query(default=None, alias="globalStatus"),
    list_id: str | None = Query(default=None, alias="listId", max_length=64),
    email: str | None = Query(default=None, max_length=320),
    updated_since: datetime | None = Query(default=None, alias="updatedSince"),
    limit: int = Query(default=50, ge=1, le=100),
    cursor: str | None = Query(default=None, max_length=2048),
) -> JSONResponse:
    if updated_since is not None and updated_since.tzinfo is None:
        from datetime import UTC

        updated_since = updated_since.replace(tzinfo=UTC)
    filters = ProspectFilters(global_status=global_status, list_id=list_id, email=email, updated_since=updated_since)
    items, next_cursor = ProspectService().page(workspace_id, filters, limit, cursor)
    return respond_page([prospect_view(p) for p in items], next_cursor)


@router.post(
    "/prospects",
    response_model=CreatedProspectEnvelope,
    status_code=201,
    openapi_extra=scope("prospects:write"),
    summary="Create a prospect",
    description="Creates a prospect; one with the same email (case-insensitive) is merged and returned with "
    "`alreadyExisted: true` (HTTP 200).",
    responses={200: {"model": CreatedProspectEnvelope, "description": "Merged into an existing prospect."}},
)
def create_prospect(workspace_id: WorkspaceId, body: ProspectCreate) -> JSONResponse:
    prospect, existed = ProspectService().create(workspace_id, body)
    return FiniteJSONResponse(
        {
            "data": prospect_view(prospect).model_dump(mode="json", by_alias=True),
            "alreadyExisted": existed,
            "meta": current_meta(),
        },
        status_code=200 if existed else 201,
    )


@router.get(
    "/prospects/{prospect_id}",
    response_model=Envelope[ProspectView],
    openapi_extra=scope("prospects:read"),
    summary="Get a prospect",
)
def get_prospect(workspace_id: WorkspaceId, prospect_id: str = ProspectId) -> JSONResponse:
    return respond(prospect_view(ProspectService().get(workspace_id, prospect_id)))


@router.patch(
    "/prospects/{prospect_id}",
    response_model=Envelope[ProspectView],
    openapi_extra=scope("prospects:write"),
    summary="Update a prospect",
)
def update_prospect(workspace_id: WorkspaceId, body: ProspectUpdate, prospect_id: str = ProspectId) -> JSONResponse:
    prospect = ProspectService().update(workspace_id, prospect_id, body)
    return respond(prospect_view(prospect))


# --- lists -----------------------------------------------------------------------------------------


@router.get(
    "/lists", response_model=ListEnvelope[ListView], openapi_extra=scope("prospects:read"), summary="List lists"
)
def list_lists(
    workspace_id: WorkspaceId,
    limit: int = Query(default=50, ge=1, le=100),
    cursor: str | None = Query(default=None, max_length=2048),
) -> JSONResponse:
    items, next_cursor = ListService().page(workspace_id, limit, cursor)
    return respond_page([list_view(i) for i in items], next_cursor)


@router.post(
    "/lists",
    response_model=Envelope[ListView],
    status_code=201,
    openapi_extra=scope("prospects:write"),
    summary="Create a list",
)
def create_list(workspace_id: WorkspaceId, body: ListCreate) -> JSONResponse:
    return respond(list_view(ListService().create(workspace_id, body)), 201)


@router.get(
    "/lists/{list_id}", response_model=Envelope[ListView], openapi_extra=scope("prospects:read"), summary="Get a list"
)
def get_list(workspace_id: WorkspaceId, list_id: str = ListId) -> JSONResponse:
    return respond(list_view(ListService().get(workspace_id, list_id)))


@router.patch(
    "/lists/{list_id}",
    response_model=Envelope[ListView],
    openapi_extra=scope("prospects:write"),
    summary="Update a list",
)
def update_list(workspace_id: WorkspaceId, body: ListUpdate, list_id: str = ListId) -> JSONResponse:
    return respond(list_view(ListService().update(workspace_id, list_id, body)))


@router.delete(
    "/lists/{list_id}",
    status_code=204,
    response_class=Response,
    openapi_extra=scope("prospects:write"),
    summary="Delete a list (its prospects are kept)",
)
def delete_list(workspace_id: WorkspaceId, list_id: str = ListId) -> Response:
    ListService().delete(workspace_id, list_id)
    return Response(status_code=204)


def _membership(result: MembershipResult, *, added: bool) -> MembershipView:
    return MembershipView(
        added_count=result.changed if added else None,
        removed_count=None if added else result.changed,
        unchanged_count=result.unchanged,
        not_found_count=result.not_found,
        prospect_count=result.prospect_count,
    )


@router.post(
    "/lists/{list_id}/prospects",
    response_model=Envelope[MembershipView],
    openapi_extra=scope("prospects:write"),
    summary="Add prospects to a list",
)
def add_to_list(workspace_id: WorkspaceId, body: ListMembersChange, list_id: str = ListId) -> JSONResponse:
    result = ListService().add(workspace_id, list_id, body.prospect_ids)
    return respond(_membership(result, added=True).model_dump(mode="json", by_alias=True, exclude_none=True))


@router.post(
    "/lists/{list_id}/prospects/remove",
    response_model=Envelope[MembershipView],
    openapi_extra=scope("prospects:write"),
    summary="Remove prospects from a list",
)
def remove_from_list(workspace_id: WorkspaceId, body: ListMembersChange, list_id: str = ListId) -> JSONResponse:
    result = ListService().remove(workspace_id, list_id, body.prospect_ids)
    return respond(_membership(result, added=False).model_dump(mode="json", by_alias=True, exclude_none=True))
