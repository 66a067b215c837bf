"""The LinkedIn scheduler tick and the action worker (issue 18, "The engine").

The scheduler (EventBridge, every minute) reads only what is due: one query per `DUE#LI#<nn>` shard up to now, so
an idle tick costs the same at 1,000 or 100,000 enrolled. Per due enrollment it
- hands an email step (multichannel) to the email scheduler's shards;
- times a wait out (`wait_accept`: the prospect stops, later acceptances are not counted; `wait_reply`: the
  sequence goes on);
- moves an action outside the campaign's window to the window's next opening (campaign timezone);
- claims the (enrollment, step) action (a conditional put of its ledger item) and queues one message for it;
  the enrollment is looked at again after a lease only if the worker never finishes (a lost message).

The worker (SQS, partial batch response, DLQ) takes one message at a time:
1. the ledger item must still be claimed (a duplicate delivery finds it finished and stops);
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
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel

from kindling.campaigns.models import CampaignRecord, StepRecord
from kindling.campaigns.repository import CampaignRepository
from kindling.campaigns.service import CampaignService
from kindling.campaigns.templates import render_linkedin_preview
from kindling.enrollments.service import campaign_service
from kindling.events.catalog import emit_event
from kindling.events.service import EventService
from kindling.linkedin import dispositions
from kindling.linkedin.limits import LimitReached, PaceLimited, dimension_for_action
from kindling.linkedin.models import LinkedInAccount
from kindling.linkedin.provider import LinkedInProvider, ProviderError, ProviderProfile
from kindling.linkedin.repository import LinkedInAccountRepository
from kindling.linkedin.service import LinkedInAccountService
from kindling.linkedin.usage import Reservation, UsageRepository
from kindling.outreach import rules
from kindling.outreach.repository import Advance, LinkedInActionItem, LinkedInEnrollmentItem, OutreachRepository
from kindling.platform import aws, keys
from kindling.platform.clock import Clock, get_clock
from kindling.platform.errors import NotFound
from kindling.platform.observability import get_logger
from kindling.platform.queues import QueueMessage, delay_until, required_url, send_batches
from kindling.platform.settings import get_settings
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
    parked: int = 0
    unparked: int = 0
    timed_out: int = 0
    completed: int = 0
    errors: list[str] = field(default_factory=list)


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
        messages: list[ActionMessage] = []
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
            action_id = rules.action_id_for(item.enrollment_id, step.id)
            if self._repo.claim(workspace_id, action_id, item, step.id, position, now):
                report.claimed += 1
            else:
                ledger = self._repo.action(workspace_id, action_id)
                if ledger is None or ledger.status not in ("claimed", "sending"):
                    continue  # finished meanwhile: its final write moved the enrollment
                report.requeued += 1
            messages.append(
                ActionMessage(
                    workspace_id=workspace_id,
                    campaign_id=campaign_id,
                    prospect_id=item.prospect_id,
                    action_id=action_id,
                    step_id=step.id,
                    step_index=position,
                    send_at=now,
                )
            )
            self._repo.move_due(item, now + rules.LEASE)
        if messages:
            self._queue.send(messages, now)
            report.enqueued += len(messages)

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
        """A wait step came due: its deadline passed (timeout), or it had none yet (set it)."""
        accepting = step.linkedin_action_type == "wait_accept"
        if accepting and item.li_accepted_at is not None:
            return self._advance(workspace_id, record, item, position, now, schedule)
        deadline = item.li_wait_until
        if deadline is None:
            self._repo.set_wait(item, now + timedelta(days=rules.wait_days(step)))
            return False
        if deadline > now:
            self._repo.move_due(item, deadline)
            return False
        if accepting:
            reason = rules.WAIT_ACCEPT_TIMEOUT_REASON.format(days=rules.wait_days(step))
            return self._repo.finish(
                workspace_id,
                None,
                item,
                now,
                outcome="timed_out",
                advance=None,
                status="stopped",
                reason=reason,
                extra=[LinkedInEnrollmentItem.li_wait_timed_out.set(1)],
            )
        return self._advance(workspace_id, record, item, position, now, schedule)

    def _advance(
        self,
        workspace_id: str,
        record: CampaignRecord,
        item: LinkedInEnrollmentItem,
        position: int,
        now: datetime,
        schedule: windows.Schedule,
    ) -> bool:
        return self._repo.finish(
            workspace_id,
            None,
            item,
            now,
            outcome="done",
            advance=advance_after(record, item, position, now, schedule, self._rng),
        )


def advance_after(
    record: CampaignRecord,
    item: LinkedInEnrollmentItem,
    position: int,
    now: datetime,
    schedule: windows.Schedule,
    rng: random.Random,
) -> Advance:
    nxt, index, when, deadline = rules.next_due(record.steps, position, now, schedule, rng)
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
    ) -> None:
        self._provider = provider
        self._repo = repository or OutreachRepository()
        self._campaigns = campaigns or CampaignRepository()
        self._accounts = accounts or LinkedInAccountService(provider=provider)
        self._account_rows = LinkedInAccountRepository()
        self._usage = usage or UsageRepository()
        self._events = events
        self._clock = clock
        self._rng = rng or random.Random()

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def handle(self, message: ActionMessage) -> WorkResult:
        ws = message.workspace_id
        now = self._now()
        ledger, item, prospect_raw = self._repo.action_reads(
            ws, message.action_id, message.campaign_id, message.prospect_id
        )
        if ledger is None or ledger.status not in ("claimed", "sending"):
            return WorkResult("duplicate")
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
        account = chosen.account
        resumed = ledger.status == "sending"
        if not self._repo.start_attempt(ledger, account.id, now):
            return WorkResult("duplicate")
        context = prospect.model_dump(mode="json", exclude={"workspace_id", "custom_fields"})
        rendered = render_linkedin_preview(step, context, dict(prospect.custom_fields), None, item.enrollment_id)
        try:
            skipped, extra, peer = self._act(action, account, identifier, step, rendered, item, resumed, now)
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
        if skipped is not None and chosen.reservation is not None:
            self._usage.release(chosen.reservation)
        counter = None if skipped else COUNTERS.get(action)
        if action == "send_inmail" and skipped is None and not extra:
            counter = None
        advance = advance_after(record, item, message.step_index, now, schedule, self._rng)
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
        )
        if ok and action in ("send_message", "send_inmail") and skipped is None:
            self._emit(ws, "linkedin.message_sent", record, item, account, now, {})
        return WorkResult(("skipped" if skipped else "done") if ok else "lost_race", account.id, skipped)

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
    ) -> tuple[str | None, list[Any], tuple[str, str] | None]:
        """Do the action at the provider: (the skip reason or None, the enrollment attributes to set, the peer row)."""
        provider_account = str(account.provider_account_id)
        peer: tuple[str, str] | None = None
        extra: list[Any] = []
        skipped: str | None = None
        profile = self._provider.get_profile(provider_account, identifier)
        member = profile.provider_id
        extra.append(LinkedInEnrollmentItem.li_member_id.set(member))
        done_before = resumed and self._already_done(action, provider_account, profile, item, rendered.text)
        if done_before:  # the provider call happened before a crash: record it, never send it again
            get_logger().info("linkedin action found done at the provider", extra={"enrollment_id": item.enrollment_id})
        if action == "view_profile":
            pass  # get_profile is the view
        elif action == "send_invite":
            if not (done_before or profile.is_relationship or profile.invitation_pending):
                self._provider.send_invitation(provider_account, member, rendered.text or None)
            extra += [
                LinkedInEnrollmentItem.li_invited_at.set(now),
                LinkedInEnrollmentItem.li_invite_step.set(step.id),
                LinkedInEnrollmentItem.li_account_id.set(account.id),
            ]
            peer = (account.id, member)
        elif action in ("send_message", "send_inmail"):
            inmail = action == "send_inmail"
            if done_before:
                peer = (account.id, member)
            elif not inmail and not profile.is_relationship:
                skipped = rules.SKIP_NOT_CONNECTED
            elif inmail and (account.account_type or "premium") == "free":
                skipped = rules.SKIP_INMAIL_FREE
            else:
                sent = self._provider.start_chat(
                    provider_account,
                    member,
                    rendered.text or "",
                    inmail=inmail and not profile.is_relationship,
                    subject=rendered.subject if inmail else None,
                )
                extra.append(LinkedInEnrollmentItem.li_chat_id.set(sent.chat_id))
                peer = (account.id, member)
        elif action == "like_post":
            posts = self._provider.list_posts(provider_account, identifier)
            if not posts:
                skipped = rules.SKIP_NO_POST
            else:
                config = step.linkedin_engagement_config
                reaction = (getattr(config, "reaction_type", None) or "like") if config else "like"
                self._provider.add_post_reaction(provider_account, posts[0].id, str(reaction).lower())
        elif action == "endorse_skill":
            choice = dispositions.choose_skill([], getattr(step.linkedin_engagement_config, "preferred_skill", None))
            skipped = choice.reason or dispositions.SKIPPED_NO_SKILLS
        elif action == "comment":
            skipped = rules.SKIP_NO_COMMENT
        return skipped, extra, peer

    def _already_done(
        self,
        action: str,
        provider_account: str,
        profile: ProviderProfile,
        item: LinkedInEnrollmentItem,
        text: str | None,
    ) -> bool:
        """After a crash between the provider call and the final write: did the action reach the provider?"""
        if action == "send_invite":
            return profile.invitation_pending or profile.is_relationship
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
        return False  # views, likes: harmless to do again (the reservation under the action id counts once)

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
            ok = self._repo.finish(
                ws, ledger, item, now, outcome="failed", advance=advance, reason=verdict.reason, extra=extra
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

    def _emit(
        self,
        ws: str,
        event_type: str,
        record: CampaignRecord,
        item: LinkedInEnrollmentItem,
        account: LinkedInAccount,
        now: datetime,
        data: dict[str, Any],
    ) -> None:
        if self._events is None:
            self._events = EventService()
        payload = {
            "campaignId": record.campaign_id,
            "enrollmentId": item.enrollment_id,
            "linkedinAccountId": account.id,
        }
        payload.update(data)
        try:
            emit_event(self._events, ws, event_type, payload, now=now)
        except Exception:  # the action is recorded; a refused event payload must not undo it
            get_logger().exception("linkedin event not emitted", extra={"type": event_type})


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
