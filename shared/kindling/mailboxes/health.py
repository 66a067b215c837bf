"""Mailbox health: the one writer of a mailbox's outage (rules in `kindling.mailboxes.outage`).

Every engine that fails to log in or connect with a mailbox's credentials (the campaign sender, inbox sync, warmup
delivery) reports it here with the classified code (`report_failure`); the connection tests (the checker, the user's
re-test, the reconnect sweep) record their result through `record_test`. Each is ONE conditional write of the item
(its version): the status, the code, `disconnected_since`, the next re-test. A repeated report in the same outage
writes nothing. When a write opens or closes an outage, every registered listener is called once with the change:
the engine's listener (kindling.sending.mailbox_health) announces it (`mailbox.disconnected`, `mailbox.reconnected`)
and pauses or resumes the campaigns that depend on the mailbox. Listeners must be idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from kindling.mail.connection import ConnectionTestResult, Protocol_, issue
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.outage import (
    Backoff,
    describe,
    ends_outage,
    failure_fields,
    in_outage,
    starts_outage,
    success_fields,
)
from kindling.mailboxes.repository import MailboxRepository, Stale
from kindling.platform.errors import Conflict
from kindling.platform.observability import get_logger

_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class HealthChange:
    """A write that opened (`started`) or closed (`ended`) a mailbox's outage."""

    before: Mailbox
    after: Mailbox

    @property
    def started(self) -> bool:
        return starts_outage(self.before, self.after)

    @property
    def ended(self) -> bool:
        return ends_outage(self.before, self.after)


class HealthListener(Protocol):
    def __call__(self, change: HealthChange, now: datetime) -> None: ...


_listeners: list[HealthListener] = []


def on_health_change(listener: HealthListener) -> HealthListener:
    """Register a listener called after each write that opens or closes an outage (usable as a decorator)."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def remove_health_listener(listener: HealthListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def announce(before: Mailbox, after: Mailbox, now: datetime) -> HealthChange | None:
    """Call the listeners when `before` -> `after` opened or closed an outage; the change, or None."""
    change = HealthChange(before, after)
    if not (change.started or change.ended):
        return None
    get_logger().info(
        "mailbox outage started" if change.started else "mailbox outage ended",
        extra={"mailbox_id": after.id, "status": after.status, "code": after.last_test_code},
    )
    for listener in list(_listeners):
        listener(change, now)
    return change


def _write(
    repository: MailboxRepository,
    mailbox: Mailbox,
    change: Callable[[Mailbox], dict[str, Any] | None],
) -> tuple[Mailbox, Mailbox | None]:
    """Read-modify-write with the item's version as the condition: (the mailbox before, the mailbox written), the
    latter None when `change` says there is nothing to write."""
    current = mailbox
    for _ in range(_MAX_ATTEMPTS):
        update = change(current)
        if update is None:
            return current, None
        try:
            return current, repository.replace(current.model_copy(update=update), current.version)
        except Stale:
            current = repository.get(mailbox.workspace_id, mailbox.id)
    raise Conflict(f"Mailbox {mailbox.id} is being changed concurrently; retry.")


def report_failure(
    repository: MailboxRepository,
    mailbox: Mailbox,
    protocol: Protocol_,
    code: str,
    now: datetime,
    detail: str | None = None,
) -> HealthChange | None:
    """An engine could not log in or connect with `mailbox` (the copy it used): the mailbox goes `disconnected` (or
    `error` if it never worked) with `code`. Nothing is written when the mailbox changed meanwhile (new credentials
    or a re-test: another generation; deleted) or is already in an outage. The change when an outage opened."""
    message = describe(protocol, issue(code, detail))

    def change(current: Mailbox) -> dict[str, Any] | None:
        if current.is_deleted or current.generation != mailbox.generation or current.status != "connected":
            return None
        return failure_fields(current, code, message, now)

    before, after = _write(repository, mailbox, change)
    if after is None:
        return None
    get_logger().warning("mailbox failed in use", extra={"mailbox_id": mailbox.id, "protocol": protocol, "code": code})
    return announce(before, after, now)


def record_test(
    repository: MailboxRepository,
    mailbox: Mailbox,
    generation: int,
    result: ConnectionTestResult,
    now: datetime,
    *,
    backoff: Backoff = "restart",
) -> Mailbox:
    """A connection test's result (for `generation`; a newer one makes it stale and nothing is written): connected,
    or the outage status with the first classified error. `backoff` "advance" is the sweep's failed re-test (the
    next one waits longer); "restart" (a new check, a user re-test) re-tests 15 minutes later."""
    failure = result.first_error
    warnings = [w.code for w in result.warnings]

    def change(current: Mailbox) -> dict[str, Any] | None:
        if current.is_deleted or current.generation != generation:
            return None
        update: dict[str, Any] = {}
        # Each endpoint that connected keeps what it trusted: the self-signed certificate's pin, or none.
        if result.smtp.ok:
            update["smtp_tls_pin"] = result.smtp.tls.pin if result.smtp.tls else None
        if result.imap.ok:
            update["imap_tls_pin"] = result.imap.tls.pin if result.imap.tls else None
        if failure is None:
            update.update(
                success_fields(now, current),
                last_tested_at=now,
                health_status="warning" if warnings else "ok",
                health_reasons=warnings or None,
                imap_folders=result.imap.folders or current.imap_folders,
            )
            if current.warmup_pending:
                update.update(warmup_enabled=True, warmup_pending=False)
            return update
        protocol, found = failure
        update.update(failure_fields(current, found.code, describe(protocol, found), now, backoff=backoff))
        update["health_reasons"] = [found.code, *warnings]
        return update

    before, after = _write(repository, mailbox, change)
    if after is None:
        return before
    get_logger().info(
        "mailbox tested",
        extra={"mailbox_id": mailbox.id, "status": after.status, "code": failure[1].code if failure else None},
    )
    announce(before, after, now)
    return after


def record_notified(repository: MailboxRepository, mailbox: Mailbox, now: datetime) -> bool:
    """Mark the current outage's notification as sent; False when it already was (or the outage ended)."""
    since = mailbox.disconnected_since

    def change(current: Mailbox) -> dict[str, Any] | None:
        if not in_outage(current) or current.disconnected_since != since or current.outage_notified_at is not None:
            return None
        return {"outage_notified_at": now, "updated_at": now}

    return _write(repository, mailbox, change)[1] is not None


