"""Jobs Lambda: the task behind each state of the jobs state machine (statemachines/job.asl.json).

Event: {"action": "prepare" | "process_batch" | "complete" | "fail", "workspace_id", "job_id", ...}.
"""

from __future__ import annotations

from typing import Any

from kindling.jobs.service import JobService
from kindling.platform.observability import get_logger, traced


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event.get("action")
    workspace_id, job_id = str(event["workspace_id"]), str(event["job_id"])
    get_logger().info("job task", extra={"action": action, "job_id": job_id})
    service = JobService()
    if action == "prepare":
        batches = service.prepare(workspace_id, job_id)
        return {
            "workspace_id": workspace_id,
            "job_id": job_id,
            "batches": [batch.model_dump() for batch in batches],
        }
    if action == "process_batch":
        return service.process_batch(workspace_id, job_id, int(event["batch_index"]))
    if action == "complete":
        job = service.complete(workspace_id, job_id)
        return {"job_id": job.id, "status": job.status}
    if action == "fail":
        job = service.fail(workspace_id, job_id, event.get("error"))
        return {"job_id": job.id, "status": job.status}
    raise ValueError(f"unknown job action {action!r}")
