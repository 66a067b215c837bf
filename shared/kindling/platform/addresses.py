"""Which network addresses customer-supplied hosts may reach (invariant no-private-targets), for every outbound
connection the platform makes on a customer's behalf: webhook URLs and mailbox SMTP/IMAP hosts.

A host is resolved once, every resolved address is checked, and the caller dials the checked address it got
back (never the name again), so a DNS rebinding between the check and the connection cannot reach the inside.
TLS still verifies the host *name* (SNI and certificate), not the address.

`allow_private` (the `allow_private_targets` setting: true only on the local stack and in tests) lifts the
address rule.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

Resolver = Callable[[str, int], list[str]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(ValueError):
    """The host may not be dialled: `code` is stable (`private_address`, `unresolvable_host`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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


def ip_literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def resolve_addresses(host: str, port: int, resolver: Resolver | None = None) -> tuple[str, ...]:
    """Every address `host` resolves to (an IP literal is itself); `AddressRefused("unresolvable_host")`."""
    literal = ip_literal(host)
    if literal is not None:
        return (str(literal),)
    try:
        addresses = (resolver or system_resolver)(host, port)
    except (OSError, UnicodeError) as exc:
        raise AddressRefused("unresolvable_host", f"The host {host} could not be resolved.") from exc
    if not addresses:
        raise AddressRefused("unresolvable_host", f"The host {host} could not be resolved.")
    return tuple(addresses)


def check_addresses(host: str, addresses: tuple[str, ...], *, allow_private: bool) -> None:
    """`AddressRefused("private_address")` when any address of `host` is not a public unicast address."""
    if allow_private:
        return
    for address in addresses:
        reason = forbidden_reason(address)
        if reason is not None:
            raise AddressRefused(
                "private_address", f"{host} resolves to a {reason} address ({address}), which is not allowed."
            )


def resolve_checked(host: str, port: int, *, allow_private: bool, resolver: Resolver | None = None) -> tuple[str, ...]:
    """Resolve `host` once and check every address; the first one is the one to dial."""
    addresses = resolve_addresses(host, port, resolver)
    check_addresses(host, addresses, allow_private=allow_private)
    return addresses
