"""GET /api/v1/me — the one unwrapped response."""

from __future__ import annotations

from fastapi import Request
from pydantic import BaseModel, ConfigDict

from kindling.api.routing import api_router, principal_of

router = api_router("Identity")


class MeApiKey(BaseModel):
    id: str
    name: str
    scopes: list[str]


class MeWorkspace(BaseModel):
    id: str


class MeResponse(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    apiKey: MeApiKey
    workspace: MeWorkspace


@router.get("/me", response_model=MeResponse, summary="Get the authenticated API key + workspace")
def get_me(request: Request) -> MeResponse:
    principal = principal_of(request)
    return MeResponse(
        apiKey=MeApiKey(id=principal.key_id, name=principal.key_name, scopes=principal.scopes),
        workspace=MeWorkspace(id=principal.workspace_id),
    )
