"""Bounces (RFC 3464 DSNs and non-standard NDRs) and ARF complaints, over the fixture corpus."""

from __future__ import annotations

from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest

from kindling.mail.reports import BounceReport, is_delivery_report, parse_bounce, parse_complaint

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "inbox"


def load(name: str) -> Message:
    return message_from_bytes((FIXTURES / name).read_bytes())


@pytest.mark.parametrize(
    ("name", "bounce_type", "status", "smtp", "recipient", "original_id", "standard", "warmup"),
    [
        ("bounce_postfix_dsn.eml", "hard", "5.1.1", 550, "tom.baker@fabrikam.example",
         "<cmp-3b91e0d4.s1.tom@mail.outreach-demo.com>", True, False),
        ("bounce_exim_ndr.eml", "hard", "5.1.1", 550, "maria.garcia@wingtip.example",
         "<cmp-8d02c7aa.s2.maria@mail.outreach-demo.com>", False, False),
        ("bounce_gmail_dsn.eml", "hard", "5.1.1", 550, "jane.smith@northwind.example",
         "<cmp-5f1c2a9e.s1.jane@mail.outreach-demo.com>", True, False),
        ("bounce_microsoft_ndr.eml", "hard", "5.1.10", 550, "priya.nair@contoso.example",
         "<wm-7c1e9b24@mail.outreach-demo.com>", True, True),
        ("bounce_yahoo_failure.eml", "hard", "5.1.1", 550, "li.wei@tailspin.example",
         "<cmp-41aa07e3.s1.li@mail.outreach-demo.com>", False, False),
        ("bounce_soft_delayed.eml", "soft", "4.7.1", 451, "olga.petrova@adventure-works.example",
         "<cmp-c0de5a11.s1.olga@mail.outreach-demo.com>", True, False),
        ("bounce_exim_soft_quota.eml", "soft", "4.2.2", 452, "bob.ortiz@litware.example", None, False, False),
    ],
)  # fmt: skip
def test_bounce_corpus(
    name: str,
    bounce_type: str,
    status: str,
    smtp: int,
    recipient: str,
    original_id: str | None,
    standard: bool,
    warmup: bool,
) -> None:
    report = parse_bounce(load(name))
    assert report is not None
    assert (report.bounce_type, report.status, report.smtp_code) == (bounce_type, status, smtp)
    assert report.recipient == recipient
    assert report.recipients == (recipient,)
    assert report.original_message_id == original_id
    assert report.standard is standard
    assert report.original_is_warmup is warmup
    assert report.diagnostic is not None and status in report.diagnostic
    assert report.reason == report.diagnostic


def test_dsn_fields() -> None:
    report = parse_bounce(load("bounce_postfix_dsn.eml"))
    assert report is not None
    assert report.reporting_mta == "mail.outreach-demo.com"
    assert report.diagnostic == (
        "550 5.1.1 <tom.baker@fabrikam.example>: Recipient address rejected: User unknown in virtual mailbox table"
    )


def test_success_dsn_is_a_report_but_not_a_bounce() -> None:
    message = load("dsn_success_relayed.eml")
    assert is_delivery_report(message)
    assert parse_bounce(message) is None


@pytest.mark.parametrize(
    "name", ["reply_gmail_interested.eml", "ooo_en_outlook.eml", "warmup_message.eml", "arf_complaint.eml"]
)
def test_non_bounces(name: str) -> None:
    assert parse_bounce(load(name)) is None


def _dsn(per_recipient: str, *, text: str = "", subject: str = "Undelivered Mail Returned to Sender") -> Message:
    raw = (
        "From: MAILER-DAEMON@mx.example\r\nTo: me@outreach-demo.com\r\n"
        f"Subject: {subject}\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain\r\n\r\n{text}\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
        f"{per_recipient}\r\n--b--\r\n"
    )
    return message_from_bytes(raw.encode())


@pytest.mark.parametrize(
    ("block", "bounce_type", "status"),
    [
        ("Final-Recipient: rfc822; a@x.example\r\nAction: failed\r\nStatus: 5.2.2", "hard", "5.2.2"),
        ("Final-Recipient: rfc822; a@x.example\r\nAction: failed\r\nStatus: 4.4.7", "soft", "4.4.7"),
        ("Final-Recipient: rfc822; a@x.example\r\nAction: delayed\r\nStatus: 4.4.1", "soft", "4.4.1"),
        # Status missing: the Diagnostic-Code's code decides; failing that the Action.
        ("Final-Recipient: rfc822; a@x.example\r\nAction: failed\r\nDiagnostic-Code: smtp; 421 try later",
         "soft", None),
        ("Final-Recipient: rfc822; a@x.example\r\nAction: failed", "hard", None),
        ("Final-Recipient: rfc822; a@x.example\r\nAction: delayed", "soft", None),
        # Status with a comment, as some MTAs write it.
        ("Final-Recipient: rfc822; a@x.example\r\nAction: failed\r\nStatus: 5.7.1 (delivery not authorized)",
         "hard", "5.7.1"),
    ],
)  # fmt: skip
def test_dsn_type_rules(block: str, bounce_type: str, status: str | None) -> None:
    report = parse_bounce(_dsn(block))
    assert report is not None
    assert (report.bounce_type, report.status, report.recipient) == (bounce_type, status, "a@x.example")


