"""LinkedIn action worker Lambda (SQS, partial batch response; the DLQ after the queue's max receives).

Thin: each record is one claimed action, handled by kindling.outreach.engine.ActionWorker, built with the unified
inbox wired in (kindling.inbox.linkedin.engine_worker: the messages it sends appear in their conversations).
"""

from __future__ import annotations

from typing import Any

from kindling.inbox.linkedin import engine_worker
from kindling.linkedin.service import default_provider
from kindling.outreach.directory import install_directory
from kindling.outreach.engine import ActionWorker, handle_batch
from kindling.platform.observability import traced

_worker: ActionWorker | None = None


def _get() -> ActionWorker:
    global _worker
    if _worker is None:
        install_directory()
        _worker = engine_worker(default_provider())
    return _worker


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_batch(_get(), list(event.get("Records", [])))
