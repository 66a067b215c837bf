"""The engine's own LinkedIn messages, copied where the user reads the conversation (issue 18: "LinkedIn
conversations appear in the unified inbox").

The action worker sends a campaign's message or InMail through the provider (`start_chat`); once the action is
recorded, the message also goes to an `OutboundSink` (the unified inbox: `kindling.inbox.linkedin.LinkedInInbox`),
with the chat and message ids the provider answered. The inbox sits above outreach in the layers, so outreach
declares the sink and the entry points hand the inbox in (`ActionWorker(provider, outbound=LinkedInInbox())`), as
the attribution function's `InboundSink` is handed in.

`OutboundCopies` is what the worker holds: after the action's final write it hands the sent message (the
provider's answer to the worker's `start_chat`) to the sink.
- An action resumed after a crash between the provider call and the final write sent nothing this time: the
  message is looked up at the provider (the account's chat with the member, its last own message with that
  text), which is also how the worker decided not to send it again.
- The sink files a message once under an id derived from the provider's message id, so a duplicate delivery, a
  resumed action or a replay files it once.
- A failing copy is logged and never undoes the action (the action is the truth; the copy is a view of it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pynamodb.transactions import TransactWrite

from kindling.campaigns.templates import LinkedInPreview
from kindling.linkedin.models import LinkedInAccount
from kindling.linkedin.provider import (
    LinkedInProvider,
    SentMessage,
)
from kindling.outreach.repository import LinkedInEnrollmentItem
from kindling.platform.observability import get_logger

MAX_CHAT_PAGES = 20


@dataclass(frozen=True)
class SentLinkedInMessage:
    """A message (or InMail) the engine sent to a prospect, as the provider answered it."""

    account: LinkedInAccount
    chat_id: str
    provider_message_id: str | None  # None when the provider's answer had none (then `action_id` names it)
    member_id: str  # the prospect's LinkedIn member (provider id)
    text: str
    subject: str | None  # an InMail's subject
    sent_at: datetime
    action_id: str
    campaign_id: str
    prospect_id: str
    enrollment_id: str
    contact_email: str | None
    contact_name: str | None
    # the enrollment's first message (no chat with it yet): its conversation is most likely new, so filing it
    # tries the create first; a later one reads the conversation first
    opens_chat: bool = True


class OutboundSink(Protocol):
    """Where a LinkedIn message the engine sent also goes (the unified inbox)."""

    def linkedin_outbound(
        self, sent: SentLinkedInMessage, also: Sequence[Callable[[TransactWrite], None]] = ()
    ) -> None:
        """File `sent`; `also` (other owners' unconditional items) is committed with the copy's own write (or on
        its own when the copy was filed before). Raising means neither was written."""
        ...


def find_sent(provider: LinkedInProvider, account_id: str, member_id: str, text: str) -> SentMessage | None:
    """The account's own message with `text` in its chats with `member_id` (the latest such), or None."""
    found: SentMessage | None = None
    cursor: str | None = None
    for _ in range(MAX_CHAT_PAGES):
        page = provider.list_chats(account_id, cursor)
        for chat in page.items:
            if chat.attendee_provider_id != member_id:
                continue
            for message in provider.list_chat_messages(chat.id).items:
                if message.is_sender and (message.text or "") == text:
                    found = SentMessage(chat_id=chat.id, message_id=message.id)
        cursor = page.cursor
        if not cursor:
            break
    return found


class OutboundCopies:
    def __init__(self, provider: LinkedInProvider, sink: OutboundSink) -> None:
        self._provider = provider
        self._sink = sink

    def after_action(
        self,
        recorded: bool,
        account: LinkedInAccount,
        peer: tuple[str, str] | None,
        answered: SentMessage | None,
        rendered: LinkedInPreview,
        item: LinkedInEnrollmentItem,
        contact_name: str | None,
        action_id: str,
        now: datetime,
        also: Sequence[Callable[[TransactWrite], None]] = (),
    ) -> bool:
        """After a message action's final write: `recorded` when this delivery recorded it as sent (the write won
        and the action was not skipped); `peer` is (account, member) when a message went to the member; `answered`
        is the provider's answer when this delivery sent it (None when a resumed delivery found it sent before).
        `also` rides the copy's write (the message event's publish mark); True when it was written."""
        if peer is None or not recorded:
            return False
        provider_account = str(account.provider_account_id)
        text = rendered.text or ""
        try:
            sent = answered or find_sent(self._provider, provider_account, peer[1], text)
            if sent is None:
                get_logger().warning(
                    "linkedin message sent but not found at the provider: not copied to the inbox",
                    extra={"action_id": action_id},
                )
                return False
            self._sink.linkedin_outbound(
                SentLinkedInMessage(
                    account=account,
                    chat_id=sent.chat_id,
                    provider_message_id=sent.message_id,
                    member_id=peer[1],
                    text=text,
                    subject=rendered.subject,
                    sent_at=now,
                    action_id=action_id,
                    campaign_id=item.campaign_id,
                    prospect_id=item.prospect_id,
                    enrollment_id=item.enrollment_id,
                    contact_email=item.email or None,
                    contact_name=contact_name,
                    opens_chat=not item.li_chat_id,
                ),
                also,
            )
        except Exception:  # the action is recorded; its inbox copy is logged as missing
            get_logger().exception("linkedin message not copied to the inbox", extra={"action_id": action_id})
            return False
        return True
