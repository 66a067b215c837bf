"""Message building: headers, threading, multipart, RFC 8058 unsubscribe, open pixel and click rewriting."""

from __future__ import annotations

import email
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

from kindling.sending.compose import (
    OutgoingEmail,
    Tracking,
    build_message,
    html_to_text,
    message_id,
    reply_subject,
    rewrite_links,
    thread_headers,
)
from kindling.sending.tokens import Kind, verify

SECRET = "tracking-secret-for-tests"
BASE = "https://track.acme.test"
TRACKING = Tracking(BASE, SECRET, "ws_1", "snd_1")
EMAIL = OutgoingEmail(
    from_address="jordan@acme.test",
    from_name="Jordan Lee",
    to_address="pat@example.com",
    to_name="Pat Doe",
    subject="Quick question",
    html=(
        '<html><body><p>Hi Pat, see <a href="https://example.com/pricing?a=1&amp;b=2">pricing</a>, '
        '<a class="x" href=\'https://example.com/docs\'>docs</a>, <a href="mailto:help@acme.test">mail us</a>, '
        '<a href="#top">top</a>, <a href="/relative">rel</a>, <a name="anchor">no href</a>.</p></body></html>'
    ),
    text="Hi Pat, see https://example.com/pricing",
    date=datetime(2026, 6, 10, 9, 0, tzinfo=UTC),
    enrollment_id="enr_1",
    step=0,
    sending_domain="acme.test",
)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def build(**changes: Any) -> tuple[EmailMessage, bytes]:
    tracking = changes.pop("tracking", TRACKING)
    built = build_message(replace(EMAIL, **changes), tracking)
    raw = built.as_bytes()
    return parse(raw), raw


def parts(message: EmailMessage) -> tuple[str, str | None]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    return text.get_content(), html.get_content() if html is not None else None


def test_headers() -> None:
    message, raw = build()
    assert message["From"].addresses[0].display_name == "Jordan Lee"
    assert message["From"].addresses[0].addr_spec == "jordan@acme.test"
    assert str(message["To"]) == "Pat Doe <pat@example.com>"
    assert message["Subject"] == "Quick question"
    assert message["Date"].datetime == datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    assert message["Message-ID"] == message_id("enr_1", 0, "acme.test")
    assert message["In-Reply-To"] is None and message["References"] is None
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    assert not any(part.get_filename() for part in message.walk())  # never attachments
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only (policy SMTP)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


@pytest.mark.parametrize(
    "name", ["José Núñez", "Zoë, Head of Sales", 'Dr. "Quotes" O\'Brien', "山田太郎", "Jordan\r\nBcc: evil@x.test"]
)
def test_from_display_names_survive_encoding(name: str) -> None:
    message, raw = build(from_name=name)
    address = message["From"].addresses[0]
    assert address.display_name == " ".join(name.split())
    assert address.addr_spec == "jordan@acme.test"
    assert b"\r\nBcc:" not in raw  # no header injection through the name
    assert raw.split(b"\r\n\r\n")[0].isascii()


@pytest.mark.parametrize(
    ("subject", "as_reply", "expected"),
    [
        ("Quick question", False, "Quick question"),
        ("Quick question", True, "Re: Quick question"),
        ("Re: Quick question", True, "Re: Quick question"),
        ("RE: Quick question", True, "RE: Quick question"),
        ("re:Quick question", True, "re:Quick question"),
        ("  Re : spaced", True, "Re : spaced"),
        ("Regarding the plan", True, "Re: Regarding the plan"),  # "Re" must be the prefix, not a word start
        ("Ré: accents", True, "Re: Ré: accents"),
        ("Line\r\nBcc: evil@x.test", False, "Line Bcc: evil@x.test"),
        ("Çà et là — ünïcode", True, "Re: Çà et là — ünïcode"),
    ],
)
def test_subject(subject: str, as_reply: bool, expected: str) -> None:
    message, _ = build(subject=subject, send_as_reply=as_reply)
    assert message["Subject"] == expected


def test_reply_subject_never_doubles() -> None:
    assert reply_subject(reply_subject(reply_subject("Hello"))) == "Re: Hello"


