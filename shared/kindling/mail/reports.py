"""Delivery reports (bounces) and feedback reports (spam complaints).

Bounces: RFC 3464 DSNs (``multipart/report; report-type=delivery-status``: Postfix, Gmail, Microsoft 365
and most MTAs) are read field by field. Non-standard NDRs (Exim, qmail/Yahoo "failure notice", older
Exchange, plain-text Gmail) are recognised by their sender or subject plus a failure signal, and read
from the human-readable part only (never from the returned copy of the original).

Hard vs soft comes from the status code class: 5.x.x (or SMTP 5xx) is hard, 4.x.x (or 4xx) is soft, as
docs/decisions.md decides; "mailbox full" (5.2.2) is therefore hard. Without any code, the report's wording
decides, and failing that the DSN Action (failed = hard, delayed = soft).

Complaints: ARF (RFC 5965, ``report-type=feedback-report``); the original recipient comes from
``Original-Rcpt-To`` or the returned message's To, the Message-ID from the returned message or headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_string
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses
from typing import Literal

from kindling.mail.parsing import decode_words, html_to_text, message_ids, normalise_address

BounceType = Literal["hard", "soft"]
WARMUP_TAG = re.compile(r"\[ref:\s?([A-Za-z0-9]{8})\]")
WARMUP_HEADER = "X-Kindling-Warmup"


@dataclass(frozen=True)
class BounceReport:
    bounce_type: BounceType
    status: str | None  # enhanced status code, e.g. "5.1.1"
    smtp_code: int | None
    diagnostic: str | None  # the remote server's words, e.g. "550 5.1.1 <x@y>: Recipient address rejected"
    recipient: str | None  # the address that failed (the first failed one when several did)
    recipients: tuple[str, ...]
    original_message_id: str | None
    reporting_mta: str | None
    standard: bool  # an RFC 3464 report (True) or a non-standard NDR read heuristically (False)
    original_is_warmup: bool

    @property
    def reason(self) -> str:
        """For the `email.bounced` webhook's bounceReason."""
        return self.diagnostic or self.status or ("permanent failure" if self.bounce_type == "hard" else "delayed")


@dataclass(frozen=True)
class ComplaintReport:
    feedback_type: str
    user_agent: str | None
    original_mail_from: str | None
    original_recipient: str | None
    original_message_id: str | None
    source_ip: str | None
    reported_domain: str | None
    arrival_date: str | None
    original_is_warmup: bool


# --- shared pieces ----------------------------------------------------------------------------------------


def _report_type(message: Message) -> str | None:
    if message.get_content_type() != "multipart/report":
        return None
    value = message.get_param("report-type")
    return str(value).lower() if isinstance(value, str) else None


def _parts(message: Message) -> list[Message]:
    return [p for p in message.walk() if p is not message]


