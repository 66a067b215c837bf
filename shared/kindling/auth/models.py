"""Auth shapes: workspaces, API keys and the authenticated principal."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class Workspace(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    timezone: str
    created_at: datetime


class ApiKey(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    workspace_id: str
    name: str
    scopes: list[str]
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class Principal(BaseModel):
    """Who is calling: resolved once per request from the bearer token."""

    model_config = ConfigDict(frozen=True)

    workspace_id: str
    key_id: str
    key_name: str
    scopes: list[str]