def schedule_untracked_outage(repository: MailboxRepository, mailbox: Mailbox, now: datetime) -> bool:
    """A mailbox left in an outage from before the reconnect sweep (no re-test time): due for a re-test now, its
    outage dated from its last change (`updated_at`, the best known bound) unless it has a start. The write puts it
    in the sweep's partition; the sweep re-tests it and completes the outage's consequences. False when there was
    nothing to do (not in an outage, or already tracked)."""

    def change(current: Mailbox) -> dict[str, Any] | None:
        if not in_outage(current) or current.next_retest_at is not None:
            return None
        return {
            "next_retest_at": now,
            "disconnected_since": current.disconnected_since or current.updated_at,
            "updated_at": now,
        }

    return _write(repository, mailbox, change)[1] is not None


def clear_resume_pending(repository: MailboxRepository, mailbox: Mailbox, since: datetime, now: datetime) -> bool:
    """The campaigns paused for the outage that began at `since` are resumed: drop its marker (False when there was
    none; a newer outage's marker is left alone)."""

    def change(current: Mailbox) -> dict[str, Any] | None:
        if current.resume_pending_since is None or current.resume_pending_since != since:
            return None
        return {"resume_pending_since": None, "updated_at": now}

    return _write(repository, mailbox, change)[1] is not None


def clear_notified(repository: MailboxRepository, mailbox: Mailbox, now: datetime) -> None:
    """The notification could not be sent after all: let the next sweep try again (same outage only)."""
    since = mailbox.disconnected_since

    def change(current: Mailbox) -> dict[str, Any] | None:
        if current.disconnected_since != since or current.outage_notified_at is None:
            return None
        return {"outage_notified_at": None, "updated_at": now}

    _write(repository, mailbox, change)
