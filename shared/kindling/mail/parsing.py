"""MIME -> `ParsedMessage`: decoded headers, size-capped text/HTML bodies, attachment metadata, reply text.

Bodies are stored truncated at `TEXT_LIMIT` UTF-8 bytes with a flag. Attachments are listed (file name,
content type, size) and never decoded: the size of a base64 part is computed from its encoded length.
`reply_text` strips quoted history (Gmail/Apple "On ... wrote:", Outlook header blocks and separators, the
same in Dutch, German, French and Spanish, ``>`` lines, HTML quote containers) and signatures.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32
from email.utils import collapse_rfc2231_value, getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Literal

from kindling.mail.imapproto import Attachment

TEXT_LIMIT = 64 * 1024


# --- small helpers ----------------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower-cased, accents removed, quotes straightened, whitespace collapsed: what phrase rules match on."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", stripped.casefold()).strip()


def decode_words(value: object) -> str:
    """A header value with RFC 2047 encoded-words decoded; undecodable input comes back as is."""
    if value is None:
        return ""
    text = str(value)
    if "=?" not in text:
        return re.sub(r"\s*\r?\n\s+", " ", text).strip()
    try:
        return str(make_header(decode_header(text))).strip()
    except (ValueError, LookupError, UnicodeError):
        return text.strip()


def normalise_address(value: str | None) -> str | None:
    """``"Jane" <Jane.Doe@Example.COM>`` -> ``jane.doe@example.com``; None when there is no address."""
    if not value:
        return None
    pairs = getaddresses([re.sub(r"(?i)mailto:", "", value)])
    address = pairs[0][1] if pairs else value
    address = address.strip().strip("<>").strip().lower()
    if address.count("@") != 1 or " " in address:
        return None
    local, domain = address.split("@")
    return f"{local}@{domain.rstrip('.')}" if local and domain else None


def addresses(value: str | None) -> tuple[str, ...]:
    out: list[str] = []
    for _, addr in getaddresses([value or ""]):
        norm = normalise_address(addr)
        if norm and norm not in out:
            out.append(norm)
    return tuple(out)


_MSGID = re.compile(r"<[^<>\s]+>")


def message_ids(value: str | None) -> list[str]:
    """Every ``<id>`` in a Message-ID / In-Reply-To / References value, in order, without duplicates.
    A bare token with an ``@`` (some clients drop the brackets) is accepted and bracketed."""
    if not value:
        return []
    found = _MSGID.findall(value)
    if not found:
        found = [f"<{tok.strip('<>')}>" for tok in value.split() if "@" in tok]
    out: list[str] = []
    for mid in found:
        if mid not in out:
            out.append(mid)
    return out


def truncate_utf8(text: str, limit: int) -> tuple[str, bool]:
    """At most `limit` UTF-8 bytes, cut on a character boundary; (text, was it cut)."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text, False
    return encoded[:limit].decode("utf-8", "ignore"), True


# --- HTML -> text -----------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "br",
        "tr",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "blockquote",
        "hr",
        "pre",
        "section",
        "article",
        "header",
        "footer",
    ]
)
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "template"})
# Where clients put the quoted message: everything from here on is history (top-posted replies).
_QUOTE_CLASSES = ("gmail_quote", "gmail_attr", "yahoo_quoted", "moz-cite-prefix", "protonmail_quote")
_QUOTE_IDS = (
    "divrplyfwdmsg",
    "x_divrplyfwdmsg",
    "appendonsend",
    "olk_src_body_section",
    "mail-editor-reference-message-container",
)


class _TextExtractor(HTMLParser):
    def __init__(self, drop_quotes: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.drop_quotes = drop_quotes
        self.parts: list[str] = []
        self.skip_depth = 0
        self.quote_depth = 0
        self.stopped = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.stopped:
            return
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
            return
        if self.drop_quotes:
            attr = {k.lower(): (v or "") for k, v in attrs}
            classes = attr.get("class", "").lower()
            if any(c in classes for c in _QUOTE_CLASSES) or attr.get("id", "").lower() in _QUOTE_IDS:
                self.stopped = True
                return
            if tag == "blockquote":
                self.quote_depth += 1
                return
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "hr") and not self.stopped and not self.skip_depth and not self.quote_depth:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.stopped:
            return
        if tag in _SKIP_TAGS and self.skip_depth:
            self.skip_depth -= 1
        elif tag == "blockquote" and self.quote_depth:
            self.quote_depth -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.stopped and not self.skip_depth and not self.quote_depth:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str, *, drop_quotes: bool = False) -> str:
    """Readable text from HTML (scripts/styles dropped); `drop_quotes` also drops quoted history."""
    parser = _TextExtractor(drop_quotes)
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).replace("\xa0", " ").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- reply text -------------------------------------------------------------------------------------------

