"""Suppression (blocklist) shapes: entries, the suppress-by-email request and result, and the check answer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

SuppressionType = Literal["email", "domain"]
SuppressionSource = Literal["api", "unsubscribe", "bounce", "complaint", "import", "manual"]
BlockReason = Literal["email", "domain", "prospect_status"]


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class SuppressionEntry(BaseModel):
    id: str
    type: SuppressionType
    value: str
    source: str
    reason: str | None
    created_at: datetime


class SuppressRequest(_Camel):
    """POST /api/v1/prospects/suppress."""

    emails: list[str] = Field(min_length=1, max_length=500)
    reason: str | None = Field(default=None, max_length=500)


class SuppressResult(BaseModel):
    suppressed_count: int
    already_suppressed_count: int
    not_found_count: int
    total_processed: int


class SuppressionCreate(_Camel):
    """POST /api/v1/suppressions: one email or domain entry."""

    type: SuppressionType
    value: str = Field(min_length=1, max_length=320)
    reason: str | None = Field(default=None, max_length=500)


class SuppressionCheck(BaseModel):
    """The answer to "is this address suppressed?" for the whole system (sending, enrollment, import)."""

    email: str
    blocked: bool
    reason: BlockReason | None = None
    entry: SuppressionEntry | None = None
    prospect_id: str | None = None
    prospect_status: str | None = None
