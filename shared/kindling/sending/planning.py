"""Pure planning for one scheduler tick of one campaign: which due enrollment goes out from which mailbox, at
which pacer slot, under every cap (kindling.sending.eligibility), and what happens to the ones that cannot go.

Inputs are plain values read once per tick; the output says what to reserve (one counter write per mailbox and
one per campaign), what to claim, and which enrollments to move. Nothing here reads or writes anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kindling.campaigns.models import CampaignSettings
from kindling.campaigns.rules import windows_by_day
from kindling.sending import eligibility, rotation, windows
from kindling.sending.circuit import HostCircuit
from kindling.sending.repository import CampaignDay, MailboxState

HORIZON = timedelta(minutes=1)  # a tick plans the sends of the next minute (the schedule's rate)
LEAVE_DUE_WITHIN = timedelta(minutes=15)  # blocked for less than this: stay due (re-read), no write
UNUSABLE_RETRY = windows.NO_MAILBOX_RETRY
PACER_MEMORY = timedelta(hours=24)  # a campaign's interval keeps counting on a mailbox it sent from that long


def schedule_of(settings: CampaignSettings) -> windows.Schedule:
    """The campaign's windows and days, in its timezone, bounded by its start and end dates."""
    by_day: dict[int, list[windows.Window]] = {}
    for day, day_windows in windows_by_day(settings).items():
        for w in day_windows:
            start = w.start.hour * 60 + w.start.minute
            end = windows.MINUTES_PER_DAY if w.end is None else w.end.hour * 60 + w.end.minute
            by_day.setdefault(day, []).append(windows.Window(start, end))
    return windows.Schedule.per_day(
        settings.timezone, by_day, not_before=settings.start_date, not_after=settings.end_date
    )


@dataclass(frozen=True)
class PoolMailbox:
    """One mailbox of the campaign's pool with what the tick read about it."""

    mailbox_id: str
    weight: int
    active_on_campaign: bool
    status: str
    sending_enabled: bool
    daily_limit: int
    campaign_mailbox_limit: int | None
    smtp_host: str
    state: MailboxState
    circuit: HostCircuit = field(default_factory=HostCircuit)
    intervals: Mapping[str, float] = field(default_factory=dict)  # other campaigns' pacer minutes on it


@dataclass(frozen=True)
class Candidate:
    key: str  # the enrollment's item key, unique in the tick
    recipient_domain: str
    # A `sendAsReply` follow-up: the mailbox that sent the thread. While it is usable (in the pool, active, connected,
    # sending enabled) the follow-up goes from it or waits for it; only when it is gone does rotation pick another.
    thread_mailbox: str | None = None


# The verdicts that mean a thread's mailbox is gone for this campaign (not merely busy).
_GONE = frozenset({eligibility.Reason.INACTIVE_ON_CAMPAIGN, eligibility.Reason.NOT_CONNECTED})
_GONE |= {eligibility.Reason.SENDING_DISABLED}


def sticks_to(candidate: Candidate, verdicts: Mapping[str, eligibility.Eligible | eligibility.Reason]) -> bool:
    """Pure: does the candidate stay with its thread's mailbox (which must be in the pool and usable)?"""
    mailbox = candidate.thread_mailbox
    return mailbox is not None and mailbox in verdicts and verdicts[mailbox] not in _GONE


@dataclass(frozen=True)
class Assignment:
    key: str
    mailbox_id: str
    slot: datetime


@dataclass(frozen=True)
class Deferral:
    key: str
    until: datetime | None  # None: stays due (re-read next tick)
    reason: str


@dataclass
class MailboxPlan:
    mailbox_id: str
    sends: int = 0
    domains: dict[str, int] = field(default_factory=dict)
    next_allowed_at: datetime | None = None
    last_slot: datetime | None = None
    reached_daily_limit: bool = False
    domains_at_limit: list[str] = field(default_factory=list)


@dataclass
class Plan:
    assignments: list[Assignment] = field(default_factory=list)
    deferrals: list[Deferral] = field(default_factory=list)
    mailboxes: dict[str, MailboxPlan] = field(default_factory=dict)
    last_mailbox: str | None = None

    def per_mailbox(self) -> dict[str, int]:
        return {m: p.sends for m, p in self.mailboxes.items() if p.sends}