_ON_WROTE = re.compile(r"^(on|op|am|le|el)\b.{0,250}\b(wrote|schreef|schrieb|a ecrit|escribio)\b[^:]{0,80}:?$")
# "Jane Doe <jane@x.example> wrote:" on one line (never joined with the line above: that may be the reply).
_ADDR_WROTE = re.compile(r"^.{0,200}<[^<>\s]+@[^<>\s]+>\)?\s*(wrote|schreef|schrieb|a ecrit|escribio)\s?:$")
_SEPARATORS = re.compile(
    r"^-{2,}\s*(original message|ursprungliche nachricht|oorspronkelijk bericht|message d'origine|"
    r"mensaje original|forwarded message|doorgestuurd bericht|weitergeleitete nachricht|message transfere|"
    r"mensaje reenviado)\s*-{2,}$|^_{10,}$|^begin forwarded message:?$"
)
_HEADER_FROM = re.compile(r"^\*?(from|van|von|de|da)\s?:\*?\s")
_HEADER_SENT = re.compile(r"^\*?(sent|date|verzonden|gesendet|datum|envoye|enviado|fecha|objet|betreff|onderwerp)\s?:")
_SIGNATURE_MARK = re.compile(
    r"^--\s?$"
    r"|^(sent|envoye|enviado|verstuurd|verzonden|gesendet) (from|de|desde|vanaf|von) (my|mon|mi|mijn|meinem) .{1,40}$"
    r"|^von meinem .{1,30} gesendet$"
    r"|^get outlook for (ios|android)$|^sent from outlook( for (ios|android))?$"
)
_VALEDICTION = re.compile(
    r"^(best|best regards|kind regards|warm regards|regards|many thanks|thanks|thank you|cheers|sincerely|"
    r"met vriendelijke groet(en)?|vriendelijke groet(en)?|groet(en|jes)?|mvg|"
    r"mit freundlichen grussen|freundliche grusse|viele grusse|beste grusse|lg|mfg|"
    r"cordialement|bien cordialement|bien a vous|salutations|bonne journee|"
    r"saludos|un saludo|saludos cordiales|atentamente|gracias)[,.!]?$"
)


def _quote_start(lines: Sequence[str]) -> int:
    """Index of the first line of quoted history (len(lines) when none)."""
    folded = [fold(line) for line in lines]
    for i, line in enumerate(folded):
        if not line:
            continue
        if _SEPARATORS.match(line) or _ADDR_WROTE.match(line):
            return i
        # Clients wrap the attribution line: try it joined with the next one or two lines.
        for span in (1, 2, 3):
            window = " ".join(part for part in folded[i : i + span] if part)
            if _ON_WROTE.match(window) and re.search(r"\d|@", window):
                return i
        if _HEADER_FROM.match(line) and any(_HEADER_SENT.match(nxt) for nxt in folded[i + 1 : i + 5]):
            return i
    return len(lines)


def _signature_start(lines: Sequence[str]) -> int:
    folded = [fold(line) for line in lines]
    for i, line in enumerate(folded):
        if _SIGNATURE_MARK.match(line):
            return i
    content = [i for i, line in enumerate(folded) if line]
    for i in content[1:]:
        rest = [folded[j] for j in content if j > i]
        if _VALEDICTION.match(folded[i]) and len(rest) <= 5 and all(len(r) <= 72 for r in rest):
            return i
    return len(lines)


