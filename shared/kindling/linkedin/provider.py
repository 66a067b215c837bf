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

import http.client
import json
import math
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable
from urllib.parse import quote, urlencode, urlsplit

from kindling.platform import aws
from kindling.platform.jsonsafe import loads_finite
from kindling.platform.settings import Settings, SettingsError, get_settings

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
class ProviderSkill:
    """One skill of a member's profile (`skills[]` of "Retrieve a profile" with `linkedin_sections=skills`).
    `endorsement_id` is what `endorse_skill` takes (None: this skill cannot be endorsed by the account);
    `endorsed`: the account already endorsed it."""

    name: str
    endorsement_id: str | None
    endorsement_count: int = 0
    endorsed: bool = False


@dataclass(frozen=True)
class ProviderProfile:
    """A LinkedIn member as the provider reads it (GET /users/{identifier}); `skills` only when asked for."""

    provider_id: str
    public_identifier: str | None
    first_name: str | None
    last_name: str | None
    headline: str | None
    network_distance: str | None  # FIRST_DEGREE, SECOND_DEGREE, THIRD_DEGREE, OUT_OF_NETWORK
    is_relationship: bool
    invitation_pending: bool = False
    profile_url: str | None = None
    skills: tuple[ProviderSkill, ...] = ()


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


@dataclass(frozen=True)
class ProviderComment:
    """A comment on a post (`CommentList` items of "List all comments from a post")."""

    id: str
    text: str | None
    author_provider_id: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class CommentsPage:
    items: list[ProviderComment]
    cursor: str | None


@dataclass(frozen=True)
class ProviderWebhook:
    """A webhook registered at the provider ("List all webhooks"). `headers` is None when the listing does not
    show them; `name` is empty when it was registered without one."""

    id: str
    source: str  # account_status, users, messaging, email, email_tracking
    request_url: str
    name: str = ""
    headers: dict[str, str] | None = None


WEBHOOK_SOURCES_ALL: tuple[str, ...] = ("account_status", "users", "messaging", "email", "email_tracking")


@runtime_checkable
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

    def get_profile(self, account_id: str, identifier: str, *, with_skills: bool = False) -> ProviderProfile:
        """The member `identifier` (a public identifier like `john-doe` or a provider id `ACo...`); with its
        skills (endorsement ids, endorsed by the account) when `with_skills`."""
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
        """Endorse one skill of a first-degree connection (`skill_id`: the skill's `endorsement_id`)."""
        ...

    def comment_on_post(self, account_id: str, post_id: str, text: str) -> str | None:
        """Comment `text` on the post `post_id` (its social id); the comment's id when the provider gives one.
        Never retried once sent (a second call would be a second comment)."""
        ...

    def list_post_comments(self, account_id: str, post_id: str, cursor: str | None = None) -> CommentsPage: ...


REACTION_TYPES: tuple[str, ...] = ("like", "celebrate", "support", "love", "insightful", "funny")


# --- the error table ---------------------------------------------------------------------------------------------

