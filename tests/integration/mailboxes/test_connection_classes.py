"""Every failure class of the connection test, produced by a real server on 127.0.0.1 (no client mocking)."""

from __future__ import annotations

import asyncio
import time

import pytest

from kindling.mail.connection import ConnectionTester, Endpoint, ProbeResult, TlsInfo, TlsPolicy
from tests.integration.mailboxes.conftest import PASSWORD, USER, MailServers
from tests.integration.mailboxes.servers import CertFactory, closed_port, silent_port, smtp_server

pytestmark = pytest.mark.mail

LOCAL = "127.0.0.1"


def smtp(tester: ConnectionTester, port: int, security: str, user: str = USER, password: str = PASSWORD) -> ProbeResult:
    return asyncio.run(tester.test_smtp(Endpoint(LOCAL, port, user, password, security)))  # type: ignore[arg-type]


def imap(tester: ConnectionTester, port: int, security: str, user: str = USER, password: str = PASSWORD) -> ProbeResult:
    return asyncio.run(tester.test_imap(Endpoint(LOCAL, port, user, password, security)))  # type: ignore[arg-type]


def code_of(result: ProbeResult) -> str:
    assert not result.ok and result.error is not None, result
    return result.error.code


def assert_no_password(result: ProbeResult, password: str = PASSWORD) -> None:
    texts = [result.error.message, result.error.detail or ""] if result.error else []
    assert all(password not in t for t in texts)


# --- success paths ------------------------------------------------------------------------------------------
def test_smtp_starttls_and_implicit_tls_and_plain_log_in(mail_servers: MailServers) -> None:
    tester = mail_servers.tester()
    before = len(mail_servers.accounts.logins)
    verified = ProbeResult(ok=True, tls=TlsInfo(self_signed=False))  # CA-signed, host name checked
    assert smtp(tester, mail_servers.starttls_port, "starttls") == verified
    assert smtp(tester, mail_servers.ssl_port, "ssl") == verified
    assert smtp(tester, mail_servers.plain_port, "none") == ProbeResult(ok=True)
    # The servers really saw three AUTHs (and _Sink would have failed any DATA).
    assert mail_servers.accounts.logins[before:] == [USER, USER, USER]


def test_imap_ssl_starttls_and_plain_discover_folders(mail_servers: MailServers) -> None:
    tester = mail_servers.tester()
    for port, security in ((mail_servers.imaps_port, "ssl"), (mail_servers.imap_port, "starttls")):
        result = imap(tester, port, security)
        assert result.ok, result.error
        assert result.folders == {"inbox": "INBOX", "junk": "Junk", "sent": "Sent"}
    assert imap(tester, mail_servers.imap_port, "none").ok


# --- authentication -----------------------------------------------------------------------------------------
def test_smtp_wrong_password_is_auth_failed(mail_servers: MailServers) -> None:
    result = smtp(mail_servers.tester(), mail_servers.starttls_port, "starttls", password="wrong-password")
    assert code_of(result) == "auth_failed"
    assert result.error is not None and "535 5.7.8" in (result.error.detail or "")


def test_smtp_535_5_7_3_is_auth_failed(mail_servers: MailServers) -> None:
    result = smtp(mail_servers.tester(), mail_servers.ssl_port, "ssl", user="disabled@lab.test")
    assert code_of(result) == "auth_failed"
    assert result.error is not None and "5.7.3" in (result.error.detail or "")


def test_smtp_534_5_7_9_is_app_password_required(mail_servers: MailServers) -> None:
    result = smtp(mail_servers.tester(), mail_servers.starttls_port, "starttls", user="gmail-style@lab.test")
    assert code_of(result) == "app_password_required"
    assert_no_password(result)


def test_smtp_5_7_139_is_smtp_auth_disabled(mail_servers: MailServers) -> None:
    result = smtp(mail_servers.tester(), mail_servers.starttls_port, "starttls", user="m365@lab.test")
    assert code_of(result) == "smtp_auth_disabled"


def test_smtp_unknown_mailbox_is_mailbox_not_found(mail_servers: MailServers) -> None:
    result = smtp(mail_servers.tester(), mail_servers.starttls_port, "starttls", user="nobody@lab.test")
    assert code_of(result) == "mailbox_not_found"


def test_imap_wrong_password_is_auth_failed(mail_servers: MailServers) -> None:
    # Dovecot delays failed logins by about 2 s (auth_failure_delay); the step timeout covers it.
    result = imap(mail_servers.tester(step_timeout=6), mail_servers.imaps_port, "ssl", password="wrong-password")
    assert code_of(result) == "auth_failed"
    assert result.error is not None and "AUTHENTICATIONFAILED" in (result.error.detail or "")
    assert_no_password(result, "wrong-password")


