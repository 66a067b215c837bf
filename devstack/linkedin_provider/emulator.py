"""The LinkedIn provider emulator: a real HTTP server on 127.0.0.1 speaking the subset of the provider's v1 API that
kindling.linkedin.provider uses, with state, the hosted-auth flow, webhooks, the injected clock and fault controls.

Its payloads follow the provider's documented examples (README.md in this folder names the page of each).

- `/api/v1/...`: the provider's API (X-API-KEY required): accounts, hosted auth links, users (profiles,
  invitations, relations, posts), chats and messages, post reactions, skill endorsements, webhooks.
- `/hosted/<token>`: the hosted-auth page; submitting it connects (or reconnects) an account and calls the link's
  notify_url with `{"status": "CREATION_SUCCESS" | "RECONNECTED", "account_id", "name"}`.
- `/_emulator/...`: test controls (no key): complete a hosted link, create an account, set an account's status,
  fault injection (next invite refused, a profile 404s, 429 or 5xx for the next N calls), accept an invitation,
  post an inbound message, create a post, set the clock, read the request and delivery logs.

Webhooks go to the URLs registered with `POST /api/v1/webhooks` (sources `account_status`, `users`,
`messaging`), with the headers registered there (how Kindling's per-stack secret travels), synchronously: a
control call returns after its webhooks were delivered (one attempt each; the outcome is in `deliveries`).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from kindling.platform.clock import Clock, ManualClock, get_clock

LOCAL_API_KEY = "kindling-local-linkedin-provider-key"
POST_URN = re.compile(r"^urn:li:(activity|share|ugcPost):\d{1,30}$")
REACTIONS = ("like", "celebrate", "support", "love", "insightful", "funny")
PREMIUM_FEATURES = {
    "free": [],
    "premium": ["premium"],
    "sales_navigator": ["premium", "sales_navigator"],
    "recruiter": ["premium", "recruiter"],
}
_EXPIRES_ON = re.compile(r"^[1-2]\d{3}-[0-1]\d-[0-3]\dT\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_MAX_BODY = 1024 * 1024
# Webhooks go straight to their 127.0.0.1 receivers, whatever proxy the environment names.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _new_id() -> str:
    return secrets.token_urlsafe(16)[:22]


def _iso(when: datetime) -> str:
    moment = when.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


class ApiError(Exception):
    """An answer in the provider's error shape: `{"status", "type", "title", "detail"}`."""

    def __init__(self, status: int, type_: str, title: str, detail: str = "", headers: dict[str, str] | None = None):
        super().__init__(title)
        self.status, self.type, self.title, self.detail = status, type_, title, detail
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"status": self.status, "type": self.type, "title": self.title, "detail": self.detail}


@dataclass
class Account:
    id: str
    name: str
    status: str
    account_type: str
    public_identifier: str
    provider_id: str
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "object": "Account",
            "type": "LINKEDIN",
            "id": self.id,
            "name": self.name,
            "created_at": _iso(self.created_at),
            "connection_params": {
                "im": {
                    "id": self.provider_id,
                    "publicIdentifier": self.public_identifier,
                    "username": self.name,
                    "premiumFeatures": list(PREMIUM_FEATURES[self.account_type]),
                }
            },
            "sources": [{"id": f"{self.id}_MESSAGING", "status": self.status}],
            "groups": [],
        }


@dataclass
class Skill:
    name: str
    endorsement_id: int
    endorsement_count: int = 0


@dataclass
class Comment:
    id: str
    post_id: str
    account_id: str
    author_provider_id: str
    text: str
    created_at: datetime


@dataclass
class Profile:
    provider_id: str
    public_identifier: str
    first_name: str
    last_name: str
    headline: str
    skills: list[Skill] = field(default_factory=list)

    def skills_json(self, *, relation: bool, endorsed: set[int]) -> list[dict[str, Any]]:
        """`skills[]` as "Retrieve a profile" shows them with `linkedin_sections=skills`. Only a 1st-degree
        connection can be endorsed: for anyone else `endorsement_id` is null (the documented nullable)."""
        return [
            {
                "name": skill.name,
                "endorsement_count": skill.endorsement_count + (1 if skill.endorsement_id in endorsed else 0),
                "endorsement_id": skill.endorsement_id if relation else None,
                "insights": [],
                "endorsed": skill.endorsement_id in endorsed,
            }
            for skill in self.skills
        ]

    def as_json(self, *, relation: bool, invitation_pending: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "object": "UserProfile",
            "provider": "LINKEDIN",
            "provider_id": self.provider_id,
            "public_identifier": self.public_identifier,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "headline": self.headline,
            "network_distance": "FIRST_DEGREE" if relation else "SECOND_DEGREE",
            "is_relationship": relation,
        }
        if invitation_pending:
            body["invitation"] = {"type": "SENT", "status": "PENDING"}
        return body


@dataclass
class Invitation:
    id: str
    account_id: str
    provider_id: str
    message: str | None
    sent_at: datetime
    status: str = "PENDING"


@dataclass(frozen=True)
class Call:
    """One /api/v1 call as the provider saw it: when, the method and path, the account it named (if any)."""

    at: datetime
    method: str
    path: str
    account_id: str | None


@dataclass
class Message:
    id: str
    chat_id: str
    sender_id: str
    text: str
    timestamp: datetime
    is_sender: bool


@dataclass
class Chat:
    id: str
    account_id: str
    attendee_provider_id: str
    inmail: bool
    subject: str | None
    messages: list[Message] = field(default_factory=list)


@dataclass
class Post:
    social_id: str
    author_provider_id: str
    author_identifier: str
    text: str
    created_at: datetime
    reactions: dict[str, str] = field(default_factory=dict)  # account_id -> reaction type
    comments: list[Comment] = field(default_factory=list)


