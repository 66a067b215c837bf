"""The scheduler tick (EventBridge rate(1 minute)): find what is due, claim it, hand it to the send queue.

Per tick:
1. campaigns whose start or end date came move (CampaignService.advance_due);
2. watched campaigns: parked enrollments go back to their shard once the campaign runs; cooldown re-checks;
3. each due shard is queried up to now (`DUE#SEND#<nn>`): the cost follows what is due, not what is enrolled;
4. per campaign: one read of the campaign and its mailboxes, one BatchGetItem for the ledger items, prospects,
   suppression entries and counters of all its due enrollments; the rules decide (kindling.sending.planning);
   one optimistic write per mailbox and one per campaign reserve today's counts and the pacer; one conditional
   put per send creates its ledger item (the claim); the rendered jobs go to the send queue, 10 per request.

An enrollment is not written when it is claimed: it stays due until the sender's final write moves it on, and a
tick that meets it meanwhile finds its ledger item in flight (kindling.sending.watchdog decides what to do).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from kindling.campaigns.models import CampaignRecord, StepRecord, VariantRecord, assign_variant
from kindling.campaigns.repository import CampaignRepository
from kindling.campaigns.service import CampaignService
from kindling.enrollments.service import campaign_service
from kindling.events.catalog import emit_event
from kindling.events.service import EventService
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.platform import keys, table
from kindling.platform.clock import Clock, get_clock, isoformat
from kindling.platform.errors import NotFound
from kindling.platform.keys import prospect_email_pk, prospect_pk, send_pk, suppressed_domain_pk
from kindling.platform.observability import get_logger
from kindling.prospects.fields import email_domain
from kindling.prospects.repository import ProspectRepository, email_record_from_raw, prospect_from_raw
from kindling.rendering import build_context, compile_template, render_email
from kindling.sending import eligibility, planning, watchdog, windows
from kindling.sending.circuit import HostCircuit, host_key
from kindling.sending.ledger import SendItem, send_id_for
from kindling.sending.messages import SendMessage, SqsSendQueue
from kindling.sending.repository import (
    Advance,
    CampaignDay,
    CampaignDayItem,
    Counters,
    EnrollmentState,
    LedgerFinal,
    SendingRepository,
    campaign_day_of,
    mailbox_state_from_raw,
)
from kindling.sending.rotation import seeded_rng
from kindling.sending.safety import CampaignSafety
from kindling.sending.service import complete_if_finished, current_step
from kindling.suppressions.repository import domain_entry_from_raw
from kindling.suppressions.service import decide

SHARD_LIMIT = 1000  # due enrollments read per shard per tick
# Wall-clock budget of one tick (the function's timeout is 60 s): campaigns not reached in time stay due and are
# the next tick's work.
TICK_BUDGET_SECONDS = 40.0
WATCH_LIMIT = 200
PARK_PAGE = 500
WORKSPACE_TIMEZONE = "UTC"  # decisions.md: mailbox counters count per day in the workspace's timezone (UTC default)
TERMINAL = frozenset({"completed", "errored"})


class SendQueue(Protocol):
    def send(self, jobs: Sequence[SendMessage], now: datetime) -> None: ...


@dataclass
class TickReport:
    due: int = 0
    campaigns: int = 0
    claimed: int = 0
    enqueued: int = 0
    waiting: int = 0  # blocked briefly (pacer, backoff, in flight): stays due
    rescheduled: int = 0
    parked: int = 0
    unparked: int = 0
    retired: int = 0
    stopped: int = 0
    completed: int = 0
    recovered: int = 0
    failed_stuck: int = 0
    resolved_unknown: int = 0
    limit_events: int = 0
    deferred_campaigns: int = 0  # not reached within the tick's budget: next tick
    handed_to_linkedin: int = 0  # at a LinkedIn step: moved to the LinkedIn scheduler's shards
    errors: list[str] = field(default_factory=list)


@dataclass
class _Due:
    item: EnrollmentState
    step: StepRecord | None = None
    send_id: str = ""
    ledger: SendItem | None = None
    prospect: dict[str, Any] | None = None
    custom: dict[str, Any] = field(default_factory=dict)


def _campaign_of(item: EnrollmentState) -> tuple[str, str]:
    return item.pk.split("#", 1)[0], item.campaign_id


class Scheduler:
    def __init__(
        self,
        repository: SendingRepository | None = None,
        campaigns: CampaignRepository | None = None,
        mailboxes: MailboxRepository | None = None,
        queue: SendQueue | None = None,
        events: EventService | None = None,
        clock: Clock | None = None,
        shard_limit: int = SHARD_LIMIT,
        budget_seconds: float = TICK_BUDGET_SECONDS,
    ) -> None:
        self._repo = repository or SendingRepository()
        self._campaigns = campaigns or CampaignRepository()
        self._mailboxes = mailboxes or MailboxRepository()
        self._queue = queue or SqsSendQueue()
        self._events = events
        self._clock = clock
        self._shard_limit = shard_limit
        self._budget = budget_seconds
        self._campaign_service: CampaignService | None = None

    @property
    def campaign_service(self) -> CampaignService:
        if self._campaign_service is None:
            self._campaign_service = campaign_service(repository=self._campaigns, mailboxes=self._mailboxes)
        return self._campaign_service

    def _event_service(self) -> EventService:
        if self._events is None:
            self._events = EventService()
        return self._events

    # --- the tick ------------------------------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> TickReport:
        now = now or (self._clock or get_clock()).now()
        report = TickReport()
        self.campaign_service.advance_due(now)
        self._watch(now, report)
        by_campaign: dict[tuple[str, str], list[EnrollmentState]] = {}
        for shard in keys.send_shards():
            for item in self._repo.due_enrollments(shard, now, self._shard_limit):
                by_campaign.setdefault(_campaign_of(item), []).append(item)
                report.due += 1
        started = time.monotonic()
        for (workspace_id, campaign_id), items in by_campaign.items():
            if time.monotonic() - started > self._budget:
                report.deferred_campaigns += 1
                continue
            report.campaigns += 1
            try:
                self._campaign(workspace_id, campaign_id, items, now, report)
            except Exception as exc:  # one campaign's failure must not starve the others
                get_logger().exception("scheduling a campaign failed", extra={"campaign_id": campaign_id})
                report.errors.append(f"{campaign_id}: {type(exc).__name__}: {exc}")
        return report

    # --- watched campaigns ---------------------------------------------------------------------------------------

    def _watch(self, now: datetime, report: TickReport) -> None:
        watched = self._repo.watched_campaigns(now, WATCH_LIMIT)
        if not watched:
            return
        keys = {(w.pk, table.ITEM_SK): w for w in watched}
        roots = self._repo.get_raw(keys)
        for key, state in keys.items():
            raw = roots.get(key)
            status = str(raw["status"]["S"]) if raw and "status" in raw else None
            ws, cid = state.workspace_id, state.campaign_id
            if status == "cooldown" and state.cooldown_until is not None:
                CampaignSafety(self._repo, self._campaigns).check(ws, cid, now)
                continue
            if status in ("draft", "scheduled", "paused", "cooldown"):
                continue  # still not running: the entry stays due and is looked at again next tick
            for item in self._parked(ws, cid):
                if status == "running":
                    report.unparked += int(self._repo.unpark(item))
                else:  # gone, completed or errored: nothing will send these
                    report.retired += int(self._repo.move_due(item, None))
            self._repo.unwatch_campaign(ws, cid, state.due_sk or "")

    def _parked(self, workspace_id: str, campaign_id: str) -> Iterable[EnrollmentState]:
        while True:
            page = self._repo.parked_enrollments(workspace_id, campaign_id, PARK_PAGE)
            yield from page
            if len(page) < PARK_PAGE:
                return

    # --- one campaign's due enrollments ---------------------------------------------------------------------------

    def _email_steps(self, record: CampaignRecord, dues: list[_Due], now: datetime, report: TickReport) -> list[_Due]:
        """The entries whose next step is an email step; one at a LinkedIn step (multichannel) goes to the LinkedIn
        scheduler's shards (kindling.outreach), due now."""
        kept: list[_Due] = []
        for entry in dues:
            step = current_step(record.steps, int(entry.item.current_step or 0))
            if step is not None and step.is_linkedin:
                report.handed_to_linkedin += int(self._repo.move_due(entry.item, now, linkedin=True))
                continue
            kept.append(entry)
        return kept

    def _campaign(
        self, workspace_id: str, campaign_id: str, items: list[EnrollmentState], now: datetime, report: TickReport
    ) -> None:
        try:
            record = self._campaigns.get(workspace_id, campaign_id)
        except NotFound:
            record = None
        if record is None or record.status in TERMINAL:
            for item in items:
                report.retired += int(self._repo.move_due(item, None))
            return
        if record.status != "running":
            for item in items:
                report.parked += int(self._repo.move_due(item, now, park=(workspace_id, campaign_id)))
            self._repo.watch_campaign(workspace_id, campaign_id, now, parked=True)
            return
        schedule = planning.schedule_of(record.settings)
        dues = self._email_steps(
            record, [_Due(item) for item in sorted(items, key=lambda i: i.due_sk or "")], now, report
        )
        finished = False
        for entry in dues:
            entry.step = current_step(record.steps, int(entry.item.current_step or 0))
            if entry.step is None:  # steps deleted under it: nothing left to send
                if self._repo.set_status(
                    workspace_id, campaign_id, entry.item.prospect_id, entry.item.status, "completed", None, now
                ):
                    report.completed += 1
                    finished = True
                continue
            entry.send_id = send_id_for(entry.item.enrollment_id, entry.step.id)
        live = [e for e in dues if e.step is not None]
        pool_ids = [m.mailbox_id for m in record.mailboxes]
        day = eligibility.day_key(now, record.settings.timezone)
        raw = self._read(workspace_id, campaign_id, live, pool_ids, day)
        candidates: list[_Due] = []
        for entry in live:
            ledger_raw = raw.get(self._repo.ledger_key(workspace_id, entry.send_id))
            entry.ledger = SendItem.from_raw_data(ledger_raw) if ledger_raw else None
            if entry.ledger is not None and self._in_flight(workspace_id, record, entry, now, report):
                continue
            prospect_raw = raw.get((prospect_pk(workspace_id, entry.item.prospect_id), table.ITEM_SK))
            if prospect_raw is None:
                report.stopped += int(self._stop(workspace_id, campaign_id, entry, "stopped", "prospect_deleted", now))
                continue
            prospect = prospect_from_raw(workspace_id, prospect_raw)
            entry.prospect = prospect.model_dump(mode="json", exclude={"workspace_id", "custom_fields"})
            entry.custom = dict(prospect.custom_fields)
            record_raw = raw.get((prospect_email_pk(workspace_id, prospect.email), table.ITEM_SK))
            domain_raw = raw.get((suppressed_domain_pk(workspace_id, email_domain(prospect.email)), table.ITEM_SK))
            email_record = email_record_from_raw(record_raw) if record_raw else None
            check = decide(
                prospect.email,
                email_record,
                domain_entry_from_raw(domain_raw) if domain_raw else None,
            )
            if check.blocked:
                # Suppression at claim time: never claimed, the sequence stops (the sender checks again before SMTP).
                report.stopped += int(self._stop(workspace_id, campaign_id, entry, "suppressed", "suppressed", now))
                continue
            if record.settings.stop_on_reply and email_record is not None and email_record.replied_at is not None:
                # They replied to a campaign (this one or another): a campaign that stops on replies never sends again.
                report.stopped += int(self._stop(workspace_id, campaign_id, entry, "replied", "replied", now))
                continue
            candidates.append(entry)
        if finished:
            complete_if_finished(workspace_id, campaign_id, now, self.campaign_service)
        if not candidates:
            return
        if not windows.in_window(now, schedule):
            for entry in candidates:
                slot = windows.clamp(now, schedule)
                when = slot + windows.jitter(seeded_rng(entry.send_id, "window")) if slot else None
                report.rescheduled += int(self._repo.move_due(entry.item, when))
            return
        mailboxes = self._load_mailboxes(workspace_id, pool_ids)
        circuits = self._repo.host_circuits({m.smtp_host for m in mailboxes.values()})
        pool = self._pool(workspace_id, record, mailboxes, circuits, raw, now)
        ctx = planning.CampaignContext(
            campaign_id=campaign_id,
            enrollment_seed=day,
            settings=record.settings,
            day=self._campaign_day(raw, workspace_id, campaign_id, day),
            workspace_timezone=WORKSPACE_TIMEZONE,
        )
        by_key = {e.item.sk: e for e in candidates}
        plan = planning.plan_campaign(
            ctx,
            pool,
            [planning.Candidate(e.item.sk, email_domain(e.item.email), _thread_mailbox(e)) for e in candidates],
            now,
            schedule,
        )
        for deferral in plan.deferrals:
            if deferral.until is None:
                report.waiting += 1
            else:
                report.rescheduled += int(self._repo.move_due(by_key[deferral.key].item, deferral.until))
        self._register_intervals(workspace_id, record, pool, plan, now)
        if not plan.assignments:
            return
        assignments = self._reserve(workspace_id, record, ctx.day, day, plan, pool, now, report)
        jobs: list[SendMessage] = []
        released: dict[str, list[str]] = {}
        for assignment in assignments:
            entry = by_key[assignment.key]
            job = self._job(
                workspace_id,
                record,
                entry,
                mailboxes[assignment.mailbox_id],
                assignment.slot,
                now,
                schedule,
                token=secrets.token_hex(8),
            )
            if job is None:
                released.setdefault(assignment.mailbox_id, []).append(email_domain(entry.item.email))
                continue
            retry_of = int(entry.ledger.attempts or 0) if entry.ledger is not None else None
            if self._repo.claim(self._ledger_item(job, entry, now), retry_of_attempts=retry_of):
                jobs.append(job)
                report.claimed += 1
            else:
                released.setdefault(assignment.mailbox_id, []).append(email_domain(entry.item.email))
        self._release(workspace_id, campaign_id, day, now, released)
        if jobs:
            self._queue.send(jobs, now)
            report.enqueued += len(jobs)

    # --- reads ---------------------------------------------------------------------------------------------------

    def _read(
        self, workspace_id: str, campaign_id: str, dues: Sequence[_Due], pool_ids: Sequence[str], day: str
    ) -> dict[tuple[str, str], dict[str, Any]]:
        keys: list[tuple[str, str]] = [self._repo.campaign_day_key(workspace_id, campaign_id, day)]
        keys += [self._repo.mailbox_state_key(workspace_id, m) for m in pool_ids]
        for entry in dues:
            email = entry.item.email
            keys += [
                self._repo.ledger_key(workspace_id, entry.send_id),
                (prospect_pk(workspace_id, entry.item.prospect_id), table.ITEM_SK),
                (prospect_email_pk(workspace_id, email), table.ITEM_SK),
                (suppressed_domain_pk(workspace_id, email_domain(email)), table.ITEM_SK),
            ]
        return self._repo.get_raw(keys)

    def _load_mailboxes(self, workspace_id: str, mailbox_ids: Sequence[str]) -> dict[str, Mailbox]:
        found: dict[str, Mailbox] = {}
        for mailbox_id in mailbox_ids:
            try:
                found[mailbox_id] = self._mailboxes.get(workspace_id, mailbox_id)
            except NotFound:
                continue
        return found

    def _campaign_day(
        self, raw: dict[tuple[str, str], dict[str, Any]], workspace_id: str, campaign_id: str, day: str
    ) -> CampaignDay:
        data = raw.get(self._repo.campaign_day_key(workspace_id, campaign_id, day))
        return campaign_day_of(CampaignDayItem.from_raw_data(data) if data else None)

    def _pool(
        self,
        workspace_id: str,
        record: CampaignRecord,
        mailboxes: dict[str, Mailbox],
        circuits: dict[str, HostCircuit],
        raw: dict[tuple[str, str], dict[str, Any]],
        now: datetime,
    ) -> list[planning.PoolMailbox]:
        pool = []
        for member in record.mailboxes:
            mailbox = mailboxes.get(member.mailbox_id)
            if mailbox is None or mailbox.is_deleted:
                continue
            state = mailbox_state_from_raw(
                member.mailbox_id, raw.get(self._repo.mailbox_state_key(workspace_id, member.mailbox_id))
            )
            others = planning.active_intervals(state.intervals, now)
            others.pop(record.campaign_id, None)
            pool.append(
                planning.PoolMailbox(
                    mailbox_id=member.mailbox_id,
                    weight=member.weight,
                    active_on_campaign=member.active,
                    status=mailbox.status,
                    sending_enabled=mailbox.sending_enabled,
                    daily_limit=mailbox.daily_send_limit,
                    campaign_mailbox_limit=member.max_sends_per_mailbox_per_day,
                    smtp_host=mailbox.smtp_host,
                    state=state,
                    circuit=circuits.get(host_key(mailbox.smtp_host), HostCircuit()),
                    intervals=others,
                )
            )
        return pool

    # --- reservations --------------------------------------------------------------------------------------------

    def _reserve(
        self,
        workspace_id: str,
        record: CampaignRecord,
        current: CampaignDay,
        day: str,
        plan: planning.Plan,
        pool: Sequence[planning.PoolMailbox],
        now: datetime,
        report: TickReport,
    ) -> list[planning.Assignment]:
        """Write the plan's counts: the campaign's day first, then each mailbox. A write that lost a race (another
        tick, a warmup send) drops that part of the plan for this tick; those enrollments stay due."""
        cid = record.campaign_id
        if not self._repo.reserve_campaign_day(workspace_id, cid, day, current, plan.per_mailbox(), plan.last_mailbox):
            report.waiting += len(plan.assignments)
            return []
        states = {p.mailbox_id: p.state for p in pool}
        mailbox_day = eligibility.day_key(now, WORKSPACE_TIMEZONE)
        kept: set[str] = set()
        lost: dict[str, int] = {}
        for mailbox_id, mplan in plan.mailboxes.items():
            if not mplan.sends:
                continue
            intervals = planning.next_interval_state(
                states[mailbox_id].intervals, cid, float(record.settings.minutes_between_sends), now
            )
            if self._repo.reserve_mailbox(
                workspace_id,
                states[mailbox_id],
                mailbox_day,
                sends=mplan.sends,
                domains=mplan.domains,
                next_allowed_at=mplan.next_allowed_at,
                intervals=intervals,
                last_slot=mplan.last_slot,
            ):
                kept.add(mailbox_id)
                report.limit_events += self._limit_events(workspace_id, cid, pool, mplan, now)
            else:
                lost[mailbox_id] = mplan.sends
        if lost:
            self._repo.release_campaign_day(workspace_id, cid, day, lost)
        kept_assignments = [a for a in plan.assignments if a.mailbox_id in kept]
        report.waiting += len(plan.assignments) - len(kept_assignments)
        return kept_assignments

    def _register_intervals(
        self,
        workspace_id: str,
        record: CampaignRecord,
        pool: Sequence[planning.PoolMailbox],
        plan: planning.Plan,
        now: datetime,
    ) -> None:
        """The campaign's pacer interval on the pool's mailboxes it does not send from this tick (those it sends
        from get it with their reservation), so the longest interval among campaigns holds from the first tick."""
        minutes = float(record.settings.minutes_between_sends)
        for member in pool:
            state = member.state
            if member.mailbox_id in plan.mailboxes or not planning.needs_interval(
                state.intervals, record.campaign_id, minutes, now
            ):
                continue
            self._repo.register_intervals(
                workspace_id, state, planning.next_interval_state(state.intervals, record.campaign_id, minutes, now)
            )

    def _release(
        self, workspace_id: str, campaign_id: str, day: str, now: datetime, released: dict[str, list[str]]
    ) -> None:
        if not released:
            return
        self._repo.release_campaign_day(workspace_id, campaign_id, day, {m: len(d) for m, d in released.items()})
        mailbox_day = eligibility.day_key(now, WORKSPACE_TIMEZONE)
        for mailbox_id, domains in released.items():
            counts: dict[str, int] = {}
            for domain in domains:
                counts[domain] = counts.get(domain, 0) + 1
            self._repo.release_mailbox(workspace_id, mailbox_id, mailbox_day, len(domains), counts)

    def _limit_events(
        self,
        workspace_id: str,
        campaign_id: str,
        pool: Sequence[planning.PoolMailbox],
        mplan: planning.MailboxPlan,
        now: datetime,
    ) -> int:
        """limit.hit when this tick's sends bring a mailbox to its daily limit (daily_mailbox) or a recipient
        domain to its limit on that mailbox (daily_domain); the catalogue dedups to one per identifier per day."""
        member = next(p for p in pool if p.mailbox_id == mplan.mailbox_id)
        emitted = 0
        events: list[dict[str, Any]] = []
        if mplan.reached_daily_limit:
            limit = min(member.daily_limit, eligibility.HARD_CAP)
            events.append({"limitType": "daily_mailbox", "currentValue": limit, "limitValue": limit})
        for domain in mplan.domains_at_limit:
            events.append(
                {
                    "limitType": "daily_domain",
                    "currentValue": member.state.domains.get(domain, 0) + mplan.domains[domain],
                    "limitValue": member.state.domains.get(domain, 0) + mplan.domains[domain],
                    "domain": domain,
                }
            )
        for data in events:
            data.update(mailboxId=mplan.mailbox_id, campaignId=campaign_id, hitAt=isoformat(now))
            try:
                if emit_event(self._event_service(), workspace_id, "limit.hit", data, now=now) is not None:
                    emitted += 1
            except Exception:  # an event must never cost a send
                get_logger().exception("limit.hit could not be emitted", extra={"data": data})
        return emitted

    # --- in flight -----------------------------------------------------------------------------------------------

    def _in_flight(
        self, workspace_id: str, record: CampaignRecord, entry: _Due, now: datetime, report: TickReport
    ) -> bool:
        """Handle an enrollment whose current step already has a ledger item; False when it is claimable again
        (a failed send awaiting its retry)."""
        ledger = entry.ledger
        assert ledger is not None and entry.step is not None
        item = entry.item
        status = ledger.status
        if status == "failed" and ledger.retryable:
            return False
        if status not in ("queued", "sending"):
            # Settled, but the enrollment never moved past it (the sender's final write did not reach it): move it.
            self._settle(workspace_id, record, entry, ledger.status, now)
            return True
        decision = watchdog.decide(status, ledger.queued_at, ledger.sending_at, int(ledger.recoveries or 0), now)
        if decision == "wait":
            report.waiting += 1
        elif decision == "requeue":
            if self._repo.bump_recoveries(workspace_id, ledger.send_id, int(ledger.recoveries or 0), now):
                job = self._requeue_job(workspace_id, record, entry, now)
                if job is not None:
                    self._queue.send([job], now)
                    report.recovered += 1
        elif decision == "fail":
            if self._repo.cancel_send(workspace_id, ledger.send_id, now, status="failed") and self._repo.set_status(
                workspace_id, record.campaign_id, item.prospect_id, item.status, "failed", watchdog.STUCK_REASON, now
            ):
                report.failed_stuck += 1
                get_logger().error(
                    "send stuck in processing after 3 recoveries: enrollment failed",
                    extra={
                        "event": "stuck_processing_loop",
                        "workspace_id": workspace_id,
                        "campaign_id": record.campaign_id,
                        "prospect_id": item.prospect_id,
                        "send_id": ledger.send_id,
                    },
                )
                complete_if_finished(workspace_id, record.campaign_id, now, self.campaign_service)
        else:  # sending for too long: DATA may have happened; record unknown, never resend, move on
            self._settle(workspace_id, record, entry, "unknown", now, expected="sending")
            report.resolved_unknown += 1
        return True

    def _settle(
        self,
        workspace_id: str,
        record: CampaignRecord,
        entry: _Due,
        status: str,
        now: datetime,
        expected: str | None = None,
    ) -> None:
        ledger = entry.ledger
        assert ledger is not None and entry.step is not None
        went_out = status in ("sent", "unknown", "bounced")
        advance = self._advance_after(
            workspace_id, record, entry, now, message_id=ledger.message_id if went_out else None
        )
        finals = []
        if expected is not None:
            finals.append(
                LedgerFinal(
                    workspace_id,
                    ledger.send_id,
                    status,
                    now,
                    expected=expected,
                    error_code="stuck_in_sending",
                    mailbox_id=ledger.mailbox_id,
                    recipient=ledger.recipient,
                )
            )
        self._repo.finish(finals, [advance] if advance else [], Counters())

    def _advance_after(
        self, workspace_id: str, record: CampaignRecord, entry: _Due, now: datetime, message_id: str | None
    ) -> Advance | None:
        item, step = entry.item, entry.step
        assert step is not None
        if item.status not in ("pending", "active"):
            return None
        nxt = current_step(record.steps, step.step_index + 1)
        kind = "complete" if nxt is None else "advance"
        return Advance(
            workspace_id,
            record.campaign_id,
            item.prospect_id,
            int(item.current_step or 0),
            item.status,
            kind,
            now,
            message_id=message_id,
            next_step_index=nxt.step_index if nxt else None,
            next_send_at=next_due(now, nxt, planning.schedule_of(record.settings), item.enrollment_id) if nxt else None,
        )

    def _stop(self, workspace_id: str, campaign_id: str, entry: _Due, status: str, reason: str, now: datetime) -> bool:
        if entry.ledger is not None:
            self._repo.cancel_send(workspace_id, entry.send_id, now, status="skipped")
        return self._repo.set_status(
            workspace_id, campaign_id, entry.item.prospect_id, entry.item.status, status, reason, now
        )

    # --- jobs ------------------------------------------------------------------------------------------------------

    def _requeue_job(self, workspace_id: str, record: CampaignRecord, entry: _Due, now: datetime) -> SendMessage | None:
        """The job of a queued send whose message went missing, rebuilt under the same claim (token, mailbox)."""
        ledger = entry.ledger
        assert ledger is not None
        try:
            mailbox = self._mailboxes.get(workspace_id, ledger.mailbox_id)
            prospect = self._prospect(workspace_id, entry)
        except NotFound:
            return None
        entry.prospect, entry.custom = prospect
        return self._job(
            workspace_id,
            record,
            entry,
            mailbox,
            now,
            now,
            planning.schedule_of(record.settings),
            token=ledger.token or "",
            thread=[str(m) for m in ledger.thread or []],
        )

    def _prospect(self, workspace_id: str, entry: _Due) -> tuple[dict[str, Any], dict[str, Any]]:
        prospect = ProspectRepository().get(workspace_id, entry.item.prospect_id)
        return prospect.model_dump(mode="json", exclude={"workspace_id", "custom_fields"}), dict(prospect.custom_fields)

    def _job(
        self,
        workspace_id: str,
        record: CampaignRecord,
        entry: _Due,
        mailbox: Mailbox,
        slot: datetime,
        now: datetime,
        schedule: windows.Schedule,
        *,
        token: str,
        thread: list[str] | None = None,
    ) -> SendMessage | None:
        item, step = entry.item, entry.step
        assert step is not None
        variant = pick_variant(step, item.variant, item.enrollment_id)
        if variant is None:
            return None
        try:
            subject, html, text = self._render(record, step, variant, entry, mailbox)
        except Exception:
            get_logger().exception(
                "rendering a step failed", extra={"campaign_id": record.campaign_id, "step": step.id}
            )
            return None
        domain = email_domain(mailbox.email_address).lower()
        nxt = current_step(record.steps, step.step_index + 1)
        settings = record.settings
        attempt = int(entry.ledger.attempts or 0) + 1 if entry.ledger is not None else 1
        return SendMessage(
            workspace_id=workspace_id,
            campaign_id=record.campaign_id,
            campaign_name=record.name,
            enrollment_id=item.enrollment_id,
            prospect_id=item.prospect_id,
            step_id=step.id,
            step_index=step.step_index,
            variant=variant.letter,
            mailbox_id=mailbox.id,
            send_id=entry.send_id,
            token=token,
            recipient=item.email,
            recipient_name=" ".join(p for p in (item.first_name, item.last_name) if p) or None,
            from_address=mailbox.email_address,
            from_name=mailbox.display_name,
            message_id=f"{entry.send_id}@{domain}",
            sending_domain=domain,
            subject=subject,
            html=html,
            text=text,
            # A follow-up threads under the earlier messages only from the mailbox that sent them; when rotation had
            # to pick another (the thread's mailbox is gone), it starts a new thread.
            send_as_reply=_thread_mailbox(entry) == mailbox.id,
            thread=thread if thread is not None else [str(m) for m in item.thread_message_ids or []],
            track_opens=settings.track_opens,
            track_clicks=settings.track_clicks,
            stop_on_bounce=settings.stop_on_bounce,
            send_at=slot,
            attempt=attempt,
            next_step_index=nxt.step_index if nxt else None,
            next_send_at=next_due(slot, nxt, schedule, item.enrollment_id) if nxt else None,
            queued_at=now,
        )

    def _render(
        self, record: CampaignRecord, step: StepRecord, variant: VariantRecord, entry: _Due, mailbox: Mailbox
    ) -> tuple[str, str, str]:
        subject_source = variant.subject or ""
        if not subject_source.strip() and step.send_as_reply:
            subject_source = thread_subject(record.steps, step, variant.letter)
        subject_tpl = compile_template(subject_source, field="subject")
        body_tpl = compile_template(variant.body_html or "", field="bodyHtml")
        text_tpl = compile_template(variant.body_text, field="bodyText") if variant.body_text else None
        sender = {
            "sender_name": mailbox.display_name,
            "sender_email": mailbox.email_address,
            "signature": mailbox.signature,
        }
        context = build_context(entry.prospect, custom_fields=entry.custom, sender=sender)
        rendered = render_email(
            subject_tpl, body_tpl, context, seed=f"{entry.item.enrollment_id}:{step.id}", text=text_tpl
        )
        return rendered.subject, rendered.html, rendered.text

    @staticmethod
    def _ledger_item(job: SendMessage, entry: _Due, now: datetime) -> SendItem:
        previous = entry.ledger
        return SendItem(
            pk=send_pk(job.workspace_id, job.send_id),
            sk=table.ITEM_SK,
            send_id=job.send_id,
            enrollment_id=job.enrollment_id,
            campaign_id=job.campaign_id,
            step_id=job.step_id,
            step_index=job.step_index,
            variant=job.variant,
            mailbox_id=job.mailbox_id,
            prospect_id=job.prospect_id,
            recipient=job.recipient,
            message_id=job.message_id,
            status="queued",
            attempts=int(previous.attempts or 0) if previous is not None else 0,
            recoveries=0,
            thread=list(job.thread) or None,
            queued_at=now,
            token=job.token,
        )