# --- transport ----------------------------------------------------------------------------------------------
def test_closed_port_is_connection_refused(mail_servers: MailServers) -> None:
    tester = mail_servers.tester()
    port = closed_port()
    assert code_of(smtp(tester, port, "starttls")) == "connection_refused"
    assert code_of(imap(tester, port, "ssl")) == "connection_refused"


def test_unresolvable_host_is_dns_not_found(mail_servers: MailServers) -> None:
    tester = mail_servers.tester()
    started = time.monotonic()
    smtp_result = asyncio.run(tester.test_smtp(Endpoint("smtp.kindling.invalid", 587, USER, PASSWORD, "starttls")))
    imap_result = asyncio.run(tester.test_imap(Endpoint("imap.kindling.invalid", 993, USER, PASSWORD, "ssl")))
    assert code_of(smtp_result) == "dns_not_found"
    assert code_of(imap_result) == "dns_not_found"
    assert time.monotonic() - started < 5  # .invalid fails locally and fast (RFC 6761)


def test_silent_server_is_timeout() -> None:
    tester = ConnectionTester(step_timeout=0.5, tls=TlsPolicy(allow_private_addresses=True))
    with silent_port() as port:
        started = time.monotonic()
        assert code_of(smtp(tester, port, "starttls")) == "timeout"
        assert code_of(imap(tester, port, "ssl")) == "timeout"
        assert time.monotonic() - started < 5


def test_implicit_tls_against_starttls_port_is_tls_wrong_version(mail_servers: MailServers) -> None:
    tester = mail_servers.tester()
    assert code_of(smtp(tester, mail_servers.starttls_port, "ssl")) == "tls_wrong_version"
    assert code_of(imap(tester, mail_servers.imap_port, "ssl")) == "tls_wrong_version"


def test_starttls_against_implicit_tls_port_is_tls_wrong_version(mail_servers: MailServers) -> None:
    tester = mail_servers.tester(step_timeout=1.0)
    assert code_of(smtp(tester, mail_servers.ssl_port, "starttls")) == "tls_wrong_version"
    assert code_of(imap(tester, mail_servers.imaps_port, "starttls")) == "tls_wrong_version"


def test_server_without_starttls_is_starttls_unsupported(mail_servers: MailServers) -> None:
    assert code_of(smtp(mail_servers.tester(), mail_servers.plain_port, "starttls")) == "starttls_unsupported"


# --- certificates -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["expired", "wrong_host", "untrusted_ca"])
def test_invalid_certificates_are_certificate_invalid(mail_servers: MailServers, variant: str) -> None:
    factory = mail_servers.certs
    if variant == "expired":
        pem = factory.leaf("expired", expired=True)
    elif variant == "wrong_host":
        pem = factory.leaf("wrong-host", hosts=("mail.elsewhere.test",))
    else:
        pem = CertFactory(factory.dir / "other-ca").leaf("untrusted")
    tester = mail_servers.tester()
    with (
        smtp_server("ssl", mail_servers.accounts, pem) as ssl_port,
        smtp_server("starttls", mail_servers.accounts, pem) as starttls_port,
    ):
        assert code_of(smtp(tester, ssl_port, "ssl")) == "certificate_invalid"
        assert code_of(smtp(tester, starttls_port, "starttls")) == "certificate_invalid"


def test_dovecot_certificate_from_an_untrusted_ca_is_certificate_invalid(mail_servers: MailServers) -> None:
    # System CAs only: the lab CA is unknown.
    tester = ConnectionTester(step_timeout=5, tls=TlsPolicy(allow_private_addresses=True))
    assert code_of(imap(tester, mail_servers.imaps_port, "ssl")) == "certificate_invalid"


def test_self_signed_certificate_is_accepted_with_a_warning(mail_servers: MailServers) -> None:
    pem = mail_servers.certs.leaf("self-signed", self_signed=True)
    tester = mail_servers.tester()
    with (
        smtp_server("ssl", mail_servers.accounts, pem) as ssl_port,
        smtp_server("starttls", mail_servers.accounts, pem) as starttls_port,
    ):
        for port, security in ((ssl_port, "ssl"), (starttls_port, "starttls")):
            result = smtp(tester, port, security)
            assert result.ok, result.error
            assert [w.code for w in result.warnings] == ["self_signed_certificate"]
            # Trust on first use: the certificate's fingerprint is reported, to be pinned.
            assert result.tls == TlsInfo(self_signed=True, fingerprint=pem.fingerprint)
        # Still a real login behind the warning: a wrong password fails, warning kept.
        bad = smtp(tester, ssl_port, "ssl", password="nope")
        assert code_of(bad) == "auth_failed"
        assert [w.code for w in bad.warnings] == ["self_signed_certificate"]
