"""Reconnect Lambda: the task behind each state of the reconnect sweep (statemachines/reconnect_sweep.asl.json).

Event: {"action": "list"} -> {"mailboxes": [{"workspace_id", "mailbox_id"}, ...]};
{"action": "retest", "workspace_id", "mailbox_id"} -> {"mailbox_id", "outcome", "status", ...};
{"action": "summarize", "results": [...]} -> {"listed", "outcomes", "notified"};
{"action": "backfill", "workspace_id", "cursor"?} -> {"workspace_id", "scheduled": [mailbox ids], "next_cursor"}:
run by hand (`aws lambda invoke`), once per workspace, for outages older than the sweep (docs/decisions.md).
"""

from __future__ import annotations

from typing import Any

from kindling.platform.observability import get_logger, traced
from kindling.sending import reconnect


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event.get("action")
    if action == "list":
        return {"mailboxes": reconnect.list_due()}
    if action == "retest":
        return reconnect.sweep_one(str(event["workspace_id"]), str(event["mailbox_id"]))
    if action == "backfill":
        cursor = event.get("cursor")
        return reconnect.backfill(str(event["workspace_id"]), str(cursor) if cursor else None)
    if action == "summarize":
        summary = reconnect.summarize(event.get("results") or [])
        get_logger().info("reconnect sweep finished", extra=summary)
        return summary
    raise ValueError(f"unknown reconnect action {action!r}")
