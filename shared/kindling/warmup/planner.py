"""Today's warmup sends for one mailbox: how many, and when.

The count is the day's warmup limit (see `stats.effective_daily_limit`) minus what warmup already sent
today, and never more than the 500/day per-mailbox hard cap leaves after today's campaign and warmup sends
(decisions.md: warmup is outside the campaign caps' minimum but counts toward the hard cap and the pacer).

The times are spread over what is left of the day inside the warmup time window (hours in the window's
timezone; default all day, every day, help center L274, L457). The remaining window time is cut into as
many equal slots as there are sends and each send lands at a random point of its slot (the jitter), but
no later than `pacer_interval` before the slot ends, so two planned sends are never closer than the
per-mailbox pacer interval (help center L1117-1124). The first send also waits for the pacer after the
mailbox's last send, campaign or warmup. When the window cannot hold that many sends at the pacer
interval, fewer are planned (reason `window`). Times are whole seconds in UTC.

The sender still checks the pacer and the hard cap when each send is due: campaign sends planned after
this plan share the same mailbox.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kindling.mailboxes.models import DAILY_SEND_LIMIT_MAX
from kindling.warmup.seeds import seeded_rng

HARD_CAP = DAILY_SEND_LIMIT_MAX  # 500 sends per mailbox per day, campaigns and warmup together
WARMUP_PACER_MINUTES = 10.0  # warmup's own "minutes between sends" on the mailbox's pacer (its replies' too)
PACER_KEY = "warmup"  # warmup's entry in the mailbox state's pacer intervals

PlanLimit = Literal["daily_hard_cap", "window"]
Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class WarmupWindow:
    """Local sending hours [start_hour, end_hour) in `timezone`; start > end runs overnight."""

    start_hour: int = 0
    end_hour: int = 24
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not 0 <= self.start_hour <= 23 or not 1 <= self.end_hour <= 24:
            raise ValueError("window hours are start 0-23 and end 1-24")
        if self.start_hour == self.end_hour:
            raise ValueError("an empty window: use 0-24 for all day")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}") from exc

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class SendPlan:
    times: tuple[datetime, ...]
    remaining: int  # sends the limit still allows today, before the hard cap and the window
    limited_by: PlanLimit | None  # why fewer than `remaining` were planned

    @property
    def count(self) -> int:
        return len(self.times)


def day_bounds(day: date, timezone: str) -> Interval:
    """[start, end) of a calendar day in `timezone`, in UTC (23 or 25 hours long across DST changes)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _local(day: date, hour: int, zone: ZoneInfo) -> datetime:
    if hour == 24:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return datetime.combine(day, time(hour), tzinfo=zone)


def window_intervals(window: WarmupWindow, start: datetime, end: datetime) -> list[Interval]:
    """The parts of [start, end) inside the window's local hours, in order, merged where they touch."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("aware datetimes only")
    zone = window.zone
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    pieces: list[Interval] = []
    day = first
    while day <= last:
        opens = _local(day, window.start_hour, zone)
        closes_day = day if window.start_hour < window.end_hour else day + timedelta(days=1)
        closes = _local(closes_day, window.end_hour, zone)
        lo, hi = max(opens.astimezone(UTC), start), min(closes.astimezone(UTC), end)
        if lo < hi:
            pieces.append((lo, hi))
        day += timedelta(days=1)
    merged: list[Interval] = []
    for lo, hi in sorted(pieces):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _ceil_second(when: datetime) -> datetime:
    whole = when.replace(microsecond=0)
    return whole if whole == when else whole + timedelta(seconds=1)


def plan_rng(mailbox_id: str, day: date) -> random.Random:
    """The plan's randomness: the same mailbox and day always give the same plan."""
    return seeded_rng("warmup-plan", mailbox_id, day.isoformat())


def plan_sends(
    *,
    limit: int,
    warmup_sent_today: int,
    campaign_sent_today: int,
    window: WarmupWindow,
    day_start: datetime,
    day_end: datetime,
    now: datetime,
    pacer_interval: timedelta,
    last_sent_at: datetime | None,
    rng: random.Random,
) -> SendPlan:
    """Plan the rest of today's warmup sends (see the module docstring)."""
    if min(limit, warmup_sent_today, campaign_sent_today) < 0:
        raise ValueError("counts cannot be negative")
    if pacer_interval < timedelta(0):
        raise ValueError("the pacer interval cannot be negative")
    remaining = max(0, limit - warmup_sent_today)
    hard_room = max(0, HARD_CAP - campaign_sent_today - warmup_sent_today)
    wanted = min(remaining, hard_room)
    earliest = max(now, day_start)
    if last_sent_at is not None:
        earliest = max(earliest, last_sent_at + pacer_interval)
    intervals = window_intervals(window, _ceil_second(earliest), day_end)
    # Whole seconds throughout: interval ends are truncated, the pacer rounded up, so gaps only grow.
    lengths = [int((hi - lo).total_seconds()) for lo, hi in intervals]
    available = sum(lengths)
    pacer = math.ceil(pacer_interval.total_seconds())
    fits = available // pacer if pacer else available
    count = min(wanted, fits)
    limited_by: PlanLimit | None = None
    if wanted < remaining:
        limited_by = "daily_hard_cap"
    elif count < wanted:
        limited_by = "window"
    offsets = []
    for index in range(count):
        slot_start = index * available // count
        slot_end = (index + 1) * available // count
        offsets.append(slot_start + rng.randint(0, slot_end - slot_start - max(pacer, 1)))
    return SendPlan(tuple(_place(offsets, intervals, lengths)), remaining, limited_by)


def _place(offsets: list[int], intervals: list[Interval], lengths: list[int]) -> list[datetime]:
    """Map offsets (seconds along the window's time laid end to end) back to instants."""
    placed = []
    index, passed = 0, 0
    for offset in offsets:
        while offset >= passed + lengths[index]:
            passed += lengths[index]
            index += 1
        placed.append(intervals[index][0] + timedelta(seconds=offset - passed))
    return placed
