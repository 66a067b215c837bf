"""GET /api/v1/jobs/{id} — status and progress of an asynchronous job."""

from __future__ import annotations

from fastapi import Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from kindling.api.envelope import respond
from kindling.api.routing import WorkspaceId, api_router, scope
from kindling.api.schemas import Envelope, Timestamp
from kindling.jobs.models import Job, JobStatus
from kindling.jobs.service import JobService

router = api_router("Jobs")


class JobError(BaseModel):
    item_id: str
    code: str
    message: str


class JobView(BaseModel):
    id: str
    type: str
    status: JobStatus
    total_items: int
    processed_items: int
    failed_items: int
    errors: list[JobError]
    created_at: Timestamp
    completed_at: Timestamp | None


def job_view(job: Job) -> JobView:
    return JobView(
        id=job.id,
        type=job.type,
        status=job.status,
        total_items=job.total_items,
        processed_items=job.processed_items,
        failed_items=job.failed_items,
        errors=[JobError(item_id=e.item_id, code=e.code, message=e.message) for e in job.errors],
        created_at=job.created_at,
        completed_at=job.completed_at,
    )


@router.get(
    "/jobs/{job_id}",
    response_model=Envelope[JobView],
    openapi_extra=scope("jobs:read"),
    summary="Get job status",
)
def get_job(workspace_id: WorkspaceId, job_id: str = Path(max_length=64)) -> JSONResponse:
    job = JobService().get(workspace_id, job_id)
    return respond(job_view(job))