def _returned_headers(message: Message) -> Message | None:
    """The original message (or its headers) a report returns: message/rfc822, text/rfc822-headers,
    or message/rfc822-headers."""
    for part in _parts(message):
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if ctype in ("text/rfc822-headers", "message/rfc822-headers", "text/rfc822-header"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return message_from_string(payload.decode("utf-8", "replace"), policy=compat32)
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
    return None


def _is_warmup_headers(headers: Message | None) -> bool:
    if headers is None:
        return False
    return bool(WARMUP_TAG.search(decode_words(headers.get("Subject")))) or headers.get(WARMUP_HEADER) is not None


def _original_id(message: Message, returned: Message | None, inline: str) -> str | None:
    if returned is not None:
        found = message_ids(str(returned.get("Message-ID") or ""))
        if found:
            return found[0]
    match = re.search(r"^message-id:\s*(<[^<>\s]+>)", inline, re.IGNORECASE | re.MULTILINE)
    if match:
        return match.group(1)
    # Gmail and some MTAs thread the report under the original.
    for header in ("In-Reply-To", "References"):
        found = message_ids(str(message.get(header) or ""))
        if found:
            return found[0]
    return None


# --- status codes -----------------------------------------------------------------------------------------

_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_SMTP_CODE = re.compile(r"(?<![\d.#])([245][0-5]\d)(?=[\s:-])")
_HARD_WORDS = re.compile(
    r"permanent(ly)? (error|failure|fatal)|user unknown|unknown user|no such (user|mailbox|recipient)|"
    r"does not exist|doesn't exist|address (not found|rejected|couldn't be found)|"
    r"recipient (not found|address rejected|rejected)|mailbox (unavailable|not found|disabled)|"
    r"account (is )?(disabled|inactive|suspended)|doesn't have a .{1,40} account|invalid (recipient|address)",
    re.IGNORECASE,
)
_SOFT_WORDS = re.compile(
    r"temporar(y|ily)|delayed|deferred|will (retry|be retried|keep trying|try again)|"
    r"try again later|has not yet been delivered|not been delivered yet|still trying|greylist",
    re.IGNORECASE,
)


def _type_from_status(status: str | None, smtp: int | None) -> BounceType | None:
    if status:
        return "hard" if status.startswith("5") else "soft" if status.startswith("4") else None
    if smtp:
        return "hard" if smtp >= 500 else "soft" if smtp >= 400 else None
    return None


def _codes(text: str) -> tuple[str | None, int | None]:
    enhanced = next((m for m in _ENHANCED.finditer(text) if m.group(1) in "45"), None)
    smtp = next((int(m.group(1)) for m in _SMTP_CODE.finditer(text) if m.group(1)[0] in "45"), None)
    return (".".join(enhanced.groups()) if enhanced else None), smtp


# --- RFC 3464 ----------------------------------------------------------------------------------------------


def _field(block: Message, name: str) -> str | None:
    value = block.get(name)
    if value is None:
        return None
    text = re.sub(r"\s+", " ", str(value)).strip()
    return text or None


def _typed_value(value: str | None) -> str | None:
    """``rfc822; jane@x.com`` -> ``jane@x.com``; ``smtp; 550 ...`` -> ``550 ...``."""
    if value is None:
        return None
    return value.split(";", 1)[1].strip() if ";" in value else value.strip()


def _status_blocks(message: Message) -> list[Message]:
    for part in _parts(message):
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            payload = part.get_payload()
            if isinstance(payload, list):
                return [b for b in payload if isinstance(b, Message)]
            if isinstance(payload, str):
                return [message_from_string(chunk, policy=compat32) for chunk in re.split(r"\r?\n\r?\n", payload)]
    return []


def _parse_dsn(message: Message) -> BounceReport | None:
    blocks = _status_blocks(message)
    if not blocks:
        return None
    per_message, recipients = blocks[0], [b for b in blocks[1:] if _field(b, "Final-Recipient") or _field(b, "Action")]
    if not recipients and (_field(per_message, "Final-Recipient") or _field(per_message, "Status")):
        recipients = [per_message]  # some MTAs put everything in one block
    failed = [r for r in recipients if (_field(r, "Action") or "failed").lower().split()[0] in ("failed", "delayed")]
    if not failed:
        return None  # a success notice (delivered / relayed / expanded), not a bounce
    failed.sort(key=lambda r: (_field(r, "Action") or "failed").lower() != "failed")  # failures before delays
    first = failed[0]
    diagnostic = _typed_value(_field(first, "Diagnostic-Code"))
    status = _field(first, "Status")
    status_match = _ENHANCED.search(status or "")
    status = ".".join(status_match.groups()) if status_match else None
    diag_status, smtp = _codes(diagnostic or "")
    status = status or diag_status
    action = (_field(first, "Action") or "failed").lower()
    bounce_type = _type_from_status(status, smtp) or ("soft" if action.startswith("delayed") else "hard")
    addresses: list[str] = []
    for block in failed:
        original = _typed_value(_field(block, "Original-Recipient")) or _typed_value(_field(block, "Final-Recipient"))
        address = normalise_address(original)
        if address:
            addresses.append(address)
    returned = _returned_headers(message)
    return BounceReport(
        bounce_type=bounce_type,
        status=status,
        smtp_code=smtp,
        diagnostic=diagnostic,
        recipient=addresses[0] if addresses else None,
        recipients=tuple(dict.fromkeys(addresses)),
        original_message_id=_original_id(message, returned, ""),
        reporting_mta=_typed_value(_field(per_message, "Reporting-MTA")),
        standard=True,
        original_is_warmup=_is_warmup_headers(returned),
    )


# --- non-standard NDRs -------------------------------------------------------------------------------------

_NDR_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|mail\.delivery|maildelivery)@", re.I)
_NDR_NAMES = re.compile(r"mail delivery (subsystem|system|service)|mailer-daemon|postmaster", re.IGNORECASE)
_NDR_SUBJECTS = re.compile(
    r"^(undeliverable|undelivered mail|undeliverable mail|mail delivery failed|delivery status notification|"
    r"failure notice|returned mail|delivery failure|message not delivered|delivery has failed|"
    r"mail system error|non[- ]?delivery|warning: could not send message|delayed mail|"
    r"unzustellbar|onbestelbaar|non remis|no se puede entregar|notificacion de estado de entrega)",
    re.IGNORECASE,
)
# Where the explanation ends and the returned copy begins (Exim, qmail/Yahoo, Postfix, sendmail, Exchange).
_COPY_MARKERS = re.compile(
    r"^-{2,}\s*(this is a copy of|below this line is a copy|original message|the original message|"
    r"returned message|unsent message below|original message headers)|^original message headers:|"
    r"^-{2,}\s*forwarded message|^-{3,} below this line",
    re.IGNORECASE | re.MULTILINE,
)
_ADDRESS = re.compile(r"<?([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)>?")


