"""Provider detection (`google`, `microsoft`, `yahoo`, `zoho`, `other`) and host/port presets.

Detection order: the SMTP/IMAP host when given; else the email's domain when it is a provider's own
consumer domain; else the domain's MX records through an injectable resolver (dnspython by default).
Reserved names (RFC 6761/2606: .invalid, .test, .localhost, .example, .local) are never looked up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Provider = Literal["google", "microsoft", "yahoo", "zoho", "other"]
MxResolver = Callable[[str], list[str]]

RESERVED_TLDS = ("invalid", "test", "localhost", "example", "local")


@dataclass(frozen=True)
class Preset:
    smtp_host: str
    smtp_port: int
    imap_host: str
    imap_port: int


PRESETS: dict[str, Preset] = {
    "google": Preset("smtp.gmail.com", 587, "imap.gmail.com", 993),
    "microsoft": Preset("smtp.office365.com", 587, "outlook.office365.com", 993),
    "yahoo": Preset("smtp.mail.yahoo.com", 465, "imap.mail.yahoo.com", 993),
    "zoho": Preset("smtp.zoho.com", 465, "imap.zoho.com", 993),
}

_HOST_SUFFIXES: tuple[tuple[str, Provider], ...] = (
    ("gmail.com", "google"),
    ("googlemail.com", "google"),
    ("google.com", "google"),
    ("office365.com", "microsoft"),
    ("outlook.com", "microsoft"),
    ("hotmail.com", "microsoft"),
    ("live.com", "microsoft"),
    ("yahoo.com", "yahoo"),
    ("yahoodns.net", "yahoo"),
    ("zoho.com", "zoho"),
    ("zoho.eu", "zoho"),
    ("zoho.in", "zoho"),
    ("zohomail.com", "zoho"),
)

_CONSUMER_DOMAINS: dict[str, Provider] = {
    "gmail.com": "google",
    "googlemail.com": "google",
    "outlook.com": "microsoft",
    "hotmail.com": "microsoft",
    "live.com": "microsoft",
    "msn.com": "microsoft",
    "yahoo.com": "yahoo",
    "ymail.com": "yahoo",
    "zoho.com": "zoho",
    "zohomail.com": "zoho",
}

# MX host suffix -> provider (Google Workspace, Microsoft 365 / Exchange Online, Yahoo, Zoho).
_MX_SUFFIXES: tuple[tuple[str, Provider], ...] = (
    ("google.com", "google"),
    ("googlemail.com", "google"),
    ("mail.protection.outlook.com", "microsoft"),
    ("outlook.com", "microsoft"),
    ("yahoodns.net", "yahoo"),
    ("zoho.com", "zoho"),
    ("zoho.eu", "zoho"),
    ("zoho.in", "zoho"),
    ("zohomail.com", "zoho"),
)


def _match_suffix(host: str, table: tuple[tuple[str, Provider], ...]) -> Provider | None:
    host = host.lower().rstrip(".")
    for suffix, provider in table:
        if host == suffix or host.endswith("." + suffix):
            return provider
    return None


def provider_from_host(host: str | None) -> Provider | None:
    return _match_suffix(host, _HOST_SUFFIXES) if host else None


def is_reserved(domain: str) -> bool:
    return domain.lower().rstrip(".").rsplit(".", 1)[-1] in RESERVED_TLDS


def dns_mx_resolver(timeout: float = 3.0) -> MxResolver:
    """MX lookups with dnspython; any failure means "unknown"."""

    def resolve(domain: str) -> list[str]:
        import dns.exception
        import dns.resolver

        try:
            answer = dns.resolver.resolve(domain, "MX", lifetime=timeout)
        except (dns.exception.DNSException, OSError):
            return []
        return [str(record.exchange).rstrip(".") for record in answer]  # type: ignore[attr-defined]

    return resolve


def provider_from_mx(domain: str, resolver: MxResolver) -> Provider | None:
    if is_reserved(domain):
        return None
    for exchange in resolver(domain):
        found = _match_suffix(exchange, _MX_SUFFIXES)
        if found is not None:
            return found
    return None


def detect_provider(
    email: str, smtp_host: str | None, imap_host: str | None, resolver: MxResolver | None
) -> Provider | None:
    """The provider, or None when nothing identifies one (hosts unknown, no recognisable MX)."""
    for host in (smtp_host, imap_host):
        found = provider_from_host(host)
        if found is not None:
            return found
    domain = email.rsplit("@", 1)[-1].lower()
    if domain in _CONSUMER_DOMAINS:
        return _CONSUMER_DOMAINS[domain]
    if smtp_host or imap_host or resolver is None:
        return None
    return provider_from_mx(domain, resolver)
