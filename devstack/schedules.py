"""Schedule events: one clock per `Schedule` / `ScheduleV2` event, firing the function like EventBridge.

Expressions: `rate(N minute|minutes|hour|hours|day|days)` fires every N units from when the stack
starts (as a new EventBridge rule does); `cron(min hour day-of-month month day-of-week year)` with
`*`, `?`, lists, ranges, steps and names (JAN, MON...) in UTC, or in ScheduleExpressionTimezone for
ScheduleV2. `L`, `W` and `#` are refused with an error rather than emulated wrongly. `at(...)` one-time
schedules are refused too.

Time comes from an injectable clock (kindling.platform.clock.Clock). With a ManualClock nothing fires
on its own: `Schedules.tick()` fires every occurrence that is due, so `advance(5 minutes)` on a
`rate(1 minute)` schedule fires exactly five times, each with its own scheduled time.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from devstack.functions import FunctionError
from devstack.provision import ScheduleSource
from kindling.platform.clock import Clock

log = logging.getLogger(__name__)

Invoke = Callable[[str, Any], Any]


class ScheduleError(ValueError):
    """A schedule expression the local stack cannot evaluate faithfully."""


_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i + 1 for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}  # AWS: SUN=1


def _parse_field(text: str, low: int, high: int, names: dict[str, int], what: str) -> frozenset[int] | None:
    """Values a cron field allows; None for `?` (no constraint from this field)."""
    if text == "?":
        return None
    if any(ch in text for ch in "LW#"):
        raise ScheduleError(f"cron {what} field {text!r}: L, W and # are not supported by the local stack")
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if step < 1:
                raise ScheduleError(f"cron {what}: bad step in {text!r}")
        if part == "*":
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, names, what), _value(b, names, what)
        else:
            start = _value(part, names, what)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ScheduleError(f"cron {what} field {text!r} is out of range {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str, names: dict[str, int], what: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise ScheduleError(f"cron {what}: {text!r} is not a number or name")
    return int(text)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # 1 = Sunday, as in AWS cron
    years: frozenset[int]
    tz: ZoneInfo

    @classmethod
    def parse(cls, body: str, tz: str = "UTC") -> Cron:
        fields = body.split()
        if len(fields) != 6:
            raise ScheduleError(f"cron({body}) needs 6 fields: minutes hours day-of-month month day-of-week year")
        dom = _parse_field(fields[2], 1, 31, {}, "day-of-month")
        dow = _parse_field(fields[4], 1, 7, _DAYS, "day-of-week")
        if (dom is None) == (dow is None):
            raise ScheduleError(f"cron({body}): exactly one of day-of-month and day-of-week must be '?'")
        return cls(
            minutes=_parse_field(fields[0], 0, 59, {}, "minutes") or frozenset(),
            hours=_parse_field(fields[1], 0, 23, {}, "hours") or frozenset(),
            days_of_month=dom,
            months=_parse_field(fields[3], 1, 12, _MONTHS, "month") or frozenset(),
            days_of_week=dow,
            years=_parse_field(fields[5], 1970, 2199, {}, "year") or frozenset(),
            tz=ZoneInfo(tz),
        )

    def _day_matches(self, local: datetime) -> bool:
        if self.days_of_month is not None:
            return local.day in self.days_of_month
        assert self.days_of_week is not None
        return (local.isoweekday() % 7) + 1 in self.days_of_week  # isoweekday: Monday=1..Sunday=7

    def next_after(self, when: datetime) -> datetime:
        """The first matching minute strictly after `when` (aware datetime), in UTC."""
        local = when.astimezone(self.tz).replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=1)
        limit = local + timedelta(days=366 * 5)
        while local < limit:
            if local.year not in self.years:
                local = datetime(local.year + 1, 1, 1)
            elif local.month not in self.months:
                nxt = datetime(local.year + (local.month == 12), local.month % 12 + 1, 1)
                local = nxt
            elif not self._day_matches(local):
                local = datetime(local.year, local.month, local.day) + timedelta(days=1)
            elif local.hour not in self.hours:
                local = datetime(local.year, local.month, local.day, local.hour) + timedelta(hours=1)
            elif local.minute not in self.minutes:
                local += timedelta(minutes=1)
            else:
                return local.replace(tzinfo=self.tz).astimezone(UTC)
        raise ScheduleError("cron expression never fires in the next five years")


def parse_expression(expression: str, tz: str = "UTC") -> timedelta | Cron:
    expression = expression.strip()
    rate = _RATE.match(expression)
    if rate:
        amount, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if amount < 1:
            raise ScheduleError(f"{expression}: the rate must be positive")
        if (amount == 1) != (not rate.group(2).endswith("s")):
            raise ScheduleError(f"{expression}: use the singular unit for 1 and the plural otherwise")
        return timedelta(seconds=amount * _UNIT_SECONDS[unit])
    cron = _CRON.match(expression)
    if cron:
        return Cron.parse(cron.group(1), tz)
    raise ScheduleError(f"unsupported schedule expression {expression!r} (use rate(...) or cron(...))")


class ScheduleClock:
    """When one schedule fires next, relative to the time the stack started."""

    def __init__(self, source: ScheduleSource, start: datetime) -> None:
        self.source = source
        self.rule = parse_expression(source.expression, source.timezone)
        self.next_fire = self._after(start)
        self.fired = 0

    def _after(self, when: datetime) -> datetime:
        if isinstance(self.rule, timedelta):
            return when + self.rule
        return self.rule.next_after(when)

    def due(self, now: datetime) -> list[datetime]:
        """Every occurrence up to `now`, oldest first, and move past them."""
        times: list[datetime] = []
        while self.next_fire <= now:
            times.append(self.next_fire)
            self.next_fire = self._after(self.next_fire)
        return times


def scheduled_event(source: ScheduleSource, when: datetime, *, region: str, account_id: str) -> Any:
    """What EventBridge delivers: the constant Input if the event sets one, else a Scheduled Event."""
    if source.input is not None:
        return source.input
    if source.kind == "ScheduleV2":
        resource = f"arn:aws:scheduler:{region}:{account_id}:schedule/default/{source.rule_name}"
    else:
        resource = f"arn:aws:events:{region}:{account_id}:rule/{source.rule_name}"
    return {
        "version": "0",
        # Deterministic per rule and time, so tests can compare events.
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{resource}@{when.isoformat()}")),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [resource],
        "detail": {},
    }


class Schedules:
    """All schedule clocks of a stack. `tick()` fires what is due; `start()` ticks in the background."""

    def __init__(
        self,
        sources: list[ScheduleSource],
        invoke: Invoke,
        clock: Clock,
        *,
        region: str,
        account_id: str,
    ) -> None:
        self.clock = clock
        start = clock.now()
        self.clocks = [ScheduleClock(s, start) for s in sources if s.enabled]
        self._invoke = invoke
        self._region = region
        self._account_id = account_id
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> int:
        """Fire every due occurrence (in time order per schedule); returns how many fired."""
        fired = 0
        with self._lock:
            now = self.clock.now()
            for sched in self.clocks:
                for when in sched.due(now):
                    event = scheduled_event(sched.source, when, region=self._region, account_id=self._account_id)
                    sched.fired += 1
                    fired += 1
                    try:
                        self._invoke(sched.source.function_id, event)
                    except FunctionError as exc:
                        # EventBridge retries asynchronous invocations; one failure must not stop the clock.
                        log.warning("schedule %s: %s", sched.source.name, exc)
        return fired

    def start(self, interval: float = 1.0) -> None:
        self._thread = threading.Thread(target=self._run, args=(interval,), name="schedules", daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.tick()
            except Exception:
                log.exception("schedule tick failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
