"""LinkedIn conversations in the unified inbox (issue 18).

- Inbound: the LinkedIn engine's one attribution function (kindling.outreach.attribution.Attributor.
  attribute_inbound) hands each newly seen inbound message to `LinkedInInbox.linkedin_inbound` (its `InboundSink`),
  which adds it to the account's conversation with that chat (`channel: "linkedin"`; created on the first message).
  The inbox sits above outreach in the layers, so outreach cannot import this module: the entry points build their
  sweeps with `engine_sweeps`, which wires the inbox in.
- The engine's own messages: the action worker hands each campaign message or InMail it sent to
  `LinkedInInbox.linkedin_outbound` (its `OutboundSink`, kindling.outreach.outbound), which files it as an outgoing
  message of the same (account, chat) conversation, so the prospect's answer lands beside the message it answers.
- Outbound: `LinkedInInbox.reply` sends a reply into the chat from the thread's account through the provider,
  under the account's `messages_day` cap and its 2-per-minute pace (LinkedInAccountService.send_chat_message:
  reserved before the call, given back when the provider refuses), and records it as an outgoing message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from pynamodb.transactions import TransactWrite

from kindling.inbox.models import Conversation, InboxMessage, ReplyRequest
from kindling.inbox.repository import digest
from kindling.inbox.service import InboxService, snippet_of
from kindling.linkedin.models import LinkedInAccount
from kindling.linkedin.provider import LinkedInProvider
from kindling.linkedin.repository import LinkedInAccountRepository
from kindling.linkedin.service import LinkedInAccountService
from kindling.linkedin.usage import UsageRepository
from kindling.outreach.engine import ActionWorker
from kindling.outreach.outbound import SentLinkedInMessage
from kindling.outreach.sweeps import EngineSweeps
from kindling.platform.clock import Clock, get_clock
from kindling.platform.errors import Conflict, NotFound, Unprocessable, ValidationFailed, field_error
from kindling.sending.compose import html_to_text

SUBJECT = "LinkedIn conversation"


def linkedin_conversation_id(account_id: str, chat_or_member: str) -> str:
    """One conversation per (LinkedIn account, chat): the same chat always lands in the same conversation."""
    return "conv_" + digest("linkedin", account_id, chat_or_member)[:24]


def linkedin_message_id(account_id: str, provider_message_id: str) -> str:
    return "msg_" + digest("linkedin", account_id, provider_message_id)[:24]


class LinkedInInbox:
    def __init__(
        self,
        inbox: InboxService | None = None,
        *,
        accounts: LinkedInAccountService | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._inbox = inbox or InboxService(clock=clock)
        self._accounts = accounts
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def _account_service(self) -> LinkedInAccountService:
        if self._accounts is None:
            self._accounts = LinkedInAccountService()
        return self._accounts

    # --- inbound (the engine's InboundSink) ------------------------------------------------------------------
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
    ) -> None:
        ws = account.workspace_id
        cid = linkedin_conversation_id(account.id, chat_id or sender_member_id)
        now = self._now()
        body = text or ""
        message = InboxMessage(
            id=linkedin_message_id(account.id, message_id),
            conversation_id=cid,
            direction="incoming",
            kind="reply",
            mailbox_id=account.id,
            message_id=None,
            subject=SUBJECT,
            from_email=contact_email,
            text_body=body,
            email_date=received_at,
            recorded_at=now,
            is_read=False,
            linkedin_message_id=message_id,
            linkedin_chat_id=chat_id,
        )
        snippet = snippet_of(body)

        def new() -> Conversation:
            return Conversation(
                id=cid,
                workspace_id=ws,
                mailbox_id=account.id,
                channel="linkedin",
                linkedin_chat_id=chat_id,
                linkedin_member_id=sender_member_id,
                campaign_id=campaign_id,
                prospect_id=prospect_id,
                contact_email=contact_email or "",
                subject=SUBJECT,
                snippet=snippet,
                last_message_at=now,
                created_at=now,
                updated_at=now,
            )

        self._inbox.append_message(ws, cid, message, new, snippet=snippet)

    # --- the engine's own messages (its OutboundSink) ----------------------------------------------------------
    def linkedin_outbound(
        self, sent: SentLinkedInMessage, also: Sequence[Callable[[TransactWrite], None]] = ()
    ) -> None:
        account = sent.account
        ws = account.workspace_id
        cid = linkedin_conversation_id(account.id, sent.chat_id)  # the id the member's replies land in
        # the provider's message id names it (a redelivered or resumed action files it once); failing that, the action
        mid = linkedin_message_id(account.id, sent.provider_message_id or f"action:{sent.action_id}")
        message = InboxMessage(
            id=mid,
            conversation_id=cid,
            direction="outgoing",
            kind="sent",
            mailbox_id=account.id,
            message_id=None,
            subject=sent.subject or SUBJECT,
            from_email=None,
            from_name=account.name,
            text_body=sent.text,
            email_date=sent.sent_at,
            recorded_at=sent.sent_at,
            is_read=True,
            linkedin_message_id=sent.provider_message_id,
            linkedin_chat_id=sent.chat_id,
            campaign_id=sent.campaign_id,
            prospect_id=sent.prospect_id,
            enrollment_id=sent.enrollment_id,
        )
        snippet = snippet_of(sent.text)

        def new() -> Conversation:
            return Conversation(
                id=cid,
                workspace_id=ws,
                mailbox_id=account.id,
                channel="linkedin",
                linkedin_chat_id=sent.chat_id,
                linkedin_member_id=sent.member_id,
                campaign_id=sent.campaign_id,
                prospect_id=sent.prospect_id,
                contact_email=sent.contact_email or "",
                contact_name=sent.contact_name,
                subject=SUBJECT,
                snippet=snippet,
                last_message_at=sent.sent_at,
                created_at=sent.sent_at,
                updated_at=sent.sent_at,
            )

        # an enrollment's first message usually opens the conversation: try creating it before reading it
        self._inbox.append_message(ws, cid, message, new, snippet=snippet, likely_new=sent.opens_chat, also=also)

    # --- outbound ----------------------------------------------------------------------------------------------
    def reply(self, conversation: Conversation, body: ReplyRequest) -> InboxMessage:
        ws = conversation.workspace_id
        try:
            account = LinkedInAccountRepository().get(ws, conversation.mailbox_id)
        except NotFound as exc:
            raise Unprocessable(
                "The conversation's LinkedIn account no longer exists.", code="mailbox_unavailable"
            ) from exc
        if account.status != "connected" or account.provider_account_id is None:
            raise Unprocessable(
                f"The conversation's LinkedIn account is {account.status}; reconnect it to reply.",
                code="mailbox_unavailable",
            )
        text = html_to_text(body.content).strip()
        if not text:  # LinkedIn takes text: markup with no text in it would send an empty message
            raise ValidationFailed(
                "The request is invalid.", details=[field_error("content", "has no text to send on LinkedIn")]
            )
        try:
            sent = self._account_service().send_chat_message(
                account, text, chat_id=conversation.linkedin_chat_id, member_id=conversation.linkedin_member_id
            )
        except Conflict as exc:
            if exc.code != "linkedin_account_not_connected":
                raise
            # the provider said the account lost its session (the account is flipped): the email path's code
            raise Unprocessable(exc.message, code="mailbox_unavailable") from exc
        now = self._now()
        message = InboxMessage(
            id=linkedin_message_id(account.id, sent.message_id or uuid.uuid4().hex),
            conversation_id=conversation.id,
            direction="outgoing",
            kind="sent",
            mailbox_id=account.id,
            message_id=None,
            subject=SUBJECT,
            from_email=None,
            from_name=account.name,
            text_body=text,
            email_date=now,
            recorded_at=now,
            is_read=True,
            linkedin_message_id=sent.message_id,
            linkedin_chat_id=sent.chat_id,
        )
        with_chat = conversation.model_copy(update={"linkedin_chat_id": conversation.linkedin_chat_id or sent.chat_id})
        # the account's `messages` tally is written with the reply's own record (help center L5143)
        tally = partial(UsageRepository.add_activity, workspace_id=ws, account_id=account.id, kind="messages", at=now)
        self._inbox.append_message(
            ws, conversation.id, message, lambda: with_chat, snippet=snippet_of(text), also=[tally]
        )
        return message


def engine_worker(provider: LinkedInProvider) -> ActionWorker:
    """The LinkedIn action worker with the unified inbox wired in: every message it sends is filed in its
    conversation (what the worker function uses)."""
    return ActionWorker(provider, outbound=LinkedInInbox())


def engine_sweeps(provider: LinkedInProvider) -> EngineSweeps:
    """The LinkedIn engine's sweeps with the unified inbox wired into its attribution function (what the webhook
    ingress and the engine function use)."""
    return EngineSweeps(provider, inbox=LinkedInInbox())


def reply(workspace_id: str, conversation_id: str, body: ReplyRequest, *, clock: Clock | None = None) -> InboxMessage:
    """`POST /inbox/conversations/{id}/reply`: a LinkedIn conversation's reply goes through the provider from the
    thread's account (its caps first), any other through the conversation's mailbox (the campaign sends' gates)."""
    inbox = InboxService(clock=clock)
    conversation, _ = inbox.get(workspace_id, conversation_id)
    if conversation.channel == "linkedin":
        return LinkedInInbox(inbox, clock=clock).reply(conversation, body)
    return inbox.reply(workspace_id, conversation_id, body)