@dataclass(frozen=True)
class CampaignContext:
    campaign_id: str
    enrollment_seed: str
    settings: CampaignSettings
    day: CampaignDay
    workspace_timezone: str = "UTC"


def pacer_interval(minutes: float, others: Mapping[str, float]) -> timedelta:
    """Inventory 4.3: the longest interval among the campaigns (and warmup) sharing the mailbox wins."""
    return eligibility.pacer_interval([minutes, *others.values()])


def active_intervals(raw: str | None, now: datetime) -> dict[str, float]:
    """The `intervals` JSON kept on a mailbox's state: {campaign id: [minutes, last seen iso]}, recent only."""
    if not raw:
        return {}
    found: dict[str, float] = {}
    for cid, (minutes, seen) in json.loads(raw).items():
        if now - datetime.fromisoformat(seen) < PACER_MEMORY:
            found[cid] = float(minutes)
    return found


class _Mailbox:
    """A pool mailbox's running counts while the tick assigns sends to it."""

    def __init__(self, pool: PoolMailbox, ctx: CampaignContext, now: datetime) -> None:
        self.pool = pool
        self.ctx = ctx
        mailbox_day = eligibility.day_key(now, ctx.workspace_timezone)
        sent, warmup, domains = pool.state.today(mailbox_day)
        self.sent, self.warmup, self.domains = sent, warmup, domains
        self.campaign_mailbox_sent = ctx.day.mailboxes.get(pool.mailbox_id, 0)
        self.interval = pacer_interval(ctx.settings.minutes_between_sends, pool.intervals)
        start = pool.state.next_allowed_at or now
        if pool.state.last_send_at is not None:
            start = max(start, pool.state.last_send_at + self.interval)
        self.next_slot = max(now, start)
        self.plan = MailboxPlan(pool.mailbox_id)

    def snapshot(self, now: datetime, campaign_sent: int, domain: str) -> eligibility.Snapshot:
        s = self.ctx.settings
        return eligibility.Snapshot(
            now=now,
            active_on_campaign=self.pool.active_on_campaign,
            mailbox_status=self.pool.status,
            sending_enabled=self.pool.sending_enabled,
            mailbox_daily_limit=self.pool.daily_limit,
            mailbox_sent_today=self.sent,
            campaign_daily_limit=s.daily_send_limit,
            campaign_sent_today=campaign_sent,
            campaign_mailbox_limit=self.pool.campaign_mailbox_limit,
            campaign_mailbox_sent_today=self.campaign_mailbox_sent,
            warmup_sent_today=self.warmup,
            recipient_domain_limit=s.recipient_domain_daily_limit,
            recipient_domain_sent_today=self.domains.get(domain, 0),
            backoff_until=self.pool.state.backoff.until,
            host_circuit_open_until=self.pool.circuit.open_until,
            campaign_timezone=s.timezone,
            workspace_timezone=self.ctx.workspace_timezone,
        )

    def take(self, domain: str) -> datetime:
        slot = self.next_slot
        self.sent += 1
        self.campaign_mailbox_sent += 1
        self.domains[domain] = self.domains.get(domain, 0) + 1
        self.plan.sends += 1
        self.plan.domains[domain] = self.plan.domains.get(domain, 0) + 1
        self.next_slot = slot + self.interval
        self.plan.next_allowed_at = self.next_slot
        self.plan.last_slot = slot
        if self.sent == min(self.pool.daily_limit, eligibility.HARD_CAP - self.warmup):
            self.plan.reached_daily_limit = True
        if self.domains[domain] == self.ctx.settings.recipient_domain_daily_limit:
            self.plan.domains_at_limit.append(domain)
        return slot


