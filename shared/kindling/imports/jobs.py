"""Registers the `prospect_import` job type (imported through jobs.registry.JOB_TYPE_MODULES)."""

from __future__ import annotations

from kindling.imports.models import JOB_TYPE
from kindling.imports.service import ImportService
from kindling.jobs.models import ItemFailure
from kindling.jobs.registry import BatchContext, JobType, register


def process_import_batch(context: BatchContext) -> list[ItemFailure]:

    return ImportService().process(context)


# All chunks of an import (<= 90: 10,000 rows / 500, or 10 MB / 200 KB) go in ONE batch, processed in order.
IMPORT_JOB = register(JobType(name=JOB_TYPE, processor=process_import_batch, batch_size=90, max_items=90))
