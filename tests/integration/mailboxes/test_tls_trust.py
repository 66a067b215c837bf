"""TLS trust and the address guard of mailbox connections, against real servers on 127.0.0.1.

- A CA-signed certificate is verified with its host name; a wrong host name is refused, never downgraded.
- A self-signed certificate is trusted on first use: the connection test reports its fingerprint; a connection
  given that pin logs in (SMTP test, IMAP sync); the same host serving another self-signed certificate is
  refused before any credential is sent (the servers record what they received).
- Addresses: with private addresses not allowed, nothing is dialled (a listener counts connections).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from kindling.mail.connection import ConnectionTester, Endpoint, ProbeResult, TlsInfo, TlsPolicy
from kindling.mail.imapsync import ImapSession, ImapSyncError
from tests.integration.mailboxes.conftest import PASSWORD, USER, MailServers
from tests.integration.mailboxes.servers import CountingListener, Pem, TlsRelay, smtp_server

pytestmark = pytest.mark.mail


def resolver_to(address: str):  # type: ignore[no-untyped-def]
    """A resolver answering `address` for every name (a DNS record the test controls)."""

    def resolve(host: str, port: int) -> list[str]:
        return [address]

    return resolve


def trust_tester(servers: MailServers, **policy: object) -> ConnectionTester:
    tls = TlsPolicy(str(servers.ca_bundle), **{"allow_private_addresses": True, **policy})  # type: ignore[arg-type]
    return ConnectionTester(step_timeout=5.0, tls=tls)


def smtp(
    t: ConnectionTester, port: int, security: str, *, host: str = "127.0.0.1", pin: str | None = None, repin=False
) -> ProbeResult:  # type: ignore[no-untyped-def]
    endpoint = Endpoint(host, port, USER, PASSWORD, security, tls_pin=pin)  # type: ignore[arg-type]
    return asyncio.run(t.test_smtp(endpoint, repin=repin))


def imap(
    t: ConnectionTester, port: int, security: str, *, host: str = "127.0.0.1", pin: str | None = None
) -> ProbeResult:
    endpoint = Endpoint(host, port, USER, PASSWORD, security, tls_pin=pin)  # type: ignore[arg-type]
    return asyncio.run(t.test_imap(endpoint))


def codes(result: ProbeResult) -> tuple[str | None, list[str]]:
    return (result.error.code if result.error else None), [w.code for w in result.warnings]


@pytest.fixture(scope="module")
def self_signed(mail_servers: MailServers) -> tuple[Pem, Pem]:
    """Two self-signed certificates for the same names: the pinned one and the one that replaces it."""
    return (
        mail_servers.certs.leaf("tofu-first", self_signed=True),
        mail_servers.certs.leaf("tofu-other", self_signed=True),
    )


# --- CA-signed certificates ---------------------------------------------------------------------------------
def test_a_ca_signed_certificate_is_verified_with_its_host_name(mail_servers: MailServers) -> None:
    t = trust_tester(mail_servers)
    for port, security in ((mail_servers.starttls_port, "starttls"), (mail_servers.ssl_port, "ssl")):
        result = smtp(t, port, security, host="localhost")  # a name in the certificate, resolved to 127.0.0.1
        assert result.ok, result.error
        assert result.tls == TlsInfo(self_signed=False) and result.warnings == []
    result = imap(t, mail_servers.imaps_port, "ssl", host="localhost")
    assert result.ok, result.error
    assert result.tls == TlsInfo(self_signed=False)


def test_a_ca_signed_certificate_for_another_host_name_is_refused_not_downgraded(mail_servers: MailServers) -> None:
    # The name dialled resolves to the server, but the certificate (signed by the trusted CA) names another host.
    t = trust_tester(mail_servers, resolver=resolver_to("127.0.0.1"))
    wrong_host = mail_servers.certs.leaf("trust-wrong-host", hosts=("mail.elsewhere.test",))
    before = len(mail_servers.accounts.logins)
    with (
        smtp_server("starttls", mail_servers.accounts, wrong_host) as starttls_port,
        smtp_server("ssl", mail_servers.accounts, wrong_host) as ssl_port,
    ):
        for port, security in ((starttls_port, "starttls"), (ssl_port, "ssl")):
            result = smtp(t, port, security, host="mail.kindling.test")
            assert codes(result) == ("certificate_invalid", [])
            assert result.tls is None
    # Dovecot's lab certificate does not name this host either.
    assert codes(imap(t, mail_servers.imaps_port, "ssl", host="imap.kindling.test")) == ("certificate_invalid", [])
    assert mail_servers.accounts.logins[before:] == []  # no AUTH ever reached the servers


# --- self-signed: trust on first use ------------------------------------------------------------------------
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_smtp_self_signed_pinned_at_first_use_then_only_that_certificate(
    mail_servers: MailServers, self_signed: tuple[Pem, Pem], security: str
) -> None:
    first, other = self_signed
    t = trust_tester(mail_servers)
    accounts = mail_servers.accounts
    with smtp_server(security, accounts, first) as port:  # type: ignore[arg-type]
        found = smtp(t, port, security)
        assert found.ok and codes(found) == (None, ["self_signed_certificate"])
        assert found.tls == TlsInfo(self_signed=True, fingerprint=first.fingerprint)
        before = len(accounts.logins)
        again = smtp(t, port, security, pin=first.fingerprint)
        assert again.ok and again.tls == TlsInfo(self_signed=True, fingerprint=first.fingerprint)
        assert accounts.logins[before:] == [USER]
    # The same host and port now present another self-signed certificate.
    with smtp_server(security, accounts, other, port=port):  # type: ignore[arg-type]
        before = len(accounts.logins)
        refused = smtp(t, port, security, pin=first.fingerprint)
        assert codes(refused) == ("tls_certificate_changed", [])
        assert refused.error is not None and other.fingerprint in (refused.error.detail or "")
        assert "re-test" in refused.error.message
        assert accounts.logins[before:] == []  # refused before AUTH: the server never saw the password
        # The user's re-test accepts the new certificate, and says so.
        repinned = smtp(t, port, security, pin=first.fingerprint, repin=True)
        assert repinned.ok, repinned.error
        assert codes(repinned) == (None, ["self_signed_certificate", "tls_certificate_changed"])
        assert repinned.tls == TlsInfo(
            self_signed=True, fingerprint=other.fingerprint, previous_fingerprint=first.fingerprint
        )


def test_a_pinned_host_that_moved_to_a_ca_signed_certificate_still_connects(mail_servers: MailServers) -> None:
    result = smtp(trust_tester(mail_servers), mail_servers.starttls_port, "starttls", pin="sha256:" + "ab" * 32)
    assert result.ok and result.tls == TlsInfo(self_signed=False) and result.warnings == []


def test_a_self_signed_certificate_on_a_big_providers_host_is_never_trusted(
    mail_servers: MailServers, self_signed: tuple[Pem, Pem]
) -> None:
    """smtp.gmail.com answered by someone with a self-signed certificate (DNS spoofed here by the test's resolver):
    even a first test refuses it, and the password never leaves."""
    first, _ = self_signed
    t = trust_tester(mail_servers, resolver=resolver_to("127.0.0.1"))
    before = len(mail_servers.accounts.logins)
    with smtp_server("starttls", mail_servers.accounts, first) as port:
        for repin in (False, True):
            result = smtp(t, port, "starttls", host="smtp.gmail.com", pin=first.fingerprint if repin else None)
            assert codes(result) == ("certificate_invalid", []), result
    assert mail_servers.accounts.logins[before:] == []


@pytest.fixture
def relay(mail_servers: MailServers, self_signed: tuple[Pem, Pem]) -> Iterator[tuple[TlsRelay, TlsRelay]]:
    """Self-signed IMAPS in front of Dovecot's plain IMAP port: one relay per certificate."""
    first, other = self_signed
    with TlsRelay(first, mail_servers.imap_port) as a, TlsRelay(other, mail_servers.imap_port) as b:
        yield a, b  # type: ignore[misc]


def test_imap_self_signed_pinned_at_test_time_syncs_later_and_refuses_another_certificate(
    mail_servers: MailServers, self_signed: tuple[Pem, Pem], relay: tuple[TlsRelay, TlsRelay]
) -> None:
    first, other = self_signed
    genuine, impostor = relay
    t = trust_tester(mail_servers)
    found = imap(t, genuine.port, "ssl")
    assert found.ok, found.error
    assert found.tls == TlsInfo(self_signed=True, fingerprint=first.fingerprint)
    assert found.folders["inbox"] == "INBOX"

    # Later, the inbox sync connects with the pin and works.
    policy = TlsPolicy(str(mail_servers.ca_bundle), allow_private_addresses=True)
    pinned = Endpoint("127.0.0.1", genuine.port, USER, PASSWORD, "ssl", tls_pin=first.fingerprint)
    with ImapSession.connect(pinned, policy, timeout=5.0) as session:
        status = session.status("INBOX")
        assert status.uidvalidity > 0
    assert PASSWORD.encode() in bytes(genuine.received)  # it did log in through the genuine relay

    # The same endpoint served with another self-signed certificate: refused before LOGIN.
    moved = Endpoint("127.0.0.1", impostor.port, USER, PASSWORD, "ssl", tls_pin=first.fingerprint)
    with pytest.raises(ImapSyncError) as caught:
        ImapSession.connect(moved, policy, timeout=5.0)
    assert caught.value.code == "tls_certificate_changed"
    assert other.fingerprint in (caught.value.detail or "")
    result = imap(t, impostor.port, "ssl", pin=first.fingerprint)
    assert codes(result) == ("tls_certificate_changed", [])
    received = bytes(impostor.received)
    assert b"LOGIN" not in received.upper() and PASSWORD.encode() not in received


def test_imap_without_a_pin_never_falls_back_to_an_unverified_login(
    mail_servers: MailServers, relay: tuple[TlsRelay, TlsRelay]
) -> None:
    genuine, _ = relay
    policy = TlsPolicy(str(mail_servers.ca_bundle), allow_private_addresses=True)
    with pytest.raises(ImapSyncError) as caught:
        ImapSession.connect(Endpoint("127.0.0.1", genuine.port, USER, PASSWORD, "ssl"), policy, timeout=5.0)
    assert caught.value.code == "self_signed_certificate"
    assert PASSWORD.encode() not in bytes(genuine.received)


# --- the address guard --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "resolves_to"),
    [("127.0.0.1", None), ("::ffff:127.0.0.1", None), ("mail.rebind.test", "127.0.0.1"), ("10.0.0.1", None)],
)
def test_private_addresses_are_never_dialled_when_not_allowed(
    mail_servers: MailServers, host: str, resolves_to: str | None
) -> None:
    resolver = resolver_to(resolves_to) if resolves_to else None
    t = trust_tester(mail_servers, allow_private_addresses=False, resolver=resolver)
    with CountingListener() as listener:
        assert codes(smtp(t, listener.port, "starttls", host=host)) == ("private_address", [])
        assert codes(imap(t, listener.port, "ssl", host=host)) == ("private_address", [])
        with pytest.raises(ImapSyncError) as caught:
            ImapSession.connect(Endpoint(host, listener.port, USER, PASSWORD, "ssl"), t.tls, timeout=2.0)
        assert caught.value.code == "private_address"
    assert listener.connections == 0