@dataclass
class HostedLink:
    token: str
    type: str
    name: str
    notify_url: str | None
    expires_at: datetime
    success_redirect_url: str | None
    failure_redirect_url: str | None
    reconnect_account: str | None
    used: bool = False


@dataclass
class Webhook:
    id: str
    source: str
    request_url: str
    headers: dict[str, str]
    account_ids: list[str]
    name: str


@dataclass(frozen=True)
class Delivery:
    url: str
    source: str
    payload: dict[str, Any]
    status: int | None
    error: str | None = None


class LinkedInProviderEmulator:
    """The emulator. `clock=None` follows the process clock (kindling.platform.clock.get_clock), so inside the
    local stack it reads the same injected clock as the handlers; pass a Clock to pin it."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, api_key: str = LOCAL_API_KEY, clock: Clock | None = None
    ) -> None:
        self.host, self.port, self.api_key = host, port, api_key
        self._clock = clock
        self._lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.profiles: dict[str, Profile] = {}  # provider_id -> profile
        self._by_identifier: dict[str, str] = {}  # public identifier -> provider_id
        self.relations: dict[str, dict[str, datetime]] = {}  # account_id -> provider_id -> since
        self.invitations: dict[str, Invitation] = {}
        self.chats: dict[str, Chat] = {}
        self.posts: dict[str, Post] = {}
        self.endorsements: list[tuple[str, str, int]] = []
        self.links: dict[str, HostedLink] = {}
        self.webhooks: dict[str, Webhook] = {}
        self.deliveries: list[Delivery] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every /api/v1 call
        self.calls: list[Call] = []  # every /api/v1 call with its time, account and path (the record tests audit)
        self.missing_profiles: set[str] = set()
        self._invite_faults: list[str] = []
        self._rate_limits: list[int | None] = []  # one entry per call to refuse: its Retry-After (or None)
        self._server_errors: list[int] = []
        self._endorse_faults: list[int] = []  # statuses the next endorsements answer
        self._message_faults: list[tuple[int, bool]] = []  # (status, whether the message is posted anyway)
        self._comment_faults: list[tuple[int, bool]] = []  # (status, whether the comment is posted anyway)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The DSN with the API prefix, what UnipileClient takes."""
        return f"{self.root_url}/api/v1"

    @property
    def control_url(self) -> str:
        return f"{self.root_url}/_emulator"

    def now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def start(self) -> LinkedInProviderEmulator:
        emulator = self

        class Handler(_Handler):
            pass

        Handler.emulator = emulator
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="linkedin-provider", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LinkedInProviderEmulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- controls (also reachable over HTTP under /_emulator) -----------------------------------------------------

    def create_account(
        self,
        *,
        name: str = "Demo LinkedIn account",
        account_type: str = "premium",
        status: str = "OK",
        public_identifier: str | None = None,
    ) -> Account:
        if account_type not in PREMIUM_FEATURES:
            raise ApiError(
                400, "errors/invalid_parameters", "Invalid parameters", f"unknown account_type {account_type}"
            )
        with self._lock:
            account_id = _new_id()
            identifier = public_identifier or f"kindling-demo-{account_id[:6].lower()}"
            profile = self._profile_for(identifier)
            account = Account(
                account_id, name, status.upper(), account_type, identifier, profile.provider_id, self.now()
            )
            self.accounts[account_id] = account
            self.relations[account_id] = {}
            return account

    def set_account_status(self, account_id: str, status: str) -> Account:
        with self._lock:
            account = self._account(account_id, require_ok=False)
            account.status = status.upper()
        self._deliver("account_status", account_id, self._status_payload(account, account.status))
        return account

    def register_webhook(
        self,
        *,
        source: str,
        request_url: str,
        headers: dict[str, str] | None = None,
        account_ids: list[str] | None = None,
        name: str = "",
    ) -> Webhook:
        if source not in ("account_status", "users", "messaging"):
            raise ApiError(400, "errors/invalid_parameters", "Invalid parameters", f"unsupported source {source}")
        with self._lock:
            webhook = Webhook(_new_id(), source, request_url, dict(headers or {}), list(account_ids or []), name)
            self.webhooks[webhook.id] = webhook
            return webhook

    def fail_next_invite(self, type_: str = "errors/cannot_resend_yet") -> None:
        with self._lock:
            self._invite_faults.append(type_)

    def rate_limit(self, count: int, retry_after: int | None = None) -> None:
        with self._lock:
            self._rate_limits.extend([retry_after] * count)

    def server_error(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._server_errors.extend([status] * count)

    def hide_profile(self, identifier: str, hidden: bool = True) -> None:
        with self._lock:
            (self.missing_profiles.add if hidden else self.missing_profiles.discard)(identifier)

    def accept_invitation(self, invitation_id: str) -> Invitation:
        with self._lock:
            invitation = self.invitations.get(invitation_id)
            if invitation is None:
                raise ApiError(404, "errors/resource_not_found", "Resource not found.", "invitation not found")
            if invitation.status != "PENDING":
                raise ApiError(422, "errors/unprocessable_entity", "Unprocessable", "invitation is not pending")
            invitation.status = "ACCEPTED"
            self.relations.setdefault(invitation.account_id, {})[invitation.provider_id] = self.now()
            profile = self.profiles[invitation.provider_id]
        self._deliver(
            "users",
            invitation.account_id,
            {
                "event": "new_relation",
                "account_id": invitation.account_id,
                "account_type": "LINKEDIN",
                "webhook_name": "",
                "user_full_name": f"{profile.first_name} {profile.last_name}",
                "user_provider_id": profile.provider_id,
                "user_public_identifier": profile.public_identifier,
                "user_profile_url": f"https://www.linkedin.com/in/{profile.public_identifier}/",
                "user_picture_url": "",
            },
        )
        return invitation

    def inbound_message(self, account_id: str, sender: str, text: str) -> Message:
        """A message from `sender` (a provider id or public identifier) to the account (its chat is created on
        first contact)."""
        with self._lock:
            account = self._account(account_id, require_ok=False)
            profile = self._profile_for(sender)
            chat = next(
                (
                    c
                    for c in self.chats.values()
                    if c.account_id == account.id and c.attendee_provider_id == profile.provider_id
                ),
                None,
            )
            if chat is None:
                chat = Chat(_new_id(), account.id, profile.provider_id, inmail=False, subject=None)
                self.chats[chat.id] = chat
            message = Message(_new_id(), chat.id, profile.provider_id, text, self.now(), is_sender=False)
            chat.messages.append(message)
        self._deliver(
            "messaging",
            account.id,
            {
                "account_id": account.id,
                "account_type": "LINKEDIN",
                "event": "message_received",
                "chat_id": chat.id,
                "timestamp": _iso(message.timestamp),
                "webhook_name": "",
                "message_id": message.id,
                "message": text,
                "sender": {
                    "attendee_id": _new_id(),
                    "attendee_name": f"{profile.first_name} {profile.last_name}",
                    "attendee_provider_id": profile.provider_id,
                    "attendee_profile_url": f"https://www.linkedin.com/in/{profile.public_identifier}/",
                },
                "attendees": [
                    {
                        "attendee_id": _new_id(),
                        "attendee_name": account.name,
                        "attendee_provider_id": account.provider_id,
                        "attendee_profile_url": f"https://www.linkedin.com/in/{account.public_identifier}/",
                    }
                ],
            },
        )
        return message

    def create_post(
        self, author: str, text: str = "A post", social_id: str | None = None, created_at: datetime | None = None
    ) -> Post:
        with self._lock:
            profile = self._profile_for(author)
            post_id = social_id or f"urn:li:activity:{7_000_000_000_000_000_000 + len(self.posts) + 1}"
            if not POST_URN.match(post_id):
                raise ApiError(400, "errors/invalid_parameters", "Invalid parameters", "social_id is not a post URN")
            post = Post(post_id, profile.provider_id, profile.public_identifier, text, created_at or self.now())
            self.posts[post_id] = post
            return post

    def set_skills(self, identifier: str, skills: list[tuple[str, int]]) -> Profile:
        """The member's profile lists these skills (name, endorsement id), in this order."""
        with self._lock:
            profile = self._profile_for(identifier)
            profile.skills = [Skill(name, int(endorsement_id)) for name, endorsement_id in skills]
            return profile

    def fail_endorsements(self, count: int, status: int = 500) -> None:
        """The next `count` endorsements answer `status` (500: the provider's `errors/unexpected_error`)."""
        with self._lock:
            self._endorse_faults.extend([status] * count)

    def fail_next_message(self, status: int = 504, *, posted: bool = True) -> None:
        """The next message sent (a new or an existing chat) answers `status`; with `posted` it is in the chat all
        the same (the answer was lost after LinkedIn took it: what a retry must not repeat)."""
        with self._lock:
            self._message_faults.append((status, posted))

    def fail_next_comment(self, status: int = 504, *, posted: bool = True) -> None:
        """The next comment answers `status`; with `posted` the comment is on the post all the same (the answer
        was lost after LinkedIn took it: what a retry must not repeat)."""
        with self._lock:
            self._comment_faults.append((status, posted))

    def comments_by(self, account_id: str) -> list[Comment]:
        with self._lock:
            return [c for post in self.posts.values() for c in post.comments if c.account_id == account_id]

    def complete_hosted_link(
        self, token: str, *, account_name: str | None = None, account_type: str = "premium"
    ) -> Account:
        """What the user does on the hosted page: connect a new account (or reconnect the link's account)."""
        with self._lock:
            link = self.links.get(token)
            if link is None:
                raise ApiError(404, "errors/resource_not_found", "Resource not found.", "hosted link not found")
            if link.used or self.now() >= link.expires_at:
                raise ApiError(401, "errors/expired_link", "Expired link", "this hosted-auth link expired or was used")
            link.used = True
            if link.type == "reconnect":
                account = self._account(link.reconnect_account or "", require_ok=False)
                account.status = "OK"
                notify_status = "RECONNECTED"
            else:
                account = self.create_account(
                    name=account_name or "Connected LinkedIn account", account_type=account_type
                )
                notify_status = "CREATION_SUCCESS"
        if link.notify_url:
            self._post(
                link.notify_url, "notify", {"status": notify_status, "account_id": account.id, "name": link.name}, {}
            )
        self._deliver("account_status", account.id, self._status_payload(account, notify_status))
        return account

    # --- internals ------------------------------------------------------------------------------------------

    def _status_payload(self, account: Account, message: str) -> dict[str, Any]:
        return {"AccountStatus": {"account_id": account.id, "account_type": "LINKEDIN", "message": message}}

    def _profile_for(self, identifier: str) -> Profile:
        """The member `identifier` names (a provider id or a public identifier), created on first use with a
        deterministic provider id."""
        if identifier in self.profiles:
            return self.profiles[identifier]
        if identifier in self._by_identifier:
            return self.profiles[self._by_identifier[identifier]]
        digest = hashlib.sha256(identifier.encode()).hexdigest()
        if identifier.startswith("ACo"):
            provider_id, public_identifier = identifier, f"member-{digest[:10]}"
        else:
            provider_id, public_identifier = "ACoAA" + digest[:34], identifier
        words = [w for w in re.split(r"[-_.]", public_identifier) if w] or ["Member"]
        profile = Profile(
            provider_id,
            public_identifier,
            words[0].title(),
            " ".join(w.title() for w in words[1:]) or "Member",
            "Professional at Example Co",
        )
        self.profiles[provider_id] = profile
        self._by_identifier[public_identifier] = provider_id
        return profile

    def _account(self, account_id: str, *, require_ok: bool = True) -> Account:
        account = self.accounts.get(account_id)
        if account is None:
            raise ApiError(404, "errors/resource_not_found", "Resource not found.", "Account not found")
        if require_ok and account.status != "OK":
            if account.status in ("IN_APP_VALIDATION", "CHECKPOINT"):
                raise ApiError(401, "errors/checkpoint_error", "Checkpoint error", "LinkedIn asks for a validation")
            raise ApiError(
                401,
                "errors/disconnected_account",
                "Disconnected account",
                "The account appears to be disconnected from the provider service.",
            )
        return account

    def _post(self, url: str, source: str, payload: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310 - 127.0.0.1 receivers
        request.add_header("Content-Type", "application/json")
        for name, value in headers.items():
            request.add_header(name, value)
        status: int | None = None
        error: str | None = None
        try:
            with _DIRECT.open(request, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError) as exc:
            error = str(exc) or type(exc).__name__
        with self._lock:
            self.deliveries.append(Delivery(url, source, payload, status, error))

    def _deliver(self, source: str, account_id: str, payload: dict[str, Any]) -> None:
        with self._lock:
            targets = [
                w
                for w in self.webhooks.values()
                if w.source == source and (not w.account_ids or account_id in w.account_ids)
            ]
        for webhook in targets:
            self._post(webhook.request_url, source, payload, webhook.headers)

    def _take_fault(self) -> ApiError | None:
        with self._lock:
            if self._rate_limits:
                retry_after = self._rate_limits.pop(0)
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                return ApiError(
                    429,
                    "errors/too_many_requests",
                    "Too many requests",
                    "The provider cannot accept any more requests at the moment.",
                    headers,
                )
            if self._server_errors:
                status = self._server_errors.pop(0)
                return ApiError(
                    status,
                    "errors/provider_error",
                    "Provider error",
                    "The provider is experiencing operational problems.",
                )
        return None

    # --- the API ----------------------------------------------------------------------------------------------

    def api(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path))
            account_id = query.get("account_id") or (body.get("account_id") if isinstance(body, dict) else None)
            self.calls.append(Call(self.now(), method, path, str(account_id) if account_id else None))
        fault = self._take_fault()
        if fault is not None:
            raise fault
        parts = [unquote(p) for p in path.strip("/").split("/")]
        with self._lock:
            if parts == ["hosted", "accounts", "link"] and method == "POST":
                return 201, self._create_link(body)
            if parts == ["accounts"] and method == "GET":
                return 200, {
                    "object": "AccountList",
                    "items": [a.as_json() for a in self.accounts.values()],
                    "cursor": None,
                }
            if len(parts) == 2 and parts[0] == "accounts":
                account = self._account(parts[1], require_ok=False)
                if method == "GET":
                    return 200, account.as_json()
                if method == "DELETE":
                    del self.accounts[account.id]
                    return 200, {"object": "AccountDeleted"}
            if parts == ["users", "invite"] and method == "POST":
                return 201, self._invite(body)
            if parts == ["users", "relations"] and method == "GET":
                return 200, self._relations(query)
            if len(parts) == 2 and parts[0] == "users" and method == "GET":
                return 200, self._profile(parts[1], query)
            if len(parts) == 3 and parts[0] == "users" and parts[2] == "posts" and method == "GET":
                self._account(query.get("account_id", ""))
                profile = self._profile_for(parts[1])
                items = [self._post_json(p) for p in self.posts.values() if p.author_provider_id == profile.provider_id]
                return 200, {"object": "PostList", "items": items, "cursor": None}
            if parts == ["chats"] and method == "POST":
                return 201, self._start_chat(body)
            if parts == ["chats"] and method == "GET":
                account_id = query.get("account_id")
                items = [self._chat_json(c) for c in self.chats.values() if account_id in (None, c.account_id)]
                return 200, {"object": "ChatList", "items": items, "cursor": None}
            if len(parts) == 3 and parts[0] == "chats" and parts[2] == "messages":
                chat = self.chats.get(parts[1])
                if chat is None:
                    raise ApiError(404, "errors/resource_not_found", "Resource not found.", "Chat not found")
                if method == "GET":
                    return 200, {
                        "object": "MessageList",
                        "items": [self._message_json(m) for m in chat.messages],
                        "cursor": None,
                    }
                if method == "POST":
                    return 201, self._send(chat, body)
            if parts and parts[0] == "posts":
                answer = self._posts_api(method, parts, query, body)
                if answer is not None:
                    return answer
            if parts == ["linkedin", "profile", "endorse"] and method == "POST":
                return 200, self._endorse(body)
            if parts == ["webhooks"] and method == "POST":
                return 201, self._create_webhook(body)
            if parts == ["webhooks"] and method == "GET":
                return 200, {
                    "object": "WebhookList",
                    "items": [
                        {
                            "object": "Webhook",
                            "id": w.id,
                            "source": w.source,
                            "request_url": w.request_url,
                            "name": w.name,
                            "account_ids": list(w.account_ids),
                        }
                        for w in list(self.webhooks.values())
                    ],
                    "cursor": None,
                }
            if len(parts) == 2 and parts[0] == "webhooks" and method == "DELETE":
                self.webhooks.pop(parts[1], None)
                return 200, {"object": "WebhookDeleted"}
        raise ApiError(404, "errors/resource_not_found", "Resource not found.", f"no route {method} /{'/'.join(parts)}")

    def _posts_api(self, method: str, parts: list[str], query: dict[str, str], body: Any) -> tuple[int, Any] | None:
        """Reactions and comments (the caller holds the lock); None: not a posts route."""
        if parts == ["posts", "reaction"] and method == "POST":
            return 201, self._react(body)
        if len(parts) == 3 and parts[0] == "posts" and parts[2] == "reactions" and method == "GET":
            post = self.posts.get(parts[1])
            if post is None:
                raise ApiError(404, "errors/resource_not_found", "Resource not found.", "Post not found")
            items = [
                {
                    "object": "PostReaction",
                    "value": kind.upper(),
                    "post_id": post.social_id,
                    "author": {"id": self.accounts[a].provider_id if a in self.accounts else a},
                }
                for a, kind in post.reactions.items()
            ]
            return 200, {"object": "PostReactionList", "items": items, "cursor": None}
        if len(parts) == 3 and parts[0] == "posts" and parts[2] == "comments":
            if method == "POST":
                return 201, self._comment(parts[1], body)
            if method == "GET":
                self._account(query.get("account_id", ""))
                post = self.posts.get(parts[1])
                if post is None:
                    raise ApiError(404, "errors/resource_not_found", "Resource not found.", "Post not found")
                items = [self._comment_json(c) for c in post.comments]
                return 200, {"object": "CommentList", "items": items, "cursor": None}
        return None

    @staticmethod
    def _require(body: Any, *names: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "errors/invalid_parameters", "Invalid parameters", "the body must be an object")
        for name in names:
            if not isinstance(body.get(name), str) or not body[name]:
                raise ApiError(400, "errors/invalid_parameters", "Invalid parameters", f"{name} is required")
        return body

    def _create_link(self, body: Any) -> dict[str, Any]:
        data = self._require(body, "type", "api_url", "expiresOn")
        if data["type"] not in ("create", "reconnect"):
            raise ApiError(400, "errors/invalid_parameters", "Invalid parameters", "type is create or reconnect")
        if not _EXPIRES_ON.match(data["expiresOn"]):
            raise ApiError(
                400, "errors/invalid_parameters", "Invalid parameters", "expiresOn is YYYY-MM-DDTHH:MM:SS.sssZ"
            )
        if data["type"] == "reconnect":
            self._account(str(data.get("reconnect_account") or ""), require_ok=False)
        token = secrets.token_urlsafe(24)
        self.links[token] = HostedLink(
            token=token,
            type=data["type"],
            name=str(data.get("name") or ""),
            notify_url=data.get("notify_url") if isinstance(data.get("notify_url"), str) else None,
            expires_at=datetime.fromisoformat(data["expiresOn"].replace("Z", "+00:00")),
            success_redirect_url=data.get("success_redirect_url")
            if isinstance(data.get("success_redirect_url"), str)
            else None,
            failure_redirect_url=data.get("failure_redirect_url")
            if isinstance(data.get("failure_redirect_url"), str)
            else None,
            reconnect_account=data.get("reconnect_account") if data["type"] == "reconnect" else None,
        )
        return {"object": "HostedAuthURL", "url": f"{self.root_url}/hosted/{token}"}

    def _profile(self, identifier: str, query: dict[str, str]) -> dict[str, Any]:
        account = self._account(query.get("account_id", ""))
        if identifier in self.missing_profiles:
            raise ApiError(404, "errors/resource_not_found", "Resource not found.", "User not found")
        profile = self._profile_for(identifier)
        if profile.provider_id in self.missing_profiles or profile.public_identifier in self.missing_profiles:
            raise ApiError(404, "errors/resource_not_found", "Resource not found.", "User not found")
        pending = any(
            i.account_id == account.id and i.provider_id == profile.provider_id and i.status == "PENDING"
            for i in self.invitations.values()
        )
        relation = profile.provider_id in self.relations.get(account.id, {})
        body = profile.as_json(relation=relation, invitation_pending=pending)
        sections = query.get("linkedin_sections", "")
        if sections == "*" or "skills" in sections.split(","):
            endorsed = {s for a, p, s in self.endorsements if a == account.id and p == profile.provider_id}
            body["skills"] = profile.skills_json(relation=relation, endorsed=endorsed)
        return body

    def _invite(self, body: Any) -> dict[str, Any]:
        data = self._require(body, "account_id", "provider_id")
        account = self._account(data["account_id"])
        message = data.get("message")
        if message is not None and (not isinstance(message, str) or len(message) > 300):
            raise ApiError(
                400,
                "errors/too_many_characters",
                "Too many characters",
                "The provided content exceeds the character limit.",
            )
        if self._invite_faults:
            type_ = self._invite_faults.pop(0)
            raise ApiError(422, type_, "Unprocessable Entity", "The provider refused the invitation.")
        profile = self._profile_for(data["provider_id"])
        if profile.provider_id in self.missing_profiles or profile.public_identifier in self.missing_profiles:
            raise ApiError(422, "errors/invalid_recipient", "Invalid recipient", "Recipient cannot be reached.")
        if any(
            i.account_id == account.id and i.provider_id == profile.provider_id and i.status == "PENDING"
            for i in self.invitations.values()
        ):
            raise ApiError(
                422,
                "errors/already_invited_recently",
                "Already invited recently",
                "An invitation was already sent to this user recently.",
            )
        invitation = Invitation(_new_id(), account.id, profile.provider_id, message, self.now())
        self.invitations[invitation.id] = invitation
        return {"object": "UserInvitationSent", "invitation_id": invitation.id}

    def _relations(self, query: dict[str, str]) -> dict[str, Any]:
        account = self._account(query.get("account_id", ""))
        relations = sorted(self.relations.get(account.id, {}).items(), key=lambda item: item[1], reverse=True)
        limit = max(1, min(int(query.get("limit", "100") or 100), 1000)) if query.get("limit", "100").isdigit() else 100
        start = int(query["cursor"]) if query.get("cursor", "").isdigit() else 0
        page = relations[start : start + limit]
        items = []
        for provider_id, since in page:
            profile = self.profiles[provider_id]
            items.append(
                {
                    "object": "UserRelation",
                    "first_name": profile.first_name,
                    "last_name": profile.last_name,
                    "headline": profile.headline,
                    "public_identifier": profile.public_identifier,
                    "public_profile_url": f"https://www.linkedin.com/in/{profile.public_identifier}/",
                    "created_at": _ms(since),
                    "member_id": provider_id,
                    "member_urn": f"urn:li:fsd_profile:{provider_id}",
                    "connection_urn": f"urn:li:fsd_connection:{provider_id}",
                }
            )
        cursor = str(start + limit) if start + limit < len(relations) else None
        return {"object": "UserRelationsList", "items": items, "cursor": cursor}

    def _start_chat(self, body: Any) -> dict[str, Any]:
        data = self._require(body, "account_id", "text", "attendees_ids")
        account = self._account(data["account_id"])
        profile = self._profile_for(data["attendees_ids"])
        inmail = str(data.get("linkedin[inmail]", "")).lower() == "true"
        relation = profile.provider_id in self.relations.get(account.id, {})
        if inmail and account.account_type == "free":
            raise ApiError(422, "errors/not_allowed_inmail", "Not allowed inmail", "This account cannot send InMails.")
        if not inmail and not relation:
            raise ApiError(
                422,
                "errors/no_connection_with_recipient",
                "No connection with recipient",
                "The recipient appears not to be first degree connection.",
            )
        # LinkedIn keeps one individual chat per member ("Send Messages": POST /chats is also how a message reaches a
        # member whose chat id the caller does not have): a plain message goes into the existing chat and answers
        # its id, the one the member's replies carry. An InMail opens a thread of its own.
        chat = None if inmail else self._one_to_one(account.id, profile.provider_id)
        if chat is None:
            chat = Chat(_new_id(), account.id, profile.provider_id, inmail=inmail, subject=data.get("subject"))
            self.chats[chat.id] = chat
        fault = self._message_faults.pop(0) if self._message_faults else None
        message = Message(_new_id(), chat.id, account.provider_id, data["text"], self.now(), is_sender=True)
        if fault is None or fault[1]:
            chat.messages.append(message)
        if fault is not None:
            raise ApiError(fault[0], "errors/request_timeout", "Request timeout", "No answer in time.")
        return {"object": "ChatStarted", "chat_id": chat.id, "message_id": message.id}

    def _one_to_one(self, account_id: str, provider_id: str) -> Chat | None:
        """The account's individual (non-InMail) chat with the member, if there is one."""
        return next(
            (
                c
                for c in self.chats.values()
                if c.account_id == account_id and c.attendee_provider_id == provider_id and not c.inmail
            ),
            None,
        )

    def _send(self, chat: Chat, body: Any) -> dict[str, Any]:
        data = self._require(body, "text")
        account = self._account(chat.account_id)
        message = Message(_new_id(), chat.id, account.provider_id, data["text"], self.now(), is_sender=True)
        chat.messages.append(message)
        return {"object": "MessageSent", "message_id": message.id}

    def _react(self, body: Any) -> dict[str, Any]:
        data = self._require(body, "account_id", "post_id")
        account = self._account(data["account_id"])
        kind = data.get("reaction_type", "like")
        if kind not in REACTIONS:
            raise ApiError(400, "errors/invalid_parameters", "Invalid parameters", "unknown reaction_type")
        post_id = data["post_id"]
        if not POST_URN.match(post_id):
            raise ApiError(422, "errors/invalid_post", "Invalid post", "post_id is not a post's social id")
        post = self.posts.get(post_id)
        if post is None:  # any well-formed post id: created on first use
            post = Post(post_id, "ACoAAExampleAuthor", "example-author", "", self.now())
            self.posts[post_id] = post
        post.reactions[account.id] = kind
        return {"object": "ReactionAdded"}

    def _endorse(self, body: Any) -> dict[str, Any]:
        data = self._require(body, "account_id", "profile_id")
        account = self._account(data["account_id"])
        skill = data.get("skill_endorsement_id")
        if not isinstance(skill, int | float) or isinstance(skill, bool):
            raise ApiError(400, "errors/invalid_parameters", "Invalid parameters", "skill_endorsement_id is a number")
        profile = self._profile_for(data["profile_id"])
        if profile.provider_id not in self.relations.get(account.id, {}):
            raise ApiError(
                422,
                "errors/no_connection_with_recipient",
                "No connection with recipient",
                "The user is not a first degree connection.",
            )
        if self._endorse_faults:
            status = self._endorse_faults.pop(0)
            raise ApiError(status, "errors/unexpected_error", "Unexpected error", "The endorsement failed.")
        if int(skill) not in {s.endorsement_id for s in profile.skills} and profile.skills:
            raise ApiError(404, "errors/resource_not_found", "Resource not found.", "Skill not found")
        if (account.id, profile.provider_id, int(skill)) not in self.endorsements:  # endorsing twice: one
            self.endorsements.append((account.id, profile.provider_id, int(skill)))
        return {"object": "LinkedinProfileEndorse", "endorsed": True}

    def _comment(self, post_id: str, body: Any) -> dict[str, Any]:
        data = self._require(body, "account_id", "text")
        account = self._account(data["account_id"])
        post = self.posts.get(post_id)
        if post is None:
            raise ApiError(404, "errors/resource_not_found", "Resource not found.", "Post not found")
        fault = self._comment_faults.pop(0) if self._comment_faults else None
        if fault is None or fault[1]:
            comment = Comment(
                _new_id(),
                post.social_id,
                account.id,
                account.provider_id,
                str(data["text"]),
                self.now(),
            )
            post.comments.append(comment)
        if fault is not None:
            raise ApiError(fault[0], "errors/request_timeout", "Request timeout", "No answer in time.")
        return {"object": "CommentSent"}

    def _comment_json(self, comment: Comment) -> dict[str, Any]:
        return {
            "object": "Comment",
            "id": comment.id,
            "post_id": comment.post_id.rsplit(":", 1)[-1],
            "post_urn": comment.post_id,
            "author": comment.author_provider_id,
            "author_details": {"id": comment.author_provider_id},
            "text": comment.text,
            "date": _iso(comment.created_at),
            "reaction_counter": 0,
            "reply_counter": 0,
        }

    def _create_webhook(self, body: Any) -> dict[str, Any]:
        data = self._require(body, "request_url", "source")
        raw_headers = data.get("headers") or []
        headers = {
            str(h["key"]): str(h["value"]) for h in raw_headers if isinstance(h, dict) and "key" in h and "value" in h
        }
        webhook = self.register_webhook(
            source=data["source"],
            request_url=data["request_url"],
            headers=headers,
            account_ids=[str(a) for a in data.get("account_ids") or []],
            name=str(data.get("name") or ""),
        )
        return {"object": "WebhookCreated", "webhook_id": webhook.id}

    def _post_json(self, post: Post) -> dict[str, Any]:
        return {
            "object": "Post",
            "provider": "LINKEDIN",
            "id": post.social_id.rsplit(":", 1)[-1],
            "social_id": post.social_id,
            "share_url": f"https://www.linkedin.com/feed/update/{post.social_id}/",
            "text": post.text,
            "date": _iso(post.created_at),
            "parsed_datetime": _iso(post.created_at),
            "reaction_counter": len(post.reactions),
            "comment_counter": len(post.comments),
            "repost_counter": 0,
            "author": {
                "public_identifier": post.author_identifier,
                "id": post.author_provider_id,
                "name": post.author_identifier,
                "is_company": False,
            },
            "permissions": {"can_react": True, "can_share": True, "can_post_comments": True},
            "is_repost": False,
            "attachments": [],
        }

    def _chat_json(self, chat: Chat) -> dict[str, Any]:
        last = chat.messages[-1].timestamp if chat.messages else None
        return {
            "object": "Chat",
            "id": chat.id,
            "account_id": chat.account_id,
            "account_type": "LINKEDIN",
            "provider_id": f"urn:li:msg_conversation:{chat.id}",
            "attendee_provider_id": chat.attendee_provider_id,
            "name": None,
            "type": 0,
            "timestamp": _iso(last) if last else None,
            "unread_count": sum(1 for m in chat.messages if not m.is_sender),
            "archived": 0,
            "muted_until": None,
            "read_only": 0,
            "content_type": "inmail" if chat.inmail else None,
        }

    def _message_json(self, message: Message) -> dict[str, Any]:
        return {
            "object": "Message",
            "id": message.id,
            "chat_id": message.chat_id,
            "provider_id": f"urn:li:msg_message:{message.id}",
            "sender_id": message.sender_id,
            "text": message.text,
            "attachments": [],
            "timestamp": _iso(message.timestamp),
            "is_sender": 1 if message.is_sender else 0,
        }

    # --- HTTP controls ------------------------------------------------------------------------------------------

    def control(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        data = body if isinstance(body, dict) else {}
        if parts == ["accounts"] and method == "POST":
            account = self.create_account(
                name=str(data.get("name") or "Demo LinkedIn account"),
                account_type=str(data.get("account_type") or "premium"),
                status=str(data.get("status") or "OK"),
                public_identifier=data.get("public_identifier")
                if isinstance(data.get("public_identifier"), str)
                else None,
            )
            return 201, account.as_json()
        if len(parts) == 3 and parts[0] == "accounts" and parts[2] == "status" and method == "POST":
            return 200, self.set_account_status(parts[1], str(data.get("status") or "OK")).as_json()
        if len(parts) == 3 and parts[0] == "hosted" and parts[2] == "complete" and method == "POST":
            account = self.complete_hosted_link(
                parts[1],
                account_name=data.get("name") if isinstance(data.get("name"), str) else None,
                account_type=str(data.get("account_type") or "premium"),
            )
            return 200, {"account_id": account.id}
        if parts == ["faults", "next-invite"] and method == "POST":
            self.fail_next_invite(str(data.get("type") or "errors/cannot_resend_yet"))
            return 200, {"ok": True}
        if parts == ["faults", "rate-limit"] and method == "POST":
            retry_after = data.get("retry_after")
            self.rate_limit(int(data.get("count") or 1), int(retry_after) if isinstance(retry_after, int) else None)
            return 200, {"ok": True}
        if parts == ["faults", "server-error"] and method == "POST":
            self.server_error(int(data.get("count") or 1), int(data.get("status") or 503))
            return 200, {"ok": True}
        if len(parts) == 3 and parts[0] == "profiles" and parts[2] == "missing" and method in ("POST", "DELETE"):
            self.hide_profile(parts[1], hidden=method == "POST")
            return 200, {"ok": True}
        if len(parts) == 3 and parts[0] == "invitations" and parts[2] == "accept" and method == "POST":
            invitation = self.accept_invitation(parts[1])
            return 200, {"invitation_id": invitation.id, "status": invitation.status}
        if parts == ["messages"] and method == "POST":
            message = self.inbound_message(
                str(data.get("account_id") or ""), str(data.get("sender") or ""), str(data.get("text") or "")
            )
            return 201, {"message_id": message.id, "chat_id": message.chat_id}
        if parts == ["posts"] and method == "POST":
            created = data.get("created_at")
            post = self.create_post(
                str(data.get("author") or "example-author"),
                str(data.get("text") or "A post"),
                data.get("social_id") if isinstance(data.get("social_id"), str) else None,
                datetime.fromisoformat(created.replace("Z", "+00:00")) if isinstance(created, str) else None,
            )
            return 201, self._post_json(post)
        if len(parts) == 3 and parts[0] == "profiles" and parts[2] == "skills" and method == "POST":
            raw = data.get("skills")
            listed: list[Any] = raw if isinstance(raw, list) else []
            pairs = [(str(s["name"]), int(s["endorsement_id"])) for s in listed if isinstance(s, dict)]
            profile = self.set_skills(parts[1], pairs)
            return 200, {"skills": profile.skills_json(relation=True, endorsed=set())}
        if parts == ["faults", "endorse"] and method == "POST":
            self.fail_endorsements(int(data.get("count") or 1), int(data.get("status") or 500))
            return 200, {"ok": True}
        if parts == ["faults", "next-comment"] and method == "POST":
            self.fail_next_comment(int(data.get("status") or 504), posted=data.get("posted") is not False)
            return 200, {"ok": True}
        if parts == ["clock"] and method == "GET":
            return 200, {"now": _iso(self.now())}
        if parts == ["clock"] and method == "POST":
            clock = self._clock or get_clock()
            if not isinstance(clock, ManualClock):
                raise ApiError(409, "errors/invalid_parameters", "Clock not settable", "the clock is the system clock")
            clock.set(datetime.fromisoformat(str(data.get("now", "")).replace("Z", "+00:00")))
            return 200, {"now": _iso(self.now())}
        if parts == ["invitations"] and method == "GET":
            with self._lock:
                return 200, {
                    "items": [
                        {
                            "id": i.id,
                            "account_id": i.account_id,
                            "provider_id": i.provider_id,
                            "message": i.message,
                            "status": i.status,
                        }
                        for i in self.invitations.values()
                    ]
                }
        if parts == ["requests"] and method == "GET":
            with self._lock:
                return 200, {"items": [{"method": m, "path": p} for m, p in self.requests]}
        if parts == ["deliveries"] and method == "GET":
            with self._lock:
                return 200, {
                    "items": [
                        {"url": d.url, "source": d.source, "status": d.status, "payload": d.payload}
                        for d in self.deliveries
                    ]
                }
        raise ApiError(
            404, "errors/resource_not_found", "Resource not found.", f"no control {method} /{'/'.join(parts)}"
        )

    def hosted_page(self, token: str) -> str:
        link = self.links.get(token)
        if link is None:
            raise ApiError(404, "errors/resource_not_found", "Resource not found.", "hosted link not found")
        verb = "Reconnect" if link.type == "reconnect" else "Connect"
        return (
            "<!doctype html><html><head><title>Connect LinkedIn (emulator)</title></head><body>"
            f"<h1>{verb} your LinkedIn account</h1><p>Local provider emulator: no password is asked.</p>"
            f'<form method="post" action="/hosted/{html.escape(token)}">'
            '<label>Name <input name="name" value="Demo LinkedIn user"></label> '
            '<select name="account_type"><option>premium</option><option>free</option>'
            "<option>sales_navigator</option><option>recruiter</option></select> "
            f'<button type="submit">{verb}</button></form></body></html>'
        )


def _parse_multipart(content_type: str, body: bytes) -> dict[str, str]:
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
    )
    fields: dict[str, str] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name] = payload.decode() if isinstance(payload, bytes) else ""
    return fields


