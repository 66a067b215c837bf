"""CSV import shapes: the import record, its counts and row errors, the mapping confirmation."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

ImportStatus = Literal["pending_mapping", "processing", "completed", "failed"]
RowOutcome = Literal["created", "updated", "duplicate", "suppressed", "invalid", "skipped", "failed"]
COUNTERS: tuple[str, ...] = ("created", "updated", "duplicate", "suppressed", "invalid", "skipped", "failed")
MAX_ROW_ERRORS = 100
JOB_TYPE = "prospect_import"


class RowError(BaseModel):
    row: int  # the data row number (1 = the first row after the header)
    line: int  # the line in the file where the record starts
    code: str
    message: str
    email: str | None = None


class ProspectImport(BaseModel):
    id: str
    workspace_id: str
    status: ImportStatus
    file_name: str | None
    columns: list[str]
    total_rows: int
    chunk_count: int
    sample_rows: list[list[str]]
    list_id: str | None = None
    list_name: str | None = None
    update_existing: bool = False
    mapping: dict[str, str | None] | None = None
    job_id: str | None = None
    counts: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    processed_rows: int = 0
    errors: list[RowError] = Field(default_factory=list)
    created_at: datetime
    completed_at: datetime | None = None
    failure_reason: str | None = None


class MappingConfirm(BaseModel):
    """POST /api/v1/imports/{id}/mapping-confirm. Columns left out keep their suggested mapping."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    mapping: dict[str, str | None] | None = Field(
        default=None,
        description="column -> built-in field (email, firstName, ...), 'custom:<name>', or 'skip'/null.",
        examples=[{"E-mail": "email", "org": "company", "notes": "skip"}],
    )
    list_id: str | None = Field(default=None, max_length=64)
    list_name: str | None = Field(default=None, min_length=1, max_length=200)
    update_existing: bool | None = Field(
        default=None, description="Merge rows into existing prospects (counted `updated`) instead of skipping them."
    )


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0)


def add_counts(total: dict[str, int], more: dict[str, Any]) -> None:
    for name in COUNTERS:
        total[name] = total.get(name, 0) + int(more.get(name, 0))
