"""Registers the `bulk_warmup_update` job type (imported through jobs.registry.JOB_TYPE_MODULES)."""

from __future__ import annotations

from kindling.jobs.models import ItemFailure
from kindling.jobs.registry import BatchContext, JobType, register
from kindling.warmup.models import JOB_TYPE, MAX_BULK_MAILBOXES
from kindling.warmup.service import WarmupService


def process_bulk_update_batch(context: BatchContext) -> list[ItemFailure]:

    return WarmupService().process_bulk_batch(context)


# Each mailbox costs a few reads and at most two writes: 25 per batch keeps a task well inside its timeout.
BULK_UPDATE_JOB = register(
    JobType(name=JOB_TYPE, processor=process_bulk_update_batch, batch_size=25, max_items=MAX_BULK_MAILBOXES)
)