def test_dsn_with_several_recipients_reports_failures_before_delays() -> None:
    block = (
        "Final-Recipient: rfc822; late@x.example\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n"
        "Final-Recipient: rfc822; ok@x.example\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n"
        "Original-Recipient: rfc822; Alias@X.example\r\nFinal-Recipient: rfc822; real@x.example\r\n"
        "Action: failed\r\nStatus: 5.1.1"
    )
    report = parse_bounce(_dsn(block))
    assert report is not None
    assert (report.bounce_type, report.recipient) == ("hard", "alias@x.example")
    assert report.recipients == ("alias@x.example", "late@x.example")


def _ndr(
    body: str,
    *,
    sender: str = "Mail Delivery System <MAILER-DAEMON@mx.example>",
    subject: str = "x",
    html: bool = False,
) -> Message:
    ctype = "text/html" if html else "text/plain"
    raw = f"From: {sender}\r\nTo: me@outreach-demo.com\r\nSubject: {subject}\r\nContent-Type: {ctype}\r\n\r\n{body}"
    return message_from_bytes(raw.encode())


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # Wording alone, no codes.
        (_ndr("Your message to <a@x.example> could not be delivered: the user does not exist."),
         ("hard", "a@x.example")),
        (_ndr("Delivery to a@x.example has been delayed. We will retry for 2 more days."), ("soft", "a@x.example")),
        # Bounce-like subject from an ordinary sender, with a code.
        (_ndr("a@x.example: 550 5.7.1 Message rejected as spam", sender="Ops <ops@x.example>",
              subject="Undeliverable: hello"), ("hard", "a@x.example")),
        # IP addresses and version numbers are not status codes.
        (_ndr("host 10.5.1.1 [192.0.2.5] said: 421 4.4.2 timeout while talking to a@x.example"),
         ("soft", "a@x.example")),
        # An HTML-only NDR (some gateways send no text/plain part).
        (_ndr("<html><body><p>Delivery has failed to these recipients:</p><p><b>a@x.example</b></p>"
              "<p>Remote Server returned '554 5.4.14 Hop count exceeded'</p></body></html>",
              sender="postmaster@gw.example", subject="Undeliverable: hi", html=True), ("hard", "a@x.example")),
    ],
)  # fmt: skip
def test_ndr_heuristics(message: Message, expected: tuple[str, str]) -> None:
    report = parse_bounce(message)
    assert report is not None
    assert (report.bounce_type, report.recipient) == expected
    assert report.standard is False


@pytest.mark.parametrize(
    "message",
    [
        # From a mailer daemon but no failure signal at all (e.g. a mailing-list confirmation).
        _ndr("Please confirm your subscription to the list by replying to this message."),
        # A failure phrase, but neither the sender nor the subject look like an MTA.
        _ndr("The meeting could not be delivered on time, sorry!", sender="Jane <jane@x.example>", subject="Re: hi"),
    ],
)
def test_not_ndrs(message: Message) -> None:
    assert parse_bounce(message) is None


def test_arf_complaint() -> None:
    report = parse_complaint(load("arf_complaint.eml"))
    assert report is not None
    assert report.feedback_type == "abuse"
    assert report.user_agent == "Yahoo!-Mail-Feedback/2.0"
    assert report.original_mail_from == "alex@outreach-demo.com"
    assert report.original_recipient == "kim.lee@yahoo.com"
    assert report.original_message_id == "<cmp-77e1b0f2.s1.kim@mail.outreach-demo.com>"
    assert (report.source_ip, report.reported_domain) == ("192.0.2.25", "outreach-demo.com")
    assert report.original_is_warmup is False


def test_arf_without_original_rcpt_to_uses_the_returned_to() -> None:
    raw = (
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nabuse report\r\n"
        "--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "To: Kim <Kim@Example.net>\r\nMessage-ID: <orig@x>\r\nSubject: Hi [ref: AB12CD34]\r\n\r\n--b--\r\n"
    )
    report = parse_complaint(message_from_bytes(raw.encode()))
    assert report is not None
    assert (report.original_recipient, report.original_message_id) == ("kim@example.net", "<orig@x>")
    assert report.original_is_warmup is True


def test_a_dsn_is_not_a_complaint() -> None:
    assert parse_complaint(load("bounce_postfix_dsn.eml")) is None


def test_reason_without_diagnostic() -> None:
    report = BounceReport("soft", "4.4.1", None, None, None, (), None, None, True, False)
    assert report.reason == "4.4.1"
