"""The LinkedIn provider (Unipile): the Protocol the rest of Kindling codes against, what it returns, its errors.

Kindling never talks to LinkedIn directly and never holds a LinkedIn password: a provider does, and this module is
the only place that speaks its HTTP API (`UnipileClient`). Everything above it sees the `LinkedInProvider`
Protocol, frozen dataclasses, and one exception, `ProviderError`, whose `code` is stable:

- `credentials`: the account's session is gone (401 / `errors/disconnected_account`, `errors/invalid_credentials`);
- `checkpoint`: LinkedIn wants an in-app validation, a captcha or a code before the account works again;
- `not_found`: the account, profile, chat or post does not exist (404);
- `cannot_resend_yet`: an invitation to this person was sent recently and LinkedIn refuses another one yet;
- `rate_limited`: the provider (or LinkedIn through it) refused for volume; `retry_after_seconds` when it says;
- `invalid`: any other refusal of a well-formed call (400/422: too many characters, invalid recipient, ...);
- `unavailable`: the provider could not answer (5xx, timeout, connection refused, an unreadable answer);
- `forbidden`: the API key may not do this, or the feature is not available on the account (403).

The endpoints and payloads follow the provider's public documentation; devstack/linkedin_provider/README.md
names the page each one comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

ProviderErrorCode = Literal[
    "credentials",
    "checkpoint",
    "not_found",
    "cannot_resend_yet",
    "rate_limited",
    "invalid",
    "unavailable",
    "forbidden",
]

PROVIDER_ERROR_CODES: tuple[ProviderErrorCode, ...] = (
    "credentials",
    "checkpoint",
    "not_found",
    "cannot_resend_yet",
    "rate_limited",
    "invalid",
    "unavailable",
    "forbidden",
)


class ProviderError(Exception):
    """A call the provider refused or could not answer; `code` is one of PROVIDER_ERROR_CODES.

    `status` is the HTTP status (None when no answer came: timeout, connection refused), `provider_type` the
    provider's own error type (e.g. `errors/cannot_resend_yet`) when it gave one, `retry_after_seconds` the wait
    the provider asked for (429 Retry-After) when it gave one. `request_sent` is False only when the failure
    happened before the request reached the provider (so a retry cannot duplicate an invitation or a message).
    """

    def __init__(
        self,
        code: ProviderErrorCode,
        message: str,
        *,
        status: int | None = None,
        provider_type: str | None = None,
        retry_after_seconds: int | None = None,
        request_sent: bool = True,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code: ProviderErrorCode = code
        self.message = message
        self.status = status
        self.provider_type = provider_type
        self.retry_after_seconds = retry_after_seconds
        self.request_sent = request_sent


@dataclass(frozen=True)
class ProviderAccount:
    """An account the provider holds. `status` is the provider's raw status (`OK`, `CREDENTIALS`,
    `IN_APP_VALIDATION`, `CONNECTING`, `ERROR`, `STOPPED`, ...); `account_type` is `free`, `premium`,
    `sales_navigator` or `recruiter` when the provider tells it, else None."""

    id: str
    name: str
    status: str
    account_type: str | None
    public_identifier: str | None
    created_at: datetime | None
    provider_id: str | None = None  # the LinkedIn member id of the connected user (ACo...), when known


@dataclass(frozen=True)
class ProviderProfile:
    """A LinkedIn member as the provider reads it (GET /users/{identifier})."""

    provider_id: str
    public_identifier: str | None
    first_name: str | None
    last_name: str | None
    headline: str | None
    network_distance: str | None  # FIRST_DEGREE, SECOND_DEGREE, THIRD_DEGREE, OUT_OF_NETWORK
    is_relationship: bool
    invitation_pending: bool = False
    profile_url: str | None = None


@dataclass(frozen=True)
class ProviderRelation:
    """A first-degree connection of the account (GET /users/relations)."""

    provider_id: str
    public_identifier: str | None
    first_name: str | None
    last_name: str | None
    headline: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class RelationsPage:
    items: list[ProviderRelation]
    cursor: str | None


@dataclass(frozen=True)
class SentMessage:
    """What sending a message (or starting a chat) returns: the chat it went into and the message's id."""

    chat_id: str
    message_id: str | None


