"""The unified inbox: conversations (list, read, label / read state, reply, start one), snake_case as Reachkit."""

from __future__ import annotations

from typing import Literal

from fastapi import Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from kindling.api.envelope import respond, respond_page
from kindling.api.routing import WorkspaceId, api_router, scope
from kindling.api.schemas import Envelope, ListEnvelope, Timestamp
from kindling.inbox.linkedin import reply as reply_to_conversation
from kindling.inbox.models import (
    AttachmentMeta,
    Channel,
    Conversation,
    ConversationCreate,
    ConversationFilters,
    ConversationUpdate,
    Direction,
    InboxMessage,
    MessageKind,
    OverrideLabel,
    Recipient,
    ReplyRequest,
)
from kindling.inbox.service import InboxService
from kindling.rendering.html import clean

router = api_router("Inbox")

ConversationId = Path(max_length=64, description="The conversation id (`conv_...`).")


class MessageView(BaseModel):
    id: str
    direction: Direction
    kind: MessageKind = Field(description="`reply` or `out_of_office` (incoming, as classified), `sent` (ours).")
    mailbox_id: str
    message_id: str | None = Field(description="The RFC 5322 Message-ID.")
    subject: str
    text_body: str
    html_body: str | None
    text_truncated: bool = Field(description="The stored text body was cut at 64 KB.")
    html_truncated: bool
    from_email: str | None
    from_name: str | None
    to_recipients: list[Recipient]
    cc_recipients: list[Recipient]
    bcc_recipients: list[Recipient]
    label: str | None = Field(description="The rule classifier's label of this message (incoming replies).")
    email_date: Timestamp = Field(description="The message's Date header (ours: when it was sent).")
    recorded_at: Timestamp = Field(
        description="When Kindling stored or sent it (messages are listed in the order they joined)."
    )
    is_read: bool
    attachments: list[AttachmentMeta] = Field(description="Metadata only; the content stays in the mailbox.")
    linkedin_message_id: str | None = Field(default=None, description="LinkedIn: the provider's message id.")
    linkedin_chat_id: str | None = Field(default=None, description="LinkedIn: the provider's chat id.")
    campaign_id: str | None = Field(default=None, description="A campaign's own LinkedIn message: its campaign.")
    lead_id: str | None = Field(default=None, description="A campaign's own LinkedIn message: its prospect.")
    enrollment_id: str | None = Field(
        default=None, description="A campaign's own LinkedIn message: the prospect's enrollment in the campaign."
    )


class ConversationView(BaseModel):
    id: str
    label: str | None = Field(description="The effective label: the override when set, else the classifier's.")
    classified_label: str | None
    label_override: str | None
    is_positive: bool
    is_read: bool
    unread_count: int
    message_count: int
    lead_id: str | None = Field(description="The prospect, for campaign replies (null otherwise).")
    campaign_id: str | None
    channel: Channel = Field(description="`email`, or `linkedin` for a LinkedIn account's chat.")
    mailbox_id: str = Field(description="The mailbox; for a `linkedin` conversation, the LinkedIn account's id.")
    contact_email: str = Field(description="The counterpart's address (a LinkedIn prospect's email, or empty).")
    contact_name: str | None
    subject: str
    snippet: str
    last_message_at: Timestamp = Field(description="The latest message's `recorded_at`; the list's order.")
    created_at: Timestamp
    updated_at: Timestamp


class ConversationDetailView(ConversationView):
    messages: list[MessageView]


def message_view(message: InboxMessage, *, raw_html: bool = False) -> MessageView:
    """The message as the API shows it. Its HTML went through the outbound allowlist sanitiser (nh3: no scripts,
    event handlers or `javascript:` URLs) unless the caller asked for the raw source (`?format=raw`)."""
    data = message.model_dump(exclude={"conversation_id", "references", "reply_to"})
    data["lead_id"] = data.pop("prospect_id")  # the API's name for a prospect
    view = MessageView.model_validate(data)
    if view.html_body and not raw_html:
        view.html_body = clean(view.html_body)
    return view


def conversation_view(conversation: Conversation) -> ConversationView:
    return ConversationView(**_conversation_fields(conversation))


def detail_view(
    conversation: Conversation, messages: list[InboxMessage], *, raw_html: bool = False
) -> ConversationDetailView:
    return ConversationDetailView(
        **_conversation_fields(conversation), messages=[message_view(m, raw_html=raw_html) for m in messages]
    )


def _conversation_fields(conversation: Conversation) -> dict[str, object]:
    return {
        "id": conversation.id,
        "label": conversation.effective_label,
        "classified_label": conversation.label,
        "label_override": conversation.label_override,
        "is_positive": conversation.is_positive,
        "is_read": conversation.is_read,
        "unread_count": conversation.unread_count,
        "message_count": conversation.message_count,
        "lead_id": conversation.prospect_id,
        "campaign_id": conversation.campaign_id,
        "channel": conversation.channel,
        "mailbox_id": conversation.mailbox_id,
        "contact_email": conversation.contact_email,
        "contact_name": conversation.contact_name,
        "subject": conversation.subject,
        "snippet": conversation.snippet,
        "last_message_at": conversation.last_message_at,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
    }


