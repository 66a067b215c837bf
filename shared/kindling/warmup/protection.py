"""Warmup protection (help center L282-289, inventory 17): the global domain blocklist, the bounce rule
that adds to it, and the MX + SMTP reachability check of every pool domain, with automatic restore.

- Blocklist (layer 1): curated entries plus the bounce rule's. An entry blocks the domain and its
  subdomains (`example.com` blocks `mail.example.com`), since a bad organisation rarely stops at one name.
- Bounce rule (layer 3): a recipient domain with 3 or more warmup bounces within 7 days (the 7 days up to
  the latest bounce, inclusive) is blocklisted.
- Reachability (layer 2), every 2 hours per domain: the MX records (RFC 5321: no MX means the domain
  itself is the mail host; a null MX, RFC 7505, means it takes no mail), then each MX host's addresses in
  preference order, until one SMTP server greets with 220. A failing domain is excluded from peer
  selection at once and restored at its first passing check. DNS goes through an injectable lookup
  (dnspython by default, nameservers configurable) and SMTP through an injectable probe.
- A round in which most domains fail at once (at least 5 checked, 80% failing) looks like our own network
  (for example outbound port 25 blocked where the checker runs), not like the pool: it excludes nothing
  new and says so; passing domains are still restored.
- Reserved names (.test, .invalid, .localhost, .example, .local) are never looked up; their check is
  skipped and changes nothing (the local stack's mail lab lives on .test).
"""

from __future__ import annotations

import contextlib
import ipaddress
import smtplib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple, Protocol

from kindling.mail.providers import is_reserved

BOUNCE_LIMIT = 3
BOUNCE_WINDOW = timedelta(days=7)
CHECK_INTERVAL = timedelta(hours=2)
SMTP_PORT = 25
MAX_MX_HOSTS = 3  # MX hosts tried per domain
MAX_ADDRESSES = 2  # addresses tried per MX host
OUTAGE_MIN_DOMAINS = 5
OUTAGE_FAILURE_RATIO = 0.8

BlockSource = Literal["curated", "bounces"]
CheckFailure = Literal[
    "nxdomain",
    "null_mx",
    "dns_error",
    "mx_host_unresolvable",
    "smtp_unreachable",
    "smtp_timeout",
    "smtp_rejected",
]


def normalize_domain(domain: str) -> str:
    return domain.strip().lower().rstrip(".")


def domain_of(address: str) -> str:
    return normalize_domain(address.rsplit("@", 1)[-1])


# --- blocklist ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BlockedDomain:
    domain: str
    source: BlockSource
    reason: str | None = None
    added_at: datetime | None = None


class DomainBlocklist:
    def __init__(self, entries: Iterable[BlockedDomain] = ()) -> None:
        self._entries = {normalize_domain(entry.domain): entry for entry in entries}

    def __len__(self) -> int:
        return len(self._entries)

    def entry_for(self, domain: str) -> BlockedDomain | None:
        """The entry blocking `domain` (itself or a parent domain), or None."""
        labels = normalize_domain(domain).split(".")
        for start in range(len(labels) - 1):
            found = self._entries.get(".".join(labels[start:]))
            if found is not None:
                return found
        return None

    def blocks(self, domain: str) -> bool:
        return self.entry_for(domain) is not None


@dataclass(frozen=True)
class BounceEvent:
    domain: str
    at: datetime


def bounce_blocklist(events: Iterable[BounceEvent], now: datetime) -> dict[str, int]:
    """Domains with at least 3 bounces in the 7 days up to `now`, with their count."""
    counts: dict[str, int] = defaultdict(int)
    for event in events:
        if now - BOUNCE_WINDOW < event.at <= now:
            counts[normalize_domain(event.domain)] += 1
    return {domain: count for domain, count in counts.items() if count >= BOUNCE_LIMIT}


def bounce_entries(events: Iterable[BounceEvent], now: datetime, blocklist: DomainBlocklist) -> list[BlockedDomain]:
    """New blocklist entries for domains that crossed the bounce rule and are not blocked yet."""
    return [
        BlockedDomain(domain, "bounces", f"{count} warmup bounces within 7 days", now)
        for domain, count in sorted(bounce_blocklist(events, now).items())
        if not blocklist.blocks(domain)
    ]


# --- DNS + SMTP reachability ----------------------------------------------------------------------------
class MxRecord(NamedTuple):
    preference: int
    exchange: str


