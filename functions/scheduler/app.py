"""Scheduler Lambda (EventBridge schedule, every minute): claim every due campaign send and queue it.

Thin: the tick is kindling.sending.scheduler.Scheduler.tick. Its report is logged and returned (the local stack
and `sam local invoke` show it). Concurrent ticks are safe (every claim is a conditional write), so a tick that
runs long and overlaps the next one costs reads, never a duplicate send.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from kindling.platform.observability import get_logger, traced
from kindling.sending.scheduler import Scheduler

_scheduler: Scheduler | None = None


def _get_scheduler() -> Scheduler:
    # Built on first use, not at import: nothing reads the environment or builds a client at import time.
    global _scheduler
    if _scheduler is None:
        _scheduler = Scheduler()
    return _scheduler


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = asdict(_get_scheduler().tick())
    get_logger().info("scheduler tick", extra={"tick": report, "scheduled_time": event.get("time")})
    return report
