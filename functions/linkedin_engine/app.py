"""LinkedIn engine sweeps Lambda (EventBridge schedules, each passing its `task`):
- `account_sweep` every 5 minutes: pause campaigns of disconnected accounts, auto-resume them on reconnection;
- `poll_relations` every 6 hours: acceptances the webhook missed, with their real time;
- `poll_inbox` every 30 minutes: inbound messages the webhook missed.

Thin: the work is kindling.outreach.sweeps.EngineSweeps (with the unified inbox wired in: kindling.inbox.linkedin).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from kindling.inbox.linkedin import engine_sweeps
from kindling.linkedin.service import default_provider
from kindling.outreach.directory import install_directory
from kindling.platform.observability import get_logger, traced

TASKS = ("account_sweep", "poll_relations", "poll_inbox")


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task = str(event.get("task", ""))
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; one of {', '.join(TASKS)}")
    install_directory()
    sweeps = engine_sweeps(default_provider())
    report = asdict(getattr(sweeps, task)())
    get_logger().info("linkedin engine sweep", extra={"task": task, "report": report})
    return report
