"""Job rules: create (validate, split into batches, launch), and the state machine's task actions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kindling.jobs import registry
from kindling.jobs.launcher import JobLauncher, StepFunctionsLauncher
from kindling.jobs.models import BatchRef, ItemFailure, Job
from kindling.jobs.repository import JobRepository
from kindling.platform.clock import Clock, get_clock
from kindling.platform.errors import ValidationFailed, field_error
from kindling.platform.ids import prefixed_id
from kindling.platform.observability import get_logger


def split_batches(item_ids: Sequence[str], batch_size: int) -> list[list[str]]:
    return [list(item_ids[i : i + batch_size]) for i in range(0, len(item_ids), batch_size)]


class JobService:
    def __init__(
        self,
        repository: JobRepository | None = None,
        launcher: JobLauncher | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._repo = repository or JobRepository()
        self._launcher = launcher or StepFunctionsLauncher()
        self._clock = clock

    def _now(self) -> Any:
        return (self._clock or get_clock()).now()

    def create(self, workspace_id: str, job_type: str, item_ids: Sequence[str], params: dict[str, Any]) -> Job:
        kind = registry.get(job_type)
        if kind is None:
            raise ValidationFailed("Unknown job type.", details=[field_error("type", f"unknown: {job_type}")])
        unique_ids = list(dict.fromkeys(item_ids))
        if not 1 <= len(unique_ids) <= kind.max_items:
            raise ValidationFailed(
                f"A job needs between 1 and {kind.max_items} items.",
                details=[field_error("items", f"1-{kind.max_items} distinct items required")],
            )
        batches = split_batches(unique_ids, kind.batch_size)
        job = Job(
            id=prefixed_id("job"),
            workspace_id=workspace_id,
            type=job_type,
            status="processing",
            total_items=len(unique_ids),
            processed_items=0,
            failed_items=0,
            errors=[],
            params=params,
            batch_count=len(batches),
            created_at=self._now(),
            completed_at=None,
        )
        self._repo.create(job, batches)
        try:
            self._launcher.start(workspace_id, job.id)
        except Exception as exc:
            # Never leave a job "processing" forever when its run could not even start.
            self._repo.finish(workspace_id, job.id, "failed", self._now(), f"could not start: {exc}")
            raise
        return job

    def get(self, workspace_id: str, job_id: str) -> Job:
        return self._repo.get(workspace_id, job_id)

    # --- the state machine's tasks -------------------------------------------------------------

    def prepare(self, workspace_id: str, job_id: str) -> list[BatchRef]:
        job = self._repo.get(workspace_id, job_id)
        return [BatchRef(workspace_id=workspace_id, job_id=job_id, batch_index=i) for i in range(job.batch_count)]

    def process_batch(self, workspace_id: str, job_id: str, batch_index: int) -> dict[str, int]:
        item_ids, state = self._repo.get_batch(workspace_id, job_id, batch_index)
        if state == "done":  # a retried task after the batch was already counted
            return {"processed": 0, "failed": 0}
        job = self._repo.get(workspace_id, job_id)
        kind = registry.get(job.type)
        if kind is None:
            failures = [ItemFailure(item_id=i, code="unknown_job_type", message=job.type) for i in item_ids]
        else:
            context = registry.BatchContext(workspace_id, job_id, job.params, item_ids)
            failures = kind.processor(context)
        counted = self._repo.record_batch(workspace_id, job_id, batch_index, len(item_ids), failures)
        if not counted:
            return {"processed": 0, "failed": 0}
        return {"processed": len(item_ids), "failed": len(failures)}

    def complete(self, workspace_id: str, job_id: str) -> Job:
        self._repo.finish(workspace_id, job_id, "completed", self._now(), None)
        return self._repo.get(workspace_id, job_id)

    def fail(self, workspace_id: str, job_id: str, error: Any) -> Job:
        get_logger().error("job failed", extra={"job_id": job_id, "error": error})
        self._repo.finish(workspace_id, job_id, "failed", self._now(), str(error))
        return self._repo.get(workspace_id, job_id)
