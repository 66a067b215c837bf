"""An injectable clock: rules take `now` from here so tests and the local stack can move time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; thread-safe so pollers and the API can share it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)


_clock: Clock = SystemClock()


def get_clock() -> Clock:
    return _clock


def set_clock(clock: Clock) -> Clock:
    """Install `clock` process-wide and return the previous one."""
    global _clock
    previous, _clock = _clock, clock
    return previous


def utcnow() -> datetime:
    return _clock.now()


def isoformat(when: datetime | None) -> str | None:
    """The reference's timestamp form: 2026-06-10T08:31:00.000Z."""
    if when is None:
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def epoch_seconds(when: datetime) -> int:
    return int(when.timestamp())


def minute_window(when: datetime) -> tuple[int, int]:
    """(window start epoch, window end epoch) of the fixed one-minute window holding `when`."""
    start = int(when.timestamp()) // 60 * 60
    return start, start + 60


__all__ = [
    "Clock",
    "ManualClock",
    "SystemClock",
    "epoch_seconds",
    "get_clock",
    "isoformat",
    "minute_window",
    "parse_iso",
    "set_clock",
    "timedelta",
    "utcnow",
]
