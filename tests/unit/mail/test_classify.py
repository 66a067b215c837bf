"""Classification of every message in the fixture corpus, and the precedence between kinds."""

from __future__ import annotations

from pathlib import Path

import pytest

from kindling.mail.classify import auto_reply_header, classify, classify_raw
from kindling.mail.parsing import parse_message

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "inbox"

# file -> (kind, label, unsubscribe, ooo signal, positive, sender, first referenced Message-ID)
CORPUS: dict[str, tuple[str, str | None, bool, str | None, bool, str | None, str | None]] = {
    "arf_complaint.eml": ("complaint", None, False, None, False, "feedback@arf.mail.yahoo.com", None),
    "bounce_exim_ndr.eml": ("bounce", None, False, None, False, "mailer-daemon@mail.outreach-demo.com",
                            "<cmp-8d02c7aa.s2.maria@mail.outreach-demo.com>"),
    "bounce_exim_soft_quota.eml": ("bounce", None, False, None, False, "mailer-daemon@mail.outreach-demo.com", None),
    "bounce_gmail_dsn.eml": ("bounce", None, False, None, False, "mailer-daemon@googlemail.com",
                             "<cmp-5f1c2a9e.s1.jane@mail.outreach-demo.com>"),
    "bounce_microsoft_ndr.eml": ("bounce", None, False, None, False, "postmaster@outreachdemo.onmicrosoft.com",
                                 "<wm-7c1e9b24@mail.outreach-demo.com>"),
    "bounce_postfix_dsn.eml": ("bounce", None, False, None, False, "mailer-daemon@mail.outreach-demo.com", None),
    "bounce_soft_delayed.eml": ("bounce", None, False, None, False, "mailer-daemon@mail.outreach-demo.com", None),
    "bounce_yahoo_failure.eml": ("bounce", None, False, None, False, "mailer-daemon@yahoo.com", None),
    "dsn_success_relayed.eml": ("other", None, False, None, False, "mailer-daemon@mail.outreach-demo.com", None),
    "ooo_de.eml": ("out_of_office", "out_of_office", False, "subject:de", False, "k.becker@werkzeugbau.example",
                   "<cmp-6b5a4c3d.s1.klaus@mail.outreach-demo.com>"),
    "ooo_en_outlook.eml": ("out_of_office", "out_of_office", False, "header:auto-submitted", False,
                           "daniel.brooks@contoso.example", "<cmp-2e4d6f80.s1.daniel@mail.outreach-demo.com>"),
    "ooo_es.eml": ("out_of_office", "out_of_office", False, "text:es", False, "lucia.moreno@ceramicas-sol.example",
                   "<cmp-0d9e8f7a.s1.lucia@mail.outreach-demo.com>"),
    "ooo_fr.eml": ("out_of_office", "out_of_office", False, "header:precedence", False,
                   "camille.durand@atelier-lumiere.example", "<cmp-1f2e3d4c.s1.camille@mail.outreach-demo.com>"),
    "ooo_nl.eml": ("out_of_office", "out_of_office", False, "header:x-autoreply", False,
                   "pieter.jansen@fietsfabriek.example", "<cmp-9a8b7c6d.s1.pieter@mail.outreach-demo.com>"),
    "reply_gmail_interested.eml": ("reply", "interested", False, None, True, "jane.doe@northwind.example",
                                   "<cmp-5f1c2a9e.s2.jane@mail.outreach-demo.com>"),
    "reply_outlook_html_not_interested.eml": ("reply", "not_interested", False, None, False,
                                              "lena.fischer@tailspin.example",
                                              "<cmp-aa11bb22.s1.lena@mail.outreach-demo.com>"),
    "reply_outlook_meeting.eml": ("reply", "meeting_requested", False, None, True, "mark.jensen@fabrikam.example",
                                  "<cmp-3b91e0d4.s1.mark@mail.outreach-demo.com>"),
    "reply_question.eml": ("reply", "question", False, None, False, "ana.silva@northwind.example",
                           "<cmp-e5f6a7b8.s1.ana@mail.outreach-demo.com>"),
    "reply_referral.eml": ("reply", "referral", False, None, True, "chidi.okafor@litware.example",
                           "<cmp-0b0e1f2a.s1.chidi@mail.outreach-demo.com>"),
    "reply_with_attachments.eml": ("reply", "interested", False, None, True, "sofia.rossi@bellavista-hotels.example",
                                   "<cmp-f0e1d2c3.s1.sofia@mail.outreach-demo.com>"),
    "unsubscribe_de.eml": ("reply", "unsubscribe", True, None, False, "j.wagner@stahlbau-nord.example",
                           "<cmp-6b5a4c3e.s1.jonas@mail.outreach-demo.com>"),
    "unsubscribe_en.eml": ("reply", "unsubscribe", True, None, False, "tom.reed@fourthcoffee.example",
                           "<cmp-12ab34cd.s2.tom@mail.outreach-demo.com>"),
    # A fresh message, no threading headers: the ledger matches it by sender and a recent send.
    "unsubscribe_es.eml": ("reply", "unsubscribe", True, None, False, "javier.ortega@aceites-ortega.example", None),
    "unsubscribe_fr.eml": ("reply", "unsubscribe", True, None, False, "julien.moreau@vins-du-sud.example",
                           "<cmp-1f2e3d4d.s1.julien@mail.outreach-demo.com>"),
    "unsubscribe_nl.eml": ("reply", "unsubscribe", True, None, False, "p.deboer@zuidas-logistiek.example",
                           "<cmp-9a8b7c6e.s1.pieter@mail.outreach-demo.com>"),
    "warmup_message.eml": ("warmup", None, False, None, False, "riley@outreach-demo.com", None),
    "warmup_reply.eml": ("warmup", None, False, None, False, "priya.nair@partner-mail.example",
                         "<wm-7c1e9b23@mail.outreach-demo.com>"),
}  # fmt: skip


