"""The reconnect sweep (statemachines/reconnect_sweep.asl.json, every 15 minutes by default).

- `list_due(now)`: the mailboxes in an outage (`disconnected`, `error`) whose re-test or 24 h notification is due:
  one bounded query of the `DUE#MAILBOX#RETEST` partition of the `due` index (never a scan).
- `sweep_one(...)`: one mailbox. A due re-test runs the connection test with the stored credentials and pins
  (`MailboxService.sweep_retest`): a success flips it to `connected` through the health writer, which announces
  `mailbox.reconnected` and resumes the campaigns paused for `mailbox_disconnected` (kindling.sending.mailbox_health);
  a failure schedules the next re-test (15 min, 1 h, 4 h, then every 12 h). A `disconnected` mailbox down for 24 h
  gets its one notification email (`kindling.notifications`).
- A mailbox flipped back to `connected` whose resume did not finish (its `resume_pending_since` marker, in the same
  partition, due at once): `sweep_one` resumes its campaigns and clears the marker (outcome `resumed`).
- `backfill(workspace_id, cursor)`: one-off, for mailboxes left in an outage from before the sweep existed (no
  re-test time, so not in the partition): one page of the workspace's outage mailboxes gets a re-test due now.
- `summarize(results)`: the sweep's counts.
- `run_sweep(now)`: the whole sweep in-process (what the state machine does, one mailbox after another; a mailbox
  whose step raises is counted `failed` and the sweep goes on). The benchmarks and tests call it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from kindling.mailboxes import health
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.outage import NOTIFY_AFTER, in_outage, notify_at
from kindling.mailboxes.repository import MailboxRepository
from kindling.mailboxes.service import MailboxService
from kindling.notifications.service import Notifier
from kindling.platform.clock import get_clock, isoformat
from kindling.platform.errors import NotFound
from kindling.platform.observability import get_logger
from kindling.sending import mailbox_health  # its listener announces and resumes on reconnection

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
        since = mailbox.resume_pending_since
        if mailbox.status == "connected" and since is not None:
            # Reconnected, but the resume was lost (the process died after the flip): finish it.
            resumed = mailbox_health.reconnection_consequences(mailbox, since, moment)
            get_logger().info("reconnect sweep", extra={"mailbox_id": mailbox_id, "outcome": "resumed"})
            return {**result, "outcome": "resumed", "status": mailbox.status, "resumed": resumed}
        return {**result, "outcome": "skipped", "status": mailbox.status}
    outcome = "waiting"
    if mailbox.next_retest_at is None or mailbox.next_retest_at <= moment:
        tested = mailboxes.sweep_retest(workspace_id, mailbox_id)
        if tested is not None:
            mailbox = tested
            outcome = "reconnected" if mailbox.status == "connected" else "still_down"
    if in_outage(mailbox):
        mailbox_health.outage_consequences(mailbox, moment)  # idempotent: completes a listener that failed
    due = notify_at(mailbox)
    if due is not None and due <= moment and notify_outage(mailbox, moment, repository=repo):
        result["notified"] = True
    get_logger().info("reconnect sweep", extra={"mailbox_id": mailbox_id, "outcome": outcome})
    return {**result, "outcome": outcome, "status": mailbox.status, "code": mailbox.last_test_code}


def notify_outage(
    mailbox: Mailbox, now: datetime, *, repository: MailboxRepository | None = None, notifier: Notifier | None = None
) -> bool:
    """The outage's one notification email, 24 h after the mailbox went down. Recorded first (a conditional write:
    a second sweep finds it done), then sent; a send that fails clears the record so the next sweep tries again.
    True when this call handled it (sent, or nothing to send to: the workspace has no notification address)."""
    repo = repository or MailboxRepository()
    if not health.record_notified(repo, mailbox, now):
        return False
    since = mailbox.disconnected_since or now
    hours = int((now - since).total_seconds() // 3600) or int(NOTIFY_AFTER.total_seconds() // 3600)
    subject = f"Mailbox {mailbox.email_address} has been disconnected for {hours} hours"
    text = (
        f"Kindling cannot use the mailbox {mailbox.email_address} since {isoformat(since)}.\n\n"
        f"Last error: {mailbox.last_test_error or mailbox.last_test_code or 'unknown'}\n\n"
        "Its campaigns that had no other usable mailbox are paused (pausedReason mailbox_disconnected). Kindling "
        "keeps re-testing it every 12 hours and resumes them by itself once it works again; updating its "
        "credentials (for example a new App Password) re-tests it at once.\n"
    )
    try:
        channel = (notifier or Notifier(mailboxes=repo)).send(
            mailbox.workspace_id, subject, text, now, avoid=mailbox.id
        )
    except Exception:
        health.clear_notified(repo, repo.get(mailbox.workspace_id, mailbox.id), now)
        raise
    get_logger().info("outage notification", extra={"mailbox_id": mailbox.id, "channel": channel})
    return True


def backfill(
    workspace_id: str,
    cursor: str | None = None,
    now: datetime | None = None,
    limit: int = SWEEP_PAGE,
    repository: MailboxRepository | None = None,
) -> dict[str, Any]:
    """One-off, per workspace: give the mailboxes still in an outage from before the sweep existed (`error` or
    `disconnected` with no re-test time) a re-test due now, so the next sweeps pick them up. One bounded page of the
    workspace's mailbox index per call (`next_cursor` for the next page); running it again changes nothing."""
    moment = now or get_clock().now()
    repo = repository or MailboxRepository()
    page = repo.outage_page(workspace_id, limit, cursor)
    scheduled = [m.id for m in page.items if health.schedule_untracked_outage(repo, m, moment)]
    get_logger().info("reconnect backfill", extra={"workspace_id": workspace_id, "scheduled": len(scheduled)})
    return {"workspace_id": workspace_id, "scheduled": scheduled, "next_cursor": page.next_cursor}


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
