"""What one incoming message is, in this order (the first that applies wins):

1. complaint  - an ARF feedback report (RFC 5965);
2. bounce     - a DSN (RFC 3464) or a non-standard NDR reporting a failed or delayed delivery. Checked before
                warmup: Microsoft's "Undeliverable: <subject>" repeats a warmup subject tag;
3. other      - a success DSN (delivered/relayed): automated, neither a bounce nor a reply;
4. warmup     - the subject carries ``[ref: XXXXXXXX]`` or the message has ``X-Kindling-Warmup``; replies
                and auto-replies to warmup mail included, so warmup traffic is never a reply;
5. out_of_office - auto-reply headers (``Auto-Submitted`` other than ``no``, ``X-Autoreply``,
                ``X-Autorespond``, ``Precedence: auto_reply``) or out-of-office phrasing (5 languages)
                in the subject or the reply text; labelled out_of_office and never a reply;
6. reply      - everything else: a candidate reply. Whether it answers a campaign email is the send
                ledger's call (by `referenced_ids`, else by `sender` and a recent send).

Every result carries the extraction the ledger lookup needs: the referenced Message-IDs, the normalised
sender and the stripped reply text; replies get a label and `unsubscribe` when they ask to be removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from kindling.mail.labels import Label, is_positive, label_reply
from kindling.mail.parsing import ParsedMessage, decode_words, parse_message
from kindling.mail.reports import (
    WARMUP_HEADER,
    WARMUP_TAG,
    BounceReport,
    ComplaintReport,
    is_delivery_report,
    parse_bounce,
    parse_complaint,
)

Kind = Literal["complaint", "bounce", "other", "warmup", "out_of_office", "reply"]


@dataclass(frozen=True)
class Warmup:
    ref: str | None  # the 8-character subject tag
    header: str | None  # the X-Kindling-Warmup value


@dataclass(frozen=True)
class Classification:
    kind: Kind
    sender: str | None
    referenced_ids: tuple[str, ...]
    reply_text: str
    label: Label | None  # replies and out-of-office only
    unsubscribe: bool
    ooo_signal: str | None  # why it is out-of-office: "header:auto-submitted", "subject:de", "text:fr", ...
    warmup: Warmup | None = None
    bounce: BounceReport | None = None
    complaint: ComplaintReport | None = None

    @property
    def is_positive(self) -> bool:
        return self.kind == "reply" and is_positive(self.label)


def warmup_mark(message: ParsedMessage) -> Warmup | None:
    match = WARMUP_TAG.search(message.subject)
    header = message.message.get(WARMUP_HEADER)
    if match is None and header is None:
        return None
    return Warmup(ref=match.group(1) if match else None, header=decode_words(header) if header is not None else None)


def auto_reply_header(message: ParsedMessage) -> str | None:
    """The header that marks an automatic reply (the help center's OOO headers), or None."""
    headers = message.message
    auto = headers.get("Auto-Submitted")
    if auto is not None and str(auto).strip().lower().split(";")[0] not in ("", "no"):
        return "header:auto-submitted"
    if headers.get("X-Autoreply") is not None and str(headers.get("X-Autoreply")).strip().lower() != "no":
        return "header:x-autoreply"
    if headers.get("X-Autorespond") is not None:
        return "header:x-autorespond"
    if re.sub(r"[\s-]", "_", str(headers.get("Precedence") or "").strip().lower()) == "auto_reply":
        return "header:precedence"
    return None


def _result(
    message: ParsedMessage,
    kind: Kind,
    *,
    reply_text: str = "",
    label: Label | None = None,
    ooo_signal: str | None = None,
    warmup: Warmup | None = None,
    bounce: BounceReport | None = None,
    complaint: ComplaintReport | None = None,
) -> Classification:
    return Classification(
        kind=kind,
        sender=message.from_address,
        referenced_ids=message.referenced_ids,
        reply_text=reply_text,
        label=label,
        unsubscribe=label == "unsubscribe",
        ooo_signal=ooo_signal,
        warmup=warmup,
        bounce=bounce,
        complaint=complaint,
    )


def classify(message: ParsedMessage) -> Classification:
    complaint = parse_complaint(message.message)
    if complaint is not None:
        return _result(message, "complaint", complaint=complaint)
    bounce = parse_bounce(message.message)
    if bounce is not None:
        return _result(message, "bounce", bounce=bounce)
    if is_delivery_report(message.message):
        return _result(message, "other")
    text = message.reply_text
    warmup = warmup_mark(message)
    if warmup is not None:
        return _result(message, "warmup", reply_text=text, warmup=warmup)
    result = label_reply(text, message.subject)
    header = auto_reply_header(message)
    if header is not None or result.label == "out_of_office":
        ooo_rule = next((r for r in result.matched if r.label == "out_of_office"), None)
        signal = header or (f"{ooo_rule.field}:{ooo_rule.lang}" if ooo_rule else None)
        return _result(message, "out_of_office", reply_text=text, label="out_of_office", ooo_signal=signal)
    return _result(message, "reply", reply_text=text, label=result.label)


def classify_raw(raw: bytes) -> tuple[ParsedMessage, Classification]:
    parsed = parse_message(raw)
    return parsed, classify(parsed)
