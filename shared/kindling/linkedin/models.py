"""LinkedIn account shapes and the pure rules about them: the status mapping from the provider's statuses, post
URN extraction, proxy validation. The limits vocabulary (account types, strategies, caps) is `linkedin.limits`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field

AccountStatus = Literal["connecting", "connected", "disconnected", "needs_verification", "restricted", "deleted"]
LIVE_STATUSES: tuple[AccountStatus, ...] = (
    "connecting",
    "connected",
    "disconnected",
    "needs_verification",
    "restricted",
)
# An account in one of these cannot act; leaving `connected` for one of them starts an outage.
DOWN_STATUSES: frozenset[str] = frozenset({"disconnected", "needs_verification", "restricted"})

# The provider's raw statuses (account objects and account-status webhooks) -> ours. A status not listed (and
# CONNECTING, a provider-side transition) decides nothing: the row keeps its status.
PROVIDER_STATUS_MAP: dict[str, AccountStatus] = {
    "OK": "connected",
    "CREATION_SUCCESS": "connected",
    "RECONNECTED": "connected",
    "SYNC_SUCCESS": "connected",
    "CREDENTIALS": "disconnected",
    "ERROR": "disconnected",
    "STOPPED": "disconnected",
    "DELETED": "disconnected",
    "PERMISSIONS": "disconnected",
    "IN_APP_VALIDATION": "needs_verification",
    "CHECKPOINT": "needs_verification",
    "CAPTCHA": "needs_verification",
    "RESTRICTED": "restricted",
}


def status_from_provider(provider_status: str | None) -> AccountStatus | None:
    """Our status for the provider's raw status (case-insensitive); None when it decides nothing."""
    if not provider_status:
        return None
    return PROVIDER_STATUS_MAP.get(provider_status.strip().upper())


def starts_outage(old: str, new: str) -> bool:
    """Leaving `connected` for a status that cannot act starts an outage (one event, one notification)."""
    return old == "connected" and new in DOWN_STATUSES


def ends_outage(old: str, new: str) -> bool:
    return old in DOWN_STATUSES and new == "connected"


# --- post ids ---------------------------------------------------------------------------------------------------
_URN_RE = re.compile(r"^urn:li:activity:(\d{1,30})$")
_FEED_RE = re.compile(r"/feed/update/urn:li:activity:(\d{1,30})/?$")
_POSTS_RE = re.compile(r"/posts/[^/]*?activity-(\d{1,30})(?:-[^/]*)?/?$")


class InvalidPostId(ValueError):
    pass


def post_urn(value: str) -> str:
    """`urn:li:activity:<digits>` from the URN itself (URL-encoded or not) or from a post URL in either
    documented form: `https://www.linkedin.com/feed/update/urn:li:activity:<id>/` or
    `https://www.linkedin.com/posts/<user>_<slug>-activity-<id>-<suffix>`."""
    text = unquote(value.strip())
    if len(text) > 2048:
        raise InvalidPostId("post id is too long")
    match = _URN_RE.match(text)
    if match:
        return f"urn:li:activity:{match[1]}"
    if text.startswith(("http://", "https://")):
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        if host == "linkedin.com" or host.endswith(".linkedin.com"):
            for pattern in (_FEED_RE, _POSTS_RE):
                found = pattern.search(parts.path)
                if found:
                    return f"urn:li:activity:{found[1]}"
    raise InvalidPostId("expected urn:li:activity:<digits> or a LinkedIn post URL")


# --- proxies ----------------------------------------------------------------------------------------------------
ProxyMode = Literal["auto", "country", "custom"]
PROXY_PROTOCOLS = ("http", "https", "socks5")
_COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")
_HOST_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_IPV4_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


@dataclass(frozen=True)
class CustomProxy:
    protocol: str
    host: str
    port: int
    username: str | None
    password: str | None

    def public_url(self) -> str:
        """The proxy without its credentials (what the API shows)."""
        return f"{self.protocol}://{self.host}:{self.port}"


class InvalidProxy(ValueError):
    pass


def parse_custom_proxy(url: str) -> CustomProxy:
    """`protocol://user:pass@host:port` (credentials optional, for IP allowlisting) with protocol http, https or
    socks5 and a port; nothing else (no path, query or fragment)."""
    if not isinstance(url, str) or len(url) > 1024 or any(ch.isspace() for ch in url):
        raise InvalidProxy("expected protocol://user:pass@host:port")
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in PROXY_PROTOCOLS:
        raise InvalidProxy("the protocol must be http, https or socks5")
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidProxy("a proxy URL has no path, query or fragment")
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidProxy("the port must be 1-65535") from exc
    if port is None or not 1 <= port <= 65535:
        raise InvalidProxy("a port is required (1-65535)")
    host = (parts.hostname or "").lower()
    if not host or not (_HOST_RE.match(host) or _IPV4_RE.match(host)):
        raise InvalidProxy("the host is not a valid host name or IPv4 address")
    if _IPV4_RE.match(host) and any(int(octet) > 255 for octet in host.split(".")):
        raise InvalidProxy("the host is not a valid IPv4 address")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and username is None:
        raise InvalidProxy("a password needs a user name")
    return CustomProxy(scheme.lower(), host, port, username, password)


class ProxySettings(BaseModel):
    """Stored proxy settings. A custom proxy's credentials live only as `credentials_enc` (KMS ciphertext)."""

    mode: ProxyMode = "auto"
    country: str | None = None
    protocol: str | None = None
    host: str | None = None
    port: int | None = None
    credentials_enc: str | None = None


# --- the account --------------------------------------------------------------------------------------------------
class LinkedInAccount(BaseModel):
    id: str  # li_...
    workspace_id: str
    name: str | None = None
    linkedin_url: str | None = None
    public_identifier: str | None = None
    status: AccountStatus = "connecting"
    provider_status: str | None = None  # the provider's last raw status
    provider_account_id: str | None = None
    member_id: str | None = None  # the connected member's LinkedIn id (ACo...), when the provider says it
    account_type: str | None = None  # linkedin.limits vocabulary; None: the provider did not say
    strategy: str = "new_account"
    ramp_started_on: date | None = None
    overrides: dict[str, int] = Field(default_factory=dict)
    overrides_acknowledged_at: datetime | None = None
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    disconnected_since: datetime | None = None  # the current outage's start (None when not in an outage)
    outage_notified_at: datetime | None = None  # the current outage's 24 h notification
    version: int = 0
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


class AuditEntry(BaseModel):
    """One status flip, written in the same transaction as the flip itself."""

    account_id: str
    at: datetime
    old_status: str
    new_status: str
    reason: str
    source: str  # callback / webhook / health_check / orphan_watcher / api
    provider_status: str | None = None


class ConnectLink(BaseModel):
    """The in-flight hosted-auth URL of a workspace's connect (or an account's reconnect), reused for 90 s."""

    account_id: str
    url: str
    created_at: datetime
    expires_at: datetime


class Reaction(BaseModel):
    post_id: str
    account_id: str
    reaction_type: str
    user_id: str | None
    name: str | None
    reacted_at: datetime


TransitionSource = Literal["callback", "webhook", "health_check", "orphan_watcher", "api", "seed"]
