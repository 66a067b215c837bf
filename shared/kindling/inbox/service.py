"""Inbox rules: what a classified incoming message does (`decide`, pure), carrying that out (`InboxService.
handle_incoming`), and the unified inbox operations behind the API (list, read, label, reply, new conversation).

`decide` is the one table of consequences:

| kind (classifier)    | matched a campaign send                              | not matched                          |
|----------------------|------------------------------------------------------|--------------------------------------|
| reply                | conversation; reply recorded, stop (stopOnReply),    | conversation                         |
|                      | reply.received (first per prospect per campaign)    |                                      |
| reply: unsubscribe   | as a reply, and suppression (prospect suppressed),   | conversation; the sender suppressed  |
|                      | stop (unsubscribed), email.unsubscribed              |                                      |
| out_of_office        | conversation labelled out_of_office; never stops,    | conversation labelled out_of_office  |
|                      | never reply.received                                 |                                      |
| bounce, hard         | suppressed, enrollment bounced (stopOnBounce),       | recorded; counts for the domain      |
|                      | email.bounced, recorded; counts for the domain       |                                      |
| bounce, soft         | recorded                                             | recorded                             |
| complaint (ARF)      | counted for campaign safety; suppressed; stop        | the complainer suppressed            |
|                      | (unsubscribed): a feedback-loop report is an opt-out |                                      |
| warmup (and bounces/ | the warmup hook only: never a reply, never counted   |                                      |
| complaints about     | (a warmup hard bounce still counts for the domain)   |                                      |
| warmup mail)         |                                                      |                                      |
| other (success DSN)  | nothing                                              | nothing                              |

Matching: a reply's In-Reply-To/References against the send ledger (our Message-IDs name the ledger item), else
the sender's address and a send from this mailbox to it within `RECENT_SEND`; a bounce or complaint by the
original Message-ID, else the failed / complaining recipient the same way.

"Domain" means the warmup blocklist rule of `kindling.warmup.protection`: 3 hard bounces from one recipient domain
within 7 days put it on the global warmup blocklist.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pynamodb.transactions import TransactWrite

from kindling.bounceshield.service import BounceShieldService
from kindling.campaigns.repository import CampaignRepository
from kindling.events.catalog import emit_event
from kindling.events.service import EventService
from kindling.inbox.models import (
    BODY_LIMIT,
    SNIPPET_CHARS,
    AttachmentMeta,
    Conversation,
    ConversationCreate,
    ConversationFilters,
    ConversationUpdate,
    InboxMessage,
    MessageKind,
    Recipient,
    ReplyRequest,
)
from kindling.inbox.repository import BounceRecord, InboxRepository, Stale, digest
from kindling.mail.classify import Classification, Kind, classify
from kindling.mail.connection import TlsPolicy
from kindling.mail.imapsync import FetchedMessage
from kindling.mail.outcomes import Outcome
from kindling.mail.parsing import ParsedMessage, truncate_utf8
from kindling.mail.smtp import Batch, Outgoing, SmtpSender
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.mailboxes.secrets import KmsSecretBox, SecretBox
from kindling.platform.clock import Clock, get_clock, isoformat
from kindling.platform.errors import Conflict, NotFound, Unprocessable, ValidationFailed, field_error
from kindling.platform.observability import get_logger
from kindling.prospects.fields import InvalidEmail, normalize_email
from kindling.prospects.repository import ProspectRepository
from kindling.sending.compose import POLICY, html_to_text, one_line, reply_subject, thread_headers
from kindling.sending.ledger import SendLedgerRepository
from kindling.sending.manual import ManualReservation, release_manual_send, reserve_manual_send
from kindling.sending.safety import CampaignSafety
from kindling.sending.service import (
    continue_after_out_of_office,
    record_complaint,
    should_stop,
    stop_enrollment,
)
from kindling.suppressions.service import SuppressionService
from kindling.warmup.blocklist import WarmupBlocklistRepository, record_bounce
from kindling.warmup.protection import domain_of

if TYPE_CHECKING:
    from kindling.campaigns.models import CampaignSettings
    from kindling.events.service import EventService
    from kindling.sending.ledger import SendRecord

StopReason = Literal["replied", "bounced", "unsubscribed"]  # a subset of kindling.sending.service.StopReason
SuppressKind = Literal["unsubscribe", "bounce", "complaint"]
# The `reason` of the suppression entry and of `prospect.suppressed`, as the sender and the tracking links use them.
SUPPRESS_REASONS: dict[str, str] = {
    "unsubscribe": "unsubscribe",
    "bounce": "hard_bounce",
    "complaint": "spam_complaint",
}
RECENT_SEND = timedelta(days=30)  # how far back "the sender was sent a campaign email" looks
_MAX_ATTEMPTS = 5


# --- the decision (pure) ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actions:
    """Everything one incoming message causes; `decide` fills it, `InboxService` carries it out."""

    conversation: bool = False  # stored in the unified inbox
    record_reply: bool = False  # the prospect replied to the campaign: reply.received (deduplicated), stats
    stop: StopReason | None = None  # stop the enrollment, if the campaign's settings say so
    suppress: SuppressKind | None = None
    emit_bounced: bool = False
    emit_unsubscribed: bool = False
    bounce: Literal["hard", "soft"] | None = None  # keep a bounce record
    domain_bounce: bool = False  # counts toward the warmup blocklist rule
    complaint: bool = False  # counted for the campaign's safety check
    warmup: bool = False  # warmup traffic: handed to the warmup hook, nothing else


NOTHING = Actions()


def decide(
    kind: Kind,
    *,
    matched: bool,
    unsubscribe: bool = False,
    bounce_type: Literal["hard", "soft"] | None = None,
    about_warmup: bool = False,
) -> Actions:
    """The consequences of one classified message (see the module docstring's table)."""
    if kind == "warmup":
        return Actions(warmup=True)
    if kind == "other":
        return NOTHING
    if kind == "bounce":
        hard = bounce_type == "hard"
        if about_warmup:
            return Actions(warmup=True, bounce=bounce_type, domain_bounce=hard)
        if not hard:
            return Actions(bounce="soft")
        if not matched:
            return Actions(bounce="hard", domain_bounce=True)
        return Actions(
            bounce="hard",
            domain_bounce=True,
            suppress="bounce",
            stop="bounced",
            emit_bounced=True,
        )
    if kind == "complaint":
        if about_warmup:
            return Actions(warmup=True)
        if not matched:
            return Actions(suppress="complaint")
        return Actions(complaint=True, suppress="complaint", stop="unsubscribed")
    if kind == "out_of_office":
        return Actions(conversation=True)
    # kind == "reply"
    if unsubscribe:
        if not matched:
            return Actions(conversation=True, suppress="unsubscribe")
        return Actions(
            conversation=True,
            record_reply=True,
            stop="unsubscribed",
            suppress="unsubscribe",
            emit_unsubscribed=True,
        )
    if not matched:
        return Actions(conversation=True)
    return Actions(conversation=True, record_reply=True, stop="replied")


def conversation_label(current: str | None, incoming: str | None) -> str | None:
    """An auto-reply does not hide what a real reply said; anything else follows the latest message."""
    if incoming is None:
        return current
    if incoming == "out_of_office" and current not in (None, "out_of_office"):
        return current
    return incoming


# --- collaborators -------------------------------------------------------------------------------------------


class EnrollmentStopper(Protocol):
    """The sending engine's side of a reply, bounce, unsubscribe or complaint (kindling.sending.service)."""

    def should_stop(self, settings: CampaignSettings, reason: StopReason) -> bool: ...

    def stop(self, workspace_id: str, campaign_id: str, prospect_id: str, reason: StopReason, at: datetime) -> bool: ...

    def complaint(self, workspace_id: str, campaign_id: str, at: datetime) -> None: ...

    def bounced(self, workspace_id: str, campaign_id: str, at: datetime, email: str | None = None) -> None: ...

    def out_of_office(self, workspace_id: str, campaign_id: str, prospect_id: str, at: datetime) -> bool: ...


class SendingEngineStopper:
    def should_stop(self, settings: CampaignSettings, reason: StopReason) -> bool:
        return should_stop(settings, reason)

    def stop(self, workspace_id: str, campaign_id: str, prospect_id: str, reason: StopReason, at: datetime) -> bool:
        return stop_enrollment(workspace_id, campaign_id, prospect_id, reason, at)

    def complaint(self, workspace_id: str, campaign_id: str, at: datetime) -> None:
        """Counted where campaign safety reads it, and the campaign re-checked at once (3 mean cooldown)."""
        record_complaint(workspace_id, campaign_id, at)

    def bounced(self, workspace_id: str, campaign_id: str, at: datetime, email: str | None = None) -> None:
        """A late bounce moves the bounce rate: re-check the campaign now rather than at its next send, and count it
        for the workspace's Bounce Shield (its send was counted when it went out)."""
        CampaignSafety().check(workspace_id, campaign_id, at)
        if email is not None:
            BounceShieldService().late_bounce(workspace_id, campaign_id, email, at)

    def out_of_office(self, workspace_id: str, campaign_id: str, prospect_id: str, at: datetime) -> bool:
        return continue_after_out_of_office(workspace_id, campaign_id, prospect_id, at)


# (session, mailbox, folder, message, classification): the warmup issue's receiving-side actions.
WarmupHook = Callable[[Any, Mailbox, str, FetchedMessage, Classification], None]


@dataclass(frozen=True)
class Match:
    """The campaign send an incoming message answers (or reports on)."""

    send: SendRecord
    by: Literal["message_id", "recent_send"]

    @property
    def campaign_id(self) -> str:
        return self.send.campaign_id

    @property
    def prospect_id(self) -> str:
        return self.send.prospect_id


@dataclass(frozen=True)
class Processed:
    """What the sync did with one message (for logs, the sync summary and tests)."""

    key: str
    folder: str
    kind: Kind
    actions: Actions
    match: Match | None = None
    conversation_id: str | None = None
    stopped: bool = False


class SendFailed(Unprocessable):
    """No recipient's copy was accepted."""

    code = "send_failed"


def _replied_effect(campaign_id: str, prospect_id: str) -> str:
    """The once-only marker of a prospect's counted reply to a campaign (`replied` stats)."""
    return f"replied:{campaign_id}:{prospect_id}"


def _msg_id(mailbox_id: str, key: str) -> str:
    return "msg_" + digest(mailbox_id, key)[:24]


def campaign_conversation_id(mailbox_id: str, campaign_id: str, prospect_id: str) -> str:
    return "conv_" + digest("campaign", mailbox_id, campaign_id, prospect_id)[:24]


def thread_conversation_id(mailbox_id: str, first_key: str) -> str:
    return "conv_" + digest("thread", mailbox_id, first_key)[:24]


def _aware(when: datetime) -> datetime:
    """Dates with `-0000` (zone unknown, RFC 5322) parse naive: they are UTC for our ordering."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def snippet_of(text: str) -> str:
    return " ".join(text.split())[:SNIPPET_CHARS]


def _recipients(addresses: Sequence[str]) -> list[Recipient]:
    return [Recipient(email=a) for a in addresses]


class InboxService:
    def __init__(
        self,
        repository: InboxRepository | None = None,
        *,
        mailboxes: MailboxRepository | None = None,
        secrets: SecretBox | None = None,
        stopper: EnrollmentStopper | None = None,
        events: EventService | None = None,
        blocklist: WarmupBlocklistRepository | None = None,
        clock: Clock | None = None,
        on_warmup: WarmupHook | None = None,
        tls: TlsPolicy | None = None,
    ) -> None:
        self._repo = repository or InboxRepository()
        self._mailboxes = mailboxes
        self._secrets = secrets
        self._stopper = stopper or SendingEngineStopper()
        self._events = events
        self._blocklist = blocklist
        self._clock = clock
        self.on_warmup = on_warmup
        self._tls = tls

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    @property
    def repository(self) -> InboxRepository:
        return self._repo

    def _mailbox_repo(self) -> MailboxRepository:
        if self._mailboxes is None:
            self._mailboxes = MailboxRepository()
        return self._mailboxes

    def _event_service(self) -> EventService:
        if self._events is None:
            self._events = EventService()
        return self._events

    def _blocklist_repo(self) -> WarmupBlocklistRepository:
        if self._blocklist is None:
            self._blocklist = WarmupBlocklistRepository()
        return self._blocklist

    # === incoming mail (the sync) =============================================================================

    def handle_incoming(
        self, mailbox: Mailbox, folder: str, fetched: FetchedMessage, *, session: Any = None
    ) -> Processed:
        """Classify one new message and carry out what `decide` says. Safe to repeat for the same message:
        every write is keyed by the message or guarded by a once-only marker."""
        parsed = fetched.parse(text_limit=BODY_LIMIT)
        found = classify(parsed)
        now = self._now()
        ws = mailbox.workspace_id
        about_warmup = (found.bounce is not None and found.bounce.original_is_warmup) or (
            found.complaint is not None and found.complaint.original_is_warmup
        )
        match = None if found.kind in ("warmup", "other") or about_warmup else self._match(mailbox, found, now)
        actions = decide(
            found.kind,
            matched=match is not None,
            unsubscribe=found.unsubscribe,
            bounce_type=found.bounce.bounce_type if found.bounce is not None else None,
            about_warmup=about_warmup,
        )
        processed = Processed(fetched.key, folder, found.kind, actions, match)
        if actions.warmup and self.on_warmup is not None:
            self.on_warmup(session, mailbox, folder, fetched, found)
        if actions.conversation:
            processed = replace(
                processed, conversation_id=self._store_incoming(mailbox, folder, fetched, parsed, found, match)
            )
            if found.kind == "out_of_office" and processed.conversation_id is not None:
                self._out_of_office(ws, processed.conversation_id, now)
        address = self._subject_address(found, match)
        if actions.bounce is not None and found.bounce is not None:
            self._repo.record_bounce(
                BounceRecord(
                    workspace_id=ws,
                    mailbox_id=mailbox.id,
                    key=fetched.key,
                    bounce_type=actions.bounce,
                    recipient=address,
                    status=found.bounce.status,
                    diagnostic=found.bounce.diagnostic,
                    campaign_id=match.campaign_id if match else None,
                    prospect_id=match.prospect_id if match else None,
                    send_id=match.send.send_id if match else None,
                    warmup=about_warmup,
                    bounced_at=now,
                )
            )
        if actions.domain_bounce and address:
            self._count_domain_bounce(ws, domain_of(address), fetched.key, now)
        # The address campaigns send to: a reply from an alias or a forwarded bounce still suppresses the prospect.
        target = match.send.recipient if match is not None else address
        if actions.suppress is not None and target:
            self._suppress(ws, target, actions)
        # One complaint per complainer per campaign: a feedback loop that reports twice counts once.
        if (
            actions.complaint
            and match is not None
            and address
            and self._repo.claim_effect(ws, f"complaint:{match.campaign_id}:{address}", now)
        ):
            self._stopper.complaint(ws, match.campaign_id, now)
        if match is not None:
            self._campaign_effects(ws, mailbox, match, actions, found, parsed, now)
            stopped = self._stop(ws, match, actions, now)
            processed = replace(processed, stopped=stopped)
        get_logger().info(
            "inbox message",
            extra={
                "mailbox_id": mailbox.id,
                "folder": folder,
                "kind": found.kind,
                "matched": match.by if match else None,
                "campaign_id": match.campaign_id if match else None,
                "stopped": processed.stopped,
            },
        )
        return processed

    @staticmethod
    def _subject_address(found: Classification, match: Match | None) -> str | None:
        """The address the message is about: the replier, the bounced recipient or the complainer."""
        if found.bounce is not None:
            return found.bounce.recipient or (match.send.recipient if match else None)
        if found.complaint is not None:
            return found.complaint.original_recipient or (match.send.recipient if match else None)
        return found.sender

    def _match(self, mailbox: Mailbox, found: Classification, now: datetime) -> Match | None:
        ledger = SendLedgerRepository()
        ws = mailbox.workspace_id
        if found.bounce is not None:
            ids = [found.bounce.original_message_id] if found.bounce.original_message_id else []
            address = found.bounce.recipient
        elif found.complaint is not None:
            ids = [found.complaint.original_message_id] if found.complaint.original_message_id else []
            address = found.complaint.original_recipient
        else:
            ids = list(found.referenced_ids)
            address = found.sender
        if ids:
            record = ledger.find_by_message_ids(ws, ids)
            if record is not None:
                return Match(record, "message_id")
        if address:
            record = ledger.latest_to_recipient(ws, mailbox.id, address, now - RECENT_SEND)
            if record is not None:
                return Match(record, "recent_send")
        return None

    # --- effects ---------------------------------------------------------------------------------------------

    def _campaign_effects(
        self,
        ws: str,
        mailbox: Mailbox,
        match: Match,
        actions: Actions,
        found: Classification,
        parsed: ParsedMessage,
        now: datetime,
    ) -> None:
        send = match.send
        events = self._event_service()
        campaigns = CampaignRepository()
        prospect_email = send.recipient
        counters: dict[str, int] = {}
        # Events deduplicate at emission; counters go up once per effect marker (a crash between the marker and the
        # counter loses that one count rather than double it on the retry).
        if actions.record_reply:
            # Every other campaign that stops on replies skips this person from now on (checked at claim time).
            ProspectRepository().mark_replied(ws, prospect_email, now)
            emit_event(
                events,
                ws,
                "reply.received",
                {
                    "prospectId": send.prospect_id,
                    "prospectEmail": prospect_email,
                    "campaignId": send.campaign_id,
                    "mailboxId": mailbox.id,
                    "subject": parsed.subject,
                    "messageId": parsed.message_id,
                    "receivedAt": isoformat(now),
                    "channel": "email",
                },
                now=now,
            )
            if self._repo.claim_effect(
                ws,
                _replied_effect(send.campaign_id, send.prospect_id),
                now,
                step_id=send.step_id or None,
                letter=send.variant if send.step_id else None,
            ):
                counters["replied"] = 1
        if actions.emit_bounced and found.bounce is not None:
            reason = found.bounce.diagnostic or found.bounce.status
            emit_event(
                events,
                ws,
                "email.bounced",
                {
                    "prospectId": send.prospect_id,
                    "prospectEmail": prospect_email,
                    "campaignId": send.campaign_id,
                    "mailboxId": mailbox.id,
                    "bounceType": found.bounce.bounce_type,
                    "bounceReason": reason[:500] if reason else None,
                    "bouncedAt": isoformat(now),
                },
                now=now,
            )
            if self._repo.claim_effect(ws, f"bounced:{send.send_id}", now):
                counters["bounced"] = 1
        if actions.emit_unsubscribed:
            emit_event(
                events,
                ws,
                "email.unsubscribed",
                {
                    "prospectId": send.prospect_id,
                    "prospectEmail": prospect_email,
                    "campaignId": send.campaign_id,
                    "unsubscribedAt": isoformat(now),
                },
                now=now,
            )
            if self._repo.claim_effect(ws, f"unsubscribed:{send.campaign_id}:{send.prospect_id}", now):
                counters["unsubscribed"] = 1
        if counters:
            step_id = send.step_id or None
            with contextlib.suppress(NotFound):
                campaigns.increment_stats(
                    ws,
                    send.campaign_id,
                    step_id=step_id,
                    letter=send.variant if step_id else None,
                    **counters,
                )
            if "bounced" in counters:
                self._stopper.bounced(ws, send.campaign_id, now, prospect_email)

    def _stop(self, ws: str, match: Match, actions: Actions, now: datetime) -> bool:
        if actions.stop is None:
            return False

        try:
            campaign = CampaignRepository().get(ws, match.campaign_id)
        except NotFound:
            return False
        if not self._stopper.should_stop(campaign.settings, actions.stop):
            return False
        return self._stopper.stop(ws, match.campaign_id, match.prospect_id, actions.stop, now)

    def _suppress(self, ws: str, address: str, actions: Actions) -> None:
        """The address goes on the blocklist (source unsubscribe / bounce / complaint), as the sender and the
        unsubscribe link do it: a prospect with that address becomes `suppressed` and `prospect.suppressed` fires."""

        assert actions.suppress is not None
        try:
            SuppressionService(events=self._event_service(), clock=self._clock).suppress_emails(
                ws, [address], reason=SUPPRESS_REASONS[actions.suppress], source=actions.suppress
            )
        except ValidationFailed:
            get_logger().warning("inbox: not an address to suppress", extra={"source": actions.suppress})

    def _count_domain_bounce(self, ws: str, domain: str, key: str, now: datetime) -> None:
        record_bounce(domain, now, f"{ws}#{key}", repository=self._blocklist_repo())

    # --- storing incoming messages -------------------------------------------------------------------------

    def _store_incoming(
        self,
        mailbox: Mailbox,
        folder: str,
        fetched: FetchedMessage,
        parsed: ParsedMessage,
        found: Classification,
        match: Match | None,
    ) -> str:
        ws = mailbox.workspace_id
        if match is not None:
            cid = campaign_conversation_id(mailbox.id, match.campaign_id, match.prospect_id)
        else:
            cid = self._repo.conversation_for(ws, mailbox.id, parsed.referenced_ids) or thread_conversation_id(
                mailbox.id, fetched.key
            )
        kind: MessageKind = "out_of_office" if found.kind == "out_of_office" else "reply"
        text = parsed.text
        html = parsed.html
        references = list(parsed.references)
        for mid in parsed.in_reply_to:
            if mid not in references:
                references.append(mid)
        message = InboxMessage(
            id=_msg_id(mailbox.id, fetched.key),
            conversation_id=cid,
            direction="incoming",
            kind=kind,
            mailbox_id=mailbox.id,
            message_id=parsed.message_id,
            references=references,
            reply_to=parsed.reply_to,
            subject=parsed.subject,
            from_email=parsed.from_address,
            from_name=parsed.from_name,
            to_recipients=_recipients(parsed.to),
            cc_recipients=_recipients(parsed.cc),
            text_body=text,
            html_body=html,
            text_truncated=parsed.text_truncated or (fetched.truncated and parsed.text_source == "plain"),
            html_truncated=parsed.html_truncated,
            label=found.label,
            email_date=_aware(parsed.date or fetched.internal_date or self._now()),
            recorded_at=self._now(),
            is_read="\\Seen" in fetched.flags,
            attachments=[
                AttachmentMeta(id=f"att_{n}", filename=a.filename, content_type=a.content_type, size=a.size)
                for n, a in enumerate(parsed.attachments, start=1)
            ],
            folder=folder,
        )
        contact = parsed.from_address or (match.send.recipient if match else "") or "unknown"
        snippet = snippet_of(found.reply_text or text)
        self._append(
            ws,
            cid,
            message,
            lambda: Conversation(
                id=cid,
                workspace_id=ws,
                mailbox_id=mailbox.id,
                campaign_id=match.campaign_id if match else None,
                prospect_id=match.prospect_id if match else None,
                contact_email=contact,
                contact_name=parsed.from_name,
                subject=parsed.subject,
                label=found.label,
                snippet=snippet,
                last_message_at=message.recorded_at,
                created_at=self._now(),
                updated_at=self._now(),
            ),
            snippet=snippet,
        )
        self._repo.put_refs(ws, mailbox.id, [m for m in (parsed.message_id, *parsed.in_reply_to) if m], cid)
        return cid

    def _append(
        self,
        ws: str,
        cid: str,
        message: InboxMessage,
        new: Callable[[], Conversation],
        *,
        snippet: str,
        likely_new: bool = False,
        also: Sequence[Callable[[TransactWrite], None]] = (),
    ) -> Conversation:
        """Add `message` to conversation `cid` (created by `new()` when absent), retrying on a concurrent change.
        `likely_new`: first try to create the conversation without reading it (one write instead of a read and a
        write when it is new; a read more when it was not)."""
        for attempt in range(_MAX_ATTEMPTS):
            current = None if likely_new and attempt == 0 else self._repo.find_conversation(ws, cid)
            base = current or new().model_copy(update={"label": None, "unread_count": 0, "message_count": 0})
            latest = message.recorded_at >= base.last_message_at or current is None
            updated = base.model_copy(
                update={
                    "message_count": base.message_count + 1,
                    "unread_count": base.unread_count + (0 if message.is_read else 1),
                    "last_message_at": max(base.last_message_at, message.recorded_at),
                    "snippet": snippet if latest else base.snippet,
                    "label": conversation_label(base.label, message.label) if latest else base.label or message.label,
                    "contact_name": base.contact_name
                    or (message.from_name if message.direction == "incoming" else None),
                    "updated_at": self._now(),
                }
            )
            stored = message.model_copy(update={"seq": base.message_count + 1})
            try:
                self._repo.add_message(
                    updated, stored, expected_version=None if current is None else current.version, also=also
                )
            except Stale:
                continue
            return updated
        raise Conflict(f"Conversation {cid} is being changed concurrently; retry.")

    # === the unified inbox (API) ===============================================================================

    def page(
        self, workspace_id: str, filters: ConversationFilters, limit: int, cursor: str | None
    ) -> tuple[list[Conversation], str | None]:
        return self._repo.page(workspace_id, filters, limit, cursor)

    def get(self, workspace_id: str, conversation_id: str) -> tuple[Conversation, list[InboxMessage]]:
        conversation = self._repo.get_conversation(workspace_id, conversation_id)
        return conversation, self._repo.messages(workspace_id, conversation_id)

    def update(
        self, workspace_id: str, conversation_id: str, patch: ConversationUpdate
    ) -> tuple[Conversation, list[InboxMessage]]:
        fields = patch.model_fields_set
        for _ in range(_MAX_ATTEMPTS):
            current = self._repo.get_conversation(workspace_id, conversation_id)
            messages = self._repo.messages(workspace_id, conversation_id)
            changes: dict[str, Any] = {}
            if "label_override" in fields:
                changes["label_override"] = patch.label_override
            changed_messages: list[InboxMessage] = []
            if patch.is_read is not None:
                changed_messages = [
                    m.model_copy(update={"is_read": patch.is_read}) for m in messages if m.is_read != patch.is_read
                ]
                unread = 0 if patch.is_read else sum(1 for m in messages if m.direction == "incoming")
                changes["unread_count"] = unread
            if not changes:
                return current, messages
            changes["updated_at"] = self._now()
            try:
                saved = self._repo.save_conversation(current.model_copy(update=changes), current.version)
            except Stale:
                continue
            self._repo.set_messages_read(workspace_id, conversation_id, changed_messages)
            if patch.label_override == "out_of_office":
                self._out_of_office(workspace_id, conversation_id, changes["updated_at"], saved)
            by_id = {m.id: m for m in changed_messages}
            return saved, [by_id.get(m.id, m) for m in messages]
        raise Conflict(f"Conversation {conversation_id} is being changed concurrently; retry.")

    def _out_of_office(
        self, workspace_id: str, conversation_id: str, at: datetime, conversation: Conversation | None = None
    ) -> bool:
        """A campaign conversation whose label is now "out of office" (detected by the sync, or set by a person in
        the inbox): the prospect's sequence goes on, through the sending engine's one rule for it. A conversation
        whose label still says a real reply came (an auto-reply never hides one) changes nothing."""
        current = conversation or self._repo.find_conversation(workspace_id, conversation_id)
        if current is None or current.campaign_id is None or current.prospect_id is None:
            return False
        if current.effective_label != "out_of_office":
            return False
        if not self._stopper.out_of_office(workspace_id, current.campaign_id, current.prospect_id, at):
            return False
        # The reply that stopped the sequence was an out-of-office: it no longer counts as the campaign's reply.
        counted = self._repo.withdraw_effect(workspace_id, _replied_effect(current.campaign_id, current.prospect_id))
        if counted is not None:
            with contextlib.suppress(NotFound):
                CampaignRepository().increment_stats(
                    workspace_id,
                    current.campaign_id,
                    step_id=counted.step_id,
                    letter=counted.letter if counted.step_id else None,
                    replied=-1,
                )
        return True

    def append_message(
        self,
        ws: str,
        cid: str,
        message: InboxMessage,
        new: Callable[[], Conversation],
        *,
        snippet: str,
        likely_new: bool = False,
        also: Sequence[Callable[[TransactWrite], None]] = (),
    ) -> Conversation:
        """Add `message` to conversation `cid`, created by `new()` when absent (kindling.inbox.linkedin's way in).
        `also` (another owner's unconditional items) is committed with it (`InboxRepository.add_message`)."""
        return self._append(ws, cid, message, new, snippet=snippet, likely_new=likely_new, also=also)

    def reply(self, workspace_id: str, conversation_id: str, body: ReplyRequest) -> InboxMessage:
        """Send `body` through the conversation's mailbox, threaded under its latest message, and record it. A
        LinkedIn conversation's reply goes through the provider instead: callers use kindling.inbox.linkedin.reply,
        which picks the channel."""
        conversation, messages = self.get(workspace_id, conversation_id)
        if conversation.channel == "linkedin":
            # kindling.inbox.linkedin.reply dispatches (it builds on this module, so this one cannot call it).
            raise Conflict(
                "A LinkedIn conversation's reply goes through the LinkedIn provider.", code="linkedin_conversation"
            )
        mailbox = self._usable_mailbox(workspace_id, conversation.mailbox_id)
        parent = messages[-1] if messages else None
        last_incoming = next((m for m in reversed(messages) if m.direction == "incoming"), None)
        to = (last_incoming.reply_to or last_incoming.from_email) if last_incoming else None
        to = to or conversation.contact_email
        reservation = self._reply_gates(workspace_id, mailbox, to)
        thread: list[str] = []
        if parent is not None:
            thread = [*parent.references, *([parent.message_id] if parent.message_id else [])]

        subject = reply_subject(parent.subject if parent is not None and parent.subject else conversation.subject)
        message = self._send(
            mailbox, [Recipient(email=to)], subject, body.content, thread, conversation_id, reservation
        )
        self._append(workspace_id, conversation_id, message, lambda: conversation, snippet=conversation.snippet)
        if message.message_id:
            self._repo.put_refs(workspace_id, mailbox.id, [message.message_id], conversation_id)
        return message

    def _reply_gates(self, workspace_id: str, mailbox: Mailbox, to: str) -> ManualReservation:
        """A reply goes through the campaign sends' gates (kindling.sending.manual): suppression, the mailbox's
        status, its caps and its pacer; it then counts against the mailbox's day (the reservation returned)."""

        if SuppressionService().check(workspace_id, to).blocked:
            raise Unprocessable(
                "The recipient is suppressed.",
                code="recipient_suppressed",
                details=[field_error("to", f"{to} is suppressed", "suppressed")],
            )
        return reserve_manual_send(workspace_id, mailbox, [to], self._now())

    def create(self, workspace_id: str, body: ConversationCreate) -> tuple[Conversation, list[InboxMessage]]:
        """A new conversation whose first message is sent now (to a non-suppressed address)."""
        recipients: list[Recipient] = []
        errors = []
        for index, item in enumerate(body.to):
            try:
                recipients.append(Recipient(email=normalize_email(item.email), name=item.name))
            except InvalidEmail as exc:
                errors.append(field_error(f"to.{index}.email", str(exc)))
        if errors:
            raise ValidationFailed("The request is invalid.", details=errors)
        checks = SuppressionService().check_many(workspace_id, [r.email for r in recipients])
        blocked = [email for email, check in checks.items() if check.blocked]
        if blocked:
            raise Unprocessable(
                "A recipient is suppressed.",
                code="recipient_suppressed",
                details=[field_error("to", f"{email} is suppressed", "suppressed") for email in blocked],
            )
        mailbox = self._sending_mailbox(workspace_id, body.mailbox_id)
        # The same gates as a reply (and a campaign send): the mailbox's caps and pacer, one send per recipient.
        reservation = reserve_manual_send(workspace_id, mailbox, [r.email for r in recipients], self._now())
        cid = "conv_" + uuid.uuid4().hex[:24]
        message = self._send(mailbox, recipients, body.subject, body.content, [], cid, reservation)
        now = self._now()
        first = recipients[0]
        conversation = Conversation(
            id=cid,
            workspace_id=workspace_id,
            mailbox_id=mailbox.id,
            contact_email=first.email,
            contact_name=first.name,
            subject=message.subject,
            last_message_at=message.recorded_at,
            created_at=now,
            updated_at=now,
        )
        snippet = snippet_of(message.text_body)
        saved = self._append(workspace_id, cid, message, lambda: conversation, snippet=snippet)
        if message.message_id:
            self._repo.put_refs(workspace_id, mailbox.id, [message.message_id], cid)
        return saved, [message]

    # --- sending ---------------------------------------------------------------------------------------------

    def _usable_mailbox(self, workspace_id: str, mailbox_id: str) -> Mailbox:
        try:
            mailbox = self._mailbox_repo().get(workspace_id, mailbox_id)
        except NotFound as exc:
            raise Unprocessable("The conversation's mailbox no longer exists.", code="mailbox_unavailable") from exc
        if mailbox.is_deleted:
            raise Unprocessable("The conversation's mailbox is deleted.", code="mailbox_unavailable")
        return mailbox

    def _sending_mailbox(self, workspace_id: str, mailbox_id: str | None) -> Mailbox:
        repo = self._mailbox_repo()
        if mailbox_id is not None:
            mailbox = repo.get(workspace_id, mailbox_id)
            if mailbox.status != "connected":
                raise Unprocessable(
                    f"Mailbox {mailbox_id} is not connected (status {mailbox.status}).",
                    code="mailbox_unavailable",
                    details=[field_error("mailbox_id", "not a connected mailbox", "unusable")],
                )
            return mailbox
        cursor: str | None = None
        while True:
            page = repo.list_page(workspace_id, "connected", 100, cursor)
            if page.items:
                return sorted(page.items, key=lambda m: m.created_at)[0]
            if page.next_cursor is None:
                raise Unprocessable("No connected mailbox to send from.", code="no_active_mailbox")
            cursor = page.next_cursor

    def _send(
        self,
        mailbox: Mailbox,
        to: Sequence[Recipient],
        subject: str,
        html: str,
        thread: Sequence[str],
        conversation_id: str,
        reservation: ManualReservation,
    ) -> InboxMessage:
        """Send one copy per recipient; the copies the server refused give their sends back to the mailbox's day
        (and the pacer slot when none went out). A copy whose connection died after DATA started (`unknown`) may
        have been delivered: it keeps its send."""
        now = self._now()
        domain = mailbox.email_address.rsplit("@", 1)[-1]
        message_id = f"<{uuid.uuid4().hex}@{domain}>"
        msg = EmailMessage(policy=POLICY)
        msg["From"] = Address(display_name=one_line(mailbox.display_name or ""), addr_spec=mailbox.email_address)
        msg["To"] = ", ".join(str(Address(display_name=one_line(r.name or ""), addr_spec=r.email)) for r in to)
        msg["Subject"] = one_line(subject)
        msg["Date"] = format_datetime(now.astimezone(UTC))
        msg["Message-ID"] = message_id
        in_reply_to, references = thread_headers(thread)
        if in_reply_to is not None and references is not None:
            msg["In-Reply-To"] = in_reply_to
            msg["References"] = references
        text = html_to_text(html)
        msg.set_content(text, charset="utf-8")
        msg.add_alternative(html, subtype="html", charset="utf-8")
        data = msg.as_bytes(policy=POLICY)

        secrets = self._secrets or KmsSecretBox()
        try:
            password = secrets.decrypt(mailbox.workspace_id, mailbox.id, mailbox.smtp_password_enc)
        except Exception:
            release_manual_send(reservation, range(len(to)))  # nothing was handed to SMTP
            raise
        endpoint = mailbox.smtp_endpoint(password)
        sender = SmtpSender(tls=self._tls or TlsPolicy.from_settings())
        batch = Batch(
            mailbox.id, endpoint, [Outgoing(f"{n}", mailbox.email_address, r.email, data) for n, r in enumerate(to)]
        )
        report = asyncio.run(sender.send_batch(batch))
        sent = [to[int(r.key)] for r in report.results if r.outcome is Outcome.SENT]
        failed = [r for r in report.results if r.outcome is not Outcome.SENT]
        release_manual_send(reservation, [int(r.key) for r in failed if r.outcome is not Outcome.UNKNOWN])
        if failed:
            get_logger().warning(
                "inbox send refused",
                extra={"mailbox_id": mailbox.id, "outcomes": [str(r.outcome) for r in failed], "sent": len(sent)},
            )
        if not sent:
            raise SendFailed(
                "The mailbox could not send the message.",
                details=[
                    field_error("to", f"{to[int(r.key)].email}: {r.detail or r.outcome}", str(r.outcome))
                    for r in failed
                ],
            )
        stored_text, text_cut = truncate_utf8(text, BODY_LIMIT)
        stored_html, html_cut = truncate_utf8(html, BODY_LIMIT)
        return InboxMessage(
            id="msg_" + uuid.uuid4().hex[:24],
            conversation_id=conversation_id,
            direction="outgoing",
            kind="sent",
            mailbox_id=mailbox.id,
            message_id=message_id,
            references=list(thread),
            subject=str(msg["Subject"]),
            from_email=mailbox.email_address,
            from_name=mailbox.display_name,
            to_recipients=list(sent),
            text_body=stored_text,
            html_body=stored_html,
            text_truncated=text_cut,
            html_truncated=html_cut,
            email_date=now,
            recorded_at=now,
            is_read=True,
        )
