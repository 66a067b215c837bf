"""Is a tracking hit a person, or a machine reading the mail first? (inventory 20.2-20.3; standard library only)

Security gateways open and click everything before (or instead of) the recipient; counting those would
inflate open and click rates. A hit is judged, in order, by:
1. the user agent of a known scanner, then a scanner's published mail-gateway IP ranges;
2. Apple Mail Privacy Protection for opens (Apple: MPP "downloads remote content in the background by default,
   whether or not you engage with the email"), recognised by Apple's own network 17.0.0.0/8;
3. no user agent at all, or an automation client (curl, python-requests, headless browsers, crawlers);
4. timing: a hit less than 10 s after the send (nobody reads that fast; gateways do), or within 1 s of
   another hit on the same send (a scanner fetching every link at once; Marketo's "proximity pattern").
Image proxies that fetch on the recipient's open (Gmail's GoogleImageProxy: Google's admin help says "when your
users open email messages, Gmail uses Google's secure proxy servers to serve images"; Yahoo's YahooMailProxy)
are counted as human opens once past the timing rules, with reason `image_proxy`.

Sources of the patterns (vendor documentation, kept small on purpose; tests need no network):
- Microsoft Exchange Online Protection: the ranges of spf.protection.outlook.com ("Microsoft 365 URLs and IP
  address ranges"); Office link checks announce themselves as "ms-office" / "Microsoft Office Existence
  Discovery"; BingPreview is Microsoft's link preview crawler.
- Mimecast: "Mimecast Data Centers and URLs" (US and EU gateway ranges).
- Proofpoint: Proofpoint Essentials / modusCloud sending ranges 67.231.144.0/20 and 148.163.128.0/19.
- Barracuda: "Barracuda Email Security Service IP Ranges" (US 209.222.80.0/21, 64.235.144.0/20).
- Google: "Google-Safety" is the crawler Google documents for abuse and malware discovery.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

HitKind = Literal["open", "click"]
MIN_HUMAN_DELAY = timedelta(seconds=10)
BURST_WINDOW = timedelta(seconds=1)


class HitReason(StrEnum):
    HUMAN = "human"
    IMAGE_PROXY = "image_proxy"
    SCANNER_USER_AGENT = "scanner_user_agent"
    SCANNER_IP = "scanner_ip"
    PRIVACY_PROXY = "privacy_proxy"
    MISSING_USER_AGENT = "missing_user_agent"
    AUTOMATION_USER_AGENT = "automation_user_agent"
    TOO_FAST = "too_fast"
    BURST = "burst"


@dataclass(frozen=True)
class HitVerdict:
    human: bool
    reason: HitReason
    vendor: str | None = None


_SCANNER_AGENTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("microsoft", re.compile(r"\bms-office\b|microsoft office existence discovery|bingpreview|safelinks", re.I)),
    ("mimecast", re.compile(r"mimecast", re.I)),
    ("proofpoint", re.compile(r"proofpoint|\bpfpt\b", re.I)),
    ("barracuda", re.compile(r"barracuda", re.I)),
    ("google", re.compile(r"google-safety", re.I)),
)
_IMAGE_PROXIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("google", re.compile(r"googleimageproxy|via ggpht\.com", re.I)),
    ("yahoo", re.compile(r"yahoomailproxy", re.I)),
)
_AUTOMATION = re.compile(
    r"(?:bot|crawler|spider)\b|\bjava/|\b(?:curl|wget|python-requests|python-urllib|aiohttp|httpx|go-http-client|"
    r"libwww-perl|headlesschrome|phantomjs|scrapy|axios|node-fetch)\b",
    re.I,
)

_SCANNER_NETWORKS: dict[str, tuple[str, ...]] = {
    "microsoft": ("40.92.0.0/15", "40.107.0.0/16", "52.100.0.0/14", "104.47.0.0/17", "2a01:111:f400::/48"),
    "mimecast": (
        "205.139.110.0/24",
        "205.139.111.0/24",
        "207.211.30.0/24",
        "207.211.31.0/25",
        "216.205.24.0/24",
        "63.128.21.0/24",
        "170.10.128.0/22",
        "170.10.132.0/23",
        "195.130.217.0/24",
        "91.220.42.0/24",
        "146.101.78.0/24",
        "185.58.84.0/22",
    ),
    "proofpoint": ("67.231.144.0/20", "148.163.128.0/19"),
    "barracuda": ("209.222.80.0/21", "64.235.144.0/20"),
}
_PRIVACY_NETWORKS: dict[str, tuple[str, ...]] = {"apple": ("17.0.0.0/8",)}


def _compile(
    table: dict[str, tuple[str, ...]],
) -> tuple[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network], ...]:
    return tuple((vendor, ipaddress.ip_network(cidr)) for vendor, cidrs in table.items() for cidr in cidrs)


SCANNER_NETWORKS = _compile(_SCANNER_NETWORKS)
PRIVACY_NETWORKS = _compile(_PRIVACY_NETWORKS)


def _address(ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _network_vendor(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
    networks: Iterable[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]],
) -> str | None:
    if address is None:
        return None
    for vendor, network in networks:
        if address.version == network.version and address in network:
            return vendor
    return None


def _agent_vendor(user_agent: str, patterns: Iterable[tuple[str, re.Pattern[str]]]) -> str | None:
    for vendor, pattern in patterns:
        if pattern.search(user_agent):
            return vendor
    return None


def classify_hit(
    kind: HitKind,
    user_agent: str | None,
    ip: str | None,
    sent_at: datetime | None,
    now: datetime,
    *,
    other_hits: Iterable[datetime] = (),
) -> HitVerdict:
    """Judge one open or click. `other_hits`: times of the send's earlier hits (opens and clicks), if known."""
    agent = (user_agent or "").strip()
    address = _address(ip)
    vendor = _agent_vendor(agent, _SCANNER_AGENTS)
    if vendor is not None:
        return HitVerdict(False, HitReason.SCANNER_USER_AGENT, vendor)
    vendor = _network_vendor(address, SCANNER_NETWORKS)
    if vendor is not None:
        return HitVerdict(False, HitReason.SCANNER_IP, vendor)
    if kind == "open":
        vendor = _network_vendor(address, PRIVACY_NETWORKS)
        if vendor is not None:
            return HitVerdict(False, HitReason.PRIVACY_PROXY, vendor)
    if not agent:
        return HitVerdict(False, HitReason.MISSING_USER_AGENT)
    proxy = _agent_vendor(agent, _IMAGE_PROXIES)
    if proxy is None and _AUTOMATION.search(agent):
        return HitVerdict(False, HitReason.AUTOMATION_USER_AGENT)
    if sent_at is not None and now - sent_at < MIN_HUMAN_DELAY:
        return HitVerdict(False, HitReason.TOO_FAST, proxy)
    if any(abs(now - other) < BURST_WINDOW for other in other_hits):
        return HitVerdict(False, HitReason.BURST, proxy)
    if proxy is not None:
        # A click never comes through an image proxy; an open through one is the recipient's.
        return HitVerdict(kind == "open", HitReason.IMAGE_PROXY, proxy)
    return HitVerdict(True, HitReason.HUMAN)


def clamp_rate(numerator: int | float, denominator: int | float, ndigits: int = 2) -> float:
    """A displayed percentage, never above 100 (inventory 20.3) nor below 0; 0 when nothing was sent."""
    if denominator <= 0 or numerator <= 0:
        return 0.0
    return round(min(100.0, numerator * 100.0 / denominator), ndigits)
