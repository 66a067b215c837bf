"""The simulated month's rule checker (bench/safety_month.py): pure functions over what the mail lab accepted.

Independent of the code under test: nothing here imports kindling. Each function counts violations of one rule
from the lab's own record of every accepted DATA (simulated time, envelope sender, recipient, Message-ID) plus
the campaign settings and suppression times the benchmark created; the numbers are the documented ones
(docs/decisions.md): the 500/day hard cap per mailbox (warmup included) in the workspace's day (UTC), the
mailbox's daily limit (campaign sends only) in the same day, the campaign's daily limit in its own timezone's
day, the pacer (see pacer_violations: planned sends spaced by the longest interval of the campaigns that sent
from the mailbox in the last 24 hours, and 10 minutes for warmup; warmup replies, which inbox sync sends as soon
as a warmup email arrives, are counted apart), sending windows in the campaign's
timezone (an end before the start runs overnight), no send to an address after it was suppressed, and no
(enrollment, step) delivered twice.

SQS delays are whole seconds, rounded up (a message is visible at or after its planned instant, by less than a
second): the pacer and the window end allow SECOND_TOLERANCE for that rounding, nothing else.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

HARD_CAP = 500  # sends per mailbox per day, warmup included (help center 3.2, docs/decisions.md)
WARMUP_INTERVAL = timedelta(minutes=10)  # a mailbox's warmup sends are at least 10 minutes apart
SECOND_TOLERANCE = timedelta(seconds=1)
PACER_MEMORY = timedelta(hours=24)  # a campaign's interval keeps counting on a mailbox it sent from that long
ZERO = timedelta(0)


@dataclass(frozen=True)
class Delivery:
    """One message the lab accepted (DATA answered 250), at the simulated time it was accepted."""

    at: datetime
    sender: str  # envelope sender: the mailbox's address
    recipient: str
    message_id: str
    warmup: bool = False
    reply: bool = False  # a warmup reply (the receiving side answering), not a planned warmup send
    campaign_id: str | None = None  # campaign sends: from the ledger item the Message-ID names
    send_key: str | None = None  # campaign sends: (enrollment, step) as one string


@dataclass(frozen=True)
class Campaign:
    """A campaign's settings as the benchmark created them."""

    campaign_id: str
    timezone: str
    window_start: str  # "HH:MM"
    window_end: str  # "HH:MM"; before the start: overnight
    days: tuple[int, ...]  # ISO weekdays, 1 = Monday
    minutes_between_sends: int
    daily_limit: int
    mailboxes: tuple[str, ...]  # sender addresses in its pool


@dataclass
class Violations:
    daily_cap: int = 0  # (mailbox, day) over the mailbox's daily limit, plus (campaign, day) over the campaign's
    hard_cap: int = 0
    pacer: int = 0
    pacer_replies: int = 0
    window: int = 0
    suppression: int = 0
    duplicates: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.examples) < 20:
            self.examples.append(text)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def in_window(at: datetime, campaign: Campaign, tolerance: timedelta = SECOND_TOLERANCE) -> bool:
    """Is `at` inside the campaign's window on an active day, in the campaign's timezone?"""
    local = at.astimezone(ZoneInfo(campaign.timezone))
    start, end = _minutes(campaign.window_start), _minutes(campaign.window_end)
    if end == 0:
        end = 24 * 60
    second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    slack = tolerance.total_seconds()
    today, yesterday = local.isoweekday(), (local.isoweekday() - 2) % 7 + 1
    if start < end:
        return today in campaign.days and start * 60 <= second < end * 60 + slack
    # Overnight: the evening part belongs to the active day, the morning part to the day before it.
    evening = today in campaign.days and second >= start * 60
    return evening or (yesterday in campaign.days and second < end * 60 + slack)


def daily_cap_violations(
    deliveries: Iterable[Delivery],
    mailbox_limits: Mapping[str, int],
    campaigns: Mapping[str, Campaign],
    out: Violations,
) -> None:
    """Campaign sends per mailbox per UTC day within the mailbox's limit; per campaign per local day within the
    campaign's limit."""
    per_mailbox: Counter[tuple[str, date]] = Counter()
    per_campaign: Counter[tuple[str, date]] = Counter()
    for d in deliveries:
        if d.warmup or d.campaign_id is None:
            continue
        per_mailbox[(d.sender, d.at.astimezone(UTC).date())] += 1
        campaign = campaigns[d.campaign_id]
        per_campaign[(d.campaign_id, d.at.astimezone(ZoneInfo(campaign.timezone)).date())] += 1
    for (sender, day), n in sorted(per_mailbox.items()):
        if n > mailbox_limits[sender]:
            out.daily_cap += 1
            out.note(f"daily cap: {sender} sent {n} campaign emails on {day} (limit {mailbox_limits[sender]})")
    for (cid, day), n in sorted(per_campaign.items()):
        if n > campaigns[cid].daily_limit:
            out.daily_cap += 1
            out.note(f"daily cap: campaign {cid} sent {n} on {day} (limit {campaigns[cid].daily_limit})")


def hard_cap_violations(deliveries: Iterable[Delivery], out: Violations, hard_cap: int = HARD_CAP) -> None:
    """Every send (campaign and warmup) per mailbox per UTC day within the hard cap."""
    per_day = Counter((d.sender, d.at.astimezone(UTC).date()) for d in deliveries)
    for (sender, day), n in sorted(per_day.items()):
        if n > hard_cap:
            out.hard_cap += 1
            out.note(f"hard cap: {sender} sent {n} on {day}")