def _explanation(message: Message) -> tuple[str, str]:
    """(human-readable failure text, inline copy of the original if the NDR pasted it into the text).
    The first text/plain part, else the first text/html part as text (some gateways send HTML only)."""
    for wanted in ("text/plain", "text/html"):
        for part in message.walk():
            if part.get_content_type() != wanted or (part.get_content_disposition() or "") == "attachment":
                continue
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                continue
            try:
                text = payload.decode(part.get_content_charset() or "utf-8", "replace")
            except LookupError:
                text = payload.decode("utf-8", "replace")
            if wanted == "text/html":
                text = html_to_text(text)
            marker = _COPY_MARKERS.search(text)
            return (text[: marker.start()], text[marker.start() :]) if marker else (text, "")
    return "", ""


def _looks_like_ndr(message: Message) -> bool:
    sender = normalise_address(decode_words(message.get("From"))) or ""
    from_name = decode_words(message.get("From"))
    return (
        bool(_NDR_SENDERS.match(sender))
        or bool(_NDR_NAMES.search(from_name))
        or message.get("X-Failed-Recipients") is not None
        or bool(_NDR_SUBJECTS.match(decode_words(message.get("Subject")).strip()))
    )


def _parse_ndr(message: Message) -> BounceReport | None:
    if not _looks_like_ndr(message):
        return None
    text, inline = _explanation(message)
    status, smtp = _codes(text)
    bounce_type = _type_from_status(status, smtp)
    if bounce_type is None:
        if _SOFT_WORDS.search(text):
            bounce_type = "soft"
        elif _HARD_WORDS.search(text) or re.search(r"could not be delivered|wasn't delivered", text, re.I):
            bounce_type = "hard"
        else:
            return None  # sender/subject alone is not enough to call it a bounce
    own = {normalise_address(a) for _, a in getaddresses([str(message.get("To") or "")])}
    own |= {normalise_address(decode_words(message.get("From")))}
    listed = str(message.get("X-Failed-Recipients") or "").split(",")
    candidates = [a for a in (normalise_address(x) for x in listed) if a]
    if not candidates:
        for match in _ADDRESS.finditer(text):
            address = normalise_address(match.group(1))
            if address and address not in own and not _NDR_SENDERS.match(address):
                candidates.append(address)
    returned = _returned_headers(message)
    if returned is None and inline:
        returned = message_from_string(inline.split("\n", 1)[-1].lstrip(), policy=compat32)
    return BounceReport(
        bounce_type=bounce_type,
        status=status,
        smtp_code=smtp,
        diagnostic=_diagnostic_line(text, status, smtp),
        recipient=candidates[0] if candidates else None,
        recipients=tuple(dict.fromkeys(candidates)),
        original_message_id=_original_id(message, returned, inline),
        reporting_mta=None,
        standard=False,
        original_is_warmup=_is_warmup_headers(returned)
        or bool(WARMUP_TAG.search(inline))
        or WARMUP_HEADER.lower() in inline.lower(),
    )


def _diagnostic_line(text: str, status: str | None, smtp: int | None) -> str | None:
    """The line carrying the remote server's code (joined with its wrapped continuation)."""
    needle = status or (str(smtp) if smtp else None)
    if needle is None:
        return None
    lines = [line.strip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        if needle in line:
            joined = line
            if i + 1 < len(lines) and lines[i + 1] and not re.match(r"^[A-Z][\w -]*:", lines[i + 1]):
                joined += " " + lines[i + 1]
            return re.sub(r"\s+", " ", joined)[:500]
    return None


def parse_bounce(message: Message) -> BounceReport | None:
    """A bounce if the message is one (failed or delayed delivery), else None (success DSNs included)."""
    if _report_type(message) == "delivery-status" or _status_blocks(message):
        return _parse_dsn(message)
    return _parse_ndr(message)


def is_delivery_report(message: Message) -> bool:
    """Any DSN, including success notices (which `parse_bounce` does not call bounces)."""
    return _report_type(message) == "delivery-status" or bool(_status_blocks(message))


# --- ARF ---------------------------------------------------------------------------------------------------


def parse_complaint(message: Message) -> ComplaintReport | None:
    if _report_type(message) != "feedback-report":
        return None
    fields: Message | None = None
    for part in _parts(message):
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                fields = payload[0]
            elif isinstance(payload, str):
                fields = message_from_string(payload, policy=compat32)
            break
    if fields is None:
        return None
    returned = _returned_headers(message)
    recipient = normalise_address(_field(fields, "Original-Rcpt-To"))
    if recipient is None and returned is not None:
        recipient = normalise_address(decode_words(returned.get("To")))
    return ComplaintReport(
        feedback_type=(_field(fields, "Feedback-Type") or "abuse").lower(),
        user_agent=_field(fields, "User-Agent"),
        original_mail_from=normalise_address(_field(fields, "Original-Mail-From")),
        original_recipient=recipient,
        original_message_id=_original_id(message, returned, "") if returned is not None else None,
        source_ip=_field(fields, "Source-IP"),
        reported_domain=_field(fields, "Reported-Domain"),
        arrival_date=_field(fields, "Arrival-Date") or _field(fields, "Received-Date"),
        original_is_warmup=_is_warmup_headers(returned),
    )
