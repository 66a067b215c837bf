"""Suppression (blocklist) shapes: entries, the suppress-by-email request and result, and the check answer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

SuppressionType = Literal["email", "domain"]
SuppressionSource = Literal["api", "unsubscribe", "bounce", "complaint", "import", "manual"]
BlockReason = Literal["email", "domain", "prospect_status"]


class SuppressionFields(Protocol):
    """The supp_* attributes a stored entry carries: the domain entry, or an email record holding an email entry."""

    @property
    def supp_id(self) -> str | None: ...
    @property
    def supp_type(self) -> str | None: ...
    @property
    def supp_value(self) -> str | None: ...
    @property
    def supp_reason(self) -> str | None: ...
    @property
    def supp_source(self) -> str | None: ...
    @property
    def supp_created_at(self) -> datetime | None: ...


class EmailRecordView(SuppressionFields, Protocol):
    """What the suppression check reads from an address's email record (kept by prospects.repository)."""

    @property
    def email(self) -> str: ...
    @property
    def prospect_id(self) -> str | None: ...
    @property
    def prospect_status(self) -> str | None: ...
    # The import that created the prospect, and its row: an import reads them with its suppression check.
    @property
    def import_id(self) -> str | None: ...
    @property
    def import_row(self) -> float | None: ...


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
