"""Pure IMAP wire helpers: no sockets here, so every rule is unit-testable.

imaplib hands responses back as a list whose items are either a line (bytes) or a
``(line-ending-in-{n}, literal)`` tuple; items of one response follow each other in order. `parse_items`
turns such a list into values: ``list`` for parenthesised lists, ``str`` for atoms and quoted strings,
``bytes`` for literals, ``None`` for NIL.
"""

from __future__ import annotations

import base64
import contextlib
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import decode_header, make_header
from email.utils import collapse_rfc2231_value, decode_params
from typing import Any

Value = Any  # str | bytes | None | list[Value]; recursive aliases are not worth mypy's trouble here


class ImapParseError(ValueError):
    """A server response that does not follow the grammar we rely on."""


@dataclass(frozen=True)
class _Literal:
    data: bytes


_LITERAL_SUFFIX = re.compile(rb"\{(\d+)\+?\}\s*$")
_ATOM_STOP = frozenset(b" ()\r\n")


def _segments(items: Iterable[object]) -> Iterator[bytes | _Literal]:
    for item in items:
        if item is None:
            continue
        if isinstance(item, tuple):
            head, literal = item[0], item[1]
            if not isinstance(head, bytes) or not isinstance(literal, bytes):
                raise ImapParseError(f"unexpected response item {item!r}")
            match = _LITERAL_SUFFIX.search(head)
            yield head[: match.start()] if match else head
            yield _Literal(literal)
        elif isinstance(item, bytes):
            # Each plain item is one response line (or the rest of one after a literal).
            yield item + b" "
        else:
            raise ImapParseError(f"unexpected response item {item!r}")


def _tokens(items: Iterable[object]) -> Iterator[str | bytes | tuple[str] | None]:
    """("(",) / (")",) for parentheses, str atoms/strings, bytes literals, None for NIL."""
    for segment in _segments(items):
        if isinstance(segment, _Literal):
            yield segment.data
            continue
        text, i, n = segment, 0, len(segment)
        while i < n:
            ch = text[i]
            if ch in b" \r\n":
                i += 1
            elif ch in b"()":
                yield (chr(ch),)
                i += 1
            elif ch == ord('"'):
                out = bytearray()
                i += 1
                while i < n and text[i] != ord('"'):
                    if text[i] == ord("\\") and i + 1 < n:
                        i += 1
                    out.append(text[i])
                    i += 1
                if i >= n:
                    raise ImapParseError(f"unterminated quoted string in {text!r}")
                i += 1
                yield out.decode("utf-8", "replace")
            else:
                start, depth = i, 0
                while i < n and (depth > 0 or text[i] not in _ATOM_STOP):
                    # BODY[HEADER.FIELDS (A B)] keeps its spaces and parentheses inside the brackets.
                    if text[i] == ord("["):
                        depth += 1
                    elif text[i] == ord("]"):
                        depth -= 1
                    i += 1
                atom = text[start:i].decode("utf-8", "replace")
                yield None if atom.upper() == "NIL" else atom


def parse_items(items: Iterable[object]) -> list[Value]:
    """Every top-level value in the response items, lists nested."""
    stack: list[list[Value]] = [[]]
    for token in _tokens(items):
        if isinstance(token, tuple):
            if token[0] == "(":
                stack.append([])
            else:
                if len(stack) == 1:
                    raise ImapParseError("unbalanced ')' in response")
                done = stack.pop()
                stack[-1].append(done)
        else:
            stack[-1].append(token)
    if len(stack) != 1:
        raise ImapParseError("unbalanced '(' in response")
    return stack[0]


