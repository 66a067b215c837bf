"""The LinkedIn scheduler tick and the action worker (issue 18, "The engine").

The scheduler (EventBridge, every minute) reads only what is due: one query per `DUE#LI#<nn>` shard up to now, so
an idle tick costs the same at 1,000 or 100,000 enrolled. Per due enrollment it
- hands an email step (multichannel) to the email scheduler's shards;
- moves a wait on by its branch (`rules.wait_outcome`): a met condition (accepted / replied, also before the wait
  began) or a timeout (`linkedinOnTimeout`: wait_accept stops by default and later acceptances are not counted;
  wait_reply goes on by default);
- moves an action outside the campaign's window to the window's next opening (campaign timezone);
- gives each due action an account of the campaign's pool with pace left this minute (the pool read once per
  campaign; an action whose accounts are all paced out moves to a later minute), claims it (a conditional put of
  its ledger item) and moves its enrollment to a lease in the same transaction (12 actions per transaction), and
  queues one message for it carrying the account, the enrollment as read and the rendered text;
  the enrollment is looked at again after a lease only if the worker never finishes (a lost message).

The worker (SQS, partial batch response, DLQ) takes one message at a time. The fast path (a message with the tick's
fields): ONE transaction marks the ledger `sending` and reserves the account's cap (the 2-per-minute pace with it),
on condition that the campaign (still running, at the version the worker's cache holds), the enrollment (at the
step the tick read), the prospect, the account (connected, at the cached version) and its invite cooldown did not
change; then the provider; then the success transaction. Anything else (a failed condition writes nothing) takes
the slow path:
1. the ledger item must still be claimed (a duplicate delivery finds it finished and stops; a `sending` one younger
   than `rules.IN_FLIGHT` is another delivery's, at work: left to the lease);
2. an account of the campaign's pool (sticky once an invite went out from it) is chosen and its cap reserved
   (`UsageRepository.reserve` under the action id, with the 2-per-minute pace) BEFORE the provider is called;
3. the ledger goes `sending` (conditional on the attempt read: two deliveries cannot both go on);
   a delivery that finds it `sending` (the worker died after the provider call) looks at the provider first:
   an invitation already pending or a message already in the chat is recorded, never sent again;
4. the provider acts; a failure goes through `kindling.linkedin.dispositions`;
5. success: one transaction records the ledger item, the advanced enrollment, the step counter and the peer row.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel
from pynamodb.transactions import TransactWrite

from kindling.campaigns.models import CampaignRecord, StepRecord
from kindling.campaigns.repository import CampaignRepository
from kindling.campaigns.service import CampaignService
from kindling.campaigns.templates import LinkedInPreview, render_linkedin_preview
from kindling.enrollments.service import campaign_service
from kindling.events.catalog import prepare_event
from kindling.events.models import DomainEvent
from kindling.events.service import EventService, PreparedEvent
from kindling.linkedin import dispositions
from kindling.linkedin.limits import ActivityKind, LimitReached, PaceLimited, dimension_for_action
from kindling.linkedin.models import LinkedInAccount
from kindling.linkedin.provider import LinkedInProvider, ProviderError, ProviderProfile, SentMessage
from kindling.linkedin.repository import LinkedInAccountRepository
from kindling.linkedin.service import LinkedInAccountService
from kindling.linkedin.usage import Reservation, UsageRepository
from kindling.outreach import rules
from kindling.outreach.outbound import OutboundCopies, OutboundSink
from kindling.outreach.repository import (
    CLAIMS_PER_TRANSACTION,
    Advance,
    Claim,
    FastStart,
    LinkedInActionItem,
    LinkedInEnrollmentItem,
    OutreachRepository,
    PoolState,
)
from kindling.platform import aws, keys
from kindling.platform.clock import Clock, get_clock
from kindling.platform.errors import NotFound
from kindling.platform.observability import get_logger
from kindling.platform.queues import QueueMessage, delay_until, required_url, send_batches
from kindling.platform.settings import get_settings
from kindling.prospects.models import Prospect
from kindling.prospects.repository import prospect_from_raw
from kindling.sending import windows
from kindling.sending.planning import schedule_of
from kindling.sending.service import current_step

SHARD_LIMIT = 500
IN_SEQUENCE = frozenset({"pending", "active"})
TERMINAL_CAMPAIGN = frozenset({"completed", "errored"})
PARK_PAGE = 500


class ActionMessage(BaseModel):
    workspace_id: str
    campaign_id: str
    prospect_id: str
    action_id: str
    step_id: str
    step_index: int
    send_at: datetime
    # The fast path (all set, or none): the account the tick chose, the enrollment as the tick read it (its raw
    # item), the prospect's profile identifier and the step's text rendered for it. The worker's `sending`
    # transaction checks that none of it went stale; without them (or when a check fails) it reads everything.
    account_id: str | None = None
    enrollment: dict[str, Any] | None = None
    identifier: str | None = None
    text: str | None = None
    subject: str | None = None
    contact_name: str | None = None  # the prospect's name, for the inbox copy of a message

    def to_body(self) -> str:
        return self.model_dump_json()


class ActionQueue(Protocol):
    def send(self, messages: Sequence[ActionMessage], now: datetime) -> None: ...


class SqsActionQueue:
    def __init__(self, queue_url: str | None = None) -> None:
        self._url = queue_url

    def send(self, messages: Sequence[ActionMessage], now: datetime) -> None:
        url = required_url(self._url or get_settings().linkedin_action_queue_url, "KINDLING_LINKEDIN_ACTION_QUEUE_URL")
        queued = [QueueMessage(m.to_body(), delay_until(m.send_at, now)) for m in messages]
        refused = send_batches(aws.client("sqs"), url, queued)
        if refused:  # the claims stand; the lease brings the enrollment back and the message is sent again
            get_logger().error("linkedin action queue refused messages", extra={"failed": len(refused)})


@dataclass
class TickReport:
    due: int = 0
    claimed: int = 0
    enqueued: int = 0
    requeued: int = 0
    handed_to_email: int = 0
    outside_window: int = 0
    deferred: int = 0  # due, but every account of its pool already acted twice this minute: moved to a later one
    parked: int = 0
    unparked: int = 0
    timed_out: int = 0
    completed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Candidate:
    item: LinkedInEnrollmentItem
    step: StepRecord
    position: int
    action_id: str


def _assign(
    record: CampaignRecord, candidate: _Candidate, pool: PoolState, budget: dict[str, int], now: datetime
) -> tuple[str | None, bool]:
    """The account of the pool to act from, in the prospect's rotation order (the sticky one alone after an
    invite), skipping disconnected accounts, accounts cooling down (invites) and accounts with no pace left this
    minute (`budget`, taken from). (None, True): only pace stood in the way; (None, False): no usable account, the
    worker's slow path disposes of it (parks it, waits for the cooldown)."""
    action = str(candidate.step.linkedin_action_type)
    paces = dimension_for_action(action) is not None
    paced_out = False
    for account_id in rules.rotation(
        record.linkedin_account_ids, candidate.item.prospect_id, candidate.item.li_account_id
    ):
        account = pool.accounts.get(account_id)
        if account is None or account.status != "connected" or account.provider_account_id is None:
            continue
        until = pool.cooldowns.get(account_id)
        if action == "send_invite" and until is not None and until > now:
            continue
        if paces and budget.get(account_id, 0) <= 0:
            paced_out = True
            continue
        if paces:
            budget[account_id] -= 1
        return account_id, False
    return None, paced_out