# The provider's documented error types (RFC 7807 bodies `{"status", "type", "title", "detail"}`; the `type` values
# are the enumerations of its API reference, e.g. "Send an invitation" and "Start a new chat": see
# devstack/linkedin_provider/README.md), each with the code Kindling gives it. A type not listed falls back to
# its HTTP status (FALLBACK_BY_STATUS).
CODE_BY_TYPE: dict[str, ProviderErrorCode] = {
    # 401: the LinkedIn session is gone; the user must reconnect.
    "errors/disconnected_account": "credentials",
    "errors/invalid_credentials": "credentials",
    "errors/expired_credentials": "credentials",
    "errors/multiple_sessions": "credentials",
    "errors/wrong_account": "credentials",
    "errors/disconnected_feature": "credentials",
    "errors/insufficient_privileges": "credentials",
    "errors/expired_link": "credentials",
    # 401 (and 403 action_required): LinkedIn asks for an in-app validation, a code or a captcha.
    "errors/checkpoint_error": "checkpoint",
    "errors/invalid_checkpoint_solution": "checkpoint",
    "errors/captcha_not_supported": "checkpoint",
    "errors/action_required": "checkpoint",
    # 401 missing_credentials: the request carried no usable API key. That is Kindling's configuration, never
    # the LinkedIn account's state, so it must not disconnect accounts: forbidden.
    "errors/missing_credentials": "forbidden",
    # 403
    "errors/account_restricted": "forbidden",
    "errors/account_mismatch": "forbidden",
    "errors/insufficient_permissions": "forbidden",
    "errors/session_mismatch": "forbidden",
    "errors/feature_not_subscribed": "forbidden",
    "errors/subscription_required": "forbidden",
    "errors/unknown_authentication_context": "forbidden",
    "errors/resource_access_restricted": "forbidden",
    # 404
    "errors/resource_not_found": "not_found",
    "errors/invalid_resource_identifier": "not_found",
    # 422: LinkedIn will not take another invitation to this person yet.
    "errors/cannot_resend_yet": "cannot_resend_yet",
    "errors/cannot_resend_within_24hrs": "cannot_resend_yet",
    "errors/already_invited_recently": "cannot_resend_yet",
    # 422 limit_exceeded: LinkedIn's own volume limit (e.g. the weekly invitations) is reached.
    "errors/limit_exceeded": "rate_limited",
    # 429
    "errors/too_many_requests": "rate_limited",
    # 5xx and timeouts: the provider (or LinkedIn behind it) could not answer now.
    "errors/unexpected_error": "unavailable",
    "errors/provider_error": "unavailable",
    "errors/authentication_intent_error": "unavailable",
    "errors/no_client_session": "unavailable",
    "errors/no_channel": "unavailable",
    "errors/no_handler": "unavailable",
    "errors/network_down": "unavailable",
    "errors/service_unavailable": "unavailable",
    "errors/request_timeout": "unavailable",
    "errors/provider_unreachable": "unavailable",
    "errors/realtime_client_not_initialized": "unavailable",
    # 501
    "errors/feature_not_implemented": "forbidden",
}

FALLBACK_BY_STATUS: dict[int, ProviderErrorCode] = {
    400: "invalid",
    401: "credentials",
    403: "forbidden",
    404: "not_found",
    408: "unavailable",
    415: "invalid",
    422: "invalid",
    429: "rate_limited",
    501: "forbidden",
}


def classify(status: int, body: object) -> tuple[ProviderErrorCode, str | None, str]:
    """(code, the provider's error type, a message) for an error answer with HTTP `status` and decoded `body`."""
    provider_type: str | None = None
    message = f"HTTP {status}"
    if isinstance(body, dict):
        raw_type = body.get("type")
        if isinstance(raw_type, str) and raw_type:
            provider_type = raw_type[:200]
        parts = [str(body[key])[:300] for key in ("title", "detail") if isinstance(body.get(key), str) and body[key]]
        if parts:
            message = ": ".join(parts)
    if provider_type is not None and provider_type in CODE_BY_TYPE:
        return CODE_BY_TYPE[provider_type], provider_type, message
    if status in FALLBACK_BY_STATUS:
        return FALLBACK_BY_STATUS[status], provider_type, message
    if status >= 500:
        return "unavailable", provider_type, message
    return "invalid", provider_type, message


def parse_retry_after(value: str | None, now: datetime | None = None) -> int | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return min(int(text), 86_400)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0, min(int((when - reference).total_seconds() + 0.999), 86_400))


# --- the client --------------------------------------------------------------------------------------------------

CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 10.0
MAX_ATTEMPTS = 3
# The longest Retry-After the client waits out itself; a longer one is handed back as rate_limited.
MAX_RETRY_AFTER_SECONDS = 30
_BACKOFF_SECONDS = (0.5, 1.0, 2.0)
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_MAX_RESPONSE_BYTES = 5 * 1024 * 1024

Sleeper = Callable[[float], None]


class _NotSent(Exception):
    """The connection failed before any byte of the request reached the provider."""


@dataclass(frozen=True)
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes


def _clean_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 512 or any(ord(c) < 0x21 for c in value):
        raise ProviderError(
            "invalid", f"{what} must be a non-empty id without spaces or control characters", request_sent=False
        )
    return value


