"""The reconnect sweep (statemachines/reconnect_sweep.asl.json, every 15 minutes by default).

- `list_due(now)`: the mailboxes in an outage (`disconnected`, `error`) whose re-test or 24 h notification is due:
  one bounded query of the `DUE#MAILBOX#RETEST` partition of the `due` index (never a scan).
- `sweep_one(...)`: one mailbox. A due re-test runs the connection test with the stored credentials and pins
  (`MailboxService.sweep_retest`): a success flips it to `connected` through the health writer, which announces
  `mailbox.reconnected` and resumes the campaigns paused for `mailbox_disconnected` (kindling.sending.mailbox_health);
  a failure schedules the next re-test (15 min, 1 h, 4 h, then every 12 h). A `disconnected` mailbox down for 24 h
  gets its one notification email (`kindling.notifications`).
- `summarize(results)`: the sweep's counts.
- `run_sweep(now)`: the whole sweep in-process (what the state machine does, one mailbox after another; a mailbox
  whose step raises is counted `failed` and the sweep goes on). The benchmarks and tests call it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from kindling.mailboxes.outage import in_outage
from kindling.mailboxes.repository import MailboxRepository
from kindling.mailboxes.service import MailboxService
from kindling.platform.clock import get_clock
from kindling.platform.errors import NotFound
from kindling.platform.observability import get_logger
from kindling.sending import mailbox_health  # noqa: F401  (its listener announces and resumes on reconnection)

SWEEP_PAGE = 100  # mailboxes per sweep; the rest stay due for the next one (15 minutes later)


def list_due(
    now: datetime | None = None, limit: int = SWEEP_PAGE, repository: MailboxRepository | None = None
) -> list[dict[str, str]]:
    moment = now or get_clock().now()
    found = (repository or MailboxRepository()).due_for_sweep(moment, limit)
    return [{"workspace_id": ws, "mailbox_id": mid} for ws, mid in found]


def sweep_one(
    workspace_id: str,
    mailbox_id: str,
    now: datetime | None = None,
    *,
    service: MailboxService | None = None,
    repository: MailboxRepository | None = None,
) -> dict[str, Any]:
    """Re-test one mailbox if its re-test is due, notify if its outage is 24 h old; what happened."""
    moment = now or get_clock().now()
    repo = repository or MailboxRepository()
    mailboxes = service or MailboxService(repository=repo)
    result: dict[str, Any] = {"workspace_id": workspace_id, "mailbox_id": mailbox_id}
    try:
        mailbox = repo.get(workspace_id, mailbox_id)
    except NotFound:
        return {**result, "outcome": "missing", "status": None}
    if not in_outage(mailbox):
        return {**result, "outcome": "skipped", "status": mailbox.status}
    outcome = "waiting"
    if mailbox.next_retest_at is None or mailbox.next_retest_at <= moment:
        tested = mailboxes.sweep_retest(workspace_id, mailbox_id)
        if tested is not None:
            mailbox = tested
            outcome = "reconnected" if mailbox.status == "connected" else "still_down"
    get_logger().info("reconnect sweep", extra={"mailbox_id": mailbox_id, "outcome": outcome})
    return {**result, "outcome": outcome, "status": mailbox.status, "code": mailbox.last_test_code}


def summarize(results: Iterable[Mapping[str, Any]], listed: int | None = None) -> dict[str, Any]:
    rows = list(results)
    outcomes = Counter(str(r.get("outcome", "failed")) for r in rows)
    notified = sum(1 for r in rows if r.get("notified"))
    return {
        "listed": len(rows) if listed is None else listed,
        "outcomes": dict(sorted(outcomes.items())),
        "notified": notified,
    }


def run_sweep(now: datetime | None = None, limit: int = SWEEP_PAGE) -> dict[str, Any]:
    """One sweep in-process: list the due mailboxes, each one's step (a raising one is `failed`), the summary."""
    moment = now or get_clock().now()
    due = list_due(moment, limit)
    results: list[dict[str, Any]] = []
    for item in due:
        try:
            results.append(sweep_one(item["workspace_id"], item["mailbox_id"], moment))
        except Exception as exc:
            get_logger().exception("reconnect sweep: a mailbox failed", extra={"mailbox_id": item["mailbox_id"]})
            results.append({**item, "outcome": "failed", "error": type(exc).__name__})
    return summarize(results, len(due))
