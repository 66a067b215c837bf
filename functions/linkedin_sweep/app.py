"""LinkedIn sweep Lambda: the task behind each state of the LinkedIn sweep state machine
(statemachines/linkedin_sweep.asl.json).

Event: {"action": "list_accounts"} -> {"accounts": [{"workspace_id", "account_id"}, ...]};
{"action": "health_check", "workspace_id", "account_id"} -> {"outcome"}; {"action": "notify_outages"} -> {"sent"};
{"action": "watch_orphans"} -> {"checked", "changed", "failed"};
{"action": "ensure_webhooks"} -> {"created", "deleted", "kept", "failed"} or {"skipped"} (the stack's own provider
webhooks, kindling.linkedin.webhooks; a create or delete that failed raises after the rest was done, so the
execution fails and its alarm tells). All rules are kindling.linkedin's.
"""

from __future__ import annotations

from typing import Any

from kindling.linkedin.service import LinkedInAccountService
from kindling.linkedin.webhooks import ensure_stack_webhooks
from kindling.notifications.service import Notifier
from kindling.platform.clock import get_clock
from kindling.platform.observability import get_logger, traced


def _notify(workspace_id: str, subject: str, text: str) -> None:
    """The 24 h outage email goes out like a mailbox outage's: to the workspace's notification address, through SES
    when the stack sets a sender, else through one of the workspace's connected mailboxes."""
    Notifier().send(workspace_id, subject, text, get_clock().now())


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event.get("action")
    service = LinkedInAccountService(notify=_notify)
    if action == "list_accounts":
        return {"accounts": service.live_account_refs()}
    if action == "health_check":
        outcome = service.health_check(str(event["workspace_id"]), str(event["account_id"]))
        return {"account_id": str(event["account_id"]), "outcome": outcome}
    if action == "notify_outages":
        return {"sent": service.notify_long_outages()}
    if action == "watch_orphans":
        result = service.watch_orphans()
        return {"checked": result.checked, "changed": result.changed, "failed": result.failed}
    if action == "ensure_webhooks":
        result = ensure_stack_webhooks()
        get_logger().info("linkedin provider webhooks", extra={"webhooks": result})
        if result.get("failed"):
            raise RuntimeError(f"some provider webhooks could not be registered or removed: {result['failed']}")
        return result
    raise ValueError(f"unknown LinkedIn sweep action {action!r}")
