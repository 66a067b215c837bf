"""Sending windows, active days and the next send time, in the campaign's IANA timezone (inventory 6, 10).

Model: each weekday (ISO 1 = Monday .. 7 = Sunday) has zero or more windows of local wall-clock time,
`[start, end)` in minutes after local midnight (0 <= start < end <= 1440; 1440 is the midnight ending the day).
A day without windows is inactive. Membership is by wall clock, so DST is handled by construction:
- spring forward: wall times in the gap never happen; a window opening inside the gap opens at the jump;
- fall back: the repeated hour is inside a window on both passes.

Windows crossing midnight (the API's `sendingWindowStart` > `sendingWindowEnd`, e.g. 22:00-06:00) are
supported by `Schedule.from_campaign`, which splits them: 22:00-24:00 on each active day and 00:00-06:00 on the
day after it (so the night belongs to the active day it starts on). start == end is rejected: it could mean
"never" or "always". Within one day, windows may touch but not overlap.

Scheduling (inventory 6.3): due = previous send + delayDays (same local wall time, DST-aware) + delayHours,
plus a random 1-5 min jitter, then clamped forward to the earliest in-window instant, scanning up to 8 days
ahead (None when there is no slot). Clamping only ever defers.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUTES_PER_DAY = 24 * 60
SCAN_DAYS = 8  # inventory 6.3
JITTER_MIN_SECONDS = 60  # inventory 6.3: random jitter of 1-5 minutes
JITTER_MAX_SECONDS = 300
NO_MAILBOX_RETRY = timedelta(hours=1)  # inventory 10.2-10.3
DEFAULT_DAYS: tuple[int, ...] = (1, 2, 3, 4, 5)  # Mon-Fri (inventory 6.2)

_HHMM = re.compile(r"^(\d{1,2})(?::(\d{2}))?$")


def parse_time_of_day(value: str | int, *, allow_end_of_day: bool = False) -> int:
    """Minutes after midnight from "HH:MM", "H" or an int hour; "24:00" / 24 only when `allow_end_of_day`."""
    if isinstance(value, bool):
        raise ValueError("a time of day is an hour or 'HH:MM'")
    if isinstance(value, int):
        hours, minutes = value, 0
    else:
        match = _HHMM.match(value.strip())
        if match is None:
            raise ValueError(f"not a time of day: {value!r} (use 'HH:MM')")
        hours, minutes = int(match.group(1)), int(match.group(2) or 0)
    total = hours * 60 + minutes
    if minutes >= 60 or total < 0 or total > MINUTES_PER_DAY or (total == MINUTES_PER_DAY and not allow_end_of_day):
        raise ValueError(f"time of day out of range: {value!r}")
    return total


@dataclass(frozen=True, order=True)
class Window:
    """Local wall-clock `[start, end)` in minutes after midnight."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= MINUTES_PER_DAY:
            raise ValueError(f"a window needs 0 <= start < end <= 1440 minutes, got {self.start}-{self.end}")

    @classmethod
    def parse(cls, start: str | int, end: str | int) -> Window:
        return cls(parse_time_of_day(start), parse_time_of_day(end, allow_end_of_day=True))

    def contains_second(self, second_of_day: int) -> bool:
        return self.start * 60 <= second_of_day < self.end * 60


ALL_DAY = Window(0, MINUTES_PER_DAY)


def normalize_days(days: Iterable[int]) -> frozenset[int]:
    """ISO weekdays 1-7; 0 is accepted for Sunday (the JavaScript convention, where 1-5 are also Mon-Fri)."""
    out: set[int] = set()
    for day in days:
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 7:
            raise ValueError(f"schedule days are 0-7 (0 and 7 = Sunday), got {day!r}")
        out.add(7 if day == 0 else day)
    return frozenset(out)


def get_zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone {timezone!r}") from exc


def _check_day(windows: tuple[Window, ...]) -> tuple[Window, ...]:
    ordered = tuple(sorted(windows))
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise ValueError(f"windows overlap: {before} and {after}")
    return ordered


