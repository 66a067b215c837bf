"""LinkedIn sweep Lambda: the task behind each state of the LinkedIn sweep state machine
(statemachines/linkedin_sweep.asl.json).

Event: {"action": "list_accounts"} -> {"accounts": [{"workspace_id", "account_id"}, ...]};
{"action": "health_check", "workspace_id", "account_id"} -> {"outcome"}; {"action": "notify_outages"} -> {"sent"};
{"action": "watch_orphans"} -> {"checked", "changed", "failed"}. All rules are kindling.linkedin.service's.
"""

from __future__ import annotations

from typing import Any

from kindling.linkedin.service import LinkedInAccountService
from kindling.platform.observability import get_logger, traced


def _log_notification(workspace_id: str, subject: str, text: str) -> None:
    """Until the shared outage notifier is wired in, the 24 h notification is a log line (recorded once)."""
    get_logger().warning("linkedin outage notification", extra={"workspace_id": workspace_id, "subject": subject})


@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event.get("action")
    service = LinkedInAccountService(notify=_log_notification)
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
    raise ValueError(f"unknown LinkedIn sweep action {action!r}")
