"""The retry schedule (decisions.md): 10 retries after the first attempt, then dead-letter.

1m, 5m, 15m, 1h, 3h, 6h, 12h, 24h, 48h, 72h; any non-2xx or a 5 s timeout is retried; on 429 `Retry-After`
(delta-seconds or HTTP-date) replaces the scheduled wait, capped at 72 h.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
    timedelta(hours=48),
    timedelta(hours=72),
)
MAX_ATTEMPTS = 1 + len(RETRY_DELAYS)
MAX_BACKOFF = RETRY_DELAYS[-1]


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """`Retry-After` as a wait from `now`: delta-seconds or an HTTP-date; None when absent or unparsable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return min(timedelta(seconds=int(text)), MAX_BACKOFF)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when - now, timedelta(0)), MAX_BACKOFF)


def next_retry_delay(attempt: int, status_code: int | None, retry_after: str | None, now: datetime) -> timedelta | None:
    """The wait before the attempt after `attempt` (1-based) failed; None when it was the last one."""
    if attempt >= MAX_ATTEMPTS:
        return None
    scheduled = RETRY_DELAYS[attempt - 1]
    if status_code == 429:
        honoured = parse_retry_after(retry_after, now)
        if honoured is not None:
            return honoured
    return scheduled