class _Handler(BaseHTTPRequestHandler):
    emulator: LinkedInProviderEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _body(self) -> tuple[bytes, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise ApiError(413, "errors/content_too_large", "Content too large", "the body is too large")
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type") or ""
        if not raw:
            return raw, None
        if content_type.startswith("multipart/form-data"):
            return raw, _parse_multipart(content_type, raw)
        if content_type.startswith("application/x-www-form-urlencoded"):
            return raw, {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        try:
            return raw, json.loads(raw)
        except ValueError:
            raise ApiError(400, "errors/malformed_request", "Malformed request", "the body is not JSON") from None

    def _send(
        self, status: int, payload: Any, headers: dict[str, str] | None = None, *, html_body: bool = False
    ) -> None:
        data = payload.encode() if html_body else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8" if html_body else "application/json; charset=utf-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        path = split.path
        try:
            _, body = self._body()
            if path.startswith("/api/v1/"):
                if self.headers.get("X-API-KEY") != self.emulator.api_key:
                    raise ApiError(
                        401, "errors/missing_credentials", "Missing credentials", "X-API-KEY is missing or wrong"
                    )
                status, payload = self.emulator.api(method, path[len("/api/v1") :], query, body)
                self._send(status, payload)
            elif path.startswith("/_emulator/"):
                status, payload = self.emulator.control(method, path[len("/_emulator") :], body)
                self._send(status, payload)
            elif path.startswith("/hosted/"):
                token = unquote(path[len("/hosted/") :])
                if method == "GET":
                    self._send(200, self.emulator.hosted_page(token), html_body=True)
                    return
                data = body if isinstance(body, dict) else {}
                link = self.emulator.links.get(token)
                account = self.emulator.complete_hosted_link(
                    token,
                    account_name=str(data.get("name") or "") or None,
                    account_type=str(data.get("account_type") or "premium"),
                )
                if link is not None and link.success_redirect_url:
                    target = link.success_redirect_url
                    separator = "&" if "?" in target else "?"
                    target += separator + urlencode({"account_id": account.id, "provider": "LINKEDIN"})
                    self._send(303, {"account_id": account.id}, {"Location": target})
                else:
                    self._send(200, f"<p>Connected: account {html.escape(account.id)}</p>", html_body=True)
            else:
                raise ApiError(404, "errors/resource_not_found", "Resource not found.", "no such path")
        except ApiError as error:
            self._send(error.status, error.body(), error.headers)
        except (ValueError, TypeError, KeyError) as exc:
            self._send(400, ApiError(400, "errors/invalid_parameters", "Invalid parameters", str(exc)).body())

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")