class DomainNotFound(Exception):
    """NXDOMAIN: the domain does not exist."""


class DnsFailure(Exception):
    """The question could not be answered (timeout, SERVFAIL, no nameserver)."""


class DnsLookup(Protocol):
    def mx(self, domain: str) -> list[MxRecord]:
        """The MX records; [] when the domain exists without MX. Raises DomainNotFound or DnsFailure."""
        ...

    def addresses(self, host: str) -> list[str]:
        """IPv4 then IPv6 addresses of `host`; [] when none. Raises DomainNotFound or DnsFailure."""
        ...


class DnspythonLookup:
    """dnspython lookups; `nameservers`/`port` point it at a given resolver (tests, a VPC resolver)."""

    def __init__(self, nameservers: Sequence[str] | None = None, port: int = 53, timeout: float = 3.0) -> None:
        self._nameservers = list(nameservers) if nameservers else None
        self._port = port
        self._timeout = timeout

    def _query(self, name: str, rdtype: str) -> list[Any]:
        # dnspython is imported on first use, not at import time (cold starts of functions that never check).
        import dns.exception
        import dns.resolver

        resolver = dns.resolver.Resolver(configure=self._nameservers is None)
        if self._nameservers is not None:
            resolver.nameservers = list(self._nameservers)
        resolver.port = self._port
        resolver.lifetime = self._timeout
        try:
            answer = resolver.resolve(name, rdtype, search=False)
        except dns.resolver.NXDOMAIN as exc:
            raise DomainNotFound(name) from exc
        except dns.resolver.NoAnswer:
            return []
        except (dns.exception.DNSException, OSError) as exc:
            raise DnsFailure(f"{name} {rdtype}: {exc.__class__.__name__}") from exc
        return list(answer)

    def mx(self, domain: str) -> list[MxRecord]:
        return [
            MxRecord(int(record.preference), str(record.exchange).rstrip(".")) for record in self._query(domain, "MX")
        ]

    def addresses(self, host: str) -> list[str]:
        found = [str(record) for record in self._query(host, "A")]
        with contextlib.suppress(DomainNotFound, DnsFailure):  # the A answer already said whether it exists
            found += [str(record) for record in self._query(host, "AAAA")]
        return found


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    failure: CheckFailure | None = None
    detail: str | None = None


SmtpProbe = Callable[[str, int, float], ProbeResult]


def smtp_probe(address: str, port: int, timeout: float) -> ProbeResult:
    """Connect, read the greeting, say QUIT. A 220 greeting means the mail server is there and serving."""
    client = smtplib.SMTP(timeout=timeout, local_hostname="warmup-check.invalid")
    try:
        code, message = client.connect(address, port)
    except TimeoutError:
        return ProbeResult(False, "smtp_timeout", f"no connection within {timeout:g}s")
    except smtplib.SMTPServerDisconnected as exc:
        # smtplib wraps a greeting that never comes (read timeout) as a disconnect.
        if isinstance(exc.__context__, TimeoutError):
            return ProbeResult(False, "smtp_timeout", f"no greeting within {timeout:g}s")
        return ProbeResult(False, "smtp_unreachable", f"disconnected: {exc}")
    except (OSError, smtplib.SMTPException) as exc:
        return ProbeResult(False, "smtp_unreachable", f"{exc.__class__.__name__}: {exc}")
    if code != 220:
        client.close()
        return ProbeResult(False, "smtp_rejected", f"{code} {message.decode(errors='replace')}".strip())
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
    return ProbeResult(True)


