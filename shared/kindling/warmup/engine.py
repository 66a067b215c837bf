"""The warmup engine's tick (EventBridge, every 15 minutes) and the pool domains' check (every 2 hours).

Once an hour the tick adds connected mailboxes whose warmup was turned on to the platform pool (`pool_index`,
warmup-enabled connected mailboxes of every workspace). Per tick, for every mailbox of the pool:
1. a mailbox that was deleted, disconnected or had warmup turned off leaves the pool;
2. the first tick of a new local day (the warmup window's timezone, the workspace's by default) moves the
   ramp one day (`ramp.next_day`, with the latest health score); only the tick that moves the mailbox's tick
   mark to the new day does it, so concurrent ticks never move a ramp twice;
3. the health score is recomputed over the rolling 7 days when it is missing or 6 hours old, and Recovery is
   entered or left (`ramp.apply_health`); each transition is recorded with its reason. A pinned strategy
   (`warmup_strategy` other than auto) keeps its strategy: only the ramp days and the score move;
4. the day's plan is `planner.plan_sends` for the whole local day (seeded by mailbox and day, so every tick
   sees the same plan) with the day's effective limit (target, strategy volume, hard cap);
5. the planned sends due within the next `HORIZON` and not claimed yet are paired with peers
   (`pool.select_peers`: other workspace first, new pair, other provider, least loaded; low-health,
   blocklisted and MX-failing domains excluded, at most each recipient's share), then each sender's sends
   are claimed on its tick mark, reserved on the sending engine's mailbox state (warmup count, the pacer's
   next allowed time and last slot, the 500/day hard cap checked against campaign + warmup sends) and
   queued on the send queue as `WarmupSendMessage`s, one exchange item each. A send whose pacer slot falls
   beyond the horizon, or that the hard cap refuses, stays unclaimed for a later tick.

The tick reads its members in BatchGetItems (100 keys each): every member's mailbox, tick mark and warmup state,
then, when sends are due, the due members' sending engine states and every member's day row of today (received
counts for peer selection). A member's day rows are queried only for its health recomputation. Keys of a failed
batch request are read one by one, so a failure stays the failure of the members it concerns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from kindling.auth.repository import AuthRepository
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository, mailbox_of_raw
from kindling.platform.clock import Clock, get_clock, isoformat
from kindling.platform.errors import NotFound
from kindling.platform.keys import mailbox_key, warmup_day_key, warmup_state_key, warmup_tick_key
from kindling.platform.observability import get_logger
from kindling.sending import eligibility, planning
from kindling.sending.messages import SqsSendQueue
from kindling.sending.repository import MailboxState, SendingRepository, mailbox_state_from_raw
from kindling.warmup.blocklist import WarmupBlocklistRepository
from kindling.warmup.content import exchange_id
from kindling.warmup.counters import WINDOW_DAYS
from kindling.warmup.health import band_for, health_score, recompute_due
from kindling.warmup.messages import WarmupQueue, WarmupSendMessage
from kindling.warmup.models import DayRow, WarmupState, as_speed
from kindling.warmup.planner import (
    HARD_CAP,
    PACER_KEY,
    WARMUP_PACER_MINUTES,
    WarmupWindow,
    day_bounds,
    plan_rng,
    plan_sends,
)
from kindling.warmup.pool import PoolMember, select_peers
from kindling.warmup.pool_index import Exchange, TickMark, WarmupPoolRepository, tick_mark_of
from kindling.warmup.protection import (
    DnsLookup,
    PoolExclusions,
    SmtpProbe,
    apply_round,
    check_domains,
    check_due,
    domain_of,
    smtp_probe,
)
from kindling.warmup.ramp import Transition, apply_health, next_day
from kindling.warmup.repository import WarmupRepository, day_row_of, state_of
from kindling.warmup.seeds import seeded_rng
from kindling.warmup.service import WarmupService, local_today
from kindling.warmup.stats import effective_daily_limit

HORIZON = timedelta(minutes=15)  # the tick's rate: a tick queues what falls due before the next one
REFRESH_MINUTES = 15  # ticks starting in the first 15 minutes of an hour refresh the pool (once an hour)
BATCH_KEYS = 100  # keys per BatchGetItem call: a failed call sends only its own keys back to one-by-one reads
Key = tuple[str, str]


# --- pure rules --------------------------------------------------------------------------------------------------
def refresh_state(
    state: WarmupState, rows: Sequence[DayRow], *, today: date, new_day: bool, speed_name: str, now: datetime
) -> tuple[WarmupState, tuple[Transition, ...]]:
    """The state after a new local day (`new_day`) and a due health recomputation, with the transitions."""
    speed = as_speed(speed_name)
    health = health_score([row.counters for row in rows], today, WINDOW_DAYS)
    ramp = state.ramp_state(speed)
    transitions: list[Transition] = []
    if new_day and state.started_at is not None:
        step = next_day(ramp, health.score)
        ramp = step.state
        transitions += step.transitions
    recomputed = recompute_due(state.health_computed_at, now)
    if recomputed and not new_day:
        step = apply_health(ramp, health.score)
        ramp = step.state
        transitions += step.transitions
    if state.strategy_override is not None:  # pinned: the days move, the strategy does not
        ramp = ramp.__class__(
            strategy=state.strategy,
            speed=ramp.speed,
            ramp_day=ramp.ramp_day,
            maintenance_day=ramp.maintenance_day,
            resume_strategy=state.resume_strategy,
        )
        transitions = []
    update: dict[str, Any] = {
        "strategy": ramp.strategy,
        "ramp_day": ramp.ramp_day,
        "maintenance_day": ramp.maintenance_day,
        "resume_strategy": ramp.resume_strategy,
    }
    if recomputed or new_day:
        update.update(
            health_score=health.score,
            health_band=None if health.score is None else band_for(health.score),
            health_computed_at=now,
        )
    if transitions:
        update.update(strategy_reason=transitions[-1].reason, strategy_changed_at=now)
    return state.model_copy(update=update), tuple(transitions)


def pace(times: Sequence[datetime], earliest: datetime, interval: timedelta) -> list[datetime]:
    """Send slots: each at its planned time, but never before `earliest` nor within `interval` of the previous."""
    slots: list[datetime] = []
    for planned in times:
        slot = max(planned, earliest if not slots else slots[-1] + interval)
        slots.append(slot)
    return slots


# --- the tick ----------------------------------------------------------------------------------------------------
@dataclass
class WarmupTickReport:
    joined: int = 0
    members: int = 0
    removed: int = 0
    planned_today: int = 0
    due: int = 0
    enqueued: int = 0
    unmatched: int = 0
    # Sender id -> its due sends no eligible peer could take this tick (they stay due for the next tick), and pool
    # member id -> why it could not receive: what explains a day's shortfall against its plan.
    unmatched_by_mailbox: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    waiting: int = 0  # pacer beyond the horizon, hard cap, or a lost race: a later tick
    health_recomputed: int = 0
    transitions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class _Sender:
    member: PoolMember
    mailbox: Mailbox
    today: date
    mark: TickMark
    due: list[tuple[int, datetime]]  # (index in the day's plan, planned time)
    sending: MailboxState  # the sending engine's state of the mailbox, as read this tick


@dataclass
class _Planned:
    """A member after its day's plan, before the sending engine's state caps its due sends."""

    mailbox: Mailbox
    state: WarmupState
    today: date
    mark: TickMark
    due: list[tuple[int, datetime]]
    rows: list[DayRow] | None  # the day rows when this tick read them (a health recomputation)


@dataclass
class _Batch:
    """Raw items of the tick's BatchGetItem reads; keys whose request failed are read one by one instead."""

    found: dict[Key, dict[str, Any]] = field(default_factory=dict)
    failed: set[Key] = field(default_factory=set)


