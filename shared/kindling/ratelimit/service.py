"""Fixed one-minute windows per workspace and bucket; the decision carries everything the headers need."""

from __future__ import annotations

import math
from dataclasses import dataclass

from kindling.platform.clock import Clock, get_clock, minute_window
from kindling.platform.errors import RateLimited
from kindling.ratelimit.repository import RateLimitRepository

# Windows are kept a little past their end so late writes cannot resurrect an expired counter.
_TTL_GRACE_SECONDS = 120


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # epoch seconds when the window ends
    retry_after: int  # seconds until a retry can succeed (0 when allowed)

    def refusal(self, what: str) -> RateLimited:
        """The error for a refused hit; `what` names the limit ("Rate limit of 60 requests per minute")."""
        return RateLimited(
            f"{what} exceeded; retry after {self.retry_after}s.",
            retry_after=self.retry_after,
            limit=self.limit,
            reset_at=self.reset_at,
        )


def decide(count: int, limit: int, now_epoch: float, window_end: int) -> RateDecision:
    """Pure rule: the count after this hit against the limit."""
    allowed = count <= limit
    wait = max(1, int(window_end - now_epoch + 0.999)) if not allowed else 0
    return RateDecision(
        allowed=allowed,
        limit=limit,
        remaining=max(0, limit - count),
        reset_at=window_end,
        retry_after=wait,
    )


class RateLimiter:
    def __init__(self, repository: RateLimitRepository | None = None, clock: Clock | None = None) -> None:
        self._repo = repository or RateLimitRepository()
        self._clock = clock

    def hit(self, workspace_id: str, bucket: str, limit: int) -> RateDecision:
        now = (self._clock or get_clock()).now()
        start, end = minute_window(now)
        count = self._repo.increment(workspace_id, bucket, start, end + _TTL_GRACE_SECONDS)
        return decide(count, limit, now.timestamp(), end)

    def hit_source(self, source_ip: str, bucket: str, limit: int) -> RateDecision:
        """One hit for a source IP address (requests that belong to no workspace)."""
        now = (self._clock or get_clock()).now()
        start, end = minute_window(now)
        count = self._repo.increment_source(source_ip, bucket, start, end + _TTL_GRACE_SECONDS)
        return decide(count, limit, now.timestamp(), end)


SLIDING_WINDOW_SECONDS = 60


@dataclass(frozen=True)
class SlidingDecision:
    allowed: bool
    limit: int
    estimated: float  # the weighted count of the last 60 seconds, this call included when allowed
    retry_after: int  # whole seconds until one more call fits (0 when allowed)

    def refusal(self, what: str) -> RateLimited:
        return RateLimited(
            f"{what} exceeded; retry after {self.retry_after}s.",
            retry_after=self.retry_after,
            limit=self.limit,
            reset_at=0,
        )


def sliding_estimate(previous: int, current: int, elapsed: float, window: int = SLIDING_WINDOW_SECONDS) -> float:
    """Calls in the last `window` seconds, estimated from two fixed windows: all of the current one plus the share
    of the previous one that still overlaps the sliding window (it is assumed to have been spread evenly)."""
    overlap = max(0.0, (window - elapsed) / window)
    return previous * overlap + current


def sliding_retry_after(
    previous: int, current: int, limit: int, elapsed: float, window: int = SLIDING_WINDOW_SECONDS
) -> int:
    """Whole seconds (at least 1) until one more call fits, when `current` calls (this one excluded) were counted in
    the window that started `elapsed` seconds ago and `previous` in the one before it."""
    room = limit - 1 - current  # what the previous window's share must shrink to, in this window
    if room >= 0 and previous > 0:
        wait = (window - elapsed) - window * room / previous
    elif room >= 0:
        wait = 0.0
    else:
        # Not before the next window, in which this window becomes the previous one with `current` calls.
        wait = (window - elapsed) + window * (1 - (limit - 1) / current)
    return max(1, math.ceil(wait - 1e-9))


def sliding_decide(
    previous: int, current_with_this: int, limit: int, elapsed: float, window: int = SLIDING_WINDOW_SECONDS
) -> SlidingDecision:
    """Pure rule: is a call allowed, given the counts with this call already added to the current window."""
    estimated = sliding_estimate(previous, current_with_this, elapsed, window)
    if estimated <= limit + 1e-9:
        return SlidingDecision(True, limit, estimated, 0)
    # Beyond `limit`, the current count holds other refused calls still in flight (each is taken back): no window
    # ever keeps more than `limit` admitted calls, so the wait is computed from at most that many.
    retry = sliding_retry_after(previous, min(current_with_this - 1, limit), limit, elapsed, window)
    return SlidingDecision(False, limit, sliding_estimate(previous, current_with_this - 1, elapsed, window), retry)


class SlidingWindowLimiter:
    """A sliding 60-second window per workspace and bucket, held in DynamoDB so every instance shares it.

    One atomic ADD on the current fixed window and one consistent read of the previous window per call; a refused
    call is taken back out of the count, so a caller that keeps retrying does not push its own window further.
    """

    def __init__(self, repository: RateLimitRepository | None = None, clock: Clock | None = None) -> None:
        self._repo = repository or RateLimitRepository()
        self._clock = clock

    def hit(self, workspace_id: str, bucket: str, limit: int) -> SlidingDecision:
        now = (self._clock or get_clock()).now().timestamp()
        start = int(now // SLIDING_WINDOW_SECONDS) * SLIDING_WINDOW_SECONDS
        # Kept until the window after it has ended too (it is that window's `previous`).
        expires_at = start + 2 * SLIDING_WINDOW_SECONDS + _TTL_GRACE_SECONDS
        current = self._repo.increment(workspace_id, bucket, start, expires_at)
        previous = self._repo.read(workspace_id, bucket, start - SLIDING_WINDOW_SECONDS)
        decision = sliding_decide(previous, current, limit, now - start)
        if not decision.allowed:
            self._repo.decrement(workspace_id, bucket, start)
        return decision