def _message(
    workspace_id: str,
    record: CampaignRecord,
    candidate: _Candidate,
    account_id: str | None,
    prospects: dict[str, dict[str, Any]],
    now: datetime,
) -> ActionMessage:
    """The queue message of a claimed action: with the fast path's fields when an account was chosen and the
    prospect has a profile URL whose text renders; the slow path finds out what is wrong otherwise."""
    item, step = candidate.item, candidate.step
    message = ActionMessage(
        workspace_id=workspace_id,
        campaign_id=record.campaign_id,
        prospect_id=item.prospect_id,
        action_id=candidate.action_id,
        step_id=step.id,
        step_index=candidate.position,
        send_at=now,
    )
    raw = prospects.get(item.prospect_id)
    if account_id is None or raw is None:
        return message
    prospect = prospect_from_raw(workspace_id, raw)
    identifier, _ = rules.profile_identifier(prospect.linkedin_url)
    if identifier is None:
        return message
    context = prospect.model_dump(mode="json", exclude={"workspace_id", "custom_fields"})
    try:
        rendered = render_linkedin_preview(step, context, dict(prospect.custom_fields), None, item.enrollment_id)
    except Exception:  # the worker's slow path renders it again and fails where it always did
        get_logger().exception("linkedin step not rendered at the tick", extra={"enrollment_id": item.enrollment_id})
        return message
    return message.model_copy(
        update={
            "account_id": account_id,
            "enrollment": item.serialize(),
            "identifier": identifier,
            "text": rendered.text,
            "subject": rendered.subject,
            "contact_name": contact_name_of(prospect),
        }
    )


def contact_name_of(prospect: Prospect) -> str | None:
    return " ".join(p for p in (prospect.first_name, prospect.last_name) if p) or None


def _slow(message: ActionMessage) -> ActionMessage:
    return message.model_copy(
        update={
            "account_id": None,
            "enrollment": None,
            "identifier": None,
            "text": None,
            "subject": None,
            "contact_name": None,
        }
    )


def _campaign_service(campaigns: CampaignRepository) -> CampaignService:
    return campaign_service(repository=campaigns)


