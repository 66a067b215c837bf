"""MIME parsing: addresses, Message-IDs, capped bodies, attachment metadata, HTML, reply extraction."""

from __future__ import annotations

from pathlib import Path

import pytest

from kindling.mail.imapproto import Attachment
from kindling.mail.parsing import (
    extract_reply,
    fold,
    html_to_text,
    message_ids,
    normalise_address,
    parse_message,
    truncate_utf8,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "inbox"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ('"Jane Doe" <Jane.Doe@Northwind.EXAMPLE>', "jane.doe@northwind.example"),
        ("jane+sales@northwind.example", "jane+sales@northwind.example"),  # plus tags are distinct addresses
        ("<mailto:bob@x.example>", "bob@x.example"),
        ("bob@x.example.", "bob@x.example"),
        ("Mail Delivery System <>", None),
        ("not an address", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_address(value: str | None, address: str | None) -> None:
    assert normalise_address(value) == address


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        ("<a@x> <b@x>\r\n <a@x>", ["<a@x>", "<b@x>"]),
        ("<cmp-1.s1@x> (Alex's message)", ["<cmp-1.s1@x>"]),
        ("bare@x.example", ["<bare@x.example>"]),
        ("", []),
        (None, []),
    ],
)
def test_message_ids(value: str | None, ids: list[str]) -> None:
    assert message_ids(value) == ids