def text_of(value: Value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    raise ImapParseError(f"expected a string, got {value!r}")


def _key(name: str) -> str:
    """FETCH item names: upper-cased, partial origin dropped (``BODY[TEXT]<0>`` -> ``BODY[TEXT]``)."""
    name = name.upper()
    return re.sub(r"<\d+>$", "", name)


def parse_fetch(items: Iterable[object]) -> list[dict[str, Value]]:
    """FETCH responses (``n (KEY value ...)``) as one dict per response, keyed by upper-case item name."""
    values = parse_items(items)
    out: list[dict[str, Value]] = []
    i = 0
    while i < len(values):
        seq, body = values[i], values[i + 1] if i + 1 < len(values) else None
        if not isinstance(seq, str) or not seq.isdigit() or not isinstance(body, list) or len(body) % 2:
            raise ImapParseError(f"not a FETCH response near {seq!r}")
        entry: dict[str, Value] = {"SEQ": int(seq)}
        for j in range(0, len(body), 2):
            name = body[j]
            if not isinstance(name, str):
                raise ImapParseError(f"bad FETCH item name {name!r}")
            entry[_key(name)] = body[j + 1]
        out.append(entry)
        i += 2
    return out


@dataclass(frozen=True)
class MailboxStatus:
    """A STATUS answer; `highestmodseq` is None when not asked for (no CONDSTORE) or not given."""

    uidvalidity: int
    uidnext: int
    messages: int | None = None
    highestmodseq: int | None = None


def parse_status(items: Iterable[object]) -> MailboxStatus:
    values = parse_items(items)
    if len(values) < 2 or not isinstance(values[-1], list):
        raise ImapParseError(f"not a STATUS response: {values!r}")
    pairs = values[-1]
    found: dict[str, int] = {}
    for j in range(0, len(pairs) - 1, 2):
        name, number = pairs[j], pairs[j + 1]
        if isinstance(name, str) and isinstance(number, str) and number.isdigit():
            found[name.upper()] = int(number)
    if "UIDVALIDITY" not in found or "UIDNEXT" not in found:
        raise ImapParseError(f"STATUS without UIDVALIDITY/UIDNEXT: {values!r}")
    return MailboxStatus(
        uidvalidity=found["UIDVALIDITY"],
        uidnext=found["UIDNEXT"],
        messages=found.get("MESSAGES"),
        highestmodseq=found.get("HIGHESTMODSEQ"),
    )


# --- LIST and folder names ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FolderInfo:
    """One LIST entry: `name` as the server spells it (send this back), `display` decoded from modified UTF-7."""

    name: str
    display: str
    flags: frozenset[str]
    delimiter: str | None


def parse_list(items: Sequence[object]) -> list[FolderInfo]:
    """LIST responses; each item is one ``(flags) "delim" name`` entry (name possibly a literal)."""
    out: list[FolderInfo] = []
    for item in items:
        if item is None:
            continue
        values = parse_items([item])
        if len(values) != 3 or not isinstance(values[0], list):
            raise ImapParseError(f"not a LIST response: {item!r}")
        flags, delimiter, name = values
        wire = text_of(name) or ""
        out.append(
            FolderInfo(
                name=wire,
                display=decode_mutf7(wire),
                flags=frozenset(str(f).lower() for f in flags),
                delimiter=text_of(delimiter),
            )
        )
    return out


def decode_mutf7(name: str) -> str:
    """RFC 3501 modified UTF-7 (``Courrier ind&AOk-sirable`` -> ``Courrier indésirable``); bad input kept as is."""
    out: list[str] = []
    i = 0
    while i < len(name):
        ch = name[i]
        end = name.find("-", i + 1) if ch == "&" else -1
        if ch != "&" or end < 0:
            out.append(ch)
            i += 1
            continue
        chunk = name[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
            try:
                out.append(base64.b64decode(padded, validate=True).decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError):
                out.append(name[i : end + 1])
        i = end + 1
    return "".join(out)


def quote_mailbox(name: str) -> str:
    """imaplib sends arguments verbatim: quote mailbox names so spaces and brackets survive."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- sequence sets ------------------------------------------------------------------------------------


def compress_uids(uids: Iterable[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``1:3,7`` (sorted, deduplicated)."""
    ordered = sorted(set(uids))
    if not ordered:
        raise ValueError("an empty UID set cannot be sent")
    parts: list[str] = []
    start = prev = ordered[0]
    for uid in ordered[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        parts.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    parts.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(parts)


def parse_sequence_set(text: str) -> list[int]:
    """``1:3,7`` -> ``[1, 2, 3, 7]`` (no ``*``: ESEARCH and COPYUID only send numbers)."""
    out: list[int] = []
    for part in text.split(","):
        if not part:
            continue
        low, _, high = part.partition(":")
        a, b = int(low), int(high or low)
        out.extend(range(min(a, b), max(a, b) + 1))
    return out


def parse_search(items: Iterable[object]) -> list[int]:
    """Plain SEARCH data (``b"1 2 3"``) -> UIDs."""
    out: list[int] = []
    for item in items:
        if isinstance(item, bytes):
            out.extend(int(tok) for tok in item.split() if tok.isdigit())
    return out


def parse_esearch(items: Iterable[object]) -> list[int]:
    """ESEARCH data (``(TAG "A5") UID ALL 1:3,7``) -> UIDs; no ALL means no match."""
    values = parse_items(items)
    for j, value in enumerate(values):
        if isinstance(value, str) and value.upper() == "ALL" and j + 1 < len(values):
            return parse_sequence_set(str(values[j + 1]))
    return []


_COPYUID = re.compile(r"\[COPYUID (\d+) ([\d:,]+) ([\d:,]+)\]", re.IGNORECASE)


def parse_copyuid(text: str) -> dict[int, int] | None:
    """``[COPYUID 38505 304,319:320 3956:3958]`` -> {304: 3956, 319: 3957, 320: 3958}."""
    match = _COPYUID.search(text)
    if match is None:
        return None
    source, dest = parse_sequence_set(match.group(2)), parse_sequence_set(match.group(3))
    if len(source) != len(dest):
        return None
    return dict(zip(source, dest, strict=True))


def parse_internaldate(value: str | None) -> datetime | None:
    """``17-Jul-1996 02:44:25 -0700`` (day possibly space-padded) -> aware datetime."""
    if not value:
        return None
    try:
        return datetime.strptime(value.strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None


# --- BODYSTRUCTURE -> attachment metadata -------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    """Metadata only: the content is never fetched, decoded or opened. `size` is the decoded size in bytes
    (exact when computed from the message, estimated from the transfer size for base64 in BODYSTRUCTURE)."""

    filename: str | None
    content_type: str
    size: int


def decode_filename(raw_params: Sequence[tuple[str, str]]) -> str | None:
    """The file name from Content-Disposition / Content-Type parameters (RFC 2231 and RFC 2047 forms)."""
    for wanted in ("filename", "name"):
        decoded = decode_params([("x/x", ""), *raw_params])[1:]
        for name, value in decoded:
            if name.lower() != wanted:
                continue
            text = collapse_rfc2231_value(value).strip().strip('"')
            if "=?" in text:
                with contextlib.suppress(ValueError, LookupError):
                    text = str(make_header(decode_header(text)))
            return text or None
    return None


def base64_decoded_size(transfer_octets: int) -> int:
    """Decoded size of a base64 body of `transfer_octets` bytes in 76-character CRLF lines (MIME's)."""
    # The CRLF after the last line belongs to the next boundary, so n lines carry n - 1 line breaks.
    lines = max(1, math.ceil((transfer_octets + 2) / 78))
    return max(0, (transfer_octets - 2 * (lines - 1)) * 3 // 4)


def _params(value: Value) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        return []
    flat = [text_of(v) or "" for v in value]
    return [(flat[k], '"' + flat[k + 1] + '"') for k in range(0, len(flat) - 1, 2)]


def attachments_from_bodystructure(body: Value) -> list[Attachment]:
    """Leaf parts that are files: a disposition of attachment, or a file name (attached emails included)."""
    found: list[Attachment] = []
    _walk_structure(body, found)
    return found


def _walk_structure(body: Value, found: list[Attachment]) -> None:
    if not isinstance(body, list) or not body:
        return
    if isinstance(body[0], list):  # multipart: parts..., subtype, extensions
        for part in body:
            if isinstance(part, list):
                _walk_structure(part, found)
        return
    if len(body) < 7:
        return
    main, sub = (text_of(body[0]) or "").lower(), (text_of(body[1]) or "").lower()
    encoding = (text_of(body[5]) or "7bit").lower()
    octets = int(text_of(body[6]) or 0)
    # Extension data follows the type-specific fields: text has 1 (lines), message/rfc822 has 3.
    ext_at = 8 if main == "text" else 10 if (main, sub) == ("message", "rfc822") else 7
    disposition = body[ext_at + 1] if len(body) > ext_at + 1 else None
    disp_type, disp_params = None, []
    if isinstance(disposition, list) and disposition:
        disp_type = (text_of(disposition[0]) or "").lower()
        disp_params = _params(disposition[1] if len(disposition) > 1 else None)
    filename = decode_filename(disp_params) or decode_filename(_params(body[2]))
    attached_mail = (main, sub) == ("message", "rfc822")
    if disp_type == "attachment" or filename or attached_mail:
        size = base64_decoded_size(octets) if encoding == "base64" else octets
        found.append(Attachment(filename=filename, content_type=f"{main}/{sub}", size=size))
