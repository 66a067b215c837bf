"""What happened to one message: classify an SMTP reply or a raised error at a given stage of the session.

| outcome | when | resend? |
|---|---|---|
| sent | 250 after the message content | - |
| hard_bounce | 5xx to RCPT TO (the recipient does not exist / is refused) | never; suppression is the caller's |
| rejected | 5xx to MAIL FROM or to DATA/the content (sender, policy or content refused) | never |
| soft_retry | any other 4xx | yes, later |
| rate_limited | 421, 450, 451, 452 or an enhanced 4.7.x (and the quota codes below) | yes, after backoff |
| auth_failed | 5xx to AUTH (535, 534, 530, ...) or 530 "authentication required" later | after the fix |
| connection_failed | no usable session (refused, DNS, TLS, timeout) before DATA | yes |
| unknown | the connection died or timed out once DATA had started | NEVER: it may have been delivered |
| skipped | the caller's gate refused the message just before MAIL FROM (another worker owns it) | not by us |

`rejected` is not in the sending issue's list; it exists because a 5xx to MAIL FROM or to the content is not
the recipient's fault, so it must not count as a bounce (no suppression, no stopOnBounce) and must not be
retried either.

Rate-limit codes are RFC 5321 / RFC 3463 (4.7.x = security or policy status, used by Gmail and Microsoft for
throttling: "421 4.7.0 Try again later", "451 4.7.500 Server busy", "454 4.7.0 Too many login attempts").
Daily quota refusals come as 5xx but are rate limits, not failures: Gmail "550 5.4.5 Daily user sending limit
exceeded" and Microsoft "554 5.2.0 ... SubmissionQuotaExceededException".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import aiosmtplib


class Outcome(StrEnum):
    SENT = "sent"
    HARD_BOUNCE = "hard_bounce"
    REJECTED = "rejected"
    SOFT_RETRY = "soft_retry"
    RATE_LIMITED = "rate_limited"
    AUTH_FAILED = "auth_failed"
    CONNECTION_FAILED = "connection_failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"

    @property
    def retryable(self) -> bool:
        """Was the message certainly not accepted, so that sending it again later is safe and useful?"""
        return self in _RETRYABLE


_RETRYABLE = frozenset({Outcome.SOFT_RETRY, Outcome.RATE_LIMITED, Outcome.CONNECTION_FAILED, Outcome.AUTH_FAILED})


class Stage(StrEnum):
    """Where in the session a reply or an error came. `data` covers the DATA command and the content."""

    CONNECT = "connect"  # TCP, TLS, greeting, EHLO, STARTTLS
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"


RATE_LIMIT_CODES = frozenset({421, 450, 451, 452})
AUTH_REQUIRED_CODES = frozenset({530, 535})  # later stages: the session lost (or never had) its login
_ENHANCED = re.compile(r"^\s*(?:\d{3}[\s-]+)?([245])\.(\d{1,3})\.(\d{1,3})\b")
_QUOTA_MARKERS = ("5.4.5", "submissionquotaexceeded")


def enhanced_status(message: str) -> str | None:
    """The RFC 3463 enhanced status code at the start of a reply text ("4.7.1"), if any."""
    match = _ENHANCED.match(message)
    return ".".join(match.groups()) if match else None


def _rate_limited(code: int, message: str) -> bool:
    enhanced = enhanced_status(message)
    if code in RATE_LIMIT_CODES or (400 <= code < 500 and enhanced is not None and enhanced.startswith("4.7.")):
        return True
    lowered = message.lower()
    return code >= 500 and any(marker in lowered for marker in _QUOTA_MARKERS)


def classify_reply(stage: Stage, code: int, message: str = "") -> Outcome:
    """A server's reply `code` (with its text) to the command of `stage`."""
    if code < 400:
        if stage is Stage.DATA and 200 <= code < 300:
            return Outcome.SENT
        raise ValueError(f"{code} to {stage} is not a result: only a 2xx to the content ends a message")
    if _rate_limited(code, message):
        return Outcome.RATE_LIMITED
    if stage is Stage.AUTH:
        return Outcome.AUTH_FAILED if code >= 500 else Outcome.SOFT_RETRY
    if code >= 500 and code in AUTH_REQUIRED_CODES:
        return Outcome.AUTH_FAILED
    if stage is Stage.CONNECT:
        return Outcome.CONNECTION_FAILED
    if code >= 500:
        return Outcome.HARD_BOUNCE if stage is Stage.RCPT else Outcome.REJECTED
    return Outcome.SOFT_RETRY


@dataclass(frozen=True)
class Classified:
    outcome: Outcome
    stage: Stage
    code: int | None = None
    enhanced: str | None = None
    detail: str = ""


def classify_exception(exc: BaseException, stage: Stage) -> Classified:
    """An aiosmtplib (or socket/TLS) error raised during `stage`.

    A server reply with a code is classified by `classify_reply`; a lost or silent connection is
    `connection_failed` before DATA and `unknown` from DATA on (the content may have been accepted).
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        message = exc.message or ""
        reply_stage = Stage.CONNECT if isinstance(exc, aiosmtplib.SMTPConnectResponseError) else stage
        return Classified(
            classify_reply(reply_stage, exc.code, message),
            reply_stage,
            exc.code,
            enhanced_status(message),
            f"{exc.code} {message}".strip(),
        )
    detail = f"{type(exc).__name__}: {exc}".strip()
    if stage is Stage.DATA:
        return Classified(Outcome.UNKNOWN, stage, detail=detail)
    return Classified(Outcome.CONNECTION_FAILED, stage, detail=detail)