def pacer_violations(
    deliveries: Iterable[Delivery],
    campaigns: Mapping[str, Campaign],
    out: Violations,
    tolerance: timedelta = SECOND_TOLERANCE,
) -> None:
    """Planned sends (campaign and warmup) of a mailbox are spaced by its pacer (`pacer`): the interval in force
    is the longest `minutes between sends` among the campaigns that sent from the mailbox in the last 24 hours (the
    sending campaign included) and WARMUP_INTERVAL while its warmup sent in that time (or is sending now) - help
    center 4.3 "A=5, B=15 -> 15", with the 24-hour memory of docs/decisions.md (kindling.sending.planning).
    Warmup replies (sent by inbox sync when a warmup email arrives) are counted apart (`pacer_replies`): a reply
    closer than the interval in force to the mailbox's send before or after it."""
    by_sender: dict[str, list[Delivery]] = defaultdict(list)
    for d in deliveries:
        by_sender[d.sender].append(d)
    for sender, sends in by_sender.items():
        sends.sort(key=lambda d: d.at)
        last_campaign: dict[str, datetime] = {}
        last_warmup: datetime | None = None
        previous_planned: Delivery | None = None
        previous_any: Delivery | None = None
        for current in sends:
            active = [
                campaigns[cid].minutes_between_sends
                for cid, at in last_campaign.items()
                if current.at - at < PACER_MEMORY
            ]
            if current.campaign_id is not None:
                active.append(campaigns[current.campaign_id].minutes_between_sends)
            warm = current.warmup or (last_warmup is not None and current.at - last_warmup < PACER_MEMORY)
            needed = max([timedelta(minutes=m) for m in active] + ([WARMUP_INTERVAL] if warm else []), default=ZERO)
            if (
                not current.reply
                and previous_planned is not None
                and current.at - previous_planned.at < needed - tolerance
            ):
                out.pacer += 1
                kind = "warmup" if current.warmup else "campaign"
                out.note(f"pacer: {sender} {kind} send at {current.at}, previous at {previous_planned.at} ({needed})")
            if (
                previous_any is not None
                and (previous_any.reply or current.reply)
                and current.at - previous_any.at < needed - tolerance
            ):
                out.pacer_replies += 1
                out.note(f"pacer (warmup reply): {sender} at {previous_any.at} and {current.at} ({needed})")
            if current.campaign_id is not None:
                last_campaign[current.campaign_id] = current.at
            if current.warmup and not current.reply:
                last_warmup = current.at
            if not current.reply:
                previous_planned = current
            previous_any = current


def window_violations(deliveries: Iterable[Delivery], campaigns: Mapping[str, Campaign], out: Violations) -> None:
    for d in deliveries:
        if d.campaign_id is None:
            continue
        if not in_window(d.at, campaigns[d.campaign_id]):
            out.window += 1
            out.note(f"window: campaign {d.campaign_id} sent to {d.recipient} at {d.at}")


def suppression_violations(
    deliveries: Iterable[Delivery], suppressed_since: Mapping[str, datetime], out: Violations
) -> None:
    """No campaign send to an address after the moment it was suppressed (or refused with a 5xx by the lab)."""
    for d in deliveries:
        if d.warmup:
            continue
        since = suppressed_since.get(d.recipient.lower())
        if since is not None and d.at > since:
            out.suppression += 1
            out.note(f"suppression: {d.recipient} sent at {d.at}, suppressed since {since}")


def duplicate_sends(deliveries: Iterable[Delivery], out: Violations) -> None:
    """Each (enrollment, step) and each campaign Message-ID is accepted at most once."""
    campaign = [d for d in deliveries if not d.warmup]
    for key, n in Counter(d.message_id for d in campaign).items():
        if n > 1:
            out.duplicates += n - 1
            out.note(f"duplicate: Message-ID {key} accepted {n} times")
    by_step = Counter(d.send_key for d in campaign if d.send_key is not None)
    by_id = {d.send_key: d.message_id for d in campaign if d.send_key is not None}
    ids_per_step: dict[str, set[str]] = defaultdict(set)
    for d in campaign:
        if d.send_key is not None:
            ids_per_step[d.send_key].add(d.message_id)
    for key, n in by_step.items():
        distinct = len(ids_per_step[key])
        if distinct > 1:  # the same step under different Message-IDs (already counted when the ids repeat)
            out.duplicates += distinct - 1
            out.note(f"duplicate: step {key} sent under {distinct} Message-IDs ({by_id[key]}, ...) {n} times")


def check_all(
    deliveries: Sequence[Delivery],
    campaigns: Mapping[str, Campaign],
    mailbox_limits: Mapping[str, int],
    suppressed_since: Mapping[str, datetime],
) -> Violations:
    out = Violations()
    daily_cap_violations(deliveries, mailbox_limits, campaigns, out)
    hard_cap_violations(deliveries, out)
    pacer_violations(deliveries, campaigns, out)
    window_violations(deliveries, campaigns, out)
    suppression_violations(deliveries, suppressed_since, out)
    duplicate_sends(deliveries, out)
    return out
