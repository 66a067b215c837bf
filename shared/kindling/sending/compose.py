"""Build the RFC 5322 message for one campaign send (stdlib `email`, policy SMTP).

Input is already rendered (merge tags, spintax: kindling.rendering); this adds what every campaign email
needs: From with an encoded display name, To, Subject ("Re: " for sendAsReply steps, never doubled), Date, a
deterministic Message-ID, In-Reply-To/References for replies, multipart/alternative text + HTML, RFC 8058
one-click unsubscribe headers plus a visible link in both parts (decisions.md), the open pixel and click
rewriting when the campaign tracks them. No attachments (inventory 9.9).

Tracking URLs: `{base}/t/o/{token}` (open pixel), `{base}/t/c/{token}` (click redirect), `{base}/u/{token}`
(unsubscribe page and RFC 8058 POST target); tokens from kindling.sending.tokens.
"""

from __future__ import annotations

import hashlib
import html as htmllib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import EmailPolicy
from email.utils import format_datetime
from html.parser import HTMLParser
from typing import Any

from kindling.sending import tokens

MAX_REFERENCES = 20
_REPLY_PREFIX = re.compile(r"^\s*re\s*:", re.I)
_WHITESPACE = re.compile(r"\s+")
_A_TAG = re.compile(r"<a\b[^>]*>", re.I)
_HREF = re.compile(r"""(\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
_BODY_END = re.compile(r"</body\s*>", re.I)
_DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$")


class _Policy(EmailPolicy):
    """Policy SMTP, except that List-Unsubscribe is folded only between its URIs and never encoded.

    The stock policy turns a URI longer than the 78-column fold into RFC 2047 encoded-words, which no mail
    client reads back as a link. Tokens keep each URI far below the 998-octet hard line limit.
    """

    _RAW = frozenset({"list-unsubscribe"})

    def _raw(self, name: str, value: Any) -> str:
        parts = [part.strip() for part in str(value).split(",")]
        return f"{name}: " + ("," + self.linesep + " ").join(parts) + self.linesep

    def fold(self, name: str, value: Any) -> str:
        if name.lower() in self._RAW:
            return self._raw(name, value)
        folded: str = super().fold(name, value)
        return folded

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name.lower() in self._RAW:
            return self._raw(name, value).encode("ascii")
        return super().fold_binary(name, value)


POLICY = _Policy().clone(linesep=SMTP_POLICY.linesep)


@dataclass(frozen=True)
class Tracking:
    """Where tracking links point and how they are signed. Unsubscribe links are always added; opens and clicks
    only when the campaign tracks them."""

    base_url: str  # the campaign's verified tracking domain or the deployment's public URL, no trailing slash
    secret: str | bytes
    workspace_id: str
    send_id: str  # the send ledger id the tokens carry
    track_opens: bool = True
    track_clicks: bool = True

    def url(self, path: str, token: str) -> str:
        return f"{self.base_url.rstrip('/')}/{path}/{token}"


@dataclass(frozen=True)
class OutgoingEmail:
    from_address: str
    to_address: str
    subject: str
    html: str
    text: str
    date: datetime
    enrollment_id: str
    step: str | int  # the step index or id: with the enrollment it names the message
    sending_domain: str  # the workspace's sending domain, right-hand side of the Message-ID
    from_name: str | None = None
    to_name: str | None = None
    send_as_reply: bool = False
    thread: Sequence[str] = ()  # Message-IDs already in the thread, oldest first
    unsubscribe_mailto: str | None = None  # the mailto: target of List-Unsubscribe; the From address if None
    unsubscribe_label: str = "Unsubscribe"


@dataclass(frozen=True)
class BuiltMessage:
    message: EmailMessage
    message_id: str
    envelope_from: str
    recipient: str
    unsubscribe_url: str

    def as_bytes(self) -> bytes:
        return self.message.as_bytes(policy=POLICY)


def message_id(enrollment_id: str, step: str | int, sending_domain: str) -> str:
    """`<{hash}@{domain}>`, the same for every attempt of one (enrollment, step): a safe retry after a
    definite refusal reuses it, so receivers that saw an earlier copy can de-duplicate."""
    domain = sending_domain.strip().lower().rstrip(".")
    if not _DOMAIN.match(domain):
        raise ValueError(f"not a sending domain: {sending_domain!r}")
    digest = hashlib.sha256(f"{enrollment_id}\x1f{step}".encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def one_line(text: str) -> str:
    """Header text on one line: CR/LF and runs of whitespace become single spaces (no header injection)."""
    return _WHITESPACE.sub(" ", text).strip()


def reply_subject(subject: str) -> str:
    subject = one_line(subject)
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}".rstrip()


def _msg_id(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if not (value.startswith("<") and value.endswith(">")):
        value = f"<{value.strip('<>')}>"
    return value if "@" in value and not _WHITESPACE.search(value) else None


def thread_headers(thread: Sequence[str]) -> tuple[str | None, str | None]:
    """(In-Reply-To, References) for a reply into `thread`: the last id, and the thread trimmed to the first id
    plus the latest ones (RFC 5322 3.6.4 lets References be shortened; the root keeps threading intact)."""
    ids = [i for i in (_msg_id(v) for v in thread) if i is not None]
    if not ids:
        return None, None
    kept = ids if len(ids) <= MAX_REFERENCES else [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids[-1], " ".join(kept)


# --- HTML ---------------------------------------------------------------------------------------------------


def _insert_before_body_end(html: str, snippet: str) -> str:
    matches = list(_BODY_END.finditer(html))
    if not matches:
        return html + snippet
    at = matches[-1].start()
    return html[:at] + snippet + html[at:]


def rewrite_links(html: str, tracking: Tracking) -> str:
    """Point every http(s) `<a href>` at the click redirect. Left alone: mailto:, tel:, anchors, relative
    and other schemes, and links already on the tracking host (tracked links, the unsubscribe link)."""
    own = tracking.base_url.rstrip("/") + "/"
    index = 0

    def tag(match: re.Match[str]) -> str:
        nonlocal index
        text = match.group(0)
        href = _HREF.search(text)
        if href is None:
            return text
        raw = next((g for g in href.groups()[1:] if g is not None), "")
        url = htmllib.unescape(raw).strip()
        if url.startswith(own) or not tokens.is_redirectable(url):
            return text
        token = tokens.click_token(tracking.workspace_id, tracking.send_id, url, tracking.secret, url_index=index)
        index += 1
        tracked = htmllib.escape(tracking.url("t/c", token), quote=True)
        return text[: href.start()] + f'{href.group(1)}"{tracked}"' + text[href.end() :]

    return _A_TAG.sub(tag, html)


class _TextExtractor(HTMLParser):
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"})
    _SKIP = frozenset({"style", "script", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0
        self._href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.out.append("\n")
        if tag == "a":
            self._href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.out.append("\n")
        elif tag == "a" and self._href:
            href = self._href.pop()
            if href and tokens.is_redirectable(href):
                self.out.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(_WHITESPACE.sub(" ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text alternative when the step has no bodyText: paragraphs kept, links as "text (url)"."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- the message ---------------------------------------------------------------------------------------------


def build_message(email: OutgoingEmail, tracking: Tracking) -> BuiltMessage:
    if email.date.tzinfo is None:
        raise ValueError("the Date needs an aware datetime")
    mid = message_id(email.enrollment_id, email.step, email.sending_domain)
    unsubscribe_url = tracking.url(
        "u", tokens.unsubscribe_token(tracking.workspace_id, tracking.send_id, tracking.secret)
    )
    mailto = email.unsubscribe_mailto or email.from_address

    html = email.html
    if html and tracking.track_clicks:
        html = rewrite_links(html, tracking)
    text = email.text.strip() if email.text.strip() else html_to_text(email.html)

    label = htmllib.escape(email.unsubscribe_label)
    text = f"{text}\n\n{email.unsubscribe_label}: {unsubscribe_url}\n"
    if html:
        footer = (
            '<p style="font-size:12px;color:#888888;margin-top:24px">'
            f'<a href="{htmllib.escape(unsubscribe_url, quote=True)}">{label}</a></p>'
        )
        html = _insert_before_body_end(html, footer)
        if tracking.track_opens:
            pixel_url = tracking.url("t/o", tokens.open_token(tracking.workspace_id, tracking.send_id, tracking.secret))
            pixel = (
                f'<img src="{htmllib.escape(pixel_url, quote=True)}" width="1" height="1" alt="" '
                'style="border:0;width:1px;height:1px" />'
            )
            html = _insert_before_body_end(html, pixel)

    msg = EmailMessage(policy=POLICY)
    msg["From"] = Address(display_name=one_line(email.from_name or ""), addr_spec=email.from_address)
    msg["To"] = Address(display_name=one_line(email.to_name or ""), addr_spec=email.to_address)
    msg["Subject"] = reply_subject(email.subject) if email.send_as_reply else one_line(email.subject)
    msg["Date"] = format_datetime(email.date.astimezone(UTC))
    msg["Message-ID"] = mid
    if email.send_as_reply:
        in_reply_to, references = thread_headers(email.thread)
        if in_reply_to is not None and references is not None:
            msg["In-Reply-To"] = in_reply_to
            msg["References"] = references
    msg["List-Unsubscribe"] = f"<mailto:{mailto}?subject=unsubscribe>, <{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text, charset="utf-8")
    if html:
        msg.add_alternative(html, subtype="html", charset="utf-8")
    return BuiltMessage(msg, mid, email.from_address, email.to_address, unsubscribe_url)
