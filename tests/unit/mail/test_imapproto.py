"""IMAP wire helpers over responses as imaplib returns them (shapes copied from Dovecot 2.3 sessions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from kindling.mail.imapproto import (
    Attachment,
    ImapParseError,
    MailboxStatus,
    attachments_from_bodystructure,
    base64_decoded_size,
    compress_uids,
    decode_mutf7,
    parse_copyuid,
    parse_esearch,
    parse_fetch,
    parse_internaldate,
    parse_items,
    parse_list,
    parse_search,
    parse_sequence_set,
    parse_status,
    quote_mailbox,
)

# Two messages with partial header/text literals, as imaplib hands back `UID FETCH`.
DOVECOT_FETCH: list[Any] = [
    (
        b'1 (UID 7 FLAGS (\\Seen \\Flagged) RFC822.SIZE 41 INTERNALDATE "08-Jun-2026 09:16:02 +0000" '
        b'BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 1 NIL NIL NIL NIL) '
        b"BODY[HEADER]<0> {34}",
        b"Subject: x\r\nMessage-ID: <a0@x>\r\n\r\n",
    ),
    (b" BODY[TEXT]<0> {3}", b"hel"),
    b")",
    (b"2 (UID 9 FLAGS () RFC822.SIZE 40 BODY[HEADER]<0> {5}", b"A: b\r\n"),
    b" BODY[TEXT]<0> NIL)",
]


def test_parse_fetch_pairs_items_and_literals() -> None:
    entries = parse_fetch(DOVECOT_FETCH)
    assert [e["UID"] for e in entries] == ["7", "9"]
    first, second = entries
    assert first["SEQ"] == 1
    assert first["FLAGS"] == ["\\Seen", "\\Flagged"]
    assert first["RFC822.SIZE"] == "41"
    assert first["INTERNALDATE"] == "08-Jun-2026 09:16:02 +0000"
    assert first["BODY[HEADER]"] == b"Subject: x\r\nMessage-ID: <a0@x>\r\n\r\n"
    assert first["BODY[TEXT]"] == b"hel"
    assert first["BODYSTRUCTURE"][:2] == ["text", "plain"]
    assert second["FLAGS"] == []
    assert second["BODY[TEXT]"] is None


def test_header_fields_section_keeps_its_spaces() -> None:
    data = [(b"3 (UID 12 BODY[HEADER.FIELDS (MESSAGE-ID DATE)] {20}", b"Message-ID: <z@y>\r\n\r\n"), b")"]
    (entry,) = parse_fetch(data)
    assert entry["BODY[HEADER.FIELDS (MESSAGE-ID DATE)]"] == b"Message-ID: <z@y>\r\n\r\n"


def test_literal_bytes_are_not_tokenised() -> None:
    # A literal holding parentheses and quotes must come back verbatim, not parsed.
    data = [(b"1 (UID 1 BODY[TEXT]<0> {11}", b'a (b) "c" )'), b")"]
    assert parse_fetch(data)[0]["BODY[TEXT]"] == b'a (b) "c" )'


@pytest.mark.parametrize(
    "data",
    [
        [b"1 (UID 1"],  # unbalanced
        [b"1 UID 1)"],
        [b"x (UID 1)"],
        [b'1 (UID "unterminated)'],
    ],
)
def test_malformed_fetch_is_an_error(data: list[Any]) -> None:
    with pytest.raises(ImapParseError):
        parse_fetch(data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            [b"INBOX (UIDNEXT 4 UIDVALIDITY 1795591483 HIGHESTMODSEQ 4)"],
            MailboxStatus(uidvalidity=1795591483, uidnext=4, highestmodseq=4),
        ),
        ([b'"Junk E-mail" (UIDNEXT 50001 UIDVALIDITY 7)'], MailboxStatus(uidvalidity=7, uidnext=50001)),
        ([(b"{11}", b"Bulk Mail/x"), b" (MESSAGES 3 UIDVALIDITY 9 UIDNEXT 12)"], MailboxStatus(9, 12, 3)),
    ],
)
def test_parse_status(data: list[Any], expected: MailboxStatus) -> None:
    assert parse_status(data) == expected


def test_status_without_uidnext_is_an_error() -> None:
    with pytest.raises(ImapParseError):
        parse_status([b"INBOX (MESSAGES 3)"])


def test_parse_list_flags_names_and_literals() -> None:
    folders = parse_list(
        [
            b'(\\HasNoChildren \\Junk) "/" Junk',
            b'(\\HasChildren \\Noselect) "/" "[Gmail]"',
            b'(\\HasNoChildren \\Junk) "/" "[Gmail]/Spam"',
            (b'(\\HasNoChildren) "." {20}', b"Courrier ind&AOk-sirable"),
            b"(\\HasNoChildren) NIL INBOX",
        ]
    )
    assert [f.name for f in folders] == ["Junk", "[Gmail]", "[Gmail]/Spam", "Courrier ind&AOk-sirable", "INBOX"]
    assert folders[0].flags == frozenset({"\\hasnochildren", "\\junk"})
    assert folders[3].display == "Courrier indésirable"
    assert folders[3].delimiter == "."
    assert folders[4].delimiter is None


@pytest.mark.parametrize(
    ("wire", "display"),
    [
        ("INBOX", "INBOX"),
        ("Courrier ind&AOk-sirable", "Courrier indésirable"),
        ("&BB8EMAQ,BDoEMA-", "Папка"),
        ("Tom &- Jerry", "Tom & Jerry"),
        ("Broken &!!!-", "Broken &!!!-"),
        ("No end &AOk", "No end &AOk"),
    ],
)
def test_decode_mutf7(wire: str, display: str) -> None:
    assert decode_mutf7(wire) == display


@pytest.mark.parametrize(
    ("uids", "text"),
    [([1], "1"), ([3, 1, 2, 2], "1:3"), ([1, 2, 3, 7, 9, 10], "1:3,7,9:10"), ([50000, 4], "4,50000")],
)
def test_compress_and_expand_uids(uids: list[int], text: str) -> None:
    assert compress_uids(uids) == text
    assert parse_sequence_set(text) == sorted(set(uids))


def test_compress_refuses_an_empty_set() -> None:
    with pytest.raises(ValueError, match="empty"):
        compress_uids([])


@pytest.mark.parametrize(
    ("data", "uids"),
    [
        ([b'(TAG "A5") UID ALL 1:3,7'], [1, 2, 3, 7]),
        ([b'(TAG "A5") UID'], []),
        ([b'(TAG "A5") UID COUNT 2 ALL 4,9'], [4, 9]),
    ],
)
def test_parse_esearch(data: list[Any], uids: list[int]) -> None:
    assert parse_esearch(data) == uids


def test_parse_search() -> None:
    assert parse_search([b"4 5 19"]) == [4, 5, 19]
    assert parse_search([None]) == []


@pytest.mark.parametrize(
    ("text", "mapping"),
    [
        ("[COPYUID 38505 304,319:320 3956:3958] Done", {304: 3956, 319: 3957, 320: 3958}),
        ("OK [copyuid 1 5 1] Moved UIDs.", {5: 1}),
        ("[COPYUID 1 1:3 5:6] mismatched", None),
        ("Copy completed.", None),
    ],
)
def test_parse_copyuid(text: str, mapping: dict[int, int] | None) -> None:
    assert parse_copyuid(text) == mapping


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("08-Jun-2026 09:16:02 +0000", datetime(2026, 6, 8, 9, 16, 2, tzinfo=UTC)),
        (" 8-Jun-2026 11:16:02 +0200", datetime(2026, 6, 8, 11, 16, 2, tzinfo=timezone(timedelta(hours=2)))),
        ("garbage", None),
        (None, None),
    ],
)
def test_parse_internaldate(value: str | None, expected: datetime | None) -> None:
    assert parse_internaldate(value) == expected


@pytest.mark.parametrize("decoded", [1, 57, 58, 1000, 20487, 3 * 1024 * 1024])
def test_base64_decoded_size_matches_mime_line_layout(decoded: int) -> None:
    import base64

    encoded = base64.encodebytes(b"x" * decoded)  # 76-character lines, CRLF-free here: count as MIME would
    lines = encoded.count(b"\n")
    octets = len(encoded) + lines - 2  # LF -> CRLF, minus the final break, which belongs to the boundary
    assert abs(base64_decoded_size(octets) - decoded) <= 2


def _structure(text: bytes) -> Any:
    return parse_items([text])[0]


def test_attachments_from_bodystructure() -> None:
    # multipart/mixed: text/plain body, a PDF (RFC 2231 name), an inline PNG (name only), an attached email.
    structure = _structure(
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 120 4 NIL NIL NIL NIL)'
        b'("application" "pdf" ("name" "x.pdf") NIL NIL "base64" 27950 NIL '
        b'("attachment" ("filename*" "utf-8\'\'Anforderungen%20%E2%80%93%20%C3%9Cbersicht.pdf")) NIL NIL)'
        b'("image" "png" ("name" "logo.png") "<logo@b>" NIL "base64" 1656 NIL ("inline" NIL) NIL NIL)'
        b'("message" "rfc822" NIL NIL NIL "7bit" 900 (NIL "Fwd" NIL NIL NIL NIL NIL NIL NIL NIL) '
        b'("text" "plain" NIL NIL NIL "7bit" 10 1 NIL NIL NIL NIL) 20 NIL NIL NIL NIL)'
        b' "mixed" ("boundary" "b") NIL NIL NIL)'
    )
    assert attachments_from_bodystructure(structure) == [
        Attachment("Anforderungen \u2013 Übersicht.pdf", "application/pdf", base64_decoded_size(27950)),
        Attachment("logo.png", "image/png", base64_decoded_size(1656)),
        Attachment(None, "message/rfc822", 900),
    ]


def test_plain_body_is_not_an_attachment() -> None:
    structure = _structure(b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 1 NIL NIL NIL NIL)')
    assert attachments_from_bodystructure(structure) == []


def test_encoded_word_file_name() -> None:
    structure = _structure(
        b'("application" "pdf" ("name" "=?utf-8?B?w5xiZXJzaWNodC5wZGY=?=") NIL NIL "base64" 100 NIL NIL NIL NIL)'
    )
    assert attachments_from_bodystructure(structure)[0].filename == "Übersicht.pdf"


@pytest.mark.parametrize(("name", "quoted"), [("INBOX", '"INBOX"'), ('Bulk "x"\\y', '"Bulk \\"x\\"\\\\y"')])
def test_quote_mailbox(name: str, quoted: str) -> None:
    assert quote_mailbox(name) == quoted