def plan_campaign(
    ctx: CampaignContext,
    pool: Sequence[PoolMailbox],
    candidates: Sequence[Candidate],
    now: datetime,
    schedule: windows.Schedule,
) -> Plan:
    """Assign each candidate (oldest due first) a mailbox by the campaign's rotation mode among the mailboxes
    eligible for it, at the mailbox's next pacer slot within this tick's horizon; defer the rest."""
    mailboxes = {p.mailbox_id: _Mailbox(p, ctx, now) for p in pool}
    entries = [
        rotation.PoolEntry(p.mailbox_id, max(rotation.MIN_WEIGHT, min(p.weight, rotation.MAX_WEIGHT))) for p in pool
    ]
    plan = Plan(last_mailbox=ctx.day.last_mailbox)
    campaign_sent = ctx.day.sent
    horizon = now + HORIZON
    for candidate in candidates:
        eligible: list[str] = []
        blocked: dict[str, tuple[eligibility.Reason | str, datetime | None]] = {}
        verdicts: dict[str, eligibility.Eligible | eligibility.Reason] = {}
        for mailbox_id, box in mailboxes.items():
            snap = box.snapshot(now, campaign_sent, candidate.recipient_domain)
            verdict = verdicts[mailbox_id] = eligibility.check(snap)
            if isinstance(verdict, eligibility.Eligible):
                if box.next_slot < horizon:
                    eligible.append(mailbox_id)
                else:
                    blocked[mailbox_id] = (eligibility.Reason.PACER, box.next_slot)
            else:
                blocked[mailbox_id] = (verdict, eligibility.blocked_until(snap, verdict))
        if sticks_to(candidate, verdicts):
            # Thread stickiness: only the thread's mailbox may send the follow-up; when busy, wait for it.
            eligible = [m for m in eligible if m == candidate.thread_mailbox]
            blocked = {m: b for m, b in blocked.items() if m == candidate.thread_mailbox}
        blocks = list(blocked.values())
        chosen = None
        if eligible:
            rng = rotation.seeded_rng(ctx.campaign_id, candidate.key, ctx.enrollment_seed)
            chosen = rotation.choose(
                ctx.settings.rotation_mode, entries, eligible, last_used=plan.last_mailbox, rng=rng
            )
        if chosen is not None:
            box = mailboxes[chosen]
            slot = box.take(candidate.recipient_domain)
            plan.mailboxes[chosen] = box.plan
            campaign_sent += 1
            plan.last_mailbox = chosen
            plan.assignments.append(Assignment(candidate.key, chosen, slot))
            continue
        plan.deferrals.append(_defer(candidate.key, blocks, now, schedule))
    return plan


def _defer(
    key: str,
    blocks: Sequence[tuple[eligibility.Reason | str, datetime | None]],
    now: datetime,
    schedule: windows.Schedule,
) -> Deferral:
    """No mailbox now. Soon (pacer, backoff, an open circuit): stay due. Later (a daily cap): move to when the
    earliest block lifts, inside the window. Nothing usable at all: an hour later (inventory 10.3)."""
    lifting = [(until, str(reason)) for reason, until in blocks if until is not None]
    if not lifting:
        reason = str(blocks[0][0]) if blocks else "no_mailbox"
        return Deferral(key, windows.reschedule_without_mailbox(now, schedule), reason)
    until, reason = min(lifting)
    if until - now <= LEAVE_DUE_WITHIN:
        return Deferral(key, None, reason)
    return Deferral(key, windows.clamp(until, schedule) or until, reason)


def needs_interval(raw: str | None, campaign_id: str, minutes: float, now: datetime) -> bool:
    """Should this campaign (re)register its pacer interval on a mailbox it did not send from this tick? When the
    entry is missing, changed, or half-way to being forgotten: a campaign that has not sent from a mailbox yet
    still slows the others down from its first tick."""
    if not raw:
        return True
    entry = json.loads(raw).get(campaign_id)
    if entry is None or float(entry[0]) != minutes:
        return True
    return now - datetime.fromisoformat(str(entry[1])) > PACER_MEMORY / 2


def next_interval_state(raw: str | None, campaign_id: str, minutes: float, now: datetime) -> str:
    """The mailbox's `intervals` JSON after this campaign planned on it at `now`."""
    data: dict[str, list[object]] = json.loads(raw) if raw else {}
    data = {
        cid: value
        for cid, value in data.items()
        if now - datetime.fromisoformat(str(value[1])) < PACER_MEMORY  # forget campaigns that stopped using it
    }
    data[campaign_id] = [minutes, now.isoformat()]
    return json.dumps(data, separators=(",", ":"), sort_keys=True)
