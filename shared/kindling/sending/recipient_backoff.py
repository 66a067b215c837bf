"""Recipient-domain adaptive backoff (issue 15 part 3), pure: when a recipient domain defers (a 4xx after the
recipient was named: RCPT or the content), every mailbox of the workspace waits before sending to that domain
again, 5 minutes after the first deferral, doubling with each further one, capped at 2 hours; the first message the
domain accepts resets it. Independent of the sending mailbox's own backoff (kindling.sending.backoff), which reacts
to its provider throttling the mailbox. Table-driven tests in tests/unit/sending/test_recipient_backoff.py.

The domain is the recipient address's domain: grouping domains that share an MX (Google Workspace customers on
their own domains) would need DNS lookups the sender does not make; decisions.md says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kindling.mail.outcomes import Outcome, Stage

BASE_DELAY = timedelta(minutes=5)
MAX_DELAY = timedelta(hours=2)
DEFERRALS: frozenset[Outcome] = frozenset({Outcome.RATE_LIMITED, Outcome.SOFT_RETRY})
RECIPIENT_STAGES: frozenset[Stage] = frozenset({Stage.RCPT, Stage.DATA})


@dataclass(frozen=True)
class DomainBackoff:
    level: int = 0  # deferrals in a row
    until: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.until is not None and now < self.until


def delay_for(level: int) -> timedelta:
    """The wait after the `level`-th deferral in a row (1-based): 5, 10, 20, 40, 80 minutes, then 2 hours."""
    if level < 1:
        return timedelta(0)
    doubled: timedelta = BASE_DELAY * (2 ** (level - 1))
    return min(doubled, MAX_DELAY)


def on_deferred(state: DomainBackoff, now: datetime) -> DomainBackoff:
    level = state.level + 1
    return DomainBackoff(level, now + delay_for(level))


def on_accepted(state: DomainBackoff) -> DomainBackoff:
    return DomainBackoff() if state.level or state.until else state


def domain_verdict(results: Iterable[tuple[Outcome, Stage | None]]) -> str | None:
    """One batch's results for one domain -> "deferred" (any 4xx after the recipient was named), "accepted" (the
    domain took a message and deferred none) or None (nothing that speaks for the domain: not attempted, refused
    before RCPT, hard bounces, unknown)."""
    accepted = False
    for outcome, stage in results:
        if outcome in DEFERRALS and stage in RECIPIENT_STAGES:
            return "deferred"
        if outcome is Outcome.SENT:
            accepted = True
    return "accepted" if accepted else None
