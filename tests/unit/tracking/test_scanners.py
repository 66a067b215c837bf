"""Scanner and prefetcher filtering at the tracking endpoints (inventory 20.2) and clamped rates (20.3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kindling.tracking.scanners import HitReason, HitVerdict, clamp_rate, classify_hit

SENT = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
LATER = SENT + timedelta(hours=2)

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
OUTLOOK_DESKTOP = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
HOME_IP = "203.0.113.7"  # TEST-NET-3: nobody's scanner


@pytest.mark.parametrize(
    ("kind", "agent", "ip", "verdict"),
    [
        # people
        ("click", CHROME, HOME_IP, HitVerdict(True, HitReason.HUMAN)),
        ("open", IPHONE_SAFARI, HOME_IP, HitVerdict(True, HitReason.HUMAN)),
        ("open", OUTLOOK_DESKTOP, HOME_IP, HitVerdict(True, HitReason.HUMAN)),
        ("click", CHROME, "2001:db8::1", HitVerdict(True, HitReason.HUMAN)),
        ("click", CHROME, None, HitVerdict(True, HitReason.HUMAN)),
        ("click", CHROME, "not-an-ip", HitVerdict(True, HitReason.HUMAN)),
        # image proxies fetch when the recipient opens: human opens, never clicks
        ("open", GMAIL_PROXY, "66.249.84.10", HitVerdict(True, HitReason.IMAGE_PROXY, "google")),
        ("open", YAHOO_PROXY, HOME_IP, HitVerdict(True, HitReason.IMAGE_PROXY, "yahoo")),
        ("click", GMAIL_PROXY, HOME_IP, HitVerdict(False, HitReason.IMAGE_PROXY, "google")),
        # scanners by user agent
        (
            "click",
            "Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
            HOME_IP,
            HitVerdict(False, HitReason.SCANNER_USER_AGENT, "microsoft"),
        ),
        (
            "click",
            "Microsoft Office Existence Discovery",
            HOME_IP,
            HitVerdict(False, HitReason.SCANNER_USER_AGENT, "microsoft"),
        ),
        (
            "click",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 BingPreview/1.0b",
            HOME_IP,
            HitVerdict(False, HitReason.SCANNER_USER_AGENT, "microsoft"),
        ),
        ("click", "Mimecast URL Protect", HOME_IP, HitVerdict(False, HitReason.SCANNER_USER_AGENT, "mimecast")),
        ("open", "Proofpoint URL Defense", HOME_IP, HitVerdict(False, HitReason.SCANNER_USER_AGENT, "proofpoint")),
        ("click", "Barracuda Sentinel (EE)", HOME_IP, HitVerdict(False, HitReason.SCANNER_USER_AGENT, "barracuda")),
        (
            "click",
            "Mozilla/5.0 (compatible; Google-Safety; +http://www.google.com/bot.html)",
            HOME_IP,
            HitVerdict(False, HitReason.SCANNER_USER_AGENT, "google"),
        ),
        # scanners by network, whatever they claim to be
        ("click", CHROME, "40.107.22.15", HitVerdict(False, HitReason.SCANNER_IP, "microsoft")),
        ("click", CHROME, "52.101.0.1", HitVerdict(False, HitReason.SCANNER_IP, "microsoft")),
        ("open", CHROME, "104.47.127.255", HitVerdict(False, HitReason.SCANNER_IP, "microsoft")),
        ("click", CHROME, "2a01:111:f400:7e1b::1", HitVerdict(False, HitReason.SCANNER_IP, "microsoft")),
        ("click", CHROME, "205.139.110.50", HitVerdict(False, HitReason.SCANNER_IP, "mimecast")),
        ("click", CHROME, "170.10.133.4", HitVerdict(False, HitReason.SCANNER_IP, "mimecast")),
        ("click", CHROME, "91.220.42.200", HitVerdict(False, HitReason.SCANNER_IP, "mimecast")),
        ("click", CHROME, "148.163.150.1", HitVerdict(False, HitReason.SCANNER_IP, "proofpoint")),
        ("click", CHROME, "67.231.159.254", HitVerdict(False, HitReason.SCANNER_IP, "proofpoint")),
        ("click", CHROME, "209.222.87.1", HitVerdict(False, HitReason.SCANNER_IP, "barracuda")),
        ("click", CHROME, "::ffff:64.235.150.2", HitVerdict(False, HitReason.SCANNER_IP, "barracuda")),
        # just outside the published ranges
        ("click", CHROME, "104.47.128.0", HitVerdict(True, HitReason.HUMAN)),
        ("click", CHROME, "67.231.160.0", HitVerdict(True, HitReason.HUMAN)),
        ("click", CHROME, "209.222.88.0", HitVerdict(True, HitReason.HUMAN)),
        # Apple Mail Privacy Protection preloads every message: not an open; a click from Apple's network is a person
        ("open", "Mozilla/5.0", "17.58.101.10", HitVerdict(False, HitReason.PRIVACY_PROXY, "apple")),
        ("click", IPHONE_SAFARI, "17.58.101.10", HitVerdict(True, HitReason.HUMAN)),
        # no agent, or an automation client
        ("open", None, HOME_IP, HitVerdict(False, HitReason.MISSING_USER_AGENT)),
        ("click", "   ", HOME_IP, HitVerdict(False, HitReason.MISSING_USER_AGENT)),
        ("click", "curl/8.5.0", HOME_IP, HitVerdict(False, HitReason.AUTOMATION_USER_AGENT)),
        ("click", "python-requests/2.32.3", HOME_IP, HitVerdict(False, HitReason.AUTOMATION_USER_AGENT)),
        (
            "click",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            HOME_IP,
            HitVerdict(False, HitReason.AUTOMATION_USER_AGENT),
        ),
        (
            "click",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/126.0.0.0 Safari/537.36",
            HOME_IP,
            HitVerdict(False, HitReason.AUTOMATION_USER_AGENT),
        ),
        ("open", "Java/17.0.2", HOME_IP, HitVerdict(False, HitReason.AUTOMATION_USER_AGENT)),
        ("click", "Go-http-client/1.1", HOME_IP, HitVerdict(False, HitReason.AUTOMATION_USER_AGENT)),
        # words that merely contain the markers are not bots
        (
            "click",
            "Mozilla/5.0 (Linux; Android 14; Abbott Lab Tablet) Chrome/126.0 Mobile",
            HOME_IP,
            HitVerdict(True, HitReason.HUMAN),
        ),
    ],
)
def test_classify_hit(kind: str, agent: str | None, ip: str | None, verdict: HitVerdict) -> None:
    assert classify_hit(kind, agent, ip, SENT, LATER) == verdict  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("after", "human"),
    [
        (timedelta(seconds=0), False),
        (timedelta(seconds=3), False),
        (timedelta(seconds=9, milliseconds=999), False),
        (timedelta(seconds=10), True),
        (timedelta(minutes=5), True),
    ],
)
@pytest.mark.parametrize("kind", ["open", "click"])
def test_hits_right_after_delivery_are_machines(kind: str, after: timedelta, human: bool) -> None:
    verdict = classify_hit(kind, CHROME, HOME_IP, SENT, SENT + after)  # type: ignore[arg-type]
    assert verdict.human is human
    assert verdict.reason is (HitReason.HUMAN if human else HitReason.TOO_FAST)


def test_a_gmail_prefetch_at_delivery_is_not_an_open() -> None:
    verdict = classify_hit("open", GMAIL_PROXY, "66.249.84.10", SENT, SENT + timedelta(seconds=2))
    assert verdict == HitVerdict(False, HitReason.TOO_FAST, "google")


@pytest.mark.parametrize(
    ("others", "human"),
    [
        ([], True),
        ([LATER - timedelta(milliseconds=300)], False),  # open and click in the same second
        ([LATER + timedelta(milliseconds=900)], False),  # order of arrival does not matter
        ([LATER - timedelta(seconds=1)], True),
        ([LATER - timedelta(minutes=3), LATER - timedelta(seconds=5)], True),
        ([LATER - timedelta(minutes=3), LATER - timedelta(milliseconds=10)], False),
    ],
)
def test_bursts_of_hits_on_one_send_are_machines(others: list[datetime], human: bool) -> None:
    verdict = classify_hit("click", CHROME, HOME_IP, SENT, LATER, other_hits=others)
    assert verdict.human is human
    if not human:
        assert verdict.reason is HitReason.BURST


def test_unknown_send_time_skips_the_delivery_rule() -> None:
    assert classify_hit("click", CHROME, HOME_IP, None, SENT).human


@pytest.mark.parametrize(
    ("numerator", "denominator", "rate"),
    [
        (0, 0, 0.0),
        (5, 0, 0.0),
        (0, 10, 0.0),
        (1, 3, 33.33),
        (2, 3, 66.67),
        (10, 10, 100.0),
        (15, 10, 100.0),  # re-enrolment and re-fired links cannot push a rate past 100 % (inventory 20.3-20.4)
        (-1, 10, 0.0),
        (1, 8, 12.5),
    ],
)
def test_clamp_rate(numerator: int, denominator: int, rate: float) -> None:
    assert clamp_rate(numerator, denominator) == rate
