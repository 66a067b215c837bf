"""Job types: each names a processor that applies one batch of item ids and reports per-item failures.

Processors must be idempotent per item: Step Functions may retry a batch after a partial run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kindling.jobs.models import ItemFailure

# Modules that register job types when imported (each later concept adds its module here).
JOB_TYPE_MODULES: tuple[str, ...] = ("kindling.imports.jobs", "kindling.warmup.jobs")


@dataclass(frozen=True)
class BatchContext:
    workspace_id: str
    job_id: str
    params: dict[str, Any]
    item_ids: list[str]


Processor = Callable[[BatchContext], list[ItemFailure]]


@dataclass(frozen=True)
class JobType:
    name: str
    processor: Processor
    batch_size: int = 25
    max_items: int = 10_000
    metadata: dict[str, Any] = field(default_factory=dict)


_types: dict[str, JobType] = {}


def register(job_type: JobType) -> JobType:
    if not 1 <= job_type.batch_size <= 90:  # a batch's failures + 2 updates must fit one transaction (100)
        raise ValueError("batch_size must be 1-90")
    _types[job_type.name] = job_type
    return job_type


def get(name: str) -> JobType | None:
    if name not in _types:
        load_job_types()  # importing one job module directly must not hide the others
    return _types.get(name)


def unregister(name: str) -> None:
    _types.pop(name, None)


def load_job_types() -> None:
    for module in JOB_TYPE_MODULES:
        importlib.import_module(module)
