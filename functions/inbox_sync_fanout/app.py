"""Inbox sync fan-out Lambda (EventBridge schedule, every 5 minutes): one sync-queue message per connected mailbox,
so one slow or failing mailbox never holds up another."""

from __future__ import annotations

from typing import Any

from kindling.inbox.sync import SyncFanout
from kindling.platform.observability import get_logger, traced


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    queued = SyncFanout().run()
    get_logger().info("inbox sync fan-out", extra={"queued": queued})
    return {"queued": queued}
