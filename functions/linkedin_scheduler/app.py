"""LinkedIn scheduler Lambda (EventBridge schedule, every minute): claim every due LinkedIn step and queue it.

Thin: the tick is kindling.outreach.engine.LinkedInScheduler.tick; its report is logged and returned. Concurrent
ticks are safe: every claim is a conditional write.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from kindling.outreach.engine import LinkedInScheduler
from kindling.platform.observability import get_logger, traced

_scheduler: LinkedInScheduler | None = None


def _get() -> LinkedInScheduler:
    global _scheduler
    if _scheduler is None:
        _scheduler = LinkedInScheduler()
    return _scheduler


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = asdict(_get().tick())
    get_logger().info("linkedin scheduler tick", extra={"tick": report, "scheduled_time": event.get("time")})
    return report