class LinkedInScheduler:
    def __init__(
        self,
        repository: OutreachRepository | None = None,
        campaigns: CampaignRepository | None = None,
        queue: ActionQueue | None = None,
        clock: Clock | None = None,
        shard_limit: int = SHARD_LIMIT,
        rng: random.Random | None = None,
    ) -> None:
        self._repo = repository or OutreachRepository()
        self._campaigns = campaigns or CampaignRepository()
        self._queue = queue or SqsActionQueue()
        self._clock = clock
        self._limit = shard_limit
        self._rng = rng or random.Random()

    def tick(self, now: datetime | None = None) -> TickReport:
        now = now or (self._clock or get_clock()).now()
        report = TickReport()
        self._watch(report, now)
        by_campaign: dict[tuple[str, str], list[LinkedInEnrollmentItem]] = {}
        for shard in keys.li_shards():
            for item in self._repo.due(shard, now, self._limit):
                by_campaign.setdefault((item.pk.split("#", 1)[0], item.campaign_id), []).append(item)
                report.due += 1
        for (workspace_id, campaign_id), items in by_campaign.items():
            try:
                self._campaign(workspace_id, campaign_id, items, now, report)
            except Exception as exc:  # one campaign's failure must not starve the others
                get_logger().exception("linkedin scheduling failed", extra={"campaign_id": campaign_id})
                report.errors.append(f"{campaign_id}: {type(exc).__name__}: {exc}")
        return report

    def _watch(self, report: TickReport, now: datetime) -> None:
        """Campaigns holding parked LinkedIn steps: once running again, their steps go back to the shards."""
        for ref in self._repo.refs(keys.LI_WATCH_PK):
            try:
                status = self._campaigns.get(ref.workspace_id, ref.campaign_id).status
            except NotFound:
                status = "completed"
            if status in ("paused", "draft", "scheduled", "cooldown"):
                continue
            while True:
                page = self._repo.parked(ref.workspace_id, ref.campaign_id, PARK_PAGE)
                for item in page:
                    when = None if status in TERMINAL_CAMPAIGN else max(item.next_send_at or now, now)
                    report.unparked += int(self._repo.move_due(item, when))
                if len(page) < PARK_PAGE:
                    break
            self._repo.drop_ref(ref)

    def _campaign(
        self,
        workspace_id: str,
        campaign_id: str,
        items: list[LinkedInEnrollmentItem],
        now: datetime,
        report: TickReport,
    ) -> None:
        try:
            record: CampaignRecord | None = self._campaigns.get(workspace_id, campaign_id)
        except NotFound:
            record = None
        if record is None or record.status in TERMINAL_CAMPAIGN:
            for item in items:
                self._repo.move_due(item, None)
            return
        if record.status != "running":
            for item in items:
                report.parked += int(self._repo.move_due(item, now, park=(workspace_id, campaign_id)))
            self._repo.put_ref(keys.LI_WATCH_PK, workspace_id, campaign_id)
            return
        schedule = schedule_of(record.settings)
        candidates: list[_Candidate] = []
        for item in items:
            if item.status not in IN_SEQUENCE:
                self._repo.move_due(item, None)
                continue
            index = int(item.current_step or 0)
            step = current_step(record.steps, index)
            if step is None:
                done = Advance(next_step=index, status="completed", due=None, next_at=None)
                report.completed += int(self._repo.finish(workspace_id, None, item, now, outcome="done", advance=done))
                continue
            position = record.steps.index(step)
            if not step.is_linkedin:
                report.handed_to_email += int(self._repo.move_due(item, now, email=True))
                continue
            if step.linkedin_action_type in rules.WAIT_ACTIONS:
                report.timed_out += int(self._wait_over(workspace_id, record, item, step, position, now, schedule))
                continue
            slot = windows.clamp(now, schedule)
            if slot is None or slot > now:
                report.outside_window += int(self._repo.move_due(item, slot))
                continue
            candidates.append(_Candidate(item, step, position, rules.action_id_for(item.enrollment_id, step.id)))
        messages = self._claim(workspace_id, record, candidates, now, report)
        if messages:
            self._queue.send(messages, now)
            report.enqueued += len(messages)

    def _claim(
        self,
        workspace_id: str,
        record: CampaignRecord,
        candidates: list[_Candidate],
        now: datetime,
        report: TickReport,
    ) -> list[ActionMessage]:
        """Claim the campaign's due actions: each gets an account of the pool with pace left this minute (the pool,
        its cooldowns and pacers read in one request; an action whose accounts all paced out waits for a later
        minute, spread by the pool's capacity), its prospect read (one request per 100) and rendered into the
        message; then the claims and leases go in transactions of CLAIMS_PER_TRANSACTION."""
        if not candidates:
            return []
        pool = self._repo.pool(workspace_id, record.linkedin_account_ids, now)
        budget = dict(pool.pace)
        capacity = 2 * sum(1 for a in pool.accounts.values() if a.status == "connected" and a.provider_account_id)
        prospects = self._repo.prospects(workspace_id, [c.item.prospect_id for c in candidates])
        ready: list[tuple[_Candidate, ActionMessage]] = []
        deferred = 0
        for candidate in candidates:
            account_id, paced_out = _assign(record, candidate, pool, budget, now)
            if account_id is None and paced_out:
                when = now + timedelta(minutes=1 + deferred // max(capacity, 1))
                deferred += 1
                report.deferred += int(self._repo.move_due(candidate.item, when))
                continue
            ready.append(
                (candidate, _message(workspace_id, record, candidate, account_id, prospects, now)),
            )
        messages: list[ActionMessage] = []
        lease = now + rules.LEASE
        for start in range(0, len(ready), CLAIMS_PER_TRANSACTION):
            chunk = ready[start : start + CLAIMS_PER_TRANSACTION]
            claims = [Claim(c.action_id, c.item, c.step.id, c.position) for c, _ in chunk]
            if self._repo.claim_with_lease(workspace_id, claims, now, lease):
                report.claimed += len(chunk)
                messages += [m for _, m in chunk]
                continue
            for (candidate, message), claim in zip(chunk, claims, strict=True):  # one at a time: which one failed
                if self._repo.claim_with_lease(workspace_id, [claim], now, lease):
                    report.claimed += 1
                    messages.append(message)
                    continue
                ledger = self._repo.action(workspace_id, candidate.action_id)
                if ledger is None or ledger.status not in ("claimed", "sending"):
                    continue  # finished meanwhile (its final write moved the enrollment), or the enrollment moved
                report.requeued += 1
                messages.append(_slow(message))
                self._repo.move_due(candidate.item, lease)
        return messages

    def _wait_over(
        self,
        workspace_id: str,
        record: CampaignRecord,
        item: LinkedInEnrollmentItem,
        step: StepRecord,
        position: int,
        now: datetime,
        schedule: windows.Schedule,
    ) -> bool:
        """A wait step came due: its condition was met (the acceptance or the reply came, perhaps before the step
        began), its deadline passed (timeout), or it had none yet (set it)."""
        if wait_met(step, item):
            return take_wait_branch(
                self._repo, workspace_id, record, item, step, position, True, now, schedule, self._rng
            )
        deadline = item.li_wait_until
        if deadline is None:
            self._repo.set_wait(item, now + timedelta(days=rules.wait_days(step)))
            return False
        if deadline > now:
            self._repo.move_due(item, deadline)
            return False
        return take_wait_branch(self._repo, workspace_id, record, item, step, position, False, now, schedule, self._rng)


def wait_met(step: StepRecord, item: LinkedInEnrollmentItem) -> bool:
    """A wait step's condition: wait_accept, the invitation accepted; wait_reply, the prospect replied (on LinkedIn,
    at any time in this enrollment: `li_replied_at`)."""
    if step.linkedin_action_type == "wait_accept":
        return item.li_accepted_at is not None
    return step.linkedin_action_type == "wait_reply" and item.li_replied_at is not None


def take_wait_branch(
    repo: OutreachRepository,
    workspace_id: str,
    record: CampaignRecord,
    item: LinkedInEnrollmentItem,
    step: StepRecord,
    position: int,
    met: bool,
    now: datetime,
    schedule: windows.Schedule,
    rng: random.Random,
) -> bool:
    """Move a prospect waiting at `step` on by the branch `rules.wait_outcome` picks: the next step, or out of the
    sequence (`rules.wait_stop`). Conditional on the enrollment's step and status as read: False when it moved."""
    extra: list[Any] = []
    if step.linkedin_action_type == "wait_accept" and not met:
        extra.append(LinkedInEnrollmentItem.li_wait_timed_out.set(1))  # a later acceptance is never counted
    outcome = "done" if met else "timed_out"
    if rules.wait_outcome(step, met) == "continue":
        advance = advance_after(record, item, position, now, schedule, rng)
        return repo.finish(workspace_id, None, item, now, outcome=outcome, advance=advance, extra=extra)
    status, reason = rules.wait_stop(step, met)
    return repo.finish(
        workspace_id, None, item, now, outcome=outcome, advance=None, status=status, reason=reason, extra=extra
    )


def advance_after(
    record: CampaignRecord,
    item: LinkedInEnrollmentItem,
    position: int,
    now: datetime,
    schedule: windows.Schedule,
    rng: random.Random,
) -> Advance:
    replied = item.li_replied_at is not None  # a wait_reply ahead is due at once: its replied branch
    nxt, index, when, deadline = rules.next_due(record.steps, position, now, schedule, rng, replied)
    status = "active" if item.status == "pending" else str(item.status)
    if nxt is None:
        return Advance(next_step=index, status="completed", due=None, next_at=None)
    if when is None:  # no slot within the scan horizon (an end date): out of the index, like the email engine
        return Advance(next_step=index, status=status, due=None, next_at=None)
    due = keys.li_due_keys(item.pk, item.sk, when) if nxt.is_linkedin else keys.send_due_keys(item.pk, item.sk, when)
    return Advance(next_step=index, status=status, due=due, next_at=when, wait_until=deadline)


# --- the worker ----------------------------------------------------------------------------------------------------
@dataclass
class WorkResult:
    outcome: str
    account_id: str | None = None
    reason: str | None = None


@dataclass
class _Chosen:
    account: LinkedInAccount
    reservation: Reservation | None


@dataclass
class _Started:
    """An action about to reach the provider: its ledger is `sending` and its cap reserved."""

    ledger: LinkedInActionItem
    item: LinkedInEnrollmentItem
    record: CampaignRecord
    step: StepRecord
    action: str
    state: dispositions.ActionState
    schedule: windows.Schedule
    chosen: _Chosen
    identifier: str
    rendered: LinkedInPreview
    resumed: bool
    contact_name: str | None = None


T = TypeVar("T")
CACHE_LIMIT = 256  # campaigns and accounts a worker keeps (versions checked at use); cleared when full


def _remember(cache: dict[tuple[str, str], Any], key: tuple[str, str], value: Any) -> None:
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _cached(cache: dict[tuple[str, str], T], key: tuple[str, str], read: Callable[[], T]) -> T | None:
    """`cache[key]`, read (and remembered) on a miss; None when the row does not exist."""
    value = cache.get(key)
    if value is None:
        try:
            value = read()
        except NotFound:
            return None
        _remember(cache, key, value)
    return value


class _NoAccount(Exception):
    def __init__(self, code: str, not_before: datetime | None, account: LinkedInAccount | None) -> None:
        super().__init__(code)
        self.code = code
        self.not_before = not_before
        self.account = account


COUNTERS = {
    "view_profile": "views",
    "send_invite": "invites",
    "send_message": "messages",
    "send_inmail": "messages",
}
# the account's tally (kindling.linkedin.usage) each action's success adds to
ACTIVITY: dict[str, ActivityKind] = {
    "view_profile": "views",
    "send_invite": "invites",
    "send_message": "messages",
    "send_inmail": "inmails",
    "endorse_skill": "engagements",
    "like_post": "engagements",
    "comment": "engagements",
}


class ActionWorker:
    def __init__(
        self,
        provider: LinkedInProvider,
        repository: OutreachRepository | None = None,
        campaigns: CampaignRepository | None = None,
        accounts: LinkedInAccountService | None = None,
        usage: UsageRepository | None = None,
        events: EventService | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        outbound: OutboundSink | None = None,
    ) -> None:
        # `outbound` (the unified inbox, handed in by the entry points) gets a copy of every message sent
        self._outbound = OutboundCopies(provider, outbound) if outbound is not None else None
        self._provider = provider
        self._repo = repository or OutreachRepository()
        self._campaigns = campaigns or CampaignRepository()
        self._accounts = accounts or LinkedInAccountService(provider=provider)
        self._account_rows = LinkedInAccountRepository()
        self._usage = usage or UsageRepository()
        self._events = events
        self._clock = clock
        self._rng = rng or random.Random()
        self._campaign_cache: dict[tuple[str, str], CampaignRecord] = {}
        self._account_cache: dict[tuple[str, str], LinkedInAccount] = {}

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def handle(self, message: ActionMessage) -> WorkResult:
        ws = message.workspace_id
        now = self._now()
        started = self._start_fast(message, now)
        if started is None:
            begun = self._start(message, now)
            if isinstance(begun, WorkResult):
                return begun
            started = begun
        ledger, item, record, step, action = started.ledger, started.item, started.record, started.step, started.action
        state, schedule, chosen = started.state, started.schedule, started.chosen
        identifier, rendered, resumed = started.identifier, started.rendered, started.resumed
        account = chosen.account
        try:
            skipped, extra, peer, answered, tally = self._act(
                action, account, identifier, step, rendered, item, resumed, now
            )
        except ProviderError as exc:
            if exc.code in ("credentials", "checkpoint"):
                self._accounts.set_status(
                    ws,
                    account.id,
                    "disconnected" if exc.code == "credentials" else "needs_verification",
                    reason=f"provider answered {exc.code}",
                    source="api",
                    provider_status=exc.provider_type,
                )
            not_before = now + timedelta(seconds=exc.retry_after_seconds) if exc.retry_after_seconds else None
            return self._dispose(
                ws,
                ledger,
                item,
                record,
                step,
                state,
                exc.code,
                now,
                schedule,
                chosen.reservation,
                account,
                not_before=not_before,
                request_sent=exc.request_sent,
            )
        nothing_sent = skipped is not None or tally is None
        if nothing_sent and chosen.reservation is not None:
            self._usage.release(chosen.reservation)  # nothing went out: the slot is the account's again
        counter = None if skipped else COUNTERS.get(action)
        if action == "send_inmail" and skipped is None and not extra:
            counter = None
        advance = advance_after(record, item, message.step_index, now, schedule, self._rng)
        also: list[Callable[[TransactWrite], None]] = []
        event: PreparedEvent | None = None
        if skipped is None:  # the success, its tallies and its event: one transaction (help center L5143)
            if tally is not None:
                also.append(
                    partial(UsageRepository.add_activity, workspace_id=ws, account_id=account.id, kind=tally, at=now)
                )
            if action in ("send_message", "send_inmail"):
                event = self._prepare(ws, "linkedin.message_sent", record, item, account, now, {})
            if event is not None:
                also.append(partial(EventService.record_in, prepared=event))
        ok = self._repo.finish(
            ws,
            ledger,
            item,
            now,
            outcome="skipped" if skipped else "done",
            advance=advance,
            reason=skipped,
            counter=(step.id, counter) if counter else None,
            extra=extra,
            peer=peer,
            also=also,
        )
        recorded = ok and skipped is None
        if not ok and not nothing_sent:
            recorded = self._record_moved(
                ws, ledger, item, now, (step.id, counter) if counter else None, extra, peer, also
            )
        # the event's publish mark rides the inbox copy's write when there is one (a request fewer per message)
        published: DomainEvent | None = None
        if recorded and event is not None and self._event_service().publish_recorded(event.event, mark=False):
            published = event.event
        marked = False
        if self._outbound is not None and action in ("send_message", "send_inmail"):
            marked = self._outbound.after_action(
                recorded,
                account,
                peer,
                answered,
                rendered,
                item,
                started.contact_name,
                message.action_id,
                now,
                also=[EventService.published_mark(published)] if published is not None else [],
            )
        if published is not None and not marked:
            self._event_service().mark_published(published)
        outcome = ("skipped" if skipped else "done") if ok else ("done_after_move" if recorded else "lost_race")
        return WorkResult(outcome, account.id, skipped)

    def _record_moved(
        self,
        ws: str,
        ledger: LinkedInActionItem,
        item: LinkedInEnrollmentItem,
        now: datetime,
        counter: tuple[str, str] | None,
        extra: list[Any],
        peer: tuple[str, str] | None,
        also: Sequence[Callable[[TransactWrite], None]],
    ) -> bool:
        """The action went out but the success write lost: if the enrollment moved on meanwhile (a reply stopped
        it, it was removed), record what happened without moving it (`record_moved_success`). If it did not move
        (the write lost to conflicts), nothing is written here: the lease brings the action back and the provider
        is asked first, so it is recorded then, once."""
        current = self._repo.enrollment(ws, item.campaign_id, item.prospect_id)
        if current is not None and (current.status, current.current_step) == (item.status, item.current_step):
            return False
        return self._repo.record_moved_success(
            ws, ledger, item, now, counter=counter, extra=extra if current is not None else [], peer=peer, also=also
        )

    def _start_fast(self, message: ActionMessage, now: datetime) -> _Started | None:
        """The fast path (a message with the tick's fields): the campaign and the account from the worker's cache
        (read on a miss), then ONE transaction marks the ledger `sending` and reserves the cap, on condition that
        nothing the message and the cache hold went stale (`OutreachRepository.start_fast`). None when it cannot
        go this way: nothing was written and the slow path starts over from reads."""
        if message.account_id is None or message.enrollment is None or message.identifier is None:
            return None
        ws = message.workspace_id
        record = self._cached_campaign(ws, message.campaign_id)
        step = record.step(message.step_id) if record is not None else None
        if record is None or record.status != "running" or step is None or not step.is_linkedin:
            return None
        opening = windows.clamp(now, schedule_of(record.settings))
        if opening is None or opening > now:  # delivered after the window closed: the slow path releases the claim
            return None
        account = self._cached_account(ws, message.account_id)
        if account is None or account.status != "connected" or account.provider_account_id is None:
            return None
        item = LinkedInEnrollmentItem.from_raw_data(message.enrollment)
        action = str(step.linkedin_action_type)
        dimension = dimension_for_action(action)
        reservation: Reservation | None = None
        if dimension is not None:
            cap = self._accounts.caps(account, now)[dimension]
            if cap <= 0:
                return None
            reservation = self._usage.planned(ws, account.id, dimension, cap, now, message.action_id)
        planned = reservation
        ledger = self._repo.start_fast(
            FastStart(
                workspace_id=ws,
                action_id=message.action_id,
                item=item,
                campaign_version=record.version,
                account_id=account.id,
                account_version=account.version,
                check_cooldown=action == "send_invite",
                reserve=(lambda tx: self._usage.add_reservation(tx, planned)) if planned is not None else None,
            ),
            now,
        )
        if ledger is None:
            self._campaign_cache.pop((ws, message.campaign_id), None)
            self._account_cache.pop((ws, account.id), None)
            return None
        return _Started(
            ledger=ledger,
            item=item,
            record=record,
            step=step,
            action=action,
            state=rules.state_of(item.li_state, action),
            schedule=schedule_of(record.settings),
            chosen=_Chosen(account, reservation),
            identifier=message.identifier,
            rendered=LinkedInPreview(text=message.text, subject=message.subject),
            resumed=False,
            contact_name=message.contact_name,
        )

    def _cached_campaign(self, ws: str, campaign_id: str) -> CampaignRecord | None:
        """The campaign from this worker's cache (read on a miss). The `sending` transaction checks its version, so a
        changed campaign is never acted on: the check fails, the entry goes and the slow path reads it again."""
        return _cached(self._campaign_cache, (ws, campaign_id), lambda: self._campaigns.get(ws, campaign_id))

    def _cached_account(self, ws: str, account_id: str) -> LinkedInAccount | None:
        """The account from this worker's cache (read on a miss); its version is checked like the campaign's."""
        return _cached(self._account_cache, (ws, account_id), lambda: self._account_rows.get(ws, account_id))

    def _start(self, message: ActionMessage, now: datetime) -> _Started | WorkResult:
        """The slow path: a message without the tick's fields, or one whose fast start failed (a duplicate, a
        resumed crash, a campaign paused, an account gone, paced or capped...): everything read again."""
        ws = message.workspace_id
        ledger, item, prospect_raw = self._repo.action_reads(
            ws, message.action_id, message.campaign_id, message.prospect_id
        )
        if ledger is None or ledger.status not in ("claimed", "sending"):
            return WorkResult("duplicate")
        if ledger.status == "sending" and ledger.attempt_at is not None and now - ledger.attempt_at < rules.IN_FLIGHT:
            return WorkResult("in_flight")  # another delivery is acting on it; the lease brings it back if it died
        if item is None or item.status not in IN_SEQUENCE or int(item.current_step or 0) > message.step_index:
            self._repo.release_claim(ledger)
            return WorkResult("moved_on")
        if prospect_raw is None:  # the prospect was deleted: nothing to act on, ever
            ok = self._repo.finish(
                ws, ledger, item, now, outcome="failed", advance=None, status="stopped", reason="prospect_deleted"
            )
            return WorkResult("stopped" if ok else "lost_race", reason="prospect_deleted")
        try:
            record = self._campaigns.get(ws, message.campaign_id)
        except NotFound:
            self._repo.release_claim(ledger)
            return WorkResult("campaign_gone")
        _remember(self._campaign_cache, (ws, message.campaign_id), record)
        step = record.step(message.step_id)
        if record.status != "running" or step is None or not step.is_linkedin:
            self._repo.release_claim(ledger)  # the enrollment stays due (lease); the tick parks or moves it
            return WorkResult("not_running")
        action = str(step.linkedin_action_type)
        state = rules.state_of(item.li_state, action)
        schedule = schedule_of(record.settings)
        opening = windows.clamp(now, schedule)
        if ledger.status == "claimed" and (opening is None or opening > now):
            # Delivered after the window closed (late or again): nothing goes out now. The enrollment stays due
            # (lease) and the tick moves it to the window's next opening. A "sending" claim goes on: it checks first.
            self._repo.release_claim(ledger)
            return WorkResult("outside_window")
        prospect = prospect_from_raw(ws, prospect_raw)
        identifier, sales_nav = rules.profile_identifier(prospect.linkedin_url)
        if identifier is None and not sales_nav:
            ok = self._repo.finish(
                ws, ledger, item, now, outcome="failed", advance=None, status="stopped", reason=rules.NO_URL_REASON
            )
            return WorkResult("stopped" if ok else "lost_race", reason=rules.NO_URL_REASON)
        if identifier is None:
            return self._dispose(ws, ledger, item, record, step, state, "unresolved_url", now, schedule, None, None)
        try:
            chosen = self._choose(ws, record, item, action, message.action_id, now)
        except _NoAccount as refusal:
            if refusal.code == "account_cooldown" and refusal.not_before is not None:
                state = replace(state, account_cooldown_until=refusal.not_before)
            return self._dispose(
                ws,
                ledger,
                item,
                record,
                step,
                state,
                refusal.code,
                now,
                schedule,
                None,
                refusal.account,
                not_before=refusal.not_before,
            )
        resumed = ledger.status == "sending"
        if not self._repo.start_attempt(ledger, chosen.account.id, now):
            return WorkResult("duplicate")
        context = prospect.model_dump(mode="json", exclude={"workspace_id", "custom_fields"})
        rendered = render_linkedin_preview(step, context, dict(prospect.custom_fields), None, item.enrollment_id)
        return _Started(
            ledger,
            item,
            record,
            step,
            action,
            state,
            schedule,
            chosen,
            identifier,
            rendered,
            resumed,
            contact_name_of(prospect),
        )

    def _act(
        self,
        action: str,
        account: LinkedInAccount,
        identifier: str,
        step: StepRecord,
        rendered: Any,
        item: LinkedInEnrollmentItem,
        resumed: bool,
        now: datetime,
    ) -> tuple[str | None, list[Any], tuple[str, str] | None, SentMessage | None, ActivityKind | None]:
        """Do the action at the provider: (the skip reason or None, the enrollment attributes to set, the peer row,
        the provider's answer to a message this call sent, what went out for the account's tallies: None when the
        step is done without the provider action ever being taken, an invite to someone already connected or
        invited)."""
        provider_account = str(account.provider_account_id)
        peer: tuple[str, str] | None = None
        extra: list[Any] = []
        skipped: str | None = None
        answered: SentMessage | None = None
        tally: ActivityKind | None = ACTIVITY.get(action)  # what went out, for the account's tallies
        profile = self._provider.get_profile(provider_account, identifier, with_skills=action == "endorse_skill")
        member = profile.provider_id
        extra.append(LinkedInEnrollmentItem.li_member_id.set(member))
        # After a crash (resumed) or a lost answer (maybe_sent) the call may have reached LinkedIn: look first
        uncertain = resumed or rules.state_of(item.li_state, action).maybe_sent
        done_before = uncertain and self._already_done(action, provider_account, profile, item, rendered.text)
        if done_before:  # the provider call happened before: record it, never send it again
            get_logger().info("linkedin action found done at the provider", extra={"enrollment_id": item.enrollment_id})
        if action == "view_profile":
            pass  # get_profile is the view
        elif action == "send_invite":
            if not (done_before or profile.is_relationship or profile.invitation_pending):
                self._provider.send_invitation(provider_account, member, rendered.text or None)
            elif not done_before:  # already connected or invited (another campaign): the step is done, no invite
                tally = None
            extra += [
                LinkedInEnrollmentItem.li_invited_at.set(now),
                LinkedInEnrollmentItem.li_invite_step.set(step.id),
                LinkedInEnrollmentItem.li_account_id.set(account.id),
            ]
            peer = (account.id, member)
        elif action in ("send_message", "send_inmail"):
            inmail = action == "send_inmail"
            if inmail and profile.is_relationship:
                tally = "messages"  # an InMail step to a 1st-degree connection goes as a plain message
            if done_before:
                peer = (account.id, member)
            elif not inmail and not profile.is_relationship:
                skipped = rules.SKIP_NOT_CONNECTED
            elif inmail and (account.account_type or "premium") == "free":
                skipped = rules.SKIP_INMAIL_FREE
            else:
                answered = self._provider.start_chat(
                    provider_account,
                    member,
                    rendered.text or "",
                    inmail=inmail and not profile.is_relationship,
                    subject=rendered.subject if inmail else None,
                )
                extra.append(LinkedInEnrollmentItem.li_chat_id.set(answered.chat_id))
                peer = (account.id, member)
        elif action in ("like_post", "comment"):
            posts = self._provider.list_posts(provider_account, identifier)
            post = rules.recent_post(posts, now, rules.post_max_age_days(step))
            config = step.linkedin_engagement_config
            if post is None:
                skipped = rules.SKIP_NO_POST
            elif action == "like_post":
                reaction = (getattr(config, "reaction_type", None) or "like") if config else "like"
                self._provider.add_post_reaction(provider_account, post.id, str(reaction).lower())
            elif not self._already_done(
                action, provider_account, profile, item, rendered.text, post.id, account.member_id
            ):  # a comment is never sent twice: after a crash, or a comment call that got no answer (the retry is
                # a new claim, not `resumed`), ours may be on the post already; every attempt looks first
                self._provider.comment_on_post(provider_account, post.id, rendered.text or "")
        elif action == "endorse_skill":
            preferred = getattr(step.linkedin_engagement_config, "preferred_skill", None)
            choice = dispositions.choose_skill(rules.skills_of(profile.skills), preferred)
            if choice.skill is None:
                skipped = choice.reason or dispositions.SKIPPED_NO_SKILLS
            else:  # endorsing twice leaves one endorsement: a resumed delivery may simply do it again
                self._provider.endorse_skill(provider_account, member, choice.skill.id)
        return skipped, extra, peer, answered, tally

    def _already_done(
        self,
        action: str,
        provider_account: str,
        profile: ProviderProfile,
        item: LinkedInEnrollmentItem,
        text: str | None,
        post_id: str | None = None,
        own_member_id: str | None = None,
    ) -> bool:
        """After a crash between the provider call and the final write: did the action reach the provider?"""
        if action == "send_invite":
            return profile.invitation_pending or profile.is_relationship
        if action == "comment":  # our comment (the same rendered text, by the account when it is known) is there
            if post_id is None:
                return False
            page_cursor: str | None = None
            while True:
                comments = self._provider.list_post_comments(provider_account, post_id, page_cursor)
                for comment in comments.items:
                    by_us = own_member_id is None or comment.author_provider_id in (None, own_member_id)
                    same = (comment.text or "").strip() == (text or "").strip()
                    if by_us and same and comment.author_provider_id != profile.provider_id:
                        return True
                page_cursor = comments.cursor
                if not page_cursor:
                    return False
        if action in ("send_message", "send_inmail"):
            cursor: str | None = None
            while True:
                page = self._provider.list_chats(provider_account, cursor)
                for chat in page.items:
                    if chat.attendee_provider_id != profile.provider_id:
                        continue
                    messages = self._provider.list_chat_messages(chat.id)
                    if any(m.is_sender and (m.text or "") == (text or "") for m in messages.items):
                        return True
                cursor = page.cursor
                if not cursor:
                    return False
        return False  # views, likes, endorsements: harmless to do again (the reservation counts once)

    def _choose(
        self, ws: str, record: CampaignRecord, item: LinkedInEnrollmentItem, action: str, action_id: str, now: datetime
    ) -> _Chosen:
        order = rules.rotation(record.linkedin_account_ids, item.prospect_id, item.li_account_id)
        dimension = dimension_for_action(action)
        refusal: _NoAccount | None = None
        disconnected: LinkedInAccount | None = None
        for account_id in order:
            try:
                account = self._account_rows.get(ws, account_id)
            except NotFound:
                continue
            if account.status != "connected" or account.provider_account_id is None:
                disconnected = disconnected or account
                continue
            if action == "send_invite":
                until = self._repo.engine_state(ws, account.id).cooldown_until
                if until is not None and until > now:
                    refusal = refusal or _NoAccount("account_cooldown", until, account)
                    continue
            if dimension is None:
                return _Chosen(account, None)
            cap = self._accounts.caps(account, now)[dimension]
            try:
                reservation = self._usage.reserve(ws, account.id, dimension, cap, now, reservation_id=action_id)
            except LimitReached as exc:
                refusal = refusal or _NoAccount("limit_reached", exc.resets_at, account)
                continue
            except PaceLimited as exc:
                refusal = _NoAccount("pace_limited", now + timedelta(seconds=exc.retry_after_seconds), account)
                continue
            return _Chosen(account, reservation)
        if refusal is not None:
            raise refusal
        raise _NoAccount("account_disconnected", None, disconnected)

    def _dispose(
        self,
        ws: str,
        ledger: LinkedInActionItem,
        item: LinkedInEnrollmentItem,
        record: CampaignRecord,
        step: StepRecord,
        state: dispositions.ActionState,
        code: str,
        now: datetime,
        schedule: windows.Schedule,
        reservation: Reservation | None,
        account: LinkedInAccount | None,
        *,
        not_before: datetime | None = None,
        request_sent: bool = True,
    ) -> WorkResult:
        verdict = dispositions.disposition(
            code, state, now, self._rng, not_before=not_before, request_sent=request_sent
        )
        if verdict.release_slot and reservation is not None:
            self._usage.release(reservation)
        if account is not None and verdict.account_cooldown_until is not None and code == "cannot_resend_yet":
            self._repo.raise_cooldown(ws, account.id, verdict.account_cooldown_until)
        if verdict.pause_campaign_reason is not None:
            pause_for_account(_campaign_service(self._campaigns), self._repo, ws, record.campaign_id, account)
        extra = [LinkedInEnrollmentItem.li_state.set(rules.state_json(verdict.state))]
        if verdict.linkedin_status is not None:
            extra.append(LinkedInEnrollmentItem.li_status.set(verdict.linkedin_status))
        account_id = account.id if account else None
        if verdict.advance:  # endorse failed after its retries: the step is marked failed, the sequence goes on
            advance = advance_after(record, item, step.step_index, now, schedule, self._rng)
            ok = self._repo.finish(  # no `extra`: the advance removes li_state/li_status (a set too would overlap)
                ws, ledger, item, now, outcome="failed", advance=advance, reason=verdict.reason
            )
            return WorkResult(verdict.outcome if ok else "lost_race", account_id, verdict.reason)
        if verdict.enrollment_status in ("stopped", "failed"):
            ok = self._repo.finish(
                ws,
                ledger,
                item,
                now,
                outcome="failed",
                advance=None,
                status=verdict.enrollment_status,
                reason=verdict.reason,
                extra=extra,
            )
            return WorkResult(verdict.outcome if ok else "lost_race", account_id, verdict.reason)
        if verdict.enrollment_status == "paused_account":
            retry_due = (keys.li_park_pk(ws, record.campaign_id), keys.li_due_keys(item.pk, item.sk, now)[1])
            self._repo.put_ref(keys.LI_WATCH_PK, ws, record.campaign_id)
            ok = self._repo.finish(
                ws, ledger, item, now, outcome="parked", advance=None, extra=extra, retry=(*retry_due, now)
            )
            return WorkResult("park" if ok else "lost_race", account_id, verdict.reason)
        retry_at = verdict.retry_at or now + timedelta(minutes=5)
        slot = windows.clamp(retry_at, schedule) or retry_at
        ok = self._repo.finish(
            ws,
            ledger,
            item,
            now,
            outcome="retry",
            advance=None,
            extra=extra,
            retry=(*keys.li_due_keys(item.pk, item.sk, slot), slot),
        )
        return WorkResult(verdict.outcome if ok else "lost_race", account_id, verdict.reason)

    def _event_service(self) -> EventService:
        if self._events is None:
            self._events = EventService()
        return self._events

    def _prepare(
        self,
        ws: str,
        event_type: str,
        record: CampaignRecord,
        item: LinkedInEnrollmentItem,
        account: LinkedInAccount,
        now: datetime,
        data: dict[str, Any],
    ) -> PreparedEvent | None:
        """The event to write in the success's transaction; None (logged) when its payload is refused, so that a
        bad payload never undoes the action."""
        payload = {
            "campaignId": record.campaign_id,
            "enrollmentId": item.enrollment_id,
            "linkedinAccountId": account.id,
        }
        payload.update(data)
        try:
            return prepare_event(self._event_service(), ws, event_type, payload, now=now)
        except Exception:
            get_logger().exception("linkedin event not emitted", extra={"type": event_type})
            return None


def pause_for_account(
    service: CampaignService, repo: OutreachRepository, ws: str, campaign_id: str, account: LinkedInAccount | None
) -> bool:
    """Pause one campaign for its disconnected account and remember it for the auto-resume sweep."""
    try:
        service.auto_pause(ws, campaign_id, dispositions.DISCONNECTED_PAUSE_REASON)
    except Exception as exc:  # already paused (by anyone), completed: leave it as it is
        get_logger().info("campaign not paused for the account", extra={"campaign_id": campaign_id, "why": str(exc)})
        return False
    repo.put_ref(keys.LI_PAUSED_PK, ws, campaign_id, account.id if account else None)
    return True


def message_of(body: str) -> ActionMessage:
    return ActionMessage.model_validate(json.loads(body))


def handle_batch(worker: ActionWorker, records: list[dict[str, Any]]) -> dict[str, Any]:
    """SQS partial batch response: a record whose handling raised is retried alone (then the DLQ)."""
    failures: list[dict[str, str]] = []
    for record in records:
        try:
            worker.handle(message_of(record["body"]))
        except Exception:
            get_logger().exception("linkedin action failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": str(record.get("messageId"))})
    return {"batchItemFailures": failures}
