"""Pure Bounce Shield and failure-rate rules (decisions.md "Bounce Shield"); table-driven tests in
tests/unit/bounceshield/.

Sends and bounces are counted in whole-hour buckets (one counter update per workspace and hour per sender batch).
- window in sends: the newest buckets, newest first, until they hold at least `window_sends` sends; judged only once
  that many sends exist (the window is "at least the last N sends", in whole hours);
- window in hours: the buckets of the last `window_hours` hours; judged once they hold `MIN_SENDS_IN_HOURS` sends.
Buckets that began at or before the last activation are left out, so one burst of bounces activates the shield
once, and campaigns the user starts again are not paused straight back by the same old bounces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

WindowType = Literal["sends", "hours"]

MIN_SENDS_IN_HOURS = 20  # an hours window judges nothing on fewer sends (two bounces of five is no signal)

# The per-campaign failure-rate guard: non-bounce failures over the last 24 hours.
FAILURE_WINDOW = timedelta(hours=24)
FAILURE_MIN_ATTEMPTS = 20
FAILURE_RATE_PERCENT = 25


@dataclass(frozen=True)
class Bucket:
    hour: datetime  # the hour's start (UTC)
    sent: int
    bounced: int


@dataclass(frozen=True)
class Window:
    sent: int
    bounced: int
    hours: tuple[datetime, ...]

    @property
    def rate_percent(self) -> float:
        return 0.0 if self.sent == 0 else round(100.0 * self.bounced / self.sent, 2)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def counted(bucket: Bucket, since: datetime | None) -> bool:
    """A bucket counts when it began after the last activation (the activation's own hour is left out)."""
    return since is None or bucket.hour > hour_of(since)


def window_of(
    buckets: Sequence[Bucket],
    window_type: WindowType,
    window_sends: int,
    window_hours: int,
    now: datetime,
    since: datetime | None = None,
) -> Window:
    """The buckets the shield judges, from `buckets` in any order."""
    newest_first = sorted((b for b in buckets if counted(b, since)), key=lambda b: b.hour, reverse=True)
    chosen: list[Bucket] = []
    if window_type == "hours":
        oldest = hour_of(now) - timedelta(hours=window_hours - 1)
        chosen = [b for b in newest_first if oldest <= b.hour <= hour_of(now)]
    else:
        total = 0
        for bucket in newest_first:
            chosen.append(bucket)
            total += bucket.sent
            if total >= window_sends:
                break
    return Window(sum(b.sent for b in chosen), sum(b.bounced for b in chosen), tuple(b.hour for b in chosen))


def tripped(window: Window, threshold_percent: float, window_type: WindowType, window_sends: int) -> bool:
    """Whether the window's bounce rate exceeds the threshold, on enough sends to judge."""
    needed = window_sends if window_type == "sends" else MIN_SENDS_IN_HOURS
    return window.sent >= needed and window.bounced * 100 > threshold_percent * window.sent


def failure_rate_tripped(attempts: int, failures: int) -> bool:
    """Per campaign: more than 25% of at least 20 attempts in 24 hours failed for a reason other than a bounce."""
    return attempts >= FAILURE_MIN_ATTEMPTS and failures * 100 > FAILURE_RATE_PERCENT * attempts
