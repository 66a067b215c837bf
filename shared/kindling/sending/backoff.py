"""Per-mailbox rate-limit backoff (inventory 5): 1 min -> 5 min -> 15 min -> 1 h, staying at 1 h; back to
normal after 30 successful sends within 60 minutes. The mailbox is unavailable while `now < until`.

A pure state machine over a small value stored on the mailbox: `level` is how far up the ladder the mailbox
is (0 = not backing off), `successes` the send times since the last rate limit that are still inside the
reset window (at most 30 are kept).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

LADDER: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
)
RESET_SUCCESSES = 30
RESET_WINDOW = timedelta(minutes=60)


@dataclass(frozen=True)
class BackoffState:
    level: int = 0
    until: datetime | None = None
    successes: tuple[datetime, ...] = ()

    def active(self, now: datetime) -> bool:
        """Is the mailbox waiting out a backoff right now?"""
        return self.until is not None and now < self.until

    @property
    def current_wait(self) -> timedelta | None:
        return LADDER[self.level - 1] if self.level else None


CLEAR = BackoffState()


def on_rate_limited(state: BackoffState, now: datetime) -> BackoffState:
    """A provider said "slow down": climb one rung (capped at the top) and wait that long from now.

    Successes counted so far are dropped: the reset needs 30 successes after the latest rate limit.
    """
    level = min(state.level + 1, len(LADDER))
    return BackoffState(level=level, until=now + LADDER[level - 1], successes=())


def on_success(state: BackoffState, now: datetime) -> BackoffState:
    """A send went through. With 30 successes inside the last 60 minutes the ladder resets to the bottom."""
    if state.level == 0:
        return state if not state.successes else CLEAR
    recent = (*tuple(t for t in state.successes if now - t < RESET_WINDOW), now)
    if len(recent) >= RESET_SUCCESSES:
        return CLEAR
    return replace(state, successes=recent[-RESET_SUCCESSES:])
