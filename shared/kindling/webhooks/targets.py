"""Customer URL rules (invariant no-private-targets): https in deployed stages, and never a private, loopback,
link-local or metadata address — checked when the webhook is saved and again, on the resolved address actually dialled,
at every delivery (so a DNS rebinding between the two cannot reach the inside).

`allow_private_targets` (true only on the local stack and in tests) lifts the address rule, not the scheme
rule of deployed stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from kindling.platform.addresses import (
    AddressRefused,
    Resolver,
    check_addresses,
    forbidden_reason,
    resolve_addresses,
    system_resolver,
)
from kindling.platform.settings import Settings, get_settings

__all__ = ["Resolver", "Target", "TargetRefused", "forbidden_reason", "parse_url", "resolve_target", "system_resolver"]

MAX_URL_LENGTH = 2048


class TargetRefused(ValueError):
    """The URL may not be called; `code` is stable (`invalid_url`, `insecure_scheme`, `private_address`...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # as written (Host header and TLS server name)
    port: int
    path: str  # path + query, what goes on the request line
    addresses: tuple[str, ...]  # resolved, all checked; the first one is dialled

    @property
    def address(self) -> str:
        return self.addresses[0]


def parse_url(url: str, settings: Settings | None = None) -> SplitResult:
    """Syntax and scheme rules only (no DNS)."""
    settings = settings or get_settings()
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused("invalid_url", f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url.strip())
        _ = parts.port
    except ValueError as exc:
        raise TargetRefused("invalid_url", "The URL is not valid.") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TargetRefused("invalid_url", "The URL must be an absolute http(s) URL with a host.")
    if parts.scheme == "http" and settings.is_deployed:
        raise TargetRefused("insecure_scheme", "Webhook URLs must use https.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("invalid_url", "The URL must not contain credentials.")
    if parts.fragment:
        raise TargetRefused("invalid_url", "The URL must not contain a fragment.")
    return parts


def resolve_target(url: str, resolver: Resolver | None = None, settings: Settings | None = None) -> Target:
    """Parse, resolve and check every resolved address; raises `TargetRefused`."""
    settings = settings or get_settings()
    parts = parse_url(url, settings)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve_addresses(host, port, resolver)
        check_addresses(host, addresses, allow_private=settings.allow_private_targets)
    except AddressRefused as exc:
        raise TargetRefused(exc.code, exc.message) from exc
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url=url, scheme=parts.scheme, host=host, port=port, path=path, addresses=tuple(addresses))