def _thread_mailbox(entry: _Due) -> str | None:
    """The mailbox a `sendAsReply` follow-up sticks to: the one that sent the enrollment's thread so far."""
    step = entry.step
    if step is None or not step.send_as_reply or step.step_index == 0:
        return None
    return entry.item.mailbox_id or None


def pick_variant(step: StepRecord, letter: str | None, enrollment_id: str) -> VariantRecord | None:
    """The enrollment's sticky letter when this step has it enabled, else the step's own sticky pick."""
    enabled = step.enabled_variants
    if not enabled:
        return None
    if letter:
        for variant in enabled:
            if variant.letter == letter:
                return variant
    chosen = assign_variant(enabled, enrollment_id)
    return next(v for v in enabled if v.letter == chosen)


def thread_subject(steps: Sequence[StepRecord], step: StepRecord, letter: str) -> str:
    """A reply step without a subject of its own answers the latest earlier step that has one."""
    for earlier in reversed([s for s in steps if s.step_index < step.step_index]):
        variant = next((v for v in earlier.variants if v.letter == letter), earlier.primary)
        if variant.subject and variant.subject.strip():
            return variant.subject
    return ""


def next_due(after: datetime, step: StepRecord, schedule: windows.Schedule, enrollment_id: str) -> datetime:
    """When `step` is due after a send at `after`: its delay plus 1-5 min of jitter, clamped into the window;
    the raw due time when no slot exists within 8 days (the campaign's end date ends it anyway)."""
    rng = seeded_rng(enrollment_id, step.id, "due")
    when = windows.next_send_time(after, step.delay_days, step.delay_hours, schedule, rng)
    if when is None:
        when = windows.step_due(after, step.delay_days, step.delay_hours, schedule.timezone) + timedelta(minutes=1)
    return when