def _timestamp(value: object) -> datetime | None:
    """The provider's timestamps: ISO strings or epoch milliseconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


_ACCOUNT_TYPES = (("recruiter", "recruiter"), ("sales_navigator", "sales_navigator"), ("premium", "premium"))


def account_from_json(data: dict[str, Any]) -> ProviderAccount:
    """A ProviderAccount from the provider's Account object ("Retrieve an account" / "List all accounts").

    Status: the account's own `status` when present, else the first source's `status`. Account type: the LinkedIn
    connection's `premiumFeatures` (recruiter > sales_navigator > premium; an empty list is free); None when the
    provider does not say.
    """
    account_id = _str(data.get("id"))
    if account_id is None:
        raise ProviderError("unavailable", "the provider answered an account without an id")
    status = _str(data.get("status"))
    sources = data.get("sources")
    if status is None and isinstance(sources, list):
        for source in sources:
            if isinstance(source, dict) and _str(source.get("status")):
                status = str(source["status"])
                break
    im: dict[str, Any] = {}
    params = data.get("connection_params")
    if isinstance(params, dict) and isinstance(params.get("im"), dict):
        im = params["im"]
    account_type: str | None = None
    features = im.get("premiumFeatures")
    if isinstance(features, list):
        names = {str(feature).lower() for feature in features}
        account_type = next((kind for name, kind in _ACCOUNT_TYPES if name in names), "free")
    return ProviderAccount(
        id=account_id,
        name=_str(data.get("name")) or "",
        status=(status or "UNKNOWN").upper(),
        account_type=account_type,
        public_identifier=_str(im.get("publicIdentifier")),
        created_at=_timestamp(data.get("created_at")),
        provider_id=_str(im.get("id")),
    )


def _multipart(fields: list[tuple[str, str]]) -> tuple[bytes, str]:
    boundary = "kindling-" + secrets.token_hex(16)
    chunks: list[bytes] = []
    for name, value in fields:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode() + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


class UnipileClient:
    """The provider's HTTP API (v1) over the standard library.

    `base_url` is the DSN with the API prefix, e.g. `https://api8.unipile.com:13851/api/v1`; `api_key` goes in the
    documented `X-API-KEY` header. Timeouts: connect 3 s, read 10 s. Retries (at most MAX_ATTEMPTS calls, backoff
    0.5 s / 1 s / 2 s or the provider's Retry-After up to MAX_RETRY_AFTER_SECONDS): reads and idempotent calls on
    429, 5xx, timeouts and connection failures; calls that send something to a person (invitations, messages)
    only when the connection failed before the request was sent. `sleep` is injectable (tests never wait).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
        max_retry_after: int = MAX_RETRY_AFTER_SECONDS,
        sleep: Sleeper = time.sleep,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the provider base URL must be an http(s) URL, got {base_url!r}")
        if not api_key:
            raise ValueError("the provider API key is empty")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._api_key = api_key
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_attempts = max(1, max_attempts)
        self._max_retry_after = max_retry_after
        self._sleep = sleep
        self._ssl_context = ssl_context

    # --- transport -----------------------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._connect_timeout, context=context)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)

    def _once(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> _Response:
        connection = self._connection()
        try:
            try:
                connection.connect()
            except (OSError, http.client.HTTPException) as exc:
                raise _NotSent(str(exc) or type(exc).__name__) from exc
            if connection.sock is not None:
                connection.sock.settimeout(self._read_timeout)
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read(_MAX_RESPONSE_BYTES + 1)
            if len(data) > _MAX_RESPONSE_BYTES:
                raise ProviderError("unavailable", "the provider's answer is too large", status=response.status)
            return _Response(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        finally:
            connection.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        form: list[tuple[str, str]] | None = None,
        idempotent: bool,
    ) -> Any:
        target = self._prefix + path
        if query:
            target += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        headers = {"X-API-KEY": self._api_key, "Accept": "application/json"}
        body: bytes | None = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            body, headers["Content-Type"] = _multipart(form)
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self._max_attempts
            try:
                response = self._once(method, target, body, headers)
            except _NotSent as exc:
                if last:
                    raise ProviderError(
                        "unavailable", f"could not reach the provider: {exc}", request_sent=False
                    ) from None
                self._sleep(_BACKOFF_SECONDS[min(attempt - 1, len(_BACKOFF_SECONDS) - 1)])
                continue
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                # The request went out and no (complete) answer came back: only a safe call is repeated.
                if last or not idempotent:
                    raise ProviderError(
                        "unavailable", f"no answer from the provider: {exc or type(exc).__name__}"
                    ) from None
                self._sleep(_BACKOFF_SECONDS[min(attempt - 1, len(_BACKOFF_SECONDS) - 1)])
                continue
            if 200 <= response.status < 300:
                if not response.body.strip():
                    return {}
                try:
                    return loads_finite(response.body)
                except ValueError:
                    raise ProviderError(
                        "unavailable", "the provider's answer is not JSON", status=response.status
                    ) from None
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            try:
                decoded: object = loads_finite(response.body) if response.body else None
            except ValueError:
                decoded = None
            code, provider_type, message = classify(response.status, decoded)
            error = ProviderError(
                code,
                message,
                status=response.status,
                provider_type=provider_type,
                retry_after_seconds=retry_after if code == "rate_limited" or response.status == 429 else None,
            )
            retryable = idempotent and response.status in _RETRYABLE_STATUSES and not last
            if retryable and retry_after is not None and retry_after > self._max_retry_after:
                retryable = False
            if not retryable:
                raise error
            wait = retry_after if retry_after is not None else _BACKOFF_SECONDS[min(attempt - 1, 2)]
            self._sleep(float(wait))

    # --- accounts and hosted auth ----------------------------------------------------------------------------

    def _hosted_link(self, body: dict[str, Any]) -> str:
        data = self._call("POST", "/hosted/accounts/link", json_body=body, idempotent=True)
        url = data.get("url") if isinstance(data, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ProviderError("unavailable", "the provider answered a hosted-auth link without a URL")
        return url

    def _api_url(self) -> str:
        port = f":{self._port}" if self._port else ""
        return f"{self._scheme}://{self._host}{port}"

    def create_hosted_auth_link(
        self, *, name: str, notify_url: str, expires_at: datetime, success_redirect_url: str | None = None
    ) -> str:
        body: dict[str, Any] = {
            "type": "create",
            "providers": ["LINKEDIN"],
            "api_url": self._api_url(),
            "expiresOn": _expires_on(expires_at),
            "notify_url": notify_url,
            "name": name,
        }
        if success_redirect_url:
            body["success_redirect_url"] = success_redirect_url
        return self._hosted_link(body)

    def reconnect_hosted_auth_link(self, account_id: str, *, notify_url: str, expires_at: datetime) -> str:
        return self._hosted_link(
            {
                "type": "reconnect",
                "reconnect_account": _clean_id(account_id, "account_id"),
                "providers": ["LINKEDIN"],
                "api_url": self._api_url(),
                "expiresOn": _expires_on(expires_at),
                "notify_url": notify_url,
            }
        )

    def get_account(self, account_id: str) -> ProviderAccount:
        data = self._call("GET", f"/accounts/{quote(_clean_id(account_id, 'account_id'), safe='')}", idempotent=True)
        if not isinstance(data, dict):
            raise ProviderError("unavailable", "the provider's account answer is not an object")
        return account_from_json(data)

    def list_accounts(self) -> list[ProviderAccount]:
        accounts: list[ProviderAccount] = []
        cursor: str | None = None
        for _ in range(100):  # 100 pages of 250: more accounts than any stack holds
            query = {"limit": "250"}
            if cursor:
                query["cursor"] = cursor
            data = self._call("GET", "/accounts", query=query, idempotent=True)
            items = data.get("items") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise ProviderError("unavailable", "the provider's account list has no items")
            for item in items:
                if isinstance(item, dict) and str(item.get("type", "LINKEDIN")).upper() == "LINKEDIN":
                    accounts.append(account_from_json(item))
            cursor = _str(data.get("cursor"))
            if not cursor:
                break
        return accounts

    def delete_account(self, account_id: str) -> None:
        self._call("DELETE", f"/accounts/{quote(_clean_id(account_id, 'account_id'), safe='')}", idempotent=True)

    # --- people ------------------------------------------------------------------------------------------------

    def get_profile(self, account_id: str, identifier: str, *, with_skills: bool = False) -> ProviderProfile:
        query = {"account_id": _clean_id(account_id, "account_id")}
        if with_skills:
            query["linkedin_sections"] = "skills"
        data = self._call(
            "GET",
            f"/users/{quote(_clean_id(identifier, 'identifier'), safe='')}",
            query=query,
            idempotent=True,
        )
        if not isinstance(data, dict) or not _str(data.get("provider_id")):
            raise ProviderError("unavailable", "the provider's profile answer has no provider_id")
        invitation = data.get("invitation")
        pending = (
            isinstance(invitation, dict) and invitation.get("type") == "SENT" and invitation.get("status") == "PENDING"
        )
        public_identifier = _str(data.get("public_identifier"))
        return ProviderProfile(
            provider_id=str(data["provider_id"]),
            public_identifier=public_identifier,
            first_name=_str(data.get("first_name")),
            last_name=_str(data.get("last_name")),
            headline=_str(data.get("headline")),
            network_distance=_str(data.get("network_distance")),
            is_relationship=data.get("is_relationship") is True,
            invitation_pending=pending,
            profile_url=f"https://www.linkedin.com/in/{public_identifier}/" if public_identifier else None,
            skills=_skills(data.get("skills")),
        )

    def send_invitation(self, account_id: str, provider_id: str, message: str | None) -> str:
        body: dict[str, Any] = {
            "account_id": _clean_id(account_id, "account_id"),
            "provider_id": _clean_id(provider_id, "provider_id"),
        }
        if message:
            if len(message) > 300:
                raise ProviderError("invalid", "an invitation note holds at most 300 characters", request_sent=False)
            body["message"] = message
        data = self._call("POST", "/users/invite", json_body=body, idempotent=False)
        invitation_id = _str(data.get("invitation_id")) if isinstance(data, dict) else None
        return invitation_id or ""

    def list_relations(self, account_id: str, cursor: str | None = None) -> RelationsPage:
        query = {"account_id": _clean_id(account_id, "account_id"), "limit": "100"}
        if cursor:
            query["cursor"] = cursor
        data = self._call("GET", "/users/relations", query=query, idempotent=True)
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProviderError("unavailable", "the provider's relation list has no items")
        relations = [
            ProviderRelation(
                provider_id=str(item["member_id"]),
                public_identifier=_str(item.get("public_identifier")),
                first_name=_str(item.get("first_name")),
                last_name=_str(item.get("last_name")),
                headline=_str(item.get("headline")),
                created_at=_timestamp(item.get("created_at")),
            )
            for item in items
            if isinstance(item, dict) and _str(item.get("member_id"))
        ]
        return RelationsPage(relations, _str(data.get("cursor")))

    # --- messaging ---------------------------------------------------------------------------------------------

    def start_chat(
        self,
        account_id: str,
        attendee_provider_id: str,
        text: str,
        *,
        inmail: bool = False,
        subject: str | None = None,
    ) -> SentMessage:
        if not text:
            raise ProviderError("invalid", "a message needs text", request_sent=False)
        form = [
            ("account_id", _clean_id(account_id, "account_id")),
            ("attendees_ids", _clean_id(attendee_provider_id, "attendee_provider_id")),
            ("text", text),
        ]
        if subject:
            form.append(("subject", subject))
        if inmail:
            form += [("linkedin[api]", "classic"), ("linkedin[inmail]", "true")]
        data = self._call("POST", "/chats", form=form, idempotent=False)
        chat_id = _str(data.get("chat_id")) if isinstance(data, dict) else None
        if chat_id is None:
            raise ProviderError("unavailable", "the provider answered a started chat without a chat_id")
        return SentMessage(chat_id=chat_id, message_id=_str(data.get("message_id")))

    def send_message(self, chat_id: str, text: str) -> SentMessage:
        if not text:
            raise ProviderError("invalid", "a message needs text", request_sent=False)
        clean = _clean_id(chat_id, "chat_id")
        data = self._call("POST", f"/chats/{quote(clean, safe='')}/messages", form=[("text", text)], idempotent=False)
        return SentMessage(chat_id=clean, message_id=_str(data.get("message_id")) if isinstance(data, dict) else None)

    def list_chat_messages(self, chat_id: str, cursor: str | None = None) -> MessagesPage:
        clean = _clean_id(chat_id, "chat_id")
        query = {"limit": "100"}
        if cursor:
            query["cursor"] = cursor
        data = self._call("GET", f"/chats/{quote(clean, safe='')}/messages", query=query, idempotent=True)
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProviderError("unavailable", "the provider's message list has no items")
        messages = [
            ProviderMessage(
                id=str(item["id"]),
                chat_id=_str(item.get("chat_id")) or clean,
                text=_str(item.get("text")),
                sender_provider_id=_str(item.get("sender_id")),
                is_sender=item.get("is_sender") in (True, 1),
                timestamp=_timestamp(item.get("timestamp")),
            )
            for item in items
            if isinstance(item, dict) and _str(item.get("id"))
        ]
        return MessagesPage(messages, _str(data.get("cursor")))

    def list_chats(self, account_id: str, cursor: str | None = None) -> ChatsPage:
        query = {"account_id": _clean_id(account_id, "account_id"), "limit": "100"}
        if cursor:
            query["cursor"] = cursor
        data = self._call("GET", "/chats", query=query, idempotent=True)
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProviderError("unavailable", "the provider's chat list has no items")
        chats = [
            ProviderChat(
                id=str(item["id"]),
                account_id=_str(item.get("account_id")) or account_id,
                attendee_provider_id=_str(item.get("attendee_provider_id")),
                unread_count=int(item["unread_count"]) if isinstance(item.get("unread_count"), int) else 0,
                timestamp=_timestamp(item.get("timestamp")),
            )
            for item in items
            if isinstance(item, dict) and _str(item.get("id"))
        ]
        return ChatsPage(chats, _str(data.get("cursor")))

    # --- webhooks (the stack registers its own: kindling.linkedin.webhooks) -----------------------------------

    def list_webhooks(self) -> list[ProviderWebhook]:
        """GET /webhooks, every page."""
        webhooks: list[ProviderWebhook] = []
        cursor: str | None = None
        for _ in range(100):
            query = {"limit": "250"}
            if cursor:
                query["cursor"] = cursor
            data = self._call("GET", "/webhooks", query=query, idempotent=True)
            items = data.get("items") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise ProviderError("unavailable", "the provider's webhook list has no items")
            for item in items:
                if not isinstance(item, dict):
                    continue
                webhook_id, source = _str(item.get("id")), _str(item.get("source"))
                if webhook_id is None or source is None:
                    continue
                webhooks.append(
                    ProviderWebhook(
                        id=webhook_id,
                        source=source,
                        request_url=_str(item.get("request_url")) or "",
                        name=_str(item.get("name")) or "",
                        headers=_webhook_headers(item.get("headers")),
                    )
                )
            cursor = _str(data.get("cursor"))
            if not cursor:
                break
        return webhooks

    def create_webhook(
        self,
        source: str,
        request_url: str,
        headers: dict[str, str],
        name: str | None = None,
        events: list[str] | None = None,
    ) -> str:
        """POST /webhooks; returns the new webhook's id. Not repeated once the request went out (a repeat could
        register it twice; the next ensure run removes a duplicate)."""
        if source not in WEBHOOK_SOURCES_ALL:
            raise ProviderError(
                "invalid", f"source must be one of {', '.join(WEBHOOK_SOURCES_ALL)}", request_sent=False
            )
        parts = urlsplit(request_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProviderError("invalid", "request_url must be an http(s) URL", request_sent=False)
        body: dict[str, Any] = {
            "source": source,
            "request_url": request_url,
            "format": "json",
            # Webhooks created over the API carry no JSON content type unless asked ("Webhooks overview").
            "headers": [{"key": "Content-Type", "value": "application/json"}]
            + [{"key": key, "value": value} for key, value in headers.items() if key.lower() != "content-type"],
        }
        if name:
            body["name"] = name
        if events:
            body["events"] = list(events)
        data = self._call("POST", "/webhooks", json_body=body, idempotent=False)
        webhook_id = _str(data.get("webhook_id")) if isinstance(data, dict) else None
        if webhook_id is None:
            raise ProviderError("unavailable", "the provider answered a created webhook without a webhook_id")
        return webhook_id

    def delete_webhook(self, webhook_id: str) -> None:
        """DELETE /webhooks/{id}; deleting twice is harmless, so it is retried like a read."""
        self._call("DELETE", f"/webhooks/{quote(_clean_id(webhook_id, 'webhook_id'), safe='')}", idempotent=True)

    # --- posts and endorsements -----------------------------------------------------------------------------------

    def add_post_reaction(self, account_id: str, post_id: str, reaction_type: str) -> None:
        if reaction_type not in REACTION_TYPES:
            raise ProviderError(
                "invalid", f"reaction_type must be one of {', '.join(REACTION_TYPES)}", request_sent=False
            )
        # Setting a reaction twice leaves one reaction: safe to repeat.
        self._call(
            "POST",
            "/posts/reaction",
            json_body={
                "account_id": _clean_id(account_id, "account_id"),
                "post_id": _clean_id(post_id, "post_id"),
                "reaction_type": reaction_type,
            },
            idempotent=True,
        )

    def list_posts(self, account_id: str, identifier: str) -> list[ProviderPost]:
        data = self._call(
            "GET",
            f"/users/{quote(_clean_id(identifier, 'identifier'), safe='')}/posts",
            query={"account_id": _clean_id(account_id, "account_id"), "limit": "100"},
            idempotent=True,
        )
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProviderError("unavailable", "the provider's post list has no items")
        posts = []
        for item in items:
            if not isinstance(item, dict):
                continue
            post_id = _str(item.get("social_id")) or _str(item.get("id"))
            if post_id is None:
                continue
            author = item.get("author") if isinstance(item.get("author"), dict) else {}
            counter = item.get("reaction_counter")
            posts.append(
                ProviderPost(
                    id=post_id,
                    text=_str(item.get("text")),
                    author_provider_id=_str(author.get("id")) if isinstance(author, dict) else None,
                    created_at=_timestamp(item.get("parsed_datetime")),
                    share_url=_str(item.get("share_url")),
                    reaction_counter=int(counter) if isinstance(counter, int | float) and math.isfinite(counter) else 0,
                )
            )
        return posts

    def endorse_skill(self, account_id: str, provider_id: str, skill_id: str) -> None:
        """POST /linkedin/profile/endorse; `skill_id` is the skill's `endorsement_id` from the profile (a number)."""
        if not skill_id.isdigit():
            raise ProviderError("invalid", "skill_id must be the skill's numeric endorsement id", request_sent=False)
        # Endorsing a skill twice leaves one endorsement: safe to repeat.
        self._call(
            "POST",
            "/linkedin/profile/endorse",
            json_body={
                "account_id": _clean_id(account_id, "account_id"),
                "profile_id": _clean_id(provider_id, "provider_id"),
                "skill_endorsement_id": int(skill_id),
            },
            idempotent=True,
        )

    def comment_on_post(self, account_id: str, post_id: str, text: str) -> str | None:
        """POST /posts/{post_id}/comments {account_id, text}. Not idempotent: after a request that went out and
        got no answer, nothing is repeated here (the engine looks at the post's comments first)."""
        if not text.strip():
            raise ProviderError("invalid", "a comment needs text", request_sent=False)
        clean = _clean_id(post_id, "post_id")
        data = self._call(
            "POST",
            f"/posts/{quote(clean, safe='')}/comments",
            json_body={"account_id": _clean_id(account_id, "account_id"), "text": text},
            idempotent=False,
        )
        if not isinstance(data, dict):
            return None
        return _str(data.get("comment_id")) or _str(data.get("id"))

    def list_post_comments(self, account_id: str, post_id: str, cursor: str | None = None) -> CommentsPage:
        clean = _clean_id(post_id, "post_id")
        query = {"account_id": _clean_id(account_id, "account_id"), "limit": "100"}
        if cursor:
            query["cursor"] = cursor
        data = self._call("GET", f"/posts/{quote(clean, safe='')}/comments", query=query, idempotent=True)
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProviderError("unavailable", "the provider's comment list has no items")
        comments: list[ProviderComment] = []
        for item in items:
            if not isinstance(item, dict) or _str(item.get("id")) is None:
                continue
            details = item.get("author_details")
            author = _str(details.get("id")) if isinstance(details, dict) else None
            comments.append(
                ProviderComment(
                    id=str(item["id"]),
                    text=_str(item.get("text")),
                    author_provider_id=author or _str(item.get("author")),
                    created_at=_timestamp(item.get("date")),
                )
            )
        return CommentsPage(comments, _str(data.get("cursor")))


def _skills(value: object) -> tuple[ProviderSkill, ...]:
    """The profile's `skills[]`: `name`, `endorsement_id` (a number, or null when it cannot be endorsed),
    `endorsement_count`, `endorsed`. Entries without a name are dropped."""
    if not isinstance(value, list):
        return ()
    skills: list[ProviderSkill] = []
    for item in value:
        if not isinstance(item, dict) or _str(item.get("name")) is None:
            continue
        raw_id = item.get("endorsement_id")
        endorsement_id: str | None = None
        if isinstance(raw_id, int) and not isinstance(raw_id, bool) and raw_id >= 0:
            endorsement_id = str(raw_id)
        elif isinstance(raw_id, float) and math.isfinite(raw_id) and raw_id.is_integer() and raw_id >= 0:
            endorsement_id = str(int(raw_id))
        elif isinstance(raw_id, str) and raw_id.isdigit():
            endorsement_id = raw_id
        count = item.get("endorsement_count")
        skills.append(
            ProviderSkill(
                name=str(item["name"]),
                endorsement_id=endorsement_id,
                endorsement_count=int(count) if isinstance(count, int) and not isinstance(count, bool) else 0,
                endorsed=item.get("endorsed") is True,
            )
        )
    return tuple(skills)


def _webhook_headers(value: object) -> dict[str, str] | None:
    """A listed webhook's headers (`[{"key", "value"}]` or an object); None when the listing does not show them."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return {
            str(h["key"]): str(h["value"])
            for h in value
            if isinstance(h, dict) and isinstance(h.get("key"), str) and "value" in h
        }
    return None


def _expires_on(when: datetime) -> str:
    """The documented `expiresOn` form: YYYY-MM-DDTHH:MM:SS.sssZ (UTC)."""
    if when.tzinfo is None:
        raise ValueError("expires_at must be an aware datetime")
    moment = when.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --- from the stack's settings ------------------------------------------------------------------------------------

_secret_cache: dict[str, str] = {}
_secret_lock = threading.Lock()


def provider_api_key(settings: Settings | None = None) -> str:
    """The provider's API key: the Secrets Manager secret KINDLING_LINKEDIN_PROVIDER_SECRET_ARN names (deployed
    stages; read once per process), else KINDLING_LINKEDIN_PROVIDER_API_KEY (the local stack and tests)."""
    settings = settings or get_settings()
    arn = settings.linkedin_provider_secret_arn
    if arn:
        with _secret_lock:
            if arn not in _secret_cache:
                value = aws.client("secretsmanager").get_secret_value(SecretId=arn).get("SecretString")
                if not isinstance(value, str) or not value.strip():
                    raise SettingsError(f"the secret {arn} holds no provider API key")
                _secret_cache[arn] = value.strip()
            return _secret_cache[arn]
    if settings.linkedin_provider_api_key:
        return settings.linkedin_provider_api_key
    raise SettingsError(
        "the LinkedIn provider needs KINDLING_LINKEDIN_PROVIDER_SECRET_ARN (deployed) or "
        "KINDLING_LINKEDIN_PROVIDER_API_KEY (local)"
    )


def client_from_settings(settings: Settings | None = None, *, sleep: Sleeper = time.sleep) -> UnipileClient:
    """The UnipileClient the stack's settings describe (KINDLING_LINKEDIN_PROVIDER_URL and the API key)."""
    settings = settings or get_settings()
    if not settings.linkedin_provider_url:
        raise SettingsError("the LinkedIn provider needs KINDLING_LINKEDIN_PROVIDER_URL (its DSN with /api/v1)")
    return UnipileClient(settings.linkedin_provider_url, provider_api_key(settings), sleep=sleep)


def forget_provider_secret() -> None:
    """Forget the cached API key (tests; a rotated secret is read again on the next cold start otherwise)."""
    with _secret_lock:
        _secret_cache.clear()


if TYPE_CHECKING:
    # mypy proves UnipileClient implements the whole Protocol, signatures included.
    def _implements(client: UnipileClient) -> LinkedInProvider:
        return client