@dataclass(frozen=True)
class ProviderMessage:
    id: str
    chat_id: str
    text: str | None
    sender_provider_id: str | None
    is_sender: bool  # True when the account itself sent it
    timestamp: datetime | None


@dataclass(frozen=True)
class MessagesPage:
    items: list[ProviderMessage]
    cursor: str | None


@dataclass(frozen=True)
class ProviderChat:
    id: str
    account_id: str
    attendee_provider_id: str | None
    unread_count: int
    timestamp: datetime | None


@dataclass(frozen=True)
class ChatsPage:
    items: list[ProviderChat]
    cursor: str | None


@dataclass(frozen=True)
class ProviderPost:
    """A LinkedIn post. `id` is what the reaction call takes (the provider's `social_id`, a
    `urn:li:activity:<digits>` URN)."""

    id: str
    text: str | None
    author_provider_id: str | None
    created_at: datetime | None
    share_url: str | None = None
    reaction_counter: int = 0
    extra: dict[str, str] = field(default_factory=dict)


class LinkedInProvider(Protocol):
    """What Kindling asks of a LinkedIn provider. Every method raises ProviderError on a refusal or failure."""

    def create_hosted_auth_link(
        self, *, name: str, notify_url: str, expires_at: datetime, success_redirect_url: str | None = None
    ) -> str:
        """A hosted-auth URL where the user connects a new LinkedIn account; the provider calls `notify_url`
        with the new account's id and `name` when it succeeds."""
        ...

    def get_account(self, account_id: str) -> ProviderAccount: ...

    def list_accounts(self) -> list[ProviderAccount]: ...

    def delete_account(self, account_id: str) -> None: ...

    def reconnect_hosted_auth_link(self, account_id: str, *, notify_url: str, expires_at: datetime) -> str:
        """A hosted-auth URL where the user reconnects an existing (disconnected) account."""
        ...

    def get_profile(self, account_id: str, identifier: str) -> ProviderProfile:
        """The member `identifier` (a public identifier like `john-doe` or a provider id `ACo...`)."""
        ...

    def send_invitation(self, account_id: str, provider_id: str, message: str | None) -> str:
        """Send a connection invitation; returns the provider's invitation id. Never retried once sent."""
        ...

    def list_relations(self, account_id: str, cursor: str | None = None) -> RelationsPage: ...

    def start_chat(
        self,
        account_id: str,
        attendee_provider_id: str,
        text: str,
        *,
        inmail: bool = False,
        subject: str | None = None,
    ) -> SentMessage:
        """Send the first message to a member (an InMail when `inmail`); never retried once sent."""
        ...

    def send_message(self, chat_id: str, text: str) -> SentMessage:
        """Send a message into an existing chat; never retried once sent."""
        ...

    def list_chat_messages(self, chat_id: str, cursor: str | None = None) -> MessagesPage: ...

    def list_chats(self, account_id: str, cursor: str | None = None) -> ChatsPage: ...

    def add_post_reaction(self, account_id: str, post_id: str, reaction_type: str) -> None:
        """React to the post `post_id` (a `urn:li:activity:<digits>` URN) with `reaction_type` (`like`,
        `celebrate`, `support`, `love`, `insightful`, `funny`)."""
        ...

    def list_posts(self, account_id: str, identifier: str) -> list[ProviderPost]: ...

    def endorse_skill(self, account_id: str, provider_id: str, skill_id: str) -> None:
        """Endorse one skill of a first-degree connection."""
        ...


REACTION_TYPES: tuple[str, ...] = ("like", "celebrate", "support", "love", "insightful", "funny")