@router.get(
    "/inbox/conversations",
    response_model=ListEnvelope[ConversationView],
    openapi_extra=scope("inbox:read"),
    summary="List conversations",
    description="Most recent activity first. The list carries a snippet of the latest message; "
    "GET a conversation for its messages.",
)
def list_conversations(
    workspace_id: WorkspaceId,
    campaign_id: str | None = Query(default=None, max_length=64),
    mailbox_id: str | None = Query(default=None, max_length=64),
    channel: Channel | None = Query(default=None, description="`email` or `linkedin`."),
    label: OverrideLabel | None = Query(default=None, description="The effective label."),
    unread: bool | None = Query(default=None, description="Only conversations with (true) or without unread mail."),
    search: str | None = Query(default=None, min_length=1, max_length=200, description="In address, name, subject."),
    limit: int = Query(default=50, ge=1, le=100),
    cursor: str | None = Query(default=None, max_length=2048),
) -> JSONResponse:
    filters = ConversationFilters(
        channel=channel, campaign_id=campaign_id, mailbox_id=mailbox_id, label=label, unread=unread, search=search
    )
    items, next_cursor = InboxService().page(workspace_id, filters, limit, cursor)
    return respond_page([conversation_view(c) for c in items], next_cursor)


@router.post(
    "/inbox/conversations",
    response_model=Envelope[ConversationDetailView],
    status_code=201,
    openapi_extra=scope("inbox:write"),
    summary="Start a conversation",
    description="Sends the first email now, from `mailbox_id` or the first connected mailbox (422 "
    "`no_active_mailbox` when there is none). Suppressed recipients are refused (422 `recipient_suppressed`); "
    "a refusal by the mail server is 422 `send_failed`.",
    responses={
        422: {"description": "No usable mailbox, a suppressed recipient, or the server refused every copy."},
        429: {
            "description": "The mailbox's caps or pacer, as for a reply (one send per recipient): "
            "`daily_limit_reached` or `mailbox_paced`, with `Retry-After`."
        },
    },
)
def create_conversation(workspace_id: WorkspaceId, body: ConversationCreate) -> JSONResponse:
    conversation, messages = InboxService().create(workspace_id, body)
    return respond(detail_view(conversation, messages), 201)


@router.get(
    "/inbox/conversations/{conversation_id}",
    response_model=Envelope[ConversationDetailView],
    openapi_extra=scope("inbox:read"),
    summary="Get a conversation with its messages",
)
def get_conversation(
    workspace_id: WorkspaceId,
    conversation_id: str = ConversationId,
    format: Literal["sanitized", "raw"] = Query(
        default="sanitized",
        description="`sanitized` (default): message HTML cleaned by the same allowlist as outgoing mail (no "
        "scripts, event handlers or `javascript:` links). `raw`: the HTML exactly as received; never render it "
        "unsanitised in a browser.",
    ),
) -> JSONResponse:
    conversation, messages = InboxService().get(workspace_id, conversation_id)
    return respond(detail_view(conversation, messages, raw_html=format == "raw"))


@router.patch(
    "/inbox/conversations/{conversation_id}",
    response_model=Envelope[ConversationDetailView],
    openapi_extra=scope("inbox:write"),
    summary="Update a conversation",
    description="`label_override` (Reachkit's label list, or null to go back to the classifier's label) and/or "
    "`is_read` (every message read, or every incoming message unread).",
)
def update_conversation(
    workspace_id: WorkspaceId, body: ConversationUpdate, conversation_id: str = ConversationId
) -> JSONResponse:
    conversation, messages = InboxService().update(workspace_id, conversation_id, body)
    return respond(detail_view(conversation, messages))


@router.post(
    "/inbox/conversations/{conversation_id}/reply",
    response_model=Envelope[MessageView],
    status_code=201,
    openapi_extra=scope("inbox:write"),
    summary="Reply in a conversation",
    description="Sent over SMTP through the conversation's mailbox, threaded (In-Reply-To / References) under its "
    "latest message, and recorded as an outgoing message. On a `linkedin` conversation the reply (as text) goes "
    "into the chat through the LinkedIn provider from the thread's account, under its `messages_day` cap and its "
    "2-per-minute pace (taken before the call, given back when the provider refuses).",
    responses={
        422: {
            "description": "The recipient is suppressed (`recipient_suppressed`), the mailbox is gone or cannot send "
            "(`mailbox_unavailable`), or the server refused the message (`send_failed`; the reservation in the "
            "mailbox's day is given back). LinkedIn: a LinkedIn account that is not connected is "
            "`mailbox_unavailable` too."
        },
        429: {
            "description": "The mailbox's day is full (`daily_limit_reached`: its daily limit, the 500/day hard cap "
            "or the recipient-domain limit; `details` carry `limit`, `used`, `resets_at`) or it must wait "
            "(`mailbox_paced`: pacer or backoff; `retry_after_seconds`). `Retry-After` in both cases. LinkedIn: "
            "`linkedin_limit_reached` (the account's `messages_day` cap) or `linkedin_pace_limited`."
        },
    },
)
def reply(workspace_id: WorkspaceId, body: ReplyRequest, conversation_id: str = ConversationId) -> JSONResponse:
    message = reply_to_conversation(workspace_id, conversation_id, body)
    return respond(message_view(message), 201)