@dataclass(frozen=True)
class DomainCheck:
    domain: str
    checked_at: datetime
    ok: bool
    failure: CheckFailure | None = None
    detail: str | None = None
    mx_host: str | None = None  # the host that answered, or the last one tried
    skipped: bool = False  # reserved name: not looked up, changes nothing


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_domain(
    domain: str,
    *,
    lookup: DnsLookup,
    probe: SmtpProbe = smtp_probe,
    now: datetime,
    port: int = SMTP_PORT,
    timeout: float = 10.0,
) -> DomainCheck:
    domain = normalize_domain(domain)
    if is_reserved(domain):
        return DomainCheck(domain, now, ok=True, skipped=True)
    try:
        records = lookup.mx(domain)
    except DomainNotFound:
        return DomainCheck(domain, now, ok=False, failure="nxdomain", detail=f"{domain} does not exist")
    except DnsFailure as exc:
        return DomainCheck(domain, now, ok=False, failure="dns_error", detail=str(exc))
    if any(record.exchange in ("", ".") for record in records):
        return DomainCheck(domain, now, ok=False, failure="null_mx", detail="the domain publishes a null MX")
    hosts = [record.exchange for record in sorted(records)] or [domain]  # RFC 5321 5.1 implicit MX
    last = DomainCheck(domain, now, ok=False, failure="mx_host_unresolvable", detail="no MX host has an address")
    for host in hosts[:MAX_MX_HOSTS]:
        try:
            addresses = [host] if _is_ip(host) else lookup.addresses(host)
        except (DomainNotFound, DnsFailure) as exc:
            last = DomainCheck(domain, now, ok=False, failure="mx_host_unresolvable", detail=str(exc), mx_host=host)
            continue
        for address in addresses[:MAX_ADDRESSES]:
            result = probe(address, port, timeout)
            if result.ok:
                return DomainCheck(domain, now, ok=True, mx_host=host)
            last = DomainCheck(domain, now, ok=False, failure=result.failure, detail=result.detail, mx_host=host)
    return last


def check_domains(
    domains: Iterable[str],
    *,
    lookup: DnsLookup,
    probe: SmtpProbe = smtp_probe,
    now: datetime,
    port: int = SMTP_PORT,
    timeout: float = 10.0,
    workers: int = 8,
) -> list[DomainCheck]:
    """Check many domains concurrently (each check mostly waits on the network); results in input order."""
    unique = list(dict.fromkeys(normalize_domain(domain) for domain in domains))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(
            pool.map(lambda d: check_domain(d, lookup=lookup, probe=probe, now=now, port=port, timeout=timeout), unique)
        )


@dataclass(frozen=True)
class DomainHealth:
    """A pool domain's standing after its latest check."""

    domain: str
    excluded: bool = False
    failure: CheckFailure | None = None
    detail: str | None = None
    last_checked_at: datetime | None = None
    excluded_since: datetime | None = None
    consecutive_failures: int = 0


@dataclass(frozen=True)
class RoundOutcome:
    states: dict[str, DomainHealth]
    excluded: tuple[str, ...]  # newly excluded this round
    restored: tuple[str, ...]  # excluded before, passing now
    suspected_local_outage: bool


def check_due(state: DomainHealth | None, now: datetime) -> bool:
    return state is None or state.last_checked_at is None or now - state.last_checked_at >= CHECK_INTERVAL


def apply_round(previous: Mapping[str, DomainHealth], checks: Sequence[DomainCheck]) -> RoundOutcome:
    """New standings from one round of checks (see the module docstring for the outage guard)."""
    real = [check for check in checks if not check.skipped]
    failing = sum(1 for check in real if not check.ok)
    outage = len(real) >= OUTAGE_MIN_DOMAINS and failing >= OUTAGE_FAILURE_RATIO * len(real)
    states = dict(previous)
    excluded: list[str] = []
    restored: list[str] = []
    for check in real:
        before = previous.get(check.domain, DomainHealth(check.domain))
        if check.ok:
            states[check.domain] = DomainHealth(check.domain, last_checked_at=check.checked_at)
            if before.excluded:
                restored.append(check.domain)
            continue
        failed = replace(
            before,
            failure=check.failure,
            detail=check.detail,
            last_checked_at=check.checked_at,
            consecutive_failures=before.consecutive_failures + 1,
        )
        if not before.excluded and not outage:
            failed = replace(failed, excluded=True, excluded_since=check.checked_at)
            excluded.append(check.domain)
        states[check.domain] = failed
    return RoundOutcome(states, tuple(excluded), tuple(restored), outage)


class PoolExclusions:
    """Why a recipient domain cannot take warmup mail now: blocklisted, failing its check, or not at all."""

    def __init__(self, blocklist: DomainBlocklist, health: Mapping[str, DomainHealth]) -> None:
        self._blocklist = blocklist
        self._health = health

    def __call__(self, domain: str) -> str | None:
        domain = normalize_domain(domain)
        if self._blocklist.blocks(domain):
            return "blocklisted"
        state = self._health.get(domain)
        if state is not None and state.excluded:
            return "mx_check_failed"
        return None
