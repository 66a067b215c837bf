"""May this mailbox send this campaign's next email to this recipient now? (inventory 3, 4, 5, 13.2)

A mailbox is eligible only when every rule holds; the first rule that fails is reported as a stable reason
code. The three caps (mailbox `dailyLimit`, campaign `dailySendLimit`, campaign-mailbox
`maxSendsPerMailboxPerDay`) and the 500/day hard cap are all enforced against today's running counts, so the
minimum always wins, and a limit lowered below today's count simply blocks until tomorrow (no error).

Counters (decisions.md, day boundaries):
- campaign counters (`campaign_sent_today`, `campaign_mailbox_sent_today`) count per day in the campaign's
  timezone;
- mailbox counters (`mailbox_sent_today`, `warmup_sent_today`, `recipient_domain_sent_today`) count per day
  in the workspace's timezone (default UTC).
`mailbox_sent_today` holds campaign sends only: warmup follows its own target outside the three-cap minimum,
but counts toward the hard cap and the pacer (decisions.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

HARD_CAP = 500  # sends per mailbox per day, warmup included (inventory 3.2)
DEFAULT_RECIPIENT_DOMAIN_LIMIT = 50  # per recipient domain per mailbox per day (decisions.md)
CONNECTED = "connected"


class Reason(StrEnum):
    """Why a mailbox may not send now, in the order the rules are checked."""

    INACTIVE_ON_CAMPAIGN = "inactive_on_campaign"
    NOT_CONNECTED = "not_connected"
    SENDING_DISABLED = "sending_disabled"
    HOST_CIRCUIT_OPEN = "host_circuit_open"
    BACKOFF = "backoff"
    MAILBOX_DAILY_LIMIT = "mailbox_daily_limit"
    CAMPAIGN_DAILY_LIMIT = "campaign_daily_limit"
    CAMPAIGN_MAILBOX_LIMIT = "campaign_mailbox_limit"
    HARD_CAP = "hard_cap"
    RECIPIENT_DOMAIN_LIMIT = "recipient_domain_limit"
    PACER = "pacer"


# Reasons that lift at the start of the next counter day, and in which timezone's day.
_CAMPAIGN_DAY = frozenset({Reason.CAMPAIGN_DAILY_LIMIT, Reason.CAMPAIGN_MAILBOX_LIMIT})
_MAILBOX_DAY = frozenset({Reason.MAILBOX_DAILY_LIMIT, Reason.HARD_CAP, Reason.RECIPIENT_DOMAIN_LIMIT})


@dataclass(frozen=True)
class Eligible:
    """The mailbox may send now; `remaining` more sends fit under every cap today (this one included)."""

    remaining: int


@dataclass(frozen=True)
class Snapshot:
    """Everything the rule needs, read by the caller from one mailbox, one campaign and one recipient domain."""

    now: datetime
    active_on_campaign: bool
    mailbox_status: str
    sending_enabled: bool
    mailbox_daily_limit: int
    mailbox_sent_today: int
    campaign_daily_limit: int | None
    campaign_sent_today: int
    campaign_mailbox_limit: int | None
    campaign_mailbox_sent_today: int
    warmup_sent_today: int = 0
    recipient_domain_limit: int = DEFAULT_RECIPIENT_DOMAIN_LIMIT
    recipient_domain_sent_today: int = 0
    backoff_until: datetime | None = None
    host_circuit_open_until: datetime | None = None
    last_send_at: datetime | None = None  # the mailbox's last send of any kind (campaign or warmup)
    pacer_interval: timedelta = timedelta(0)  # see pacer_interval() below
    campaign_timezone: str = "UTC"
    workspace_timezone: str = "UTC"
    hard_cap: int = HARD_CAP


def effective_daily_limit(
    mailbox_daily_limit: int,
    campaign_daily_limit: int | None,
    campaign_mailbox_limit: int | None,
    hard_cap: int = HARD_CAP,
) -> tuple[int, Reason]:
    """The binding cap for sends via one mailbox for one campaign in a day, and which cap it is.

    100 / 50 / 30 -> (30, campaign_mailbox_limit) (inventory 3.3). On a tie the first in the order mailbox,
    campaign, campaign-mailbox, hard cap is named. None means "no such cap".
    """
    caps: list[tuple[int, Reason]] = [(mailbox_daily_limit, Reason.MAILBOX_DAILY_LIMIT)]
    if campaign_daily_limit is not None:
        caps.append((campaign_daily_limit, Reason.CAMPAIGN_DAILY_LIMIT))
    if campaign_mailbox_limit is not None:
        caps.append((campaign_mailbox_limit, Reason.CAMPAIGN_MAILBOX_LIMIT))
    caps.append((hard_cap, Reason.HARD_CAP))
    return min(caps, key=lambda cap: cap[0])  # min() keeps the first of equal keys


def remaining_today(s: Snapshot) -> tuple[int, Reason]:
    """Sends still allowed today via this mailbox for this campaign, and the cap that binds (may be <= 0)."""
    room: list[tuple[int, Reason]] = [(s.mailbox_daily_limit - s.mailbox_sent_today, Reason.MAILBOX_DAILY_LIMIT)]
    if s.campaign_daily_limit is not None:
        room.append((s.campaign_daily_limit - s.campaign_sent_today, Reason.CAMPAIGN_DAILY_LIMIT))
    if s.campaign_mailbox_limit is not None:
        room.append((s.campaign_mailbox_limit - s.campaign_mailbox_sent_today, Reason.CAMPAIGN_MAILBOX_LIMIT))
    room.append((s.hard_cap - s.mailbox_sent_today - s.warmup_sent_today, Reason.HARD_CAP))
    return min(room, key=lambda r: r[0])


def pacer_interval(minutes_between_sends: Iterable[float | None]) -> timedelta:
    """The mailbox's pacer floor: the longest "minutes between sends" among the campaigns sharing it and its
    warmup (inventory 4.3: A=5, B=15 -> 15). Unset intervals are ignored."""
    longest = max((m for m in minutes_between_sends if m is not None and m > 0), default=0.0)
    return timedelta(minutes=longest)


def check(s: Snapshot) -> Eligible | Reason:
    """Eligible, or the first rule that fails (statuses, host circuit, backoff, caps, recipient domain, pacer)."""
    if not s.active_on_campaign:
        return Reason.INACTIVE_ON_CAMPAIGN
    if s.mailbox_status != CONNECTED:
        return Reason.NOT_CONNECTED
    if not s.sending_enabled:
        return Reason.SENDING_DISABLED
    if s.host_circuit_open_until is not None and s.now < s.host_circuit_open_until:
        return Reason.HOST_CIRCUIT_OPEN
    if s.backoff_until is not None and s.now < s.backoff_until:
        return Reason.BACKOFF
    room, binding = remaining_today(s)
    if room <= 0:
        return binding
    if s.recipient_domain_sent_today >= s.recipient_domain_limit:
        return Reason.RECIPIENT_DOMAIN_LIMIT
    if s.last_send_at is not None and s.now < s.last_send_at + s.pacer_interval:
        return Reason.PACER
    return Eligible(remaining=room)


def blocked_until(s: Snapshot, reason: Reason) -> datetime | None:
    """When `reason` lifts by itself (the caller re-checks then; another rule may still block), or None when
    it needs a change (reactivation, reconnection, re-enabling)."""
    if reason is Reason.HOST_CIRCUIT_OPEN:
        return s.host_circuit_open_until
    if reason is Reason.BACKOFF:
        return s.backoff_until
    if reason is Reason.PACER:
        return None if s.last_send_at is None else s.last_send_at + s.pacer_interval
    if reason in _CAMPAIGN_DAY:
        return next_day_start(s.now, s.campaign_timezone)
    if reason in _MAILBOX_DAY:
        return next_day_start(s.now, s.workspace_timezone)
    return None


# --- counter days ---------------------------------------------------------------------------------------------


def local_day(now: datetime, timezone: str) -> date:
    if now.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return now.astimezone(ZoneInfo(timezone)).date()


def day_key(now: datetime, timezone: str) -> str:
    """The counter day holding `now` in `timezone` ("2026-06-10"): the sort key of daily counters."""
    return local_day(now, timezone).isoformat()


def day_start(day: date, timezone: str) -> datetime:
    """The first instant (UTC) of `day` in `timezone`.

    Where midnight does not exist (a DST gap at 00:00), fold=0 maps it to the gap's end, which is exactly the
    first instant of that local day.
    """
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def next_day_start(now: datetime, timezone: str) -> datetime:
    """When today's counters in `timezone` reset: the next local midnight, as a UTC instant."""
    return day_start(local_day(now, timezone) + timedelta(days=1), timezone)
