"""Pure rules of mail transport security: certificate fingerprints and pins, the classified codes of the trust
and address checks, what the API shows of TLS, and remote servers' words cut to one clean line."""

from __future__ import annotations

import imaplib

import aiosmtplib
import pytest
from pydantic import ValidationError

from kindling.mail.connection import (
    HINTS,
    CertificateChanged,
    Endpoint,
    PeerTrust,
    TlsInfo,
    certificate_fingerprint,
    classify_exception,
    error_text,
    may_trust_on_first_use,
    sanitize_detail,
)
from kindling.mailboxes.models import MailboxTestRequest
from kindling.platform.addresses import AddressRefused

EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ABC_SHA256 = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_fingerprint_is_the_sha256_of_the_der() -> None:
    assert certificate_fingerprint(b"") == EMPTY_SHA256
    assert certificate_fingerprint(b"abc") == ABC_SHA256


@pytest.mark.parametrize(
    ("pin", "der", "accepted"),
    [
        (None, b"abc", True),  # no pin: whatever the TLS context verified (or a first use)
        (ABC_SHA256, b"abc", True),  # the pinned certificate
        (ABC_SHA256, b"abd", False),  # any other certificate
        (ABC_SHA256, None, False),  # no certificate at all
        (ABC_SHA256.upper(), b"abc", False),  # pins are compared exactly as stored
    ],
)
def test_peer_trust(pin: str | None, der: bytes | None, accepted: bool) -> None:
    trust = PeerTrust(expected=pin)
    if accepted:
        trust.check(der)
    else:
        with pytest.raises(CertificateChanged) as caught:
            trust.check(der)
        assert caught.value.expected == pin
    assert trust.seen == (certificate_fingerprint(der) if der else None)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (CertificateChanged(ABC_SHA256, EMPTY_SHA256), "tls_certificate_changed"),
        (AddressRefused("private_address", "loopback"), "private_address"),
        (AddressRefused("unresolvable_host", "no such host"), "dns_not_found"),
    ],
)
def test_classify_trust_errors(exc: BaseException, code: str) -> None:
    assert classify_exception(exc) == code
    wrapped = aiosmtplib.SMTPConnectError("connect failed")
    wrapped.__cause__ = exc
    assert classify_exception(wrapped) == code


def test_the_changed_certificate_hint_tells_what_to_do() -> None:
    assert HINTS["tls_certificate_changed"] == (
        "The server's certificate changed since you tested this mailbox; re-test it to accept the new "
        "certificate if you trust it."
    )


@pytest.mark.parametrize(
    ("info", "shown", "pin"),
    [
        (TlsInfo(self_signed=False), {"self_signed": False}, None),
        (TlsInfo(True, ABC_SHA256), {"self_signed": True, "fingerprint": ABC_SHA256}, ABC_SHA256),
        (
            TlsInfo(True, ABC_SHA256, previous_fingerprint=EMPTY_SHA256),
            {"self_signed": True, "fingerprint": ABC_SHA256, "changed": True, "previous_fingerprint": EMPTY_SHA256},
            ABC_SHA256,
        ),
    ],
)
def test_tls_info(info: TlsInfo, shown: dict[str, object], pin: str | None) -> None:
    assert info.as_dict() == shown
    assert info.pin == pin


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("535 5.7.8 Username and Password not accepted", "535 5.7.8 Username and Password not accepted"),
        ("  spaced \t out  ", "spaced out"),
        ("554 first line\nsecond line\r\nthird", "554 first line"),
        ("\r\n\r\n220 after blank lines\r\nmore", "220 after blank lines"),
        ("evil\x1b[2J\x1b[31mred\x07bell\x00nul", "evil [2J [31mred bell nul"),
        ("bidi \u202egnp.exe\u202c zero\u200bwidth", "bidi gnp.exe zero width"),
        ("c1 \x85next-line", "c1"),
        ("password Sup3r in the reply", "password *** in the reply"),
        ("", ""),
    ],
)
def test_sanitize_detail(raw: str, clean: str) -> None:
    assert sanitize_detail(raw, ("Sup3r",)) == clean


def test_sanitize_detail_caps_the_length() -> None:
    out = sanitize_detail("554 " + "A" * 5000)
    assert len(out) == 200 and out.endswith("\u2026") and out.startswith("554 AAA")
    assert len(sanitize_detail("B" * 500, limit=50)) == 50


def test_error_text_is_the_servers_reply_not_a_repr() -> None:
    assert error_text(aiosmtplib.SMTPResponseException(554, "first\nsecond")) == "554 first\nsecond"
    assert error_text(imaplib.IMAP4.error(b"* BYE \x1b[31mgo away")) == "* BYE \x1b[31mgo away"
    assert error_text(OSError("refused")) == "refused"


@pytest.mark.parametrize(
    ("host", "stored"),
    [
        ("smtp.example.com", "smtp.example.com"),
        ("SMTP.Example.COM.", "smtp.example.com"),
        ("127.0.0.1", "127.0.0.1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),  # IPv6 literals are hosts too (then judged by the address rules)
        ("[2606:4700::1111]", "2606:4700::1111"),
    ],
)
def test_mailbox_hosts(host: str, stored: str) -> None:
    body = MailboxTestRequest(email_address="a@lab.test", smtp_password="x", smtp_host=host, imap_host=host)
    assert (body.smtp_host, body.imap_host) == (stored, stored)


@pytest.mark.parametrize("host", ["bad host", "-x.example.com", "a..b", "smtp.example.com:25", "::ffff:zz"])
def test_bad_mailbox_hosts(host: str) -> None:
    with pytest.raises(ValidationError):
        MailboxTestRequest(email_address="a@lab.test", smtp_password="x", smtp_host=host)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("smtp.gmail.com", False),
        ("imap.gmail.com", False),
        ("smtp.office365.com", False),
        ("outlook.office365.com", False),
        ("smtp.mail.yahoo.com", False),
        ("imap.zoho.eu", False),
        ("mail.example-hosting.com", True),
        ("127.0.0.1", True),
        ("gmail.com.attacker.test", True),  # only the provider's own domains
    ],
)
def test_trust_on_first_use_is_never_offered_for_the_big_providers(host: str, allowed: bool) -> None:
    assert may_trust_on_first_use(host) is allowed


@pytest.mark.parametrize(
    ("host", "security", "stored", "honoured"),
    [
        ("mail.example-hosting.com", "starttls", ABC_SHA256, ABC_SHA256),
        ("mail.example-hosting.com", "ssl", ABC_SHA256, ABC_SHA256),
        ("mail.example-hosting.com", "none", ABC_SHA256, None),  # no TLS, nothing to pin
        ("mail.example-hosting.com", "ssl", None, None),
        ("smtp.gmail.com", "starttls", ABC_SHA256, None),  # every connection (sender, sync) ignores it there
    ],
)
def test_the_pin_a_connection_honours(host: str, security: str, stored: str | None, honoured: str | None) -> None:
    endpoint = Endpoint(host, 587, "u", "p", security, tls_pin=stored)  # type: ignore[arg-type]
    assert endpoint.pin == honoured
