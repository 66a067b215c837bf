"""Fixed one-minute windows per workspace and bucket; the decision carries everything the headers need."""

from __future__ import annotations

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
