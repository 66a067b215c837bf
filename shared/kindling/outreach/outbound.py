"""The engine's own LinkedIn messages, copied where the user reads the conversation (issue 18: "LinkedIn
conversations appear in the unified inbox").

The action worker sends a campaign's message or InMail through the provider (`start_chat`); once the action is
recorded, the message also goes to an `OutboundSink` (the unified inbox: `kindling.inbox.linkedin.LinkedInInbox`),
with the chat and message ids the provider answered. The inbox sits above outreach in the layers, so outreach
declares the sink and the entry points hand the inbox in (`ActionWorker(provider, outbound=LinkedInInbox())`), as
the attribution function's `InboundSink` is handed in.

`OutboundCopies` is what the worker holds: it sees the provider's answers through `RecordingProvider` (so the
worker's action code stays as it is) and, after the action's final write, hands the sent message to the sink.
- An action resumed after a crash between the provider call and the final write sent nothing this time: the
  message is looked up at the provider (the account's chat with the member, its last own message with that
  text), which is also how the worker decided not to send it again.
- The sink files a message once under an id derived from the provider's message id, so a duplicate delivery, a
  resumed action or a replay files it once.
- A failing copy is logged and never undoes the action (the action is the truth; the copy is a view of it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from kindling.campaigns.templates import LinkedInPreview
from kindling.linkedin.models import LinkedInAccount
from kindling.linkedin.provider import (
    ChatsPage,
    CommentsPage,
    LinkedInProvider,
    MessagesPage,
    ProviderAccount,
    ProviderPost,
    ProviderProfile,
    RelationsPage,
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


class OutboundSink(Protocol):
    """Where a LinkedIn message the engine sent also goes (the unified inbox)."""

    def linkedin_outbound(self, sent: SentLinkedInMessage) -> None: ...


class RecordingProvider:
    """The worker's provider, remembering what each chat it starts answered (keyed by the provider account and the
    member) until `take` hands it over. Every other call goes straight through."""

    def __init__(self, inner: LinkedInProvider) -> None:
        self.inner = inner
        self._started: dict[tuple[str, str], SentMessage] = {}

    def take(self, account_id: str, attendee_provider_id: str) -> SentMessage | None:
        return self._started.pop((account_id, attendee_provider_id), None)

    def start_chat(
        self,
        account_id: str,
        attendee_provider_id: str,
        text: str,
        *,
        inmail: bool = False,
        subject: str | None = None,
    ) -> SentMessage:
        sent = self.inner.start_chat(account_id, attendee_provider_id, text, inmail=inmail, subject=subject)
        self._started[(account_id, attendee_provider_id)] = sent
        return sent

    # --- straight through ------------------------------------------------------------------------------------------
    def create_hosted_auth_link(
        self, *, name: str, notify_url: str, expires_at: datetime, success_redirect_url: str | None = None
    ) -> str:
        return self.inner.create_hosted_auth_link(
            name=name, notify_url=notify_url, expires_at=expires_at, success_redirect_url=success_redirect_url
        )

    def get_account(self, account_id: str) -> ProviderAccount:
        return self.inner.get_account(account_id)

    def list_accounts(self) -> list[ProviderAccount]:
        return self.inner.list_accounts()

    def delete_account(self, account_id: str) -> None:
        self.inner.delete_account(account_id)

    def reconnect_hosted_auth_link(self, account_id: str, *, notify_url: str, expires_at: datetime) -> str:
        return self.inner.reconnect_hosted_auth_link(account_id, notify_url=notify_url, expires_at=expires_at)

    def get_profile(self, account_id: str, identifier: str, *, with_skills: bool = False) -> ProviderProfile:
        return self.inner.get_profile(account_id, identifier, with_skills=with_skills)

    def send_invitation(self, account_id: str, provider_id: str, message: str | None) -> str:
        return self.inner.send_invitation(account_id, provider_id, message)

    def list_relations(self, account_id: str, cursor: str | None = None) -> RelationsPage:
        return self.inner.list_relations(account_id, cursor)

    def send_message(self, chat_id: str, text: str) -> SentMessage:
        return self.inner.send_message(chat_id, text)

    def list_chat_messages(self, chat_id: str, cursor: str | None = None) -> MessagesPage:
        return self.inner.list_chat_messages(chat_id, cursor)

    def list_chats(self, account_id: str, cursor: str | None = None) -> ChatsPage:
        return self.inner.list_chats(account_id, cursor)

    def add_post_reaction(self, account_id: str, post_id: str, reaction_type: str) -> None:
        self.inner.add_post_reaction(account_id, post_id, reaction_type)

    def list_posts(self, account_id: str, identifier: str) -> list[ProviderPost]:
        return self.inner.list_posts(account_id, identifier)

    def endorse_skill(self, account_id: str, provider_id: str, skill_id: str) -> None:
        self.inner.endorse_skill(account_id, provider_id, skill_id)

    def comment_on_post(self, account_id: str, post_id: str, text: str) -> str | None:
        return self.inner.comment_on_post(account_id, post_id, text)

    def list_post_comments(self, account_id: str, post_id: str, cursor: str | None = None) -> CommentsPage:
        return self.inner.list_post_comments(account_id, post_id, cursor)


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
        self.provider = RecordingProvider(provider)
        self._sink = sink

    def after_action(
        self,
        recorded: bool,
        account: LinkedInAccount,
        peer: tuple[str, str] | None,
        rendered: LinkedInPreview,
        item: LinkedInEnrollmentItem,
        contact_name: str | None,
        action_id: str,
        now: datetime,
    ) -> None:
        """After a message action's final write: `recorded` when this delivery recorded it as sent (the write won
        and the action was not skipped); `peer` is (account, member) when a message went to the member."""
        if peer is None:
            return
        provider_account = str(account.provider_account_id)
        started = self.provider.take(provider_account, peer[1])  # taken in any case: nothing stays behind
        if not recorded:
            return
        text = rendered.text or ""
        try:
            sent = started or find_sent(self.provider.inner, provider_account, peer[1], text)
            if sent is None:
                get_logger().warning(
                    "linkedin message sent but not found at the provider: not copied to the inbox",
                    extra={"action_id": action_id},
                )
                return
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
                )
            )
        except Exception:  # the action is recorded; its inbox copy is logged as missing
            get_logger().exception("linkedin message not copied to the inbox", extra={"action_id": action_id})
