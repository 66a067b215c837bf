"""Acceptances and inbound LinkedIn messages, found by the provider's webhooks and by polls, attributed to the
enrollments through the peer index (the enrollments a LinkedIn member was invited or messaged in from an account).

- `record_acceptance` (path A: the new-relation webhook; path B: the 6-hour relations poll with the relation's
  real time): stamps `li_accepted_at` once, counts the acceptance on the invite step unless the wait had already
  timed out, and moves a prospect waiting at `wait_accept` on. The status never moves back (a `replied` prospect
  stays `replied`; the stamp is still written).
- `attribute_inbound` is THE way an inbound row is written (tests/unit/outreach/test_inbound_ownership.py forbids
  any other): the webhook and the 30-minute poll both call it; the row's conditional put makes the second sight
  of a message a no-op. A reply stamps `li_replied_at`, counts on the step last done, stops the sequence when
  the campaign stops on reply, and emits `reply.received` (`channel: linkedin`) and `linkedin.reply_received`;
  otherwise a prospect waiting at `wait_reply` takes its replied branch at once (`linkedinOnReply`).
  A first sight also goes to the unified inbox (`InboundSink`, a `channel: linkedin` conversation). The inbox is
  an engine layer ABOVE outreach, so outreach never imports it: the entry points (the ingress route and the
  engine function) hand the inbox's sink in (kindling.inbox.linkedin.engine_sweeps).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Protocol

from pynamodb.transactions import TransactWrite

from kindling.campaigns.models import CampaignRecord
from kindling.campaigns.repository import CampaignRepository
from kindling.events.catalog import emit_event, prepare_event
from kindling.events.service import EventService, PreparedEvent
from kindling.linkedin.models import LinkedInAccount
from kindling.linkedin.usage import UsageRepository
from kindling.outreach import rules
from kindling.outreach.engine import IN_SEQUENCE, take_wait_branch
from kindling.outreach.repository import LinkedInEnrollmentItem, LinkedInInboundItem, OutreachRepository
from kindling.platform.clock import isoformat
from kindling.platform.errors import NotFound
from kindling.platform.observability import get_logger
from kindling.sending.planning import schedule_of
from kindling.sending.service import current_step


def replied_step(record: CampaignRecord, current: int) -> str | None:
    """The step a reply counts on: the last action step done before it (a wait step is not an action)."""
    for step in reversed(record.steps[: max(current, 0)]):
        if step.linkedin_action_type not in ("wait_accept", "wait_reply"):
            return step.id
    return record.steps[0].id if record.steps else None


class InboundSink(Protocol):
    """Where a newly seen inbound LinkedIn message also goes (the unified inbox)."""

    def linkedin_inbound(
        self,
        account: LinkedInAccount,
        *,
        message_id: str,
        chat_id: str | None,
        sender_member_id: str,
        text: str | None,
        received_at: datetime,
        campaign_id: str | None,
        prospect_id: str | None,
        contact_email: str | None,
    ) -> None: ...


@dataclass
class Attribution:
    stamped: list[str] = field(default_factory=list)  # enrollment ids stamped
    counted: list[str] = field(default_factory=list)
    advanced: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)


class Attributor:
    def __init__(
        self,
        repository: OutreachRepository | None = None,
        campaigns: CampaignRepository | None = None,
        events: EventService | None = None,
        rng: random.Random | None = None,
        inbox: InboundSink | None = None,
    ) -> None:
        self._inbox = inbox
        self._repo = repository or OutreachRepository()
        self._campaigns = campaigns or CampaignRepository()
        self._events = events
        self._rng = rng or random.Random()

    def _event_service(self) -> EventService:
        if self._events is None:
            self._events = EventService()
        return self._events

    def _campaign(self, workspace_id: str, campaign_id: str) -> CampaignRecord | None:
        try:
            return self._campaigns.get(workspace_id, campaign_id)
        except NotFound:
            return None

    def _prepare(
        self, workspace_id: str, event_type: str, data: dict[str, object], now: datetime
    ) -> PreparedEvent | None:
        """An event to write in the stamp's transaction; None (logged) when its payload is refused."""
        try:
            return prepare_event(self._event_service(), workspace_id, event_type, dict(data), now=now)
        except Exception:  # the stamp stands; a refused event must not undo it
            get_logger().exception("linkedin engine event not emitted", extra={"type": event_type})
            return None

    def _emit(self, workspace_id: str, event_type: str, data: dict[str, object], now: datetime) -> None:
        try:
            emit_event(self._event_service(), workspace_id, event_type, dict(data), now=now)
        except Exception:  # the stamp stands; a refused event must not undo it
            get_logger().exception("linkedin engine event not emitted", extra={"type": event_type})

    # --- acceptances -------------------------------------------------------------------------------------------
    def record_acceptance(
        self, account: LinkedInAccount, member_id: str, accepted_at: datetime, now: datetime
    ) -> Attribution:
        result = Attribution()
        ws = account.workspace_id
        tallied = False
        for peer in self._repo.peers(ws, account.id, member_id):
            item = self._repo.enrollment(ws, peer.campaign_id, peer.prospect_id)
            if item is None or item.li_invited_at is None or item.li_accepted_at is not None:
                continue
            late = bool(item.li_wait_timed_out)
            counter = None if late or not item.li_invite_step else (str(item.li_invite_step), "acceptances")
            record = self._campaign(ws, peer.campaign_id)
            # The account gained the connection even when the campaign no longer counts it (a late acceptance):
            # its tally counts it, on the day it happened, in the first stamp's own transaction (one member
            # invited in two campaigns from this account is one connection).
            also: list[Callable[[TransactWrite], None]] = []
            if not tallied:
                also.append(
                    partial(
                        UsageRepository.add_activity,
                        workspace_id=ws,
                        account_id=account.id,
                        kind="connections",
                        at=accepted_at,
                    )
                )
            event = None
            if counter is not None and record is not None:
                event = self._prepare(
                    ws,
                    "linkedin.invite_accepted",
                    {
                        "campaignId": record.campaign_id,
                        "enrollmentId": item.enrollment_id,
                        "linkedinAccountId": account.id,
                        "acceptedAt": isoformat(accepted_at) or "",
                        "prospectId": item.prospect_id,
                        "campaignName": record.name,
                        "invitedAt": isoformat(item.li_invited_at) or "",
                    },
                    now,
                )
            if event is not None:
                also.append(partial(EventService.record_in, prepared=event))
            stamped = self._repo.stamp(
                item,
                [LinkedInEnrollmentItem.li_accepted_at.set(accepted_at)],
                LinkedInEnrollmentItem.li_accepted_at.does_not_exist(),
                workspace_id=ws,
                counter=counter,
                now=now,
                also=also,
            )
            if not stamped:
                continue
            tallied = True
            result.stamped.append(item.enrollment_id)
            if event is not None:
                self._event_service().publish_recorded(event.event)
            if counter is None:
                continue
            result.counted.append(item.enrollment_id)
            if record is None:
                continue
            if item.status not in IN_SEQUENCE:
                continue  # stamped, counted, but a replied/stopped prospect does not move
            step = current_step(record.steps, int(item.current_step or 0))
            if step is None or step.linkedin_action_type != "wait_accept":
                continue
            position = record.steps.index(step)
            schedule = schedule_of(record.settings)
            if take_wait_branch(self._repo, ws, record, item, step, position, True, now, schedule, self._rng):
                result.advanced.append(item.enrollment_id)
        return result

    def _wake_wait_reply(
        self, ws: str, record: CampaignRecord, prospect_id: str, now: datetime, result: Attribution
    ) -> None:
        """A reply to a prospect waiting at `wait_reply` (a campaign that does not stop on reply) takes the replied
        branch at once: on to the next step, or the sequence ends as `replied` (`linkedinOnReply: stop`). Read again
        after the stamp: a worker that just moved the prospect to the wait is seen. One that moves it there after
        this read scheduled the wait at its deadline, where the tick takes the replied branch (`wait_met`)."""
        item = self._repo.enrollment(ws, record.campaign_id, prospect_id)
        if item is None or item.status not in IN_SEQUENCE:
            return
        step = current_step(record.steps, int(item.current_step or 0))
        if step is None or step.linkedin_action_type != "wait_reply":
            return
        position = record.steps.index(step)
        if not take_wait_branch(
            self._repo, ws, record, item, step, position, True, now, schedule_of(record.settings), self._rng
        ):
            return
        (result.advanced if rules.wait_outcome(step, True) == "continue" else result.stopped).append(item.enrollment_id)

    # --- inbound messages ----------------------------------------------------------------------------------------
    def attribute_inbound(
        self,
        account: LinkedInAccount,
        *,
        message_id: str,
        chat_id: str | None,
        sender_member_id: str | None,
        text: str | None,
        received_at: datetime,
        source: str,
        now: datetime,
    ) -> Attribution:
        """THE one way an inbound LinkedIn message is recorded and attributed."""
        result = Attribution()
        if not sender_member_id or sender_member_id == account.member_id:
            return result  # sent by the account itself (another device): not a reply
        ws = account.workspace_id
        row = LinkedInInboundItem(
            account_id=account.id,
            message_id=message_id,
            chat_id=chat_id,
            sender_member_id=sender_member_id,
            text=text,
            received_at=received_at,
            source=source,
        )
        if not self._repo.put_inbound(ws, row):
            return result  # seen before (the webhook and the poll both saw it)
        campaigns: list[str] = []
        thread: LinkedInEnrollmentItem | None = None  # the enrollment the inbox conversation belongs to
        for peer in self._repo.peers(ws, account.id, sender_member_id):
            item = self._repo.enrollment(ws, peer.campaign_id, peer.prospect_id)
            record = self._campaign(ws, peer.campaign_id)
            if item is not None and record is not None and thread is None:
                thread = item
            if item is None or record is None or item.li_replied_at is not None:
                continue
            step_id = replied_step(record, int(item.current_step or 0))
            stop = record.settings.stop_on_reply and item.status in IN_SEQUENCE
            stamped = self._repo.stamp(
                item,
                [
                    LinkedInEnrollmentItem.li_replied_at.set(received_at),
                    *([LinkedInEnrollmentItem.li_reply_step.set(step_id)] if step_id else []),
                ],
                LinkedInEnrollmentItem.li_replied_at.does_not_exist(),
                workspace_id=ws,
                counter=(step_id, "replies") if step_id else None,
                # a finished sequence records the reply as its outcome (nothing left to stop)
                status="replied" if stop or item.status == "completed" else None,
                now=now,
            )
            if not stamped:
                continue
            campaigns.append(record.campaign_id)
            result.stamped.append(item.enrollment_id)
            if stop:
                result.stopped.append(item.enrollment_id)
            at = isoformat(received_at) or ""
            self._emit(
                ws,
                "reply.received",
                {
                    "prospectId": item.prospect_id,
                    "prospectEmail": item.email,
                    "campaignId": record.campaign_id,
                    "receivedAt": at,
                    "messageId": message_id,
                    "channel": "linkedin",
                },
                now,
            )
            self._emit(
                ws,
                "linkedin.reply_received",
                {
                    "campaignId": record.campaign_id,
                    "enrollmentId": item.enrollment_id,
                    "linkedinAccountId": account.id,
                    "messageText": text or "",
                    "receivedAt": at,
                    "prospectId": item.prospect_id,
                    "threadId": chat_id or "",
                    "campaignName": record.name,
                },
                now,
            )
            if not stop:
                self._wake_wait_reply(ws, record, item.prospect_id, now, result)
        self._repo.set_inbound_campaigns(row, campaigns)
        if self._inbox is not None:
            try:
                self._inbox.linkedin_inbound(
                    account,
                    message_id=message_id,
                    chat_id=chat_id,
                    sender_member_id=sender_member_id,
                    text=text,
                    received_at=received_at,
                    campaign_id=thread.campaign_id if thread is not None else None,
                    prospect_id=thread.prospect_id if thread is not None else None,
                    contact_email=thread.email if thread is not None else None,
                )
            except Exception:  # the attribution stands; the inbox copy is logged as missing
                get_logger().exception("linkedin inbound not added to the inbox", extra={"message_id": message_id})
        return result
