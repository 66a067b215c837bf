"""Job shapes (GET /api/v1/jobs/{id} exactly as the reference)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

JobStatus = Literal["processing", "completed", "failed"]
MAX_ERRORS_SHOWN = 100


class ItemFailure(BaseModel):
    model_config = ConfigDict(frozen=True)
    item_id: str
    code: str
    message: str


class Job(BaseModel):
    id: str
    workspace_id: str
    type: str
    status: JobStatus
    total_items: int
    processed_items: int
    failed_items: int
    errors: list[ItemFailure]
    params: dict[str, Any]
    batch_count: int
    created_at: datetime
    completed_at: datetime | None
    failure_reason: str | None = None


class BatchRef(BaseModel):
    workspace_id: str
    job_id: str
    batch_index: int