class WarmupEngine:
    def __init__(
        self,
        pool: WarmupPoolRepository | None = None,
        warmup: WarmupRepository | None = None,
        service: WarmupService | None = None,
        mailboxes: MailboxRepository | None = None,
        workspaces: AuthRepository | None = None,
        sending: SendingRepository | None = None,
        queue: WarmupQueue | None = None,
        clock: Clock | None = None,
        horizon: timedelta = HORIZON,
    ) -> None:
        self._pool = pool or WarmupPoolRepository()
        self._warmup = warmup or WarmupRepository()
        self._mailboxes = mailboxes or MailboxRepository()
        self._workspaces = workspaces or AuthRepository()
        self._service = service or WarmupService(self._warmup, self._mailboxes, self._workspaces, clock=clock)
        self._sending = sending or SendingRepository()
        self._queue = queue or SqsSendQueue()
        self._clock = clock
        self._horizon = horizon
        self._timezones: dict[str, str] = {}

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    # --- pool membership ---------------------------------------------------------------------------------------
    def sync_member(self, mailbox: Mailbox) -> bool:
        """Put the mailbox in the pool when warmup runs on it, take it out otherwise; True when in the pool."""
        if not mailbox.warms_up:
            self._pool.remove(mailbox.workspace_id, mailbox.id)
            return False
        state = self._warmup.get(mailbox.workspace_id, mailbox.id)
        if state.started_at is None:
            state = self._service.save_engine_state(
                mailbox.workspace_id, mailbox.id, lambda s: s.model_copy(update={"started_at": self._now()})
            )
        self._pool.upsert(self._member(mailbox, state.health_score))
        return True

    @staticmethod
    def _member(mailbox: Mailbox, score: int | None, received_today: int = 0) -> PoolMember:
        return PoolMember(
            workspace_id=mailbox.workspace_id,
            mailbox_id=mailbox.id,
            domain=domain_of(mailbox.email_address),
            provider=mailbox.provider,
            health_score=score,
            received_today=received_today,
        )

    def _timezone(self, workspace_id: str, state: WarmupState) -> str:
        if state.timezone:
            return state.timezone
        if workspace_id not in self._timezones:
            self._timezones[workspace_id] = self._workspaces.get_workspace(workspace_id).timezone
        return self._timezones[workspace_id]

    def refresh_pool(self) -> int:
        """Add the connected mailboxes with warmup on that are not in the pool yet (warmup turned on through the
        API, the bulk job or the connection checker); returns how many joined. Leaving is the tick's job."""
        listed = {(m.workspace_id, m.mailbox_id) for m in self._pool.members()}
        joined = 0
        for ws, mid in self._mailboxes.connected_mailboxes():
            if (ws, mid) in listed:
                continue
            try:
                mailbox = self._mailboxes.get(ws, mid)
            except NotFound:
                continue
            if mailbox.warmup_enabled and self.sync_member(mailbox):
                joined += 1
        return joined

    # --- tick --------------------------------------------------------------------------------------------------
    def tick(self) -> WarmupTickReport:
        now = self._now()
        report = WarmupTickReport()
        if now.minute < REFRESH_MINUTES:  # the first tick of every hour looks for mailboxes that joined
            try:
                report.joined = self.refresh_pool()
            except Exception as exc:
                get_logger().exception("warmup pool refresh failed")
                report.errors.append(f"pool refresh: {exc.__class__.__name__}")
        listed_members = self._pool.members()
        report.members = len(listed_members)
        # Every member's mailbox, tick mark and warmup state in a few BatchGetItems, not three reads each.
        first = self._batch_read(
            [
                key
                for m in listed_members
                for key in (
                    mailbox_key(m.workspace_id, m.mailbox_id),
                    warmup_tick_key(m.workspace_id, m.mailbox_id),
                    warmup_state_key(m.workspace_id, m.mailbox_id),
                )
            ]
        )
        planned: list[_Planned] = []
        for listed in listed_members:
            try:
                found = self._prepare(listed, now, report, first)
            except Exception as exc:  # one mailbox's failure never stops the others
                get_logger().exception("warmup tick failed for a mailbox", extra={"mailbox_id": listed.mailbox_id})
                report.errors.append(f"{listed.mailbox_id}: {exc.__class__.__name__}")
                continue
            if found is not None:
                planned.append(found)
        # Peer selection weighs today's received count of every member, so only a tick with sends reads it.
        any_due = any(p.due for p in planned)
        second = self._batch_read(
            [
                key
                for p in planned
                for key in (
                    *([SendingRepository.mailbox_state_key(p.mailbox.workspace_id, p.mailbox.id)] if p.due else []),
                    *(
                        [warmup_day_key(p.mailbox.workspace_id, p.mailbox.id, p.today)]
                        if any_due and p.rows is None
                        else []
                    ),
                )
            ]
        )
        pool: list[PoolMember] = []
        senders: list[_Sender] = []
        mailboxes: dict[str, Mailbox] = {}
        for entry in planned:
            try:
                member, sender = self._cap(entry, now, report, second, any_due)
            except Exception as exc:
                get_logger().exception("warmup tick failed for a mailbox", extra={"mailbox_id": entry.mailbox.id})
                report.errors.append(f"{entry.mailbox.id}: {exc.__class__.__name__}")
                continue
            pool.append(member)
            mailboxes[member.mailbox_id] = sender.mailbox
            if sender.due:
                senders.append(sender)
        if not senders:
            return report
        exclusions = PoolExclusions(WarmupBlocklistRepository().blocklist(), self._pool.domain_health())
        by_id = {m.mailbox_id: m for m in pool}
        selection = select_peers(
            [(by_id[s.member.mailbox_id], len(s.due)) for s in senders],
            pool,
            seeded_rng("warmup-peers", isoformat(now)),
            domain_excluded=exclusions,
        )
        report.unmatched = sum(selection.unmatched.values())
        report.unmatched_by_mailbox = dict(selection.unmatched)
        report.excluded = dict(selection.excluded)
        recipients: dict[str, list[str]] = {}
        for pair in selection.pairs:
            recipients.setdefault(pair.sender_id, []).append(pair.recipient_id)
        for sender in senders:
            chosen = recipients.get(sender.member.mailbox_id, [])
            if not chosen:
                continue
            try:
                self._dispatch(sender, [mailboxes[r] for r in chosen], now, report)
            except Exception as exc:
                get_logger().exception("warmup sends failed", extra={"mailbox_id": sender.member.mailbox_id})
                report.errors.append(f"{sender.member.mailbox_id}: {exc.__class__.__name__}")
        return report

    def _batch_read(self, keys: list[Key]) -> _Batch:
        batch = _Batch()
        for start in range(0, len(keys), BATCH_KEYS):
            chunk = keys[start : start + BATCH_KEYS]
            try:
                batch.found.update(self._sending.get_raw(chunk))
            except Exception:  # its members are read one by one: a failed request never costs the whole pool
                get_logger().exception("warmup tick batch read failed", extra={"keys": len(chunk)})
                batch.failed.update(chunk)
        return batch

    def _prepare(self, listed: PoolMember, now: datetime, report: WarmupTickReport, batch: _Batch) -> _Planned | None:
        ws, mid = listed.workspace_id, listed.mailbox_id
        key = mailbox_key(ws, mid)
        try:
            if key in batch.failed:
                mailbox = self._mailboxes.get(ws, mid)
            else:
                mailbox = mailbox_of_raw(ws, mid, batch.found.get(key))
        except NotFound:
            self._pool.remove(ws, mid)
            report.removed += 1
            return None
        if not mailbox.warms_up:
            self._pool.remove(ws, mid)
            report.removed += 1
            return None
        rows: list[DayRow] | None = None
        if warmup_state_key(ws, mid) in batch.failed:
            state, rows = self._warmup.load(ws, mid)
        else:
            state = state_of(ws, mid, batch.found.get(warmup_state_key(ws, mid)))
        timezone = self._timezone(ws, state)
        today = local_today(now, timezone)
        if warmup_tick_key(ws, mid) in batch.failed:
            mark = self._pool.tick_mark(ws, mid)
        else:
            mark = tick_mark_of(batch.found.get(warmup_tick_key(ws, mid)))
        new_day = False
        if mark.day != today:
            fresh = TickMark(today, 0)
            if self._pool.claim(ws, mid, mark, today, 0):
                new_day = mark.day is not None
                mark = fresh
            else:
                mark = self._pool.tick_mark(ws, mid)
        if new_day or recompute_due(state.health_computed_at, now):
            if rows is None:  # the health score needs the day rows: only now are they queried
                state, rows = self._warmup.load(ws, mid)
            report.health_recomputed += 1
            moved: list[Transition] = []
            day_rows = rows  # narrowed, for the closure

            def change(current: WarmupState) -> WarmupState:
                updated, transitions = refresh_state(
                    current, day_rows, today=today, new_day=new_day, speed_name=mailbox.warmup_type, now=now
                )
                moved[:] = transitions
                return updated

            state = self._service.save_engine_state(ws, mid, change, known=(state, mailbox))
            report.transitions += [f"{mid}: {t.from_strategy}->{t.to_strategy} ({t.reason})" for t in moved]
        if state.health_score != listed.health_score:
            self._pool.upsert(self._member(mailbox, state.health_score))
        limit = effective_daily_limit(
            warmup_enabled=True,
            connected=True,
            target=state.target_daily_volume,
            state=state.ramp_state(as_speed(mailbox.warmup_type)),
            campaign_sent_today=0,  # the hard cap is checked at reservation against the live counts
        )
        window = WarmupWindow(state.window_start_hour, state.window_end_hour, timezone)
        day_start, day_end = day_bounds(today, timezone)
        plan = plan_sends(
            limit=limit.limit,
            warmup_sent_today=0,
            campaign_sent_today=0,
            window=window,
            day_start=day_start,
            day_end=day_end,
            now=day_start,
            pacer_interval=timedelta(minutes=WARMUP_PACER_MINUTES),
            last_sent_at=None,
            rng=plan_rng(mid, today),
        )
        report.planned_today += plan.count
        due = [(i, t) for i, t in enumerate(plan.times) if i >= mark.claimed and t <= now + self._horizon]
        if not mailbox.sending_enabled:  # paused sending: it still receives (and answers) warmup mail
            due = []
        return _Planned(mailbox, state, today, mark, due, rows)

    def _cap(
        self, entry: _Planned, now: datetime, report: WarmupTickReport, batch: _Batch, any_due: bool
    ) -> tuple[PoolMember, _Sender]:
        """The member as peer selection sees it, and its due sends within the 500/day hard cap."""
        mailbox, today = entry.mailbox, entry.today
        ws, mid = mailbox.workspace_id, mailbox.id
        rows = entry.rows
        if rows is None and any_due:
            row_key = warmup_day_key(ws, mid, today)
            if row_key in batch.failed:
                _, rows = self._warmup.load(ws, mid)
            else:
                row = day_row_of(batch.found.get(row_key))
                rows = [row] if row is not None else []
        received_today = sum(r.counters.received for r in rows or [] if r.counters.day == today)
        member = self._member(mailbox, entry.state.health_score, received_today)
        due = entry.due
        sending = MailboxState(mid)
        if due:
            sending_key = SendingRepository.mailbox_state_key(ws, mid)
            if sending_key in batch.failed:
                sending = self._sending.mailbox_state(ws, mid)
            else:
                raw = batch.found.get(sending_key)
                sending = mailbox_state_from_raw(mid, raw)
        campaign, warm, _ = sending.today(eligibility.day_key(now, "UTC"))
        room = max(0, HARD_CAP - campaign - warm)
        if len(due) > room:  # the 500/day hard cap: no peer is asked for sends it will not allow
            report.waiting += len(due) - room
            due = due[:room]
        report.due += len(due)
        return member, _Sender(member, mailbox, today, entry.mark, due, sending)

    def _dispatch(self, sender: _Sender, recipients: list[Mailbox], now: datetime, report: WarmupTickReport) -> None:
        mailbox = sender.mailbox
        ws, mid = mailbox.workspace_id, mailbox.id
        state = sender.sending
        warmup_day_key = eligibility.day_key(now, "UTC")  # the sending engine's mailbox day
        campaign, warm, _ = state.today(warmup_day_key)
        room = max(0, HARD_CAP - campaign - warm)
        others = planning.active_intervals(state.intervals, now)
        others.pop(PACER_KEY, None)
        interval = planning.pacer_interval(WARMUP_PACER_MINUTES, others)
        earliest = max(now, state.next_allowed_at or now)
        wanted = sender.due[: len(recipients)]
        slots = pace([t for _, t in wanted], earliest, interval)
        keep = [slot for slot in slots if slot <= now + self._horizon][:room]
        report.waiting += len(sender.due) - len(keep)
        if not keep:
            return
        count = len(keep)
        claimed = sender.mark.claimed + count
        if not self._pool.claim(ws, mid, sender.mark, sender.today, claimed):
            report.waiting += count
            return
        reserved = self._sending.reserve_mailbox(
            ws,
            state,
            warmup_day_key,
            sends=0,
            domains={},
            warmup=count,
            next_allowed_at=keep[-1] + interval,
            last_slot=keep[-1],
            intervals=planning.next_interval_state(state.intervals, PACER_KEY, WARMUP_PACER_MINUTES, now),
        )
        if not reserved:  # a campaign reservation got there first: give the claim back, next tick
            self._pool.claim(ws, mid, TickMark(sender.today, claimed), sender.today, sender.mark.claimed)
            report.waiting += count
            return
        jobs: list[WarmupSendMessage] = []
        for (index, _), slot, recipient in zip(wanted[:count], keep, recipients, strict=False):
            exchange = exchange_id(mid, sender.today, index)
            self._pool.create_exchange(
                Exchange(exchange, ws, mid, recipient.id, sender.today, "queued"),
                now,
            )
            jobs.append(
                WarmupSendMessage(
                    exchange_id=exchange,
                    workspace_id=ws,
                    mailbox_id=mid,
                    day=sender.today,
                    recipient=recipient.email_address,
                    recipient_name=recipient.display_name,
                    from_address=mailbox.email_address,
                    from_name=mailbox.display_name,
                    send_at=slot,
                    queued_at=now,
                )
            )
        self._queue.send(jobs, now)
        report.enqueued += len(jobs)

    # --- protection: the pool domains' MX + SMTP check ---------------------------------------------------------
    def check_pool_domains(
        self, lookup: DnsLookup, probe: SmtpProbe = smtp_probe, *, port: int = 25, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Check every pool domain whose last check is 2 hours old; exclude failing ones, restore passing ones."""
        now = self._now()
        previous = self._pool.domain_health()
        domains = sorted({m.domain for m in self._pool.members()})
        due = [d for d in domains if check_due(previous.get(d), now)]
        checks = check_domains(due, lookup=lookup, probe=probe, now=now, port=port, timeout=timeout)
        outcome = apply_round(previous, checks)
        for check in checks:
            if not check.skipped:
                self._pool.save_domain_health(outcome.states[check.domain])
        return {
            "checked": len([c for c in checks if not c.skipped]),
            "skipped": len([c for c in checks if c.skipped]),
            "excluded": list(outcome.excluded),
            "restored": list(outcome.restored),
            "suspected_local_outage": outcome.suspected_local_outage,
        }