@pytest.mark.parametrize(
    ("text", "limit", "out", "cut"),
    [
        ("abc", 3, "abc", False),
        ("abcd", 3, "abc", True),
        ("ééé", 5, "éé", True),  # never half a character
        ("€", 2, "", True),
    ],
)
def test_truncate_utf8(text: str, limit: int, out: str, cut: bool) -> None:
    assert truncate_utf8(text, limit) == (out, cut)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Nicht im Büro", "nicht im buro"),
        ("Außer Haus", "ausser haus"),
        ("We\u2019re  not\ninterested", "we're not interested"),
        ("Réponse automatique", "reponse automatique"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_html_to_text_drops_scripts_and_keeps_blocks() -> None:
    html = (
        "<html><head><style>p{}</style><title>t</title></head><body><p>Hi&nbsp;Alex,</p>"
        "<div>Line&#39;s two<br>three</div><script>x()</script></body></html>"
    )
    assert html_to_text(html) == "Hi Alex,\n\nLine's two\nthree"


@pytest.mark.parametrize(
    "html",
    [
        '<div>Yes please.</div><div class="gmail_quote"><div class="gmail_attr">On Mon wrote:</div>'
        "<blockquote>old</blockquote></div>",
        '<div>Yes please.</div><hr><div id="divRplyFwdMsg"><b>From:</b> Alex</div><div>old text</div>',
        '<div>Yes please.</div><div class="yahoo_quoted">old</div>',
        '<div>Yes please.</div><blockquote type="cite">old</blockquote>',
    ],
)
def test_html_quotes_dropped(html: str) -> None:
    assert html_to_text(html, drop_quotes=True) == "Yes please."
    assert "old" in html_to_text(html)  # the stored text keeps everything


GMAIL_EN = """Sounds good, let's talk Thursday.

On Mon, Jun 8, 2026 at 11:15\u202fAM Alex Morgan <alex@outreach-demo.com>
wrote:

> Hi Jane,
> Unsubscribe: https://t.example/u/1
"""
GMAIL_NL = "Prima, bel me maar.\n\nOp ma 8 jun 2026 om 11:15 schreef Alex Morgan <alex@outreach-demo.com>:\n\n> Hoi\n"
GMAIL_DE = "Gerne.\n\nAm Mo., 8. Juni 2026 um 11:15 Uhr schrieb Alex Morgan <\nalex@outreach-demo.com>:\n> Hallo\n"
GMAIL_FR = "Avec plaisir.\n\nLe lun. 8 juin 2026 à 11:15, Alex Morgan <alex@outreach-demo.com> a\nécrit :\n> Bonjour\n"
GMAIL_ES = "Claro.\n\nEl lun, 8 jun 2026 a las 11:15, Alex Morgan (<alex@outreach-demo.com>)\nescribió:\n> Hola\n"
APPLE = "Sure.\n\n> On 8 Jun 2026, at 11:15, Alex Morgan <alex@outreach-demo.com> wrote:\n> \n> Hi\n"
OUTLOOK_EN = """Works for me.

________________________________
From: Alex Morgan <alex@outreach-demo.com>
Sent: Monday, June 8, 2026 11:15 AM
To: Mark
Subject: Hi

old
"""
OUTLOOK_DE = """Passt.

Von: Alex Morgan <alex@outreach-demo.com>
Gesendet: Montag, 8. Juni 2026 11:15
An: Jonas
Betreff: Hallo

alt
"""
OUTLOOK_NL = """Akkoord.

Van: Alex Morgan <alex@outreach-demo.com>
Verzonden: maandag 8 juni 2026 11:15
Aan: Pieter
Onderwerp: Hoi

oud
"""
OUTLOOK_FR = """D'accord.

De : Alex Morgan <alex@outreach-demo.com>
Envoyé : lundi 8 juin 2026 11:15
À : Julien
Objet : Salut

ancien
"""
OUTLOOK_ES = """De acuerdo.

De: Alex Morgan <alex@outreach-demo.com>
Enviado: lunes, 8 de junio de 2026 11:15
Para: Javier
Asunto: Hola

viejo
"""
ORIGINAL = "No thanks.\n\n-----Original Message-----\nFrom: Alex\nSent: Monday\n\nold\n"
FORWARDED = "Adding Dana.\n\n---------- Forwarded message ---------\nFrom: Alex\n"
SIG_DASHES = "Yes, interested.\n\n-- \nJane Doe\nVP Sales\n"
SIG_MOBILE = "Remove me please\n\nSent from my iPhone\n"
SIG_MOBILE_DE = "Bitte austragen.\n\nVon meinem iPhone gesendet\n"
VALEDICTION = """Let's talk next week.
Could you send times?

Best regards,
Jane Doe
Head of Ops | Northwind
+1 555 0100
"""
THANKS_FIRST = "Thanks,\nI'd love to chat next week about how this could work for our team and the budget.\n"
INTERLEAVED = "> Are you the right person?\nYes, that's me.\n> Would Tuesday work?\nTuesday is fine.\n"
WROTE_IN_TEXT = "On Monday I wrote the brief.\nIt is attached.\n"


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        (GMAIL_EN, "Sounds good, let's talk Thursday."),
        (GMAIL_NL, "Prima, bel me maar."),
        (GMAIL_DE, "Gerne."),
        (GMAIL_FR, "Avec plaisir."),
        (GMAIL_ES, "Claro."),
        (APPLE, "Sure."),
        (OUTLOOK_EN, "Works for me."),
        (OUTLOOK_DE, "Passt."),
        (OUTLOOK_NL, "Akkoord."),
        (OUTLOOK_FR, "D'accord."),
        (OUTLOOK_ES, "De acuerdo."),
        (ORIGINAL, "No thanks."),
        (FORWARDED, "Adding Dana."),
        (SIG_DASHES, "Yes, interested."),
        (SIG_MOBILE, "Remove me please"),
        (SIG_MOBILE_DE, "Bitte austragen."),
        (VALEDICTION, "Let's talk next week.\nCould you send times?"),
        # A "Thanks," that opens a long reply is not a sign-off.
        (THANKS_FIRST, THANKS_FIRST.strip()),
        (INTERLEAVED, "Yes, that's me.\nTuesday is fine."),
        # "On ... wrote" without a date or an address is prose, not an attribution line.
        (WROTE_IN_TEXT, WROTE_IN_TEXT.strip()),
        ("", ""),
    ],
)
def test_extract_reply(text: str, reply: str) -> None:
    assert extract_reply(text) == reply