@dataclass(frozen=True)
class Schedule:
    """`week[0]` is Monday's windows .. `week[6]` Sunday's; `not_before`/`not_after` are startDate/endDate."""

    timezone: str = "UTC"
    week: tuple[tuple[Window, ...], ...] = field(
        default_factory=lambda: tuple((ALL_DAY,) if d in DEFAULT_DAYS else () for d in range(1, 8))
    )
    not_before: datetime | None = None
    not_after: datetime | None = None

    def __post_init__(self) -> None:
        get_zone(self.timezone)
        if len(self.week) != 7:
            raise ValueError("a schedule has exactly seven days")
        object.__setattr__(self, "week", tuple(_check_day(tuple(day)) for day in self.week))
        for bound in (self.not_before, self.not_after):
            if bound is not None and bound.tzinfo is None:
                raise ValueError("startDate/endDate must be aware datetimes")

    @property
    def zone(self) -> ZoneInfo:
        return get_zone(self.timezone)

    def windows_on(self, isoweekday: int) -> tuple[Window, ...]:
        return self.week[isoweekday - 1]

    @classmethod
    def weekly(
        cls,
        timezone: str = "UTC",
        days: Iterable[int] = DEFAULT_DAYS,
        windows: Sequence[Window] = (ALL_DAY,),
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> Schedule:
        """The same windows on every active day."""
        active = normalize_days(days)
        week = tuple(tuple(windows) if d in active else () for d in range(1, 8))
        return cls(timezone, week, not_before, not_after)

    @classmethod
    def per_day(
        cls,
        timezone: str,
        by_day: Mapping[int, Sequence[Window]],
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> Schedule:
        """Windows per weekday (ISO, 0 also Sunday); days not in the mapping are inactive."""
        week: list[list[Window]] = [[] for _ in range(7)]
        for day, windows in by_day.items():
            (iso,) = normalize_days([day])
            week[iso - 1].extend(windows)
        return cls(timezone, tuple(tuple(w) for w in week), not_before, not_after)

    @classmethod
    def from_campaign(
        cls,
        timezone: str | None,
        window_start: str | int | None,
        window_end: str | int | None,
        schedule_days: Iterable[int] | None,
        *,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> Schedule:
        """The API's fields: null window = all day, null days = Mon-Fri, null timezone = UTC.

        A window with end < start runs overnight (see the module docstring); end == start is rejected.
        """
        days = normalize_days(DEFAULT_DAYS if schedule_days is None else schedule_days)
        if window_start is None and window_end is None:
            return cls.weekly(timezone or "UTC", days, (ALL_DAY,), not_before=start_date, not_after=end_date)
        if window_start is None or window_end is None:
            raise ValueError("sendingWindowStart and sendingWindowEnd are set together")
        start = parse_time_of_day(window_start)
        end = parse_time_of_day(window_end, allow_end_of_day=True)
        if start == end:
            raise ValueError("sendingWindowStart and sendingWindowEnd must differ")
        if start < end:
            return cls.weekly(timezone or "UTC", days, (Window(start, end),), not_before=start_date, not_after=end_date)
        by_day: dict[int, list[Window]] = {}
        for day in days:
            by_day.setdefault(day, []).append(Window(start, MINUTES_PER_DAY))
            if end > 0:
                by_day.setdefault(day % 7 + 1, []).append(Window(0, end))
        return cls.per_day(timezone or "UTC", by_day, not_before=start_date, not_after=end_date)


# --- the rules -------------------------------------------------------------------------------------------------


def in_window(now: datetime, schedule: Schedule) -> bool:
    """May a campaign email go out at `now`? Active day, inside a window, within startDate/endDate."""
    if now.tzinfo is None:
        raise ValueError("an aware datetime is required")
    now = now.astimezone(UTC)  # same-tzinfo comparisons ignore fold; UTC ones never do
    if schedule.not_before is not None and now < schedule.not_before:
        return False
    if schedule.not_after is not None and now >= schedule.not_after:
        return False
    local = now.astimezone(schedule.zone)
    second = local.hour * 3600 + local.minute * 60 + local.second
    return any(w.contains_second(second) for w in schedule.windows_on(local.isoweekday()))


def _wall(naive: datetime, tz: ZoneInfo) -> list[datetime]:
    """The UTC instants whose local wall clock reads `naive`: none in a gap, two in a fall-back repeat."""
    found: list[datetime] = []
    for fold in (0, 1):
        instant = naive.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == naive and instant not in found:
            found.append(instant)
    return found


def _transitions(start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """UTC-offset changes in [start, end], found by sampling every 6 h and bisecting to the second."""
    step = 6 * 3600
    lo = int(start.timestamp())
    stop = int(end.timestamp())
    found: list[datetime] = []

    def offset(ts: int) -> timedelta | None:
        return datetime.fromtimestamp(ts, UTC).astimezone(tz).utcoffset()

    previous = offset(lo)
    while lo < stop:
        hi = min(lo + step, stop)
        current = offset(hi)
        if current != previous:
            a, b = lo, hi
            while b - a > 1:
                mid = (a + b) // 2
                if offset(mid) == previous:
                    a = mid
                else:
                    b = mid
            found.append(datetime.fromtimestamp(b, UTC))
        previous, lo = current, hi
    return found


def clamp(when: datetime, schedule: Schedule, scan_days: int = SCAN_DAYS) -> datetime | None:
    """The earliest instant >= `when` (and >= startDate) inside the schedule, looking up to `scan_days` local
    days ahead; None when there is none or it would be at/after endDate. Never earlier than `when`."""
    if when.tzinfo is None:
        raise ValueError("an aware datetime is required")
    earliest = when.astimezone(UTC)
    if schedule.not_before is not None and earliest < schedule.not_before:
        earliest = schedule.not_before.astimezone(UTC)
    if schedule.not_after is not None and earliest >= schedule.not_after:
        return None
    if in_window(earliest, schedule):
        return earliest
    tz = schedule.zone
    first_day = earliest.astimezone(tz).date()
    last_day = first_day + timedelta(days=scan_days)
    # Where in_window turns true: a window opening on the wall clock, or a DST jump landing inside a window.
    candidates: list[datetime] = []
    for n in range(scan_days + 1):
        day = first_day + timedelta(days=n)
        for window in schedule.windows_on(day.isoweekday()):
            candidates.extend(_wall(datetime.combine(day, time(0)) + timedelta(minutes=window.start), tz))
    horizon = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    candidates.extend(_transitions(earliest, horizon, tz))
    valid = [c for c in candidates if c >= earliest and c.astimezone(tz).date() <= last_day and in_window(c, schedule)]
    return min(valid, default=None)


def jitter(rng: random.Random) -> timedelta:
    return timedelta(seconds=rng.randint(JITTER_MIN_SECONDS, JITTER_MAX_SECONDS))


def add_local_days(base: datetime, days: int, timezone: str) -> datetime:
    """`days` later at the same local wall-clock time (DST-aware: 23 or 25 hours across a transition).

    A wall time that does not exist on the target day (spring-forward gap) moves forward past the gap; a
    repeated one takes its first occurrence.
    """
    tz = get_zone(timezone)
    naive = base.astimezone(tz).replace(tzinfo=None) + timedelta(days=days)
    existing = _wall(naive, tz)
    if existing:
        return min(existing)
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)  # fold=0 in a gap lands after it


def step_due(previous: datetime, delay_days: int, delay_hours: float | None, timezone: str) -> datetime:
    """The raw due time of a step, before jitter and clamping."""
    if delay_days < 0 or (delay_hours is not None and delay_hours < 0):
        raise ValueError("delays cannot be negative")
    return add_local_days(previous, delay_days, timezone) + timedelta(hours=delay_hours or 0)


def next_send_time(
    previous: datetime,
    delay_days: int,
    delay_hours: float | None,
    schedule: Schedule,
    rng: random.Random,
) -> datetime | None:
    """When a step is due: step delay + jitter, clamped into the schedule; None when no slot within 8 days.

    When clamping moved the time to a window opening, a second jitter spreads the deferred sends over the
    opening minutes instead of stacking them on the first second (kept only if still inside the window).
    """
    raw = step_due(previous, delay_days, delay_hours, schedule.timezone) + jitter(rng)
    slot = clamp(raw, schedule)
    if slot is None or slot == raw:
        return slot
    spread = slot + jitter(rng)
    return spread if in_window(spread, schedule) else slot


def reschedule_without_mailbox(now: datetime, schedule: Schedule) -> datetime | None:
    """No usable mailbox in the pool: try again in an hour (inventory 10.3), still inside the schedule."""
    return clamp(now + NO_MAILBOX_RETRY, schedule)