def test_corpus_table_covers_every_fixture() -> None:
    assert sorted(CORPUS) == sorted(p.name for p in FIXTURES.glob("*.eml"))


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus(name: str) -> None:
    kind, label, unsubscribe, ooo, positive, sender, first_ref = CORPUS[name]
    _, result = classify_raw((FIXTURES / name).read_bytes())
    assert result.kind == kind
    assert result.label == label
    assert result.unsubscribe is unsubscribe
    assert result.ooo_signal == ooo
    assert result.is_positive is positive
    assert result.sender == sender
    assert (result.referenced_ids[0] if result.referenced_ids else None) == first_ref
    assert (result.bounce is not None) == (kind == "bounce")
    assert (result.complaint is not None) == (kind == "complaint")
    assert (result.warmup is not None) == (kind == "warmup")


@pytest.mark.parametrize(
    "name",
    ["reply_gmail_interested.eml", "reply_outlook_meeting.eml", "reply_outlook_html_not_interested.eml",
     "unsubscribe_nl.eml", "unsubscribe_de.eml", "unsubscribe_fr.eml", "reply_referral.eml"],
)  # fmt: skip
def test_reply_text_has_no_quoted_campaign_email(name: str) -> None:
    _, result = classify_raw((FIXTURES / name).read_bytes())
    lowered = result.reply_text.lower()
    assert "t.outreach-demo.com" not in lowered
    assert "alex morgan" not in lowered
    assert result.reply_text


def test_quoted_unsubscribe_footer_does_not_make_a_reply_an_unsubscribe() -> None:
    # The campaign footer says "unsubscribe here", quoted below an interested reply.
    _, result = classify_raw((FIXTURES / "reply_gmail_interested.eml").read_bytes())
    assert (result.label, result.unsubscribe) == ("interested", False)


def test_warmup_ref_and_header() -> None:
    _, result = classify_raw((FIXTURES / "warmup_message.eml").read_bytes())
    assert result.warmup is not None
    assert (result.warmup.ref, result.warmup.header) == ("K7P2M9QX", "wm_7c1e9b23")


def test_bounce_of_a_warmup_email_is_a_bounce_flagged_as_warmup() -> None:
    # Microsoft repeats the subject ("Undeliverable: Re: ... [ref: K7P2M9QX]"): bounce wins over warmup.
    _, result = classify_raw((FIXTURES / "bounce_microsoft_ndr.eml").read_bytes())
    assert result.kind == "bounce"
    assert result.bounce is not None and result.bounce.original_is_warmup


def _raw(headers: str, body: str) -> bytes:
    return (f"From: Pat <pat@x.example>\r\nTo: me@outreach-demo.com\r\n{headers}\r\n\r\n{body}").encode()


@pytest.mark.parametrize(
    ("headers", "body", "kind", "label"),
    [
        # Warmup beats out-of-office: an auto-reply to a warmup email is warmup traffic.
        ("Subject: Automatic reply: Notes [ref: AB12CD34]\r\nAuto-Submitted: auto-replied", "I am out of the office.",
         "warmup", None),
        ("Subject: Re: hi\r\nX-Kindling-Warmup: wm_1", "Sounds great, let's set up a call!", "warmup", None),
        # Tag must be exactly 8 characters.
        ("Subject: Re: Notes [ref: AB12CD3]", "Sounds interesting!", "reply", "interested"),
        # OOO headers (the decided list) with a neutral body.
        ("Subject: Re: hi\r\nAuto-Submitted: auto-replied", "Thanks for your message.",
         "out_of_office", "out_of_office"),
        ("Subject: Re: hi\r\nAuto-Submitted: no", "Thanks for your message.", "reply", "neutral"),
        ("Subject: Re: hi\r\nX-Autorespond: yes", "Thanks.", "out_of_office", "out_of_office"),
        ("Subject: Re: hi\r\nPrecedence: auto-reply", "Thanks.", "out_of_office", "out_of_office"),
        ("Subject: Re: hi\r\nPrecedence: bulk", "Thanks.", "reply", "neutral"),
        # An OOO naming a colleague is not a referral.
        ("Subject: Out of Office: hi", "Please contact my colleague Sam while I'm away.",
         "out_of_office", "out_of_office"),
        # Removal requests beat everything a reply can be labelled.
        ("Subject: Re: hi", "Not interested. Please remove me from your list.", "reply", "unsubscribe"),
    ],
)  # fmt: skip
def test_precedence(headers: str, body: str, kind: str, label: str | None) -> None:
    result = classify(parse_message(_raw(headers, body)))
    assert (result.kind, result.label) == (kind, label)


@pytest.mark.parametrize(
    ("headers", "signal"),
    [
        ("Auto-Submitted: auto-generated", "header:auto-submitted"),
        ("Auto-Submitted: auto-replied; owner-email=x@y", "header:auto-submitted"),
        ("Auto-Submitted: No", None),
        ("X-Autoreply: yes", "header:x-autoreply"),
        ("X-Autorespond: Vacation", "header:x-autorespond"),
        ("Precedence: auto_reply", "header:precedence"),
        ("Precedence: list", None),
        ("X-Auto-Response-Suppress: All", None),
    ],
)
def test_auto_reply_headers(headers: str, signal: str | None) -> None:
    assert auto_reply_header(parse_message(_raw(headers, "x"))) == signal
