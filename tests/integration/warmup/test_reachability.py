"""The pool domains' MX + SMTP check for real: dnspython against a DNS responder on 127.0.0.1, and SMTP
greetings from a real aiosmtpd (plus a refusing and a silent server) on loopback addresses.

All mail hosts share one port, so a host is told apart by its loopback address: 127.0.0.1 runs aiosmtpd,
127.0.0.2 has nothing listening, 127.0.0.3 greets with 554, 127.0.0.4 accepts and never speaks.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from kindling.warmup.protection import (
    DnspythonLookup,
    DomainBlocklist,
    DomainHealth,
    MxRecord,
    PoolExclusions,
    apply_round,
    check_domain,
    check_domains,
    smtp_probe,
)
from tests.integration.warmup.dns_server import Zone, dns_server

pytestmark = pytest.mark.mail

NOW = datetime(2026, 6, 10, 12, tzinfo=UTC)
LAB = "kindling-lab.net"  # not a reserved name, so the check really looks it up (only at our resolver)

ZONE = Zone(
    records={
        (f"good.{LAB}", "MX"): [f"10 mx.good.{LAB}."],
        (f"mx.good.{LAB}", "A"): ["127.0.0.1"],
        (f"backup.{LAB}", "MX"): [f"20 mx.good.{LAB}.", f"10 dead.{LAB}."],
        (f"dead.{LAB}", "A"): ["127.0.0.2"],
        (f"nomx.{LAB}", "A"): ["127.0.0.1"],
        (f"nullmx.{LAB}", "MX"): ["0 ."],
        (f"refusing.{LAB}", "MX"): [f"10 mx.refusing.{LAB}."],
        (f"mx.refusing.{LAB}", "A"): ["127.0.0.3"],
        (f"silent.{LAB}", "MX"): [f"10 mx.silent.{LAB}."],
        (f"mx.silent.{LAB}", "A"): ["127.0.0.4"],
        (f"dangling.{LAB}", "MX"): [f"10 nowhere.{LAB}."],
        (f"v6.{LAB}", "A"): ["127.0.0.1"],
        (f"v6.{LAB}", "AAAA"): ["::1"],
    },
    servfail={f"broken.{LAB}"},
)


class _Quiet:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raise AssertionError("the reachability check never sends mail")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtpd(port: int) -> Iterator[None]:
    controller = Controller(_Quiet(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield
    finally:
        controller.stop()


@contextmanager
def banner_server(address: str, port: int, banner: bytes | None) -> Iterator[None]:
    """Accept on address:port; send `banner` and close, or (None) hold the connection without a word."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, port))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            if banner is None:
                held.append(conn)
            else:
                conn.sendall(banner)
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


@dataclass(frozen=True)
class Lab:
    lookup: DnspythonLookup
    port: int


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    port = _free_port()
    with (
        dns_server(ZONE) as dns_port,
        smtpd(port),
        banner_server("127.0.0.3", port, b"554 5.3.2 mx.refusing: no service here\r\n"),
        banner_server("127.0.0.4", port, None),
    ):
        yield Lab(DnspythonLookup(["127.0.0.1"], port=dns_port, timeout=2.0), port)


def test_dnspython_lookup_reads_mx_and_addresses_from_the_resolver(lab: Lab) -> None:
    assert sorted(lab.lookup.mx(f"backup.{LAB}")) == [MxRecord(10, f"dead.{LAB}"), MxRecord(20, f"mx.good.{LAB}")]
    assert lab.lookup.mx(f"nomx.{LAB}") == []
    assert lab.lookup.addresses(f"v6.{LAB}") == ["127.0.0.1", "::1"]
    assert lab.lookup.addresses(f"mx.good.{LAB}") == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("domain", "ok", "failure", "mx_host"),
    [
        (f"good.{LAB}", True, None, f"mx.good.{LAB}"),
        (f"backup.{LAB}", True, None, f"mx.good.{LAB}"),  # the preferred MX refuses, the backup answers
        (f"nomx.{LAB}", True, None, f"nomx.{LAB}"),  # no MX: the domain itself (RFC 5321)
        (f"missing.{LAB}", False, "nxdomain", None),
        (f"broken.{LAB}", False, "dns_error", None),
        (f"nullmx.{LAB}", False, "null_mx", None),
        (f"dangling.{LAB}", False, "mx_host_unresolvable", f"nowhere.{LAB}"),
        (f"dead.{LAB}", False, "smtp_unreachable", f"dead.{LAB}"),  # no MX; its A record's host is not listening
        (f"refusing.{LAB}", False, "smtp_rejected", f"mx.refusing.{LAB}"),
        (f"silent.{LAB}", False, "smtp_timeout", f"mx.silent.{LAB}"),
    ],
)
def test_check_domain_against_real_dns_and_smtp(
    lab: Lab, domain: str, ok: bool, failure: str | None, mx_host: str | None
) -> None:
    result = check_domain(domain, lookup=lab.lookup, now=NOW, port=lab.port, timeout=1.0)
    assert (result.ok, result.failure, result.mx_host) == (ok, failure, mx_host), result.detail
    if failure == "smtp_rejected":
        assert result.detail is not None and result.detail.startswith("554")


def test_smtp_probe_greets_and_quits(lab: Lab) -> None:
    assert smtp_probe("127.0.0.1", lab.port, 2.0).ok
    refused = smtp_probe("127.0.0.2", lab.port, 2.0)
    assert (refused.ok, refused.failure) == (False, "smtp_unreachable")


def excluded_by(states: dict[str, DomainHealth]) -> PoolExclusions:
    return PoolExclusions(DomainBlocklist(), states)


def test_a_domain_is_excluded_while_its_server_is_down_and_restored_when_it_answers(lab: Lab) -> None:
    """The 2-hourly rounds against a mail server that goes away and comes back."""
    port = _free_port()
    domain = f"good.{LAB}"

    with smtpd(port):
        first = apply_round({}, check_domains([domain], lookup=lab.lookup, now=NOW, port=port, timeout=1.0))
    assert first.excluded == () and excluded_by(first.states)(domain) is None

    down_at = NOW + timedelta(hours=2)
    second = apply_round(first.states, check_domains([domain], lookup=lab.lookup, now=down_at, port=port, timeout=1.0))
    assert second.excluded == (domain,)
    assert excluded_by(second.states)(domain) == "mx_check_failed"
    assert second.states[domain].excluded_since == down_at

    with smtpd(port):
        later = down_at + timedelta(hours=2)
        third = apply_round(
            second.states, check_domains([domain], lookup=lab.lookup, now=later, port=port, timeout=1.0)
        )
    assert third.restored == (domain,)
    assert excluded_by(third.states)(domain) is None
    assert third.states[domain].last_checked_at == later


def test_many_domains_checked_concurrently(lab: Lab) -> None:
    domains = [f"good.{LAB}", f"missing.{LAB}", f"nullmx.{LAB}", f"backup.{LAB}", f"silent.{LAB}", "lab.test"]
    results = check_domains(domains, lookup=lab.lookup, now=NOW, port=lab.port, timeout=1.0, workers=6)
    assert [(r.domain, r.ok, r.skipped) for r in results] == [
        (f"good.{LAB}", True, False),
        (f"missing.{LAB}", False, False),
        (f"nullmx.{LAB}", False, False),
        (f"backup.{LAB}", True, False),
        (f"silent.{LAB}", False, False),
        ("lab.test", True, True),  # reserved: never asked
    ]
    assert not any(name == "lab.test" for name, _ in ZONE.queries)
