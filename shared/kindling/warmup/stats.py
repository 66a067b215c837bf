"""The warmup stats the API shows: the effective daily limit and its reason, today's counts, the 7-day
health figures, `saved_from_spam` and the 7-day daily series (reachkit's warmup stats).

`effective_daily_limit` is how many warmup emails the mailbox may send today, after everything that
limits it; `effective_limit_reason` is null when the target (`warmup_target_daily_volume`) is what binds
(the reference's example: limit 50, reason null, target 50) and otherwise names the binding limit:
- `warmup_disabled`, `mailbox_not_connected`: 0, warmup does not run;
- `ramp_up`: the New Domain / New Mailbox ramp is below the target;
- `maintenance`: Maintenance's 15-30/day is below the target;
- `recovery_mode`: Recovery's reduced volume;
- `daily_hard_cap`: the 500/day per-mailbox cap minus today's campaign sends is below the rest.
When two limits give the same number, the target wins (nothing cut it), then the strategy, then the cap.

The rates are whole percentages, rounded half up; `reputation_score` is the health score (null without
traffic in the window). `saved_from_spam` counts the mailbox's own sent emails that peers rescued from
spam in the 7 days, the reputation the series describes too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any, Literal

from kindling.warmup.counters import WINDOW_DAYS, DailyCounters, by_day
from kindling.warmup.health import Health, score_counts
from kindling.warmup.planner import HARD_CAP
from kindling.warmup.ramp import RampState, strategy_volume

LimitReason = Literal[
    "warmup_disabled", "mailbox_not_connected", "ramp_up", "maintenance", "recovery_mode", "daily_hard_cap"
]

_STRATEGY_REASON: dict[str, LimitReason] = {
    "new_domain": "ramp_up",
    "new_mailbox": "ramp_up",
    "maintenance": "maintenance",
    "recovery": "recovery_mode",
}


@dataclass(frozen=True)
class EffectiveLimit:
    limit: int
    reason: LimitReason | None


def effective_daily_limit(
    *, warmup_enabled: bool, connected: bool, target: int, state: RampState, campaign_sent_today: int
) -> EffectiveLimit:
    if not warmup_enabled:
        return EffectiveLimit(0, "warmup_disabled")
    if not connected:
        return EffectiveLimit(0, "mailbox_not_connected")
    candidates: list[tuple[int, LimitReason | None]] = [
        (max(0, target), None),
        (strategy_volume(state), _STRATEGY_REASON[state.strategy]),
        (max(0, HARD_CAP - campaign_sent_today), "daily_hard_cap"),
    ]
    limit, reason = min(candidates, key=lambda candidate: candidate[0])  # min keeps the first of equals
    return EffectiveLimit(limit, reason)


@dataclass(frozen=True)
class DailyPoint:
    day: date
    sent: int
    received: int
    inbox: int
    spam_count: int
    saved_from_spam: int
    bounced: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "sent": self.sent,
            "received": self.received,
            "inbox_count": self.inbox,
            "spam_count": self.spam_count,
            "saved_from_spam": self.saved_from_spam,
            "bounced": self.bounced,
        }


@dataclass(frozen=True)
class WarmupStats:
    sent_today: int
    received_today: int
    sent_7d: int
    received_7d: int
    reputation_score: int | None
    inbox_rate: int | None
    spam_rate: int | None
    bounce_rate: int | None
    saved_from_spam: int
    daily: tuple[DailyPoint, ...]
    last_sent_at: datetime | None = None


def _percent(rate: float | None) -> int | None:
    if rate is None:
        return None
    return int((Fraction(rate) + Fraction(1, 2)) // 1)


def compute_stats(
    rows: Iterable[DailyCounters], today: date, *, last_sent_at: datetime | None = None, days: int = WINDOW_DAYS
) -> WarmupStats:
    """Stats over the `days` days ending `today` from the mailbox's daily counter rows (any order, any
    history length; rows of one day are summed, a day without rows counts zero).
    """
    window = by_day(rows, today, days)
    health: Health = score_counts(
        sum(r.sent for r in window),
        sum(r.inbox for r in window),
        sum(r.spam for r in window),
        sum(r.rescued for r in window),
        sum(r.bounced for r in window),
    )
    daily = tuple(DailyPoint(r.day, r.sent, r.received, r.inbox, r.spam, r.rescued, r.bounced) for r in window)
    return WarmupStats(
        sent_today=window[-1].sent,
        received_today=window[-1].received,
        sent_7d=health.sent,
        received_7d=sum(r.received for r in window),
        reputation_score=health.score,
        inbox_rate=_percent(health.inbox_rate),
        spam_rate=_percent(health.spam_rate),
        bounce_rate=_percent(health.bounce_rate),
        saved_from_spam=sum(r.rescued for r in window),
        daily=daily,
        last_sent_at=last_sent_at,
    )