def test_message_id_is_deterministic_per_enrollment_and_step() -> None:
    first = message_id("enr_1", 1, "Acme.TEST.")
    assert first == message_id("enr_1", 1, "acme.test")
    assert re.fullmatch(r"<[0-9a-f]{32}@acme\.test>", first)
    assert first != message_id("enr_1", 2, "acme.test")
    assert first != message_id("enr_2", 1, "acme.test")
    assert message_id("enr_1", 1, "acme.test") != message_id("enr_11", "", "acme.test")  # separator
    for bad in ("", "-acme.test", "acme..test", "ac me.test", "acme.test>", "acme_mail.test"):
        with pytest.raises(ValueError, match="sending domain"):
            message_id("e", 0, bad)


def test_replies_thread_onto_the_earlier_messages() -> None:
    thread = [message_id("enr_1", 0, "acme.test"), "<reply-from-pat@example.com>", "abc@acme.test"]
    message, _ = build(step=2, send_as_reply=True, thread=thread)
    assert message["In-Reply-To"] == "<abc@acme.test>"
    assert message["References"].split() == [thread[0], "<reply-from-pat@example.com>", "<abc@acme.test>"]
    assert message["Subject"] == "Re: Quick question"


def test_a_reply_step_without_a_thread_has_no_threading_headers() -> None:
    message, _ = build(send_as_reply=True, thread=["", "   ", "no-at-sign"])
    assert message["In-Reply-To"] is None and message["References"] is None


def test_new_thread_steps_ignore_the_thread() -> None:
    message, _ = build(send_as_reply=False, thread=["<a@b.test>"])
    assert message["In-Reply-To"] is None


def test_long_threads_keep_the_root_and_the_latest() -> None:
    ids = [f"<m{n}@acme.test>" for n in range(30)]
    in_reply_to, references = thread_headers(ids)
    assert in_reply_to == "<m29@acme.test>"
    assert references is not None
    kept = references.split()
    assert len(kept) == 20  # the root and the latest 19
    assert kept[0] == "<m0@acme.test>" and kept[-1] == "<m29@acme.test>" and kept[1] == "<m11@acme.test>"


def test_list_unsubscribe_is_one_click_and_not_encoded() -> None:
    message, raw = build()
    header_block = raw.split(b"\r\n\r\n")[0].decode("ascii")
    assert "=?" not in header_block.split("List-Unsubscribe:")[1].split("List-Unsubscribe-Post")[0]
    value = " ".join(str(message["List-Unsubscribe"]).split())
    mailto, https = re.fullmatch(r"<(mailto:[^>]+)>, <(https://[^>]+)>", value).groups()  # type: ignore[union-attr]
    assert mailto == "mailto:jordan@acme.test?subject=unsubscribe"
    assert https.startswith(BASE + "/u/")
    assert verify(https.rsplit("/", 1)[1], SECRET, Kind.UNSUBSCRIBE) is not None
    other, _ = build(unsubscribe_mailto="unsubscribe@acme.test")
    assert "mailto:unsubscribe@acme.test?subject=unsubscribe" in str(other["List-Unsubscribe"])


def test_a_visible_unsubscribe_link_is_in_both_parts() -> None:
    built = build_message(EMAIL, TRACKING)
    text, html = parts(parse(built.as_bytes()))
    assert f"Unsubscribe: {built.unsubscribe_url}" in text
    assert html is not None and f'<a href="{built.unsubscribe_url}">Unsubscribe</a>' in html
    assert html.index("Unsubscribe") < html.index("</body>")


def test_open_pixel_and_click_rewriting() -> None:
    message, _ = build()
    _, html = parts(message)
    assert html is not None
    pixels = re.findall(r'<img src="([^"]+)" width="1" height="1"', html)
    assert len(pixels) == 1 and pixels[0].startswith(BASE + "/t/o/")
    assert verify(pixels[0].rsplit("/", 1)[1], SECRET, Kind.OPEN) is not None
    hrefs = re.findall(r"""href=["']([^"']+)["']""", html)
    tracked = [h for h in hrefs if h.startswith(BASE + "/t/c/")]
    payloads = [verify(h.rsplit("/", 1)[1], SECRET, Kind.CLICK) for h in tracked]
    assert [(p.url, p.url_index) for p in payloads if p] == [
        ("https://example.com/pricing?a=1&b=2", 0),  # HTML entities decoded before signing
        ("https://example.com/docs", 1),
    ]
    assert "mailto:help@acme.test" in hrefs and "#top" in hrefs and "/relative" in hrefs
    assert 'class="x"' in html and '<a name="anchor">' in html  # the rest of each tag is kept
    assert not any(h.startswith(BASE + "/t/c/") and "/u/" in h for h in hrefs)  # the unsubscribe link is not
    unsub = [h for h in hrefs if h.startswith(BASE + "/u/")]
    assert len(unsub) == 1


