"""Jobs in DynamoDB.

- job:     pk `ws_x#JOB#<id>`  sk `#`             counters updated atomically per batch
- batches: pk `ws_x#JOB#<id>`  sk `BATCH#00001`   item ids; state pending -> done exactly once
- errors:  pk `ws_x#JOB#<id>`  sk `ERR#00001#0001` per-item failures
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError

from kindling.jobs.models import MAX_ERRORS_SHOWN, ItemFailure, Job
from kindling.platform.dynamo import TableModel, bind_models, cancelled_by_condition, condition_failed, transaction
from kindling.platform.errors import NotFound
from kindling.platform.keys import ERROR_PREFIX, job_batch_sk, job_error_sk, job_pk


class JobItem(TableModel):
    job_type = UnicodeAttribute()
    status = UnicodeAttribute()
    total_items = NumberAttribute()
    processed_items = NumberAttribute(default=0)
    failed_items = NumberAttribute(default=0)
    batch_count = NumberAttribute()
    params = UnicodeAttribute(default="{}")
    created_at = UTCDateTimeAttribute()
    completed_at = UTCDateTimeAttribute(null=True)
    failure_reason = UnicodeAttribute(null=True)


class JobBatchItem(TableModel):
    item_ids = ListAttribute(of=UnicodeAttribute)  # type: ignore[var-annotated]
    state = UnicodeAttribute(default="pending")


class JobErrorItem(TableModel):
    item_id = UnicodeAttribute()
    code = UnicodeAttribute()
    message = UnicodeAttribute()


class JobRepository:
    def __init__(self) -> None:
        bind_models()

    def create(self, job: Job, batches: list[list[str]]) -> None:
        """Write the batches first, then the job record: a job that exists is always complete."""
        pk = job_pk(job.workspace_id, job.id)
        with JobBatchItem.batch_write() as writer:
            for index, item_ids in enumerate(batches):
                writer.save(JobBatchItem(pk=pk, sk=job_batch_sk(index), item_ids=item_ids))
        JobItem(
            pk=pk,
            sk="#",
            job_type=job.type,
            status=job.status,
            total_items=job.total_items,
            batch_count=len(batches),
            params=json.dumps(job.params),
            created_at=job.created_at,
        ).save(condition=JobItem.pk.does_not_exist())

    def get(self, workspace_id: str, job_id: str) -> Job:
        pk = job_pk(workspace_id, job_id)
        try:
            item = JobItem.get(pk, "#", consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound(f"Job {job_id} not found.") from exc
        errors = [
            ItemFailure(item_id=e.item_id, code=e.code, message=e.message)
            for e in JobErrorItem.query(pk, JobErrorItem.sk.startswith(ERROR_PREFIX), limit=MAX_ERRORS_SHOWN)
        ]
        return Job(
            id=job_id,
            workspace_id=workspace_id,
            type=item.job_type,
            status=item.status,  # type: ignore[arg-type]
            total_items=int(item.total_items),
            processed_items=int(item.processed_items or 0),
            failed_items=int(item.failed_items or 0),
            errors=errors,
            params=json.loads(item.params or "{}"),
            batch_count=int(item.batch_count),
            created_at=item.created_at,
            completed_at=item.completed_at,
            failure_reason=item.failure_reason,
        )

    def get_batch(self, workspace_id: str, job_id: str, index: int) -> tuple[list[str], str]:
        try:
            batch = JobBatchItem.get(job_pk(workspace_id, job_id), job_batch_sk(index), consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound(f"Job {job_id} has no batch {index}.") from exc
        return [str(i) for i in batch.item_ids or []], batch.state

    def record_batch(
        self, workspace_id: str, job_id: str, index: int, processed: int, failures: list[ItemFailure]
    ) -> bool:
        """Mark the batch done and count it, atomically and only once. False if it was already counted."""
        pk = job_pk(workspace_id, job_id)
        try:
            with transaction() as tx:
                tx.update(
                    JobBatchItem(pk=pk, sk=job_batch_sk(index)),
                    actions=[JobBatchItem.state.set("done")],
                    condition=JobBatchItem.state == "pending",
                )
                tx.update(
                    JobItem(pk=pk, sk="#"),
                    actions=[JobItem.processed_items.add(processed), JobItem.failed_items.add(len(failures))],
                    condition=JobItem.pk.exists(),
                )
                for n, failure in enumerate(failures):
                    tx.save(
                        JobErrorItem(
                            pk=pk,
                            sk=job_error_sk(index, n),
                            item_id=failure.item_id,
                            code=failure.code,
                            message=failure.message[:500],
                        )
                    )
        except TransactWriteError as exc:
            if cancelled_by_condition(exc, position=0):
                return False
            raise
        return True

    def finish(self, workspace_id: str, job_id: str, status: str, when: datetime, reason: str | None) -> bool:
        """Move a processing job to its final status; False if it had already finished."""
        actions: list[Any] = [JobItem.status.set(status), JobItem.completed_at.set(when)]
        if reason is not None:
            actions.append(JobItem.failure_reason.set(reason[:1000]))
        try:
            JobItem(pk=job_pk(workspace_id, job_id), sk="#").update(
                actions=actions, condition=JobItem.status == "processing"
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True