def extract_reply(text: str) -> str:
    """The new part of a reply: quoted history, ``>`` lines and the signature removed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = lines[: _quote_start(lines)]
    lines = [line for line in lines if not line.lstrip().startswith(">")]
    lines = lines[: _signature_start(lines)]
    body = "\n".join(line.rstrip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", body).strip()


# --- the parsed message -----------------------------------------------------------------------------------

TextSource = Literal["plain", "html", "none"]


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    from_address: str | None
    from_name: str | None
    reply_to: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    text: str
    text_truncated: bool
    html: str | None
    html_truncated: bool
    text_source: TextSource
    attachments: tuple[Attachment, ...]
    source_truncated: bool = False  # the raw message itself was cut (IMAP partial fetch)
    message: Message = field(default_factory=Message, repr=False, compare=False)

    @property
    def referenced_ids(self) -> tuple[str, ...]:
        """Message-IDs this message answers, most specific first: In-Reply-To, then References newest first."""
        out: list[str] = []
        for mid in [*self.in_reply_to, *reversed(self.references)]:
            if mid not in out:
                out.append(mid)
        return tuple(out)

    def header(self, name: str) -> str:
        return decode_words(self.message.get(name))

    @property
    def reply_text(self) -> str:
        """The reply without quoted history or signature (HTML quote containers dropped before conversion)."""
        if self.text_source == "html" and self.html:
            return extract_reply(html_to_text(self.html, drop_quotes=True))
        return extract_reply(self.text)


def _leaves(part: Message) -> Iterator[Message]:
    """Leaf parts, not descending into attached messages (message/rfc822 is a leaf)."""
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        for sub in part.get_payload():
            if isinstance(sub, Message):
                yield from _leaves(sub)
    else:
        yield part


def _filename(part: Message) -> str | None:
    """Content-Disposition filename, else Content-Type name (RFC 2231 handled by the stdlib, RFC 2047 here)."""
    name = part.get_filename() or part.get_param("name")
    if isinstance(name, tuple):  # an RFC 2231 value on Content-Type's name
        name = collapse_rfc2231_value(name)
    return (decode_words(name) or None) if isinstance(name, str) else None


def _is_attachment(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    if part.get_content_type() in ("message/delivery-status", "message/feedback-report", "text/rfc822-headers"):
        return False
    return disposition == "attachment" or _filename(part) is not None or part.get_content_type() == "message/rfc822"


def _payload_size(part: Message) -> int:
    """Decoded size without decoding: base64 length arithmetic, else the transfer length."""
    if part.is_multipart():
        try:
            return len(b"".join(sub.as_bytes() for sub in part.get_payload() if isinstance(sub, Message)))
        except (ValueError, LookupError, UnicodeError):
            return 0
    raw = part.get_payload(decode=False)
    text = raw if isinstance(raw, str) else ""
    if (part.get("Content-Transfer-Encoding") or "").strip().lower() == "base64":
        chars = re.sub(r"\s", "", text)
        return max(0, len(chars) * 3 // 4 - (len(chars) - len(chars.rstrip("="))))
    return len(text.encode("utf-8", "surrogateescape"))


def _decoded_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def mime_attachments(message: Message) -> tuple[Attachment, ...]:
    return tuple(
        Attachment(filename=_filename(p), content_type=p.get_content_type(), size=_payload_size(p))
        for p in _leaves(message)
        if _is_attachment(p)
    )


def parse_message(
    raw: bytes,
    *,
    text_limit: int = TEXT_LIMIT,
    attachments: Sequence[Attachment] | None = None,
    source_truncated: bool = False,
) -> ParsedMessage:
    """Parse a whole (or size-capped) message. `attachments` replaces the MIME walk's list (IMAP's
    BODYSTRUCTURE knows parts a capped fetch did not download)."""
    message = message_from_bytes(raw, policy=compat32)
    plain: str | None = None
    html: str | None = None
    for part in _leaves(message):
        if _is_attachment(part):
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain is None:
            plain = _decoded_text(part)
        elif ctype == "text/html" and html is None:
            html = _decoded_text(part)
    source: TextSource = "plain" if plain is not None else "html" if html is not None else "none"
    full_text = plain if plain is not None else html_to_text(html) if html is not None else ""
    text, text_cut = truncate_utf8(full_text, text_limit)
    html_cut = False
    if html is not None:
        html, html_cut = truncate_utf8(html, text_limit)
    from_pairs = getaddresses([decode_words(message.get("From"))])
    try:
        sent = parsedate_to_datetime(str(message.get("Date"))) if message.get("Date") else None
    except (TypeError, ValueError, IndexError):
        sent = None
    return ParsedMessage(
        message_id=next(iter(message_ids(str(message.get("Message-ID") or ""))), None),
        in_reply_to=tuple(message_ids(str(message.get("In-Reply-To") or ""))),
        references=tuple(message_ids(str(message.get("References") or ""))),
        subject=decode_words(message.get("Subject")),
        from_address=normalise_address(from_pairs[0][1]) if from_pairs else None,
        from_name=(from_pairs[0][0] or None) if from_pairs else None,
        reply_to=normalise_address(decode_words(message.get("Reply-To"))),
        to=addresses(decode_words(message.get("To"))),
        cc=addresses(decode_words(message.get("Cc"))),
        date=sent,
        text=text,
        text_truncated=text_cut,
        html=html,
        html_truncated=html_cut,
        text_source=source,
        attachments=tuple(attachments) if attachments is not None else mime_attachments(message),
        source_truncated=source_truncated,
        message=message,
    )