def test_parse_gmail_reply_headers_and_text() -> None:
    msg = parse_message(load("reply_gmail_interested.eml"))
    assert msg.message_id == "<CAH7kQ2b1x0dVfNw+T5p9Lr3yZq8uB4sM1eK6nJ0oP2q@mail.gmail.com>"
    assert msg.from_address == "jane.doe@northwind.example"
    assert msg.from_name == "Jane Doe"
    assert msg.to == ("alex@outreach-demo.com",)
    assert msg.subject == "Re: Quick question about Northwind's outbound"
    # In-Reply-To first, then References newest first, no duplicates.
    assert msg.referenced_ids == (
        "<cmp-5f1c2a9e.s2.jane@mail.outreach-demo.com>",
        "<cmp-5f1c2a9e.s1.jane@mail.outreach-demo.com>",
    )
    assert msg.text_source == "plain"
    assert "unsubscribe here" in msg.text  # the stored text keeps the quote ...
    assert "unsubscribe" not in msg.reply_text.lower()  # ... the reply text does not
    assert msg.html is not None and "gmail_quote" in msg.html
    assert msg.date is not None and msg.date.isoformat() == "2026-06-08T14:03:27+02:00"


def test_html_only_reply_uses_html_for_text_and_reply() -> None:
    msg = parse_message(load("reply_outlook_html_not_interested.eml"))
    assert msg.text_source == "html"
    assert "Quick question about Tailspin" in msg.text
    expected = "Hi Alex,\n\nThanks, but we\u2019re not interested at this time. We already have a provider for this."
    assert msg.reply_text == expected


def test_encoded_subject_and_sender_name() -> None:
    msg = parse_message(load("ooo_es.eml"))
    assert msg.subject == "Re: Una pregunta rápida"
    assert msg.from_name == "Lucía Moreno"


def test_attachments_are_metadata_with_exact_sizes() -> None:
    msg = parse_message(load("reply_with_attachments.eml"))
    assert msg.attachments == (
        Attachment("Anforderungen \u2013 Übersicht.pdf", "application/pdf", 20487),
        Attachment("logo.png", "image/png", 1208),
    )
    assert msg.text.startswith("Hi Alex,")


def test_given_attachments_replace_the_mime_walk() -> None:
    listed = (Attachment("big.zip", "application/zip", 9_000_000),)
    assert parse_message(load("reply_with_attachments.eml"), attachments=listed).attachments == listed


TEXT_KEPT = 64 * 1024  # a stored body keeps its first 64 KiB (kindling's own limit)


@pytest.mark.parametrize("size", [TEXT_KEPT - 1, TEXT_KEPT, TEXT_KEPT + 1, 3 * TEXT_KEPT])
def test_text_is_capped_with_a_flag(size: int) -> None:
    raw = b"From: a@x.example\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + b"a" * size
    msg = parse_message(raw)
    assert len(msg.text.encode()) == min(size, TEXT_KEPT)
    assert msg.text_truncated is (size > TEXT_KEPT)


def test_html_is_capped_too() -> None:
    raw = b"Content-Type: text/html\r\n\r\n<p>" + b"b" * (2 * TEXT_KEPT) + b"</p>"
    msg = parse_message(raw, text_limit=1000)
    assert msg.html_truncated and msg.text_truncated
    assert msg.html is not None and len(msg.html) == 1000


def test_truncated_source_still_parses() -> None:
    whole = load("reply_with_attachments.eml")
    msg = parse_message(whole[:3000], source_truncated=True)  # cut inside the PDF
    assert msg.source_truncated
    assert msg.reply_text.startswith("Hi Alex,")
    assert msg.attachments[0].content_type == "application/pdf"


def test_message_without_body() -> None:
    msg = parse_message(b"From: a@x.example\r\nSubject: empty\r\n\r\n")
    assert (msg.text, msg.text_source, msg.attachments, msg.message_id) == ("", "plain", (), None)


def test_unknown_charset_falls_back() -> None:
    msg = parse_message(b"Content-Type: text/plain; charset=x-unknown-42\r\n\r\nhello \xff")
    assert msg.text.startswith("hello ")
