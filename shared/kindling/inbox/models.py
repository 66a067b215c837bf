"""Unified inbox shapes: conversations and their messages (stored), and the API's request bodies.

A conversation belongs to one mailbox (replies go out through it) and one counterpart address. Campaign replies
are one conversation per (mailbox, campaign, prospect); everything else threads by Message-ID.

Labels: `label` is what the rule classifier said about the latest labelled incoming message, `label_override`
what a user set (Reachkit's label list); the effective label is the override when there is one. `is_positive`
follows the effective label: the classifier's positive labels (interested, meeting_requested, referral) plus
Reachkit's `needs_more_info`, which is the "send me more information" kind of interest our classifier files
under `interested`.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from kindling.mail.labels import POSITIVE_LABELS
from kindling.platform.models import PatchModel

Direction = Literal["incoming", "outgoing"]
# Where a conversation happens: email (a mailbox's thread) or LinkedIn (a connected account's chat; its
# `mailbox_id` is then the LinkedIn account's id and replies go out through the LinkedIn provider).
Channel = Literal["email", "linkedin"]
# What the classifier made of an incoming message that became part of a conversation; "sent" for ours.
MessageKind = Literal["reply", "out_of_office", "sent"]
OverrideLabel = Literal[
    "interested",
    "not_interested",
    "needs_more_info",
    "meeting_requested",
    "wrong_person",
    "out_of_office",
    "referral",
    "question",
    "neutral",
    "unsubscribe",
    "left_company",
]
POSITIVE: frozenset[str] = frozenset({*POSITIVE_LABELS, "needs_more_info"})

MAX_RECIPIENTS = 20
MAX_CONTENT_BYTES = 256 * 1024  # an HTML reply body; stored copies are capped separately (BODY_LIMIT)
BODY_LIMIT = 64 * 1024  # stored text and HTML bodies, each, in UTF-8 bytes (a DynamoDB item holds 400 KB)
SNIPPET_CHARS = 200


def effective_label(label: str | None, override: str | None) -> str | None:
    return override if override is not None else label


def is_positive(label: str | None) -> bool:
    return label in POSITIVE


class Recipient(BaseModel):
    email: str
    name: str | None = None


class AttachmentMeta(BaseModel):
    """Listed, never stored: the content stays in the mailbox."""

    id: str
    filename: str | None
    content_type: str
    size: int


class InboxMessage(BaseModel):
    id: str
    conversation_id: str
    direction: Direction
    kind: MessageKind
    mailbox_id: str
    message_id: str | None  # the RFC 5322 Message-ID, angle brackets included
    references: list[str] = Field(default_factory=list)  # the thread above it, oldest first (for our replies)
    reply_to: str | None = None
    subject: str
    from_email: str | None
    from_name: str | None = None
    to_recipients: list[Recipient] = Field(default_factory=list)
    cc_recipients: list[Recipient] = Field(default_factory=list)
    bcc_recipients: list[Recipient] = Field(default_factory=list)
    text_body: str = ""
    html_body: str | None = None
    text_truncated: bool = False
    html_truncated: bool = False
    label: str | None = None
    email_date: datetime  # what the message says (its Date header); shown, never trusted for ordering
    recorded_at: datetime  # when we stored or sent it, by our clock
    seq: int = 0  # its position in the conversation (1, 2, ...), given when stored: the conversation's order
    is_read: bool
    attachments: list[AttachmentMeta] = Field(default_factory=list)
    folder: str | None = None  # where the sync found it (incoming only)
    # LinkedIn messages: the provider's ids; the engine's campaign messages also name what sent them.
    linkedin_message_id: str | None = None
    linkedin_chat_id: str | None = None
    campaign_id: str | None = None
    prospect_id: str | None = None
    enrollment_id: str | None = None


class Conversation(BaseModel):
    id: str
    workspace_id: str
    mailbox_id: str  # the LinkedIn account's id for a LinkedIn conversation
    channel: Channel = "email"
    linkedin_chat_id: str | None = None  # the provider's chat (LinkedIn only)
    linkedin_member_id: str | None = None  # the counterpart LinkedIn member (LinkedIn only)
    campaign_id: str | None = None
    prospect_id: str | None = None
    contact_email: str
    contact_name: str | None = None
    subject: str
    label: str | None = None
    label_override: str | None = None
    unread_count: int = 0
    message_count: int = 0
    snippet: str = ""
    last_message_at: datetime
    created_at: datetime
    updated_at: datetime
    version: int = 0

    @property
    def effective_label(self) -> str | None:
        return effective_label(self.label, self.label_override)

    @property
    def is_positive(self) -> bool:
        return is_positive(self.effective_label)

    @property
    def is_read(self) -> bool:
        return self.unread_count == 0


# --- request bodies --------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecipientIn(_Strict):
    email: str = Field(min_length=3, max_length=320)
    name: str | None = Field(default=None, max_length=255)


class ConversationUpdate(_Strict, PatchModel):
    """PATCH: any combination; `label_override: null` clears the override, an omitted field is unchanged."""

    label_override: OverrideLabel | None = None
    is_read: bool | None = None

    NOT_NULLABLE: ClassVar[tuple[str, ...]] = ("is_read",)


class ReplyRequest(_Strict):
    content: str = Field(min_length=1, max_length=MAX_CONTENT_BYTES, description="HTML content of the reply.")


class ConversationCreate(_Strict):
    mailbox_id: str | None = Field(
        default=None, max_length=64, description="The mailbox to send from; the first connected one if omitted."
    )
    to: list[RecipientIn] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    subject: str = Field(min_length=1, max_length=998)
    content: str = Field(min_length=1, max_length=MAX_CONTENT_BYTES, description="HTML content of the email.")


class ConversationFilters(BaseModel):
    channel: Channel | None = None
    campaign_id: str | None = None
    mailbox_id: str | None = None
    label: str | None = None
    unread: bool | None = None
    search: str | None = None
