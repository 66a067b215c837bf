"""Warmup protection rules with fake DNS and SMTP (the real ones run in tests/integration/warmup)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from kindling.warmup.protection import (
    BlockedDomain,
    BounceEvent,
    CheckFailure,
    DnsFailure,
    DomainBlocklist,
    DomainCheck,
    DomainHealth,
    DomainNotFound,
    MxRecord,
    PoolExclusions,
    ProbeResult,
    apply_round,
    bounce_blocklist,
    bounce_entries,
    check_domain,
    check_domains,
    check_due,
    domain_of,
)

NOW = datetime(2026, 6, 10, 12, tzinfo=UTC)


# --- blocklist and the bounce rule -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("domain", "blocked"),
    [
        ("bad.example.com", True),
        ("BAD.example.com.", True),
        ("mail.bad.example.com", True),  # subdomains of a blocked domain
        ("notbad.example.com", False),
        ("example.com", False),  # a parent of a blocked domain is not blocked
        ("expired.test", True),
        ("other.test", False),
    ],
)
def test_blocklist(domain: str, blocked: bool) -> None:
    blocklist = DomainBlocklist(
        [BlockedDomain("bad.example.com", "curated", "invalid mailboxes"), BlockedDomain("Expired.Test", "bounces")]
    )
    assert blocklist.blocks(domain) is blocked
    assert len(blocklist) == 2


def test_blocklist_entry_says_why() -> None:
    entry = BlockedDomain("bad.example.com", "curated", "expired accounts")
    assert DomainBlocklist([entry]).entry_for("x.bad.example.com") == entry


@pytest.mark.parametrize(
    ("ages", "blocklisted"),
    [
        ([timedelta(hours=1), timedelta(days=1), timedelta(days=6)], True),
        ([timedelta(0), timedelta(0), timedelta(0)], True),
        ([timedelta(hours=1), timedelta(days=1)], False),  # two is not enough
        ([timedelta(hours=1), timedelta(days=1), timedelta(days=7)], False),  # the third is 7 days old: out
        ([timedelta(hours=1), timedelta(days=1), timedelta(days=6, hours=23, minutes=59)], True),
        ([timedelta(hours=1), timedelta(days=1), timedelta(days=-1)], False),  # a future event does not count
        ([timedelta(days=8), timedelta(days=9), timedelta(days=10), timedelta(days=11)], False),
    ],
)
def test_three_bounces_within_seven_days_blocklist_a_domain(ages: list[timedelta], blocklisted: bool) -> None:
    events = [BounceEvent("peer.example.net", NOW - age) for age in ages]
    assert bounce_blocklist(events, NOW) == ({"peer.example.net": len(ages)} if blocklisted else {})


def test_bounces_count_per_domain_without_case() -> None:
    events = [
        BounceEvent("Peer.Example.net", NOW),
        BounceEvent("peer.example.net.", NOW),
        BounceEvent("peer.example.net", NOW),
        BounceEvent("other.example.net", NOW),
        BounceEvent("other.example.net", NOW),
    ]
    assert bounce_blocklist(events, NOW) == {"peer.example.net": 3}


def test_bounce_entries_skip_domains_already_blocked() -> None:
    events = [BounceEvent(d, NOW) for d in ["a.example", "a.example", "a.example", "b.example"] * 3]
    blocklist = DomainBlocklist([BlockedDomain("b.example", "curated")])
    assert bounce_entries(events, NOW, blocklist) == [
        BlockedDomain("a.example", "bounces", "9 warmup bounces within 7 days", NOW)
    ]


@pytest.mark.parametrize(
    ("address", "domain"),
    [("Jordan@Acme.COM", "acme.com"), ("a@b@c.example.", "c.example"), ("acme.com", "acme.com")],
)
def test_domain_of(address: str, domain: str) -> None:
    assert domain_of(address) == domain


# --- the MX + SMTP check ---------------------------------------------------------------------------------
@dataclass
class FakeLookup:
    mx_records: dict[str, list[MxRecord] | Exception] = field(default_factory=dict)
    hosts: dict[str, list[str] | Exception] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def mx(self, domain: str) -> list[MxRecord]:
        self.asked.append(f"MX {domain}")
        found = self.mx_records.get(domain, DomainNotFound(domain))
        if isinstance(found, Exception):
            raise found
        return found

    def addresses(self, host: str) -> list[str]:
        self.asked.append(f"A {host}")
        found = self.hosts.get(host, DomainNotFound(host))
        if isinstance(found, Exception):
            raise found
        return found


@dataclass
class FakeProbe:
    answers: dict[str, ProbeResult] = field(default_factory=dict)
    calls: list[tuple[str, int]] = field(default_factory=list)

    def __call__(self, address: str, port: int, timeout: float) -> ProbeResult:
        self.calls.append((address, port))
        return self.answers.get(address, ProbeResult(False, "smtp_unreachable", "refused"))


OK = ProbeResult(True)
LOOKUP = FakeLookup(
    mx_records={
        "good.example.com": [MxRecord(20, "mx2.good.example.com"), MxRecord(10, "mx1.good.example.com")],
        "backup.example.com": [MxRecord(10, "down.backup.example.com"), MxRecord(20, "up.backup.example.com")],
        "nomx.example.com": [],
        "nullmx.example.com": [MxRecord(0, "")],
        "servfail.example.com": DnsFailure("servfail.example.com MX: Timeout"),
        "dangling.example.com": [MxRecord(10, "gone.example.com")],
        "iplit.example.com": [MxRecord(10, "192.0.2.9")],
        "rejects.example.com": [MxRecord(10, "mx.rejects.example.com")],
        "many.example.com": [MxRecord(n, f"mx{n}.many.example.com") for n in range(5)],
    },
    hosts={
        "mx1.good.example.com": ["192.0.2.1"],
        "mx2.good.example.com": ["192.0.2.2"],
        "down.backup.example.com": ["192.0.2.3", "2001:db8::3"],
        "up.backup.example.com": ["192.0.2.4"],
        "nomx.example.com": ["192.0.2.5"],
        "mx.rejects.example.com": ["192.0.2.6"],
        **{f"mx{n}.many.example.com": [f"192.0.2.{20 + n}"] for n in range(5)},
    },
)
PROBE_ANSWERS = {
    "192.0.2.1": OK,
    "192.0.2.2": OK,
    "192.0.2.4": OK,
    "192.0.2.5": OK,
    "192.0.2.9": OK,
    "192.0.2.6": ProbeResult(False, "smtp_rejected", "554 no service"),
}


@pytest.mark.parametrize(
    ("domain", "ok", "failure", "mx_host", "probed"),
    [
        ("good.example.com", True, None, "mx1.good.example.com", ["192.0.2.1"]),  # lowest preference first
        (
            "backup.example.com",
            True,
            None,
            "up.backup.example.com",
            ["192.0.2.3", "2001:db8::3", "192.0.2.4"],
        ),
        ("nomx.example.com", True, None, "nomx.example.com", ["192.0.2.5"]),  # implicit MX (RFC 5321)
        ("iplit.example.com", True, None, "192.0.2.9", ["192.0.2.9"]),
        ("missing.example.com", False, "nxdomain", None, []),
        ("nullmx.example.com", False, "null_mx", None, []),
        ("servfail.example.com", False, "dns_error", None, []),
        ("dangling.example.com", False, "mx_host_unresolvable", "gone.example.com", []),
        ("rejects.example.com", False, "smtp_rejected", "mx.rejects.example.com", ["192.0.2.6"]),
        # At most three MX hosts are tried.
        (
            "many.example.com",
            False,
            "smtp_unreachable",
            "mx2.many.example.com",
            ["192.0.2.20", "192.0.2.21", "192.0.2.22"],
        ),
    ],
)
def test_check_domain(
    domain: str, ok: bool, failure: CheckFailure | None, mx_host: str | None, probed: list[str]
) -> None:
    probe = FakeProbe(PROBE_ANSWERS)
    result = check_domain(domain.upper(), lookup=LOOKUP, probe=probe, now=NOW, port=2525)
    assert (result.domain, result.ok, result.failure, result.mx_host) == (domain, ok, failure, mx_host)
    assert [address for address, _ in probe.calls] == probed
    assert all(port == 2525 for _, port in probe.calls)
    assert result.checked_at == NOW
    assert not result.skipped
    if not ok:
        assert result.detail


@pytest.mark.parametrize("domain", ["lab.test", "x.invalid", "localhost", "a.example", "printer.local"])
def test_reserved_names_are_never_looked_up(domain: str) -> None:
    lookup, probe = FakeLookup(), FakeProbe()
    result = check_domain(domain, lookup=lookup, probe=probe, now=NOW)
    assert result.skipped and result.ok
    assert lookup.asked == [] and probe.calls == []


def test_check_domains_runs_each_distinct_domain_once_in_order() -> None:
    probe = FakeProbe(PROBE_ANSWERS)
    results = check_domains(
        ["good.example.com", "missing.example.com", "Good.Example.com", "nomx.example.com"],
        lookup=LOOKUP,
        probe=probe,
        now=NOW,
        workers=3,
    )
    assert [(r.domain, r.ok) for r in results] == [
        ("good.example.com", True),
        ("missing.example.com", False),
        ("nomx.example.com", True),
    ]


# --- exclusion and restore -------------------------------------------------------------------------------
LATER = NOW + timedelta(hours=2)


def passed(domain: str, at: datetime = LATER) -> DomainCheck:
    return DomainCheck(domain, at, ok=True, mx_host=f"mx.{domain}")


def failed(domain: str, at: datetime = LATER) -> DomainCheck:
    return DomainCheck(domain, at, ok=False, failure="smtp_unreachable", detail="refused")


EXCLUDED = DomainHealth("a.example.com", True, "smtp_unreachable", "refused", NOW, NOW, 1)


@pytest.mark.parametrize(
    ("previous", "check", "state", "excluded", "restored"),
    [
        # A first failure excludes at once.
        (
            {},
            failed("a.example.com"),
            DomainHealth("a.example.com", True, "smtp_unreachable", "refused", LATER, LATER, 1),
            ("a.example.com",),
            (),
        ),
        # Still failing: stays excluded since the first failure.
        (
            {"a.example.com": EXCLUDED},
            failed("a.example.com"),
            DomainHealth("a.example.com", True, "smtp_unreachable", "refused", LATER, NOW, 2),
            (),
            (),
        ),
        # Passing again restores it.
        (
            {"a.example.com": EXCLUDED},
            passed("a.example.com"),
            DomainHealth("a.example.com", last_checked_at=LATER),
            (),
            ("a.example.com",),
        ),
        ({}, passed("a.example.com"), DomainHealth("a.example.com", last_checked_at=LATER), (), ()),
    ],
)
def test_apply_round(
    previous: dict[str, DomainHealth],
    check: DomainCheck,
    state: DomainHealth,
    excluded: tuple[str, ...],
    restored: tuple[str, ...],
) -> None:
    outcome = apply_round(previous, [check])
    assert outcome.states[check.domain] == state
    assert (outcome.excluded, outcome.restored, outcome.suspected_local_outage) == (excluded, restored, False)


def test_a_round_where_nearly_everything_fails_is_our_outage_not_the_pool() -> None:
    domains = [f"d{i}.example.com" for i in range(5)]
    previous = {"d0.example.com": DomainHealth("d0.example.com", True, "smtp_timeout", None, NOW, NOW, 3)}
    checks = [passed("d0.example.com"), *(failed(d) for d in domains[1:])]  # 4 of 5 fail: 80%
    outcome = apply_round(previous, checks)
    assert outcome.suspected_local_outage
    assert outcome.excluded == ()
    assert outcome.restored == ("d0.example.com",)
    assert not outcome.states["d1.example.com"].excluded
    assert outcome.states["d1.example.com"].consecutive_failures == 1
    # Below the ratio, failures exclude as usual.
    normal = apply_round({}, [passed(domains[0]), passed(domains[1]), *(failed(d) for d in domains[2:])])
    assert not normal.suspected_local_outage
    assert normal.excluded == tuple(domains[2:])
    # Too few domains to tell: every failure counts.
    few = apply_round({}, [failed(d) for d in domains[:4]])
    assert not few.suspected_local_outage and few.excluded == tuple(domains[:4])


def test_skipped_checks_change_nothing() -> None:
    previous = {"lab.test": DomainHealth("lab.test")}
    outcome = apply_round(previous, [DomainCheck("lab.test", LATER, ok=True, skipped=True)])
    assert outcome.states == previous
    assert (outcome.excluded, outcome.restored) == ((), ())


@pytest.mark.parametrize(
    ("state", "due"),
    [
        (None, True),
        (DomainHealth("a.example.com"), True),
        (DomainHealth("a.example.com", last_checked_at=NOW - timedelta(hours=2)), True),
        (DomainHealth("a.example.com", last_checked_at=NOW - timedelta(hours=1, minutes=59)), False),
    ],
)
def test_every_domain_is_checked_every_two_hours(state: DomainHealth | None, due: bool) -> None:
    assert check_due(state, NOW) is due


@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        ("blocked.example.com", "blocklisted"),
        ("sub.blocked.example.com", "blocklisted"),
        ("down.example.com", "mx_check_failed"),
        ("DOWN.example.com.", "mx_check_failed"),
        ("restored.example.com", None),
        ("unknown.example.com", None),
    ],
)
def test_pool_exclusions(domain: str, reason: str | None) -> None:
    exclusions = PoolExclusions(
        DomainBlocklist([BlockedDomain("blocked.example.com", "curated")]),
        {
            "down.example.com": DomainHealth("down.example.com", excluded=True),
            "restored.example.com": DomainHealth("restored.example.com", excluded=False),
        },
    )
    assert exclusions(domain) == reason
