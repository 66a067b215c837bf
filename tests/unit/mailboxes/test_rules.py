"""Pure rules: reply classification, exception classification, folder discovery, provider detection."""

from __future__ import annotations

import socket
import ssl

import aiosmtplib
import pytest

from kindling.mail.connection import classify_exception, classify_reply, default_security, discover_folders
from kindling.mail.providers import detect_provider


@pytest.mark.parametrize(
    ("text", "protocol", "code"),
    [
        ("535 5.7.8 Username and Password not accepted", "smtp", "auth_failed"),
        ("535 5.7.3 Authentication unsuccessful", "smtp", "auth_failed"),
        ("534 5.7.9 Application-specific password required", "smtp", "app_password_required"),
        ("534-5.7.14 Please log in via your web browser", "smtp", "app_password_required"),
        ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled", "smtp", "smtp_auth_disabled"),
        ("550 5.1.1 Mailbox not found", "smtp", "mailbox_not_found"),
        ("[AUTHENTICATIONFAILED] Authentication failed.", "imap", "auth_failed"),
        ("[ALERT] Application-specific password required", "imap", "app_password_required"),
        ("[NONEXISTENT] Mailbox doesn't exist: INBOX", "imap", "mailbox_not_found"),
        ("IMAP access is disabled for your account", "imap", "imap_disabled"),
    ],
)
def test_classify_reply(text: str, protocol: str, code: str) -> None:
    assert classify_reply(text, protocol) == code  # type: ignore[arg-type]


def _cert_error(verify_code: int) -> ssl.SSLCertVerificationError:
    err = ssl.SSLCertVerificationError(1, "certificate verify failed")
    err.verify_code = verify_code
    return err


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (_cert_error(18), "self_signed_certificate"),
        (_cert_error(19), "self_signed_certificate"),
        (_cert_error(10), "certificate_invalid"),
        (_cert_error(62), "certificate_invalid"),
        (socket.gaierror(-2, "Name or service not known"), "dns_not_found"),
        (ConnectionRefusedError(111, "refused"), "connection_refused"),
        (aiosmtplib.SMTPConnectTimeoutError("timed out"), "timeout"),
        (aiosmtplib.SMTPException("SMTP STARTTLS extension not supported by server."), "starttls_unsupported"),
        (aiosmtplib.SMTPServerDisconnected("gone"), "server_disconnected"),
        (ValueError("odd"), "unknown_error"),
    ],
)
def test_classify_exception(exc: BaseException, code: str) -> None:
    wrapped = aiosmtplib.SMTPConnectError("Error connecting")
    wrapped.__cause__ = exc
    assert classify_exception(exc) == code
    assert classify_exception(wrapped) == code


def test_default_security_by_port() -> None:
    assert [default_security(p, "smtp") for p in (465, 587, 25, 993, 143)] == [
        "ssl",
        "starttls",
        "starttls",
        "ssl",
        "starttls",
    ]


def test_discover_folders_by_special_use_then_names() -> None:
    listing: list[object] = [
        b'(\\HasNoChildren) "/" INBOX',
        b'(\\HasNoChildren \\Junk) "/" "Bulk"',
        b'(\\HasNoChildren) "/" "Sent Items"',
    ]
    assert discover_folders(listing) == {"inbox": "INBOX", "junk": "Bulk", "sent": "Sent Items"}
    gmail: list[object] = [b'(\\HasChildren \\Noselect) "/" "[Gmail]"', b'(\\HasNoChildren) "/" "[Gmail]/Spam"']
    assert discover_folders(gmail) == {"inbox": "INBOX", "junk": "[Gmail]/Spam"}


def test_provider_detection_by_host_domain_and_resolver() -> None:
    calls: list[str] = []

    def resolver(domain: str) -> list[str]:
        calls.append(domain)
        return {"acme.com": ["aspmx.l.google.com."], "corp.com": ["corp-com.mail.protection.outlook.com"]}.get(
            domain, ["mx.elsewhere.net"]
        )

    assert detect_provider("a@x.com", "smtp.office365.com", None, resolver) == "microsoft"
    assert detect_provider("a@gmail.com", None, None, resolver) == "google"
    assert detect_provider("a@acme.com", None, None, resolver) == "google"
    assert detect_provider("a@corp.com", None, None, resolver) == "microsoft"
    assert detect_provider("a@small.biz", None, None, resolver) is None
    assert detect_provider("a@lab.test", None, None, resolver) is None  # reserved: never looked up
    assert detect_provider("a@acme.com", "mail.acme.com", None, resolver) is None  # own host given: no lookup
    assert calls == ["acme.com", "corp.com", "small.biz"]