@pytest.mark.parametrize(
    ("opens", "clicks"),
    [(False, False), (True, False), (False, True)],
)
def test_tracking_is_off_when_the_campaign_says_so(opens: bool, clicks: bool) -> None:
    message, _ = build(tracking=replace(TRACKING, track_opens=opens, track_clicks=clicks))
    _, html = parts(message)
    assert html is not None
    assert ("/t/o/" in html) is opens
    assert ("/t/c/" in html) is clicks
    assert "/u/" in html  # unsubscribe is never optional


def test_already_tracked_links_are_not_wrapped_twice() -> None:
    once = rewrite_links('<a href="https://example.com">x</a>', TRACKING)
    assert once.count("/t/c/") == 1
    assert rewrite_links(once, TRACKING) == once
    own = f'<a href="{BASE}/u/abc">unsubscribe</a><a href="{BASE}/t/c/abc">t</a>'
    assert rewrite_links(own, TRACKING) == own


@pytest.mark.parametrize(
    "html",
    [
        '<A HREF="https://example.com/x">upper</A>',
        "<a href=https://example.com/x>bare</a>",
        '<a\n  target="_blank"\n  href = "https://example.com/x"\n>multi-line</a>',
    ],
)
def test_rewriting_handles_tag_spellings(html: str) -> None:
    rewritten = rewrite_links(html, TRACKING)
    token = re.search(r"/t/c/([A-Za-z0-9_.-]+)", rewritten)
    assert token is not None
    payload = verify(token.group(1), SECRET, Kind.CLICK)
    assert payload is not None and payload.url == "https://example.com/x"


def test_html_without_a_body_element_gets_the_footer_appended() -> None:
    message, _ = build(html='<p>Hi <a href="https://example.com">there</a></p>')
    _, html = parts(message)
    assert html is not None
    assert html.startswith("<p>Hi ") and html.rstrip().endswith("/>")
    assert "/u/" in html and "/t/o/" in html


def test_missing_text_is_derived_from_the_html() -> None:
    message, _ = build(text="  ")
    text, _ = parts(message)
    assert text.startswith("Hi Pat, see pricing (https://example.com/pricing?a=1&b=2), docs (https://example.com/docs)")
    assert "<" not in text.split("Unsubscribe:")[0]


def test_text_only_steps_are_single_part() -> None:
    message, _ = build(html="")
    assert message.get_content_type() == "text/plain"
    text, html = parts(message)
    assert html is None and "Unsubscribe: " + BASE + "/u/" in text


def test_non_ascii_bodies_are_7bit_safe() -> None:
    message, raw = build(html="<p>Grüße aus Köln — 日本</p>", text="Grüße aus Köln — 日本")
    assert raw.isascii()
    text, html = parts(message)
    assert "Grüße aus Köln — 日本" in text and html is not None and "日本" in html


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("Line<br>break", "Line\nbreak"),
        ("<style>p{color:red}</style><p>Shown</p>", "Shown"),
        ('<a href="https://x.test/a">x</a>', "x (https://x.test/a)"),
        ('<a href="mailto:a@b.test">mail</a>', "mail"),
        ("<p>A &amp; B &lt;3</p>", "A & B <3"),
        ("<ul><li>a</li><li>b</li></ul>", "a\n\nb"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_date_is_utc_and_must_be_aware() -> None:
    amsterdam = timezone(timedelta(hours=2))
    message, _ = build(date=datetime(2026, 6, 10, 11, 0, tzinfo=amsterdam))
    assert message["Date"].datetime == datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        build(date=datetime(2026, 6, 10, 9, 0))


def test_the_built_message_knows_its_envelope() -> None:
    built = build_message(EMAIL, TRACKING)
    assert (built.envelope_from, built.recipient) == ("jordan@acme.test", "pat@example.com")
    assert built.message_id == message_id("enr_1", 0, "acme.test")
