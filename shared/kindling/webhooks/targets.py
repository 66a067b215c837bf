"""Customer URL rules (invariant no-private-targets): https in deployed stages, and never a private, loopback,
link-local or metadata address — checked when the webhook is saved and again, on the resolved address actually dialled,
at every delivery (so a DNS rebinding between the two cannot reach the inside).

`allow_private_targets` (true only on the local stack and in tests) lifts the address rule, not the scheme
rule of deployed stages.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from kindling.platform.settings import Settings, get_settings

Resolver = Callable[[str, int], list[str]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

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


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


def forbidden_reason(address: str) -> str | None:
    """Why an address may not be dialled (None when it is a public unicast address)."""
    try:
        ip: IpAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return forbidden_reason(str(mapped))
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata)"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


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
        literal: IpAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = (resolver or system_resolver)(host, port)
        except (OSError, UnicodeError) as exc:
            raise TargetRefused("unresolvable_host", f"The host {host} could not be resolved.") from exc
        if not addresses:
            raise TargetRefused("unresolvable_host", f"The host {host} could not be resolved.")
    if not settings.allow_private_targets:
        for address in addresses:
            reason = forbidden_reason(address)
            if reason is not None:
                raise TargetRefused(
                    "private_address", f"The URL resolves to a {reason} address ({address}), which is not allowed."
                )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url=url, scheme=parts.scheme, host=host, port=port, path=path, addresses=tuple(addresses))
