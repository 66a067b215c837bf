"""Mailbox outages, as pure rules (docs/decisions.md, "Mailbox health and the reconnect sweep").

- `connected`: the last test or use worked.
- `disconnected`: it worked before (it has a `last_connected_at`, or it was `connected` when the failure came) and
  now fails: credentials revoked, App Password expired, host gone.
- `error`: it never worked (its first test failed).

An outage starts with the first failure report (`disconnected_since` is set, `mailbox.disconnected` goes out once)
and ends with the first success (`mailbox.reconnected`). Meanwhile the reconnect sweep re-tests the mailbox with a
per-mailbox backoff: 15 minutes, 1 hour, 4 hours, then every 12 hours; a credential change re-tests at once and
restarts the backoff. After 24 hours `disconnected`, one notification email goes out per outage.

These functions compute the fields of the one conditional write that `kindling.mailboxes.health` makes; they are
the only place in kindling that sets the outage statuses (tests/unit/mailboxes/test_outage_writers.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from kindling.mail.connection import TestIssue
from kindling.mailboxes.models import Mailbox

OutageStatus = Literal["disconnected", "error"]
OUTAGE_STATUSES: tuple[OutageStatus, ...] = ("disconnected", "error")
RETEST_DELAYS: tuple[timedelta, ...] = (timedelta(minutes=15), timedelta(hours=1), timedelta(hours=4))
RETEST_EVERY = timedelta(hours=12)
NOTIFY_AFTER = timedelta(hours=24)
Backoff = Literal["restart", "advance"]


def retest_delay(failed_retests: int) -> timedelta:
    """How long after a failure the sweep re-tests, given how many re-tests of this outage already failed:
    0 (the outage just started, or the credentials just changed) -> 15 min, 1 -> 1 h, 2 -> 4 h, then 12 h."""
    if failed_retests < 0:
        raise ValueError("failed_retests cannot be negative")
    if failed_retests < len(RETEST_DELAYS):
        return RETEST_DELAYS[failed_retests]
    return RETEST_EVERY


def outage_status(mailbox: Mailbox) -> OutageStatus:
    """`disconnected` when the mailbox ever worked, `error` when it never did. A mailbox connected (or disconnected)
    before this field existed has no `last_connected_at`: its status says it worked."""
    if mailbox.last_connected_at is not None or mailbox.status in ("connected", "disconnected"):
        return "disconnected"
    return "error"


def in_outage(mailbox: Mailbox) -> bool:
    return mailbox.status in OUTAGE_STATUSES


def notify_at(mailbox: Mailbox) -> datetime | None:
    """When this outage's notification email is due: 24 h after a `disconnected` mailbox went down, once."""
    if mailbox.status != "disconnected" or mailbox.disconnected_since is None or mailbox.outage_notified_at:
        return None
    return mailbox.disconnected_since + NOTIFY_AFTER


def sweep_due_at(mailbox: Mailbox) -> datetime | None:
    """When the reconnect sweep must look at the mailbox again (its next re-test, or its notification if that
    comes first); None when it is not in an outage. The repository keeps the `due` index on it."""
    if not in_outage(mailbox):
        # A reconnection whose campaigns are not resumed yet: due at once (the sweep finishes the resume).
        return mailbox.resume_pending_since if mailbox.status == "connected" else None
    moments = [m for m in (mailbox.next_retest_at, notify_at(mailbox)) if m is not None]
    return min(moments) if moments else None


def describe(protocol: str, found: TestIssue) -> str:
    """`last_test_error`: "<code> (<SMTP|IMAP>): <hint> [<server reply>]" — stable code first."""
    text = f"{found.code} ({protocol.upper()}): {found.message}"
    if found.detail:
        text += f" Server said: {found.detail}"
    return text[:1000]


def failure_fields(
    mailbox: Mailbox, code: str, message: str, now: datetime, *, backoff: Backoff = "restart"
) -> dict[str, Any]:
    """The fields a failure report writes: the outage status, its classified code, when the outage started (kept
    when it already had) and the next re-test (`restart`: 15 min; `advance`: the next step of the backoff)."""
    failed = mailbox.retest_attempts + 1 if backoff == "advance" and mailbox.disconnected_since is not None else 0
    status = outage_status(mailbox)
    return {
        "status": status,
        # A mailbox that worked keeps that fact through a credential change (status `created` meanwhile).
        "last_connected_at": mailbox.last_connected_at or (now if status == "disconnected" else None),
        "last_test_code": code,
        "last_test_error": message,
        "last_tested_at": now,
        "health_status": "error",
        "health_reasons": [code],
        "disconnected_since": mailbox.disconnected_since or now,
        "retest_attempts": failed,
        "next_retest_at": now + retest_delay(failed),
        "resume_pending_since": None,  # down again: nothing to resume until it reconnects
        "updated_at": now,
    }


def success_fields(now: datetime, mailbox: Mailbox | None = None) -> dict[str, Any]:
    """The fields a success writes: connected, and the outage (if any) closed. Closing one (`mailbox` the one
    before, in an outage) leaves `resume_pending_since` (the outage's start) for the resume to clear."""
    pending = mailbox.resume_pending_since if mailbox is not None else None
    if mailbox is not None and mailbox.disconnected_since is not None:
        pending = mailbox.disconnected_since
    return {
        "status": "connected",
        "last_connected_at": now,
        "last_test_error": None,
        "last_test_code": None,
        "disconnected_since": None,
        "retest_attempts": 0,
        "next_retest_at": None,
        "outage_notified_at": None,
        "resume_pending_since": pending,
        "updated_at": now,
    }


def starts_outage(before: Mailbox, after: Mailbox) -> bool:
    """This write opened an outage (it was not in one before): announce it, pause what depends on it."""
    return before.disconnected_since is None and after.disconnected_since is not None


def ends_outage(before: Mailbox, after: Mailbox) -> bool:
    """This write closed an outage: announce the reconnection, resume what was paused for it."""
    return before.disconnected_since is not None and after.status == "connected"
