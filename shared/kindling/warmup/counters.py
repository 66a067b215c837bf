"""Per-mailbox daily warmup counters (one row per mailbox and day, the day in the workspace's timezone).

Placement is counted on the *sending* mailbox, because it is the sender's reputation being measured:
- `sent`: warmup emails this mailbox sent that day;
- `received`: warmup emails this mailbox received from peers that day;
- `inbox`: of its sent emails, those the recipient found in the inbox;
- `spam`: of its sent emails, those the recipient found in spam/junk, whether or not rescued afterwards;
- `rescued`: of `spam`, those moved back to the inbox by spam rescue (`saved_from_spam`);
- `bounced`: of its sent emails, those that failed to deliver (SMTP refusal or a bounce/NDR);
- `opened`, `replied`: engagement recorded by the receiving side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

WINDOW_DAYS = 7  # the health score's and the stats' rolling window
COUNT_FIELDS = ("sent", "received", "inbox", "spam", "rescued", "bounced", "opened", "replied")


@dataclass(frozen=True)
class DailyCounters:
    day: date
    sent: int = 0
    received: int = 0
    inbox: int = 0
    spam: int = 0
    rescued: int = 0
    bounced: int = 0
    opened: int = 0
    replied: int = 0

    def __post_init__(self) -> None:
        for name in COUNT_FIELDS:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")

    def __add__(self, other: DailyCounters) -> DailyCounters:
        """Sum two rows of the same day (counters may be stored in shards or arrive as deltas)."""
        if other.day != self.day:
            raise ValueError("only rows of the same day add up")
        return DailyCounters(self.day, **{name: getattr(self, name) + getattr(other, name) for name in COUNT_FIELDS})


def window_days(today: date, days: int = WINDOW_DAYS) -> list[date]:
    """The `days` days ending with `today`, oldest first."""
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def by_day(rows: Iterable[DailyCounters], today: date, days: int = WINDOW_DAYS) -> list[DailyCounters]:
    """One row per day of the window (oldest first): rows of a day summed, a day without rows all zero.

    Rows outside the window are ignored, so callers may pass a longer history.
    """
    wanted = window_days(today, days)
    merged = {day: DailyCounters(day) for day in wanted}
    for row in rows:
        if row.day in merged:
            merged[row.day] = merged[row.day] + row
    return [merged[day] for day in wanted]


def total(rows: Iterable[DailyCounters], today: date, days: int = WINDOW_DAYS) -> DailyCounters:
    """The window's rows summed into one row dated `today`."""
    window = by_day(rows, today, days)
    return DailyCounters(today, **{name: sum(getattr(row, name) for row in window) for name in COUNT_FIELDS})
