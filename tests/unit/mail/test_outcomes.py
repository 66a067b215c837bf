"""SMTP outcome classification: reply codes, enhanced codes and stages; errors raised by aiosmtplib."""

from __future__ import annotations

import ssl

import aiosmtplib
import pytest

from kindling.mail.outcomes import Outcome, Stage, classify_exception, classify_reply, enhanced_status

O = Outcome  # noqa: E741 - short aliases keep the tables readable
S = Stage


@pytest.mark.parametrize(
    ("stage", "code", "message", "outcome"),
    [
        # success
        (S.DATA, 250, "2.0.0 OK queued as 1234", O.SENT),
        # rate limits (RFC 5321 codes and 4.7.x), whatever the stage
        (S.CONNECT, 421, "4.7.0 Try again later, closing connection.", O.RATE_LIMITED),
        (S.MAIL, 421, "4.3.2 Service not available", O.RATE_LIMITED),
        (S.MAIL, 451, "4.7.500 Server busy. Please try again later.", O.RATE_LIMITED),
        (S.RCPT, 450, "4.2.1 The user you are trying to contact is receiving mail too quickly", O.RATE_LIMITED),
        (S.RCPT, 452, "4.5.3 Too many recipients", O.RATE_LIMITED),
        (S.DATA, 451, "4.3.0 Mail server temporarily rejected message", O.RATE_LIMITED),
        (S.AUTH, 454, "4.7.0 Too many login attempts, please try again later", O.RATE_LIMITED),
        (S.RCPT, 471, "4.7.1 Greylisted", O.RATE_LIMITED),
        # daily quotas arrive as 5xx but are rate limits
        (S.MAIL, 550, "5.4.5 Daily user sending limit exceeded.", O.RATE_LIMITED),
        (S.DATA, 554, "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException", O.RATE_LIMITED),
        # hard bounces: 5xx to RCPT only
        (S.RCPT, 550, "5.1.1 The email account that you tried to reach does not exist.", O.HARD_BOUNCE),
        (S.RCPT, 553, "5.1.3 Invalid address", O.HARD_BOUNCE),
        (S.RCPT, 554, "5.7.1 Relay access denied", O.HARD_BOUNCE),
        (S.RCPT, 552, "5.2.2 Mailbox full", O.HARD_BOUNCE),
        # rejected: 5xx to MAIL FROM or to the content (not the recipient's fault)
        (S.MAIL, 553, "5.7.1 Sender address rejected: not owned by user", O.REJECTED),
        (S.MAIL, 550, "5.7.60 SMTP; Client does not have permissions to send as this sender", O.REJECTED),
        (S.DATA, 554, "5.7.1 Message rejected as spam", O.REJECTED),
        (S.DATA, 552, "5.3.4 Message size exceeds fixed limit", O.REJECTED),
        # other 4xx: retry later
        (S.RCPT, 441, "4.4.1 No answer from host", O.SOFT_RETRY),
        (S.MAIL, 432, "4.7.12 A password transition is needed", O.RATE_LIMITED),  # 4.7.x still wins
        (S.DATA, 442, "4.4.2 Connection dropped", O.SOFT_RETRY),
        (S.AUTH, 432, "", O.SOFT_RETRY),
        # authentication
        (S.AUTH, 535, "5.7.8 Username and Password not accepted", O.AUTH_FAILED),
        (S.AUTH, 534, "5.7.9 Application-specific password required", O.AUTH_FAILED),
        (S.AUTH, 535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled", O.AUTH_FAILED),
        (S.AUTH, 504, "5.5.4 Unrecognized authentication type", O.AUTH_FAILED),
        (S.MAIL, 530, "5.7.0 Authentication required", O.AUTH_FAILED),
        (S.RCPT, 535, "5.7.3 Authentication unsuccessful", O.AUTH_FAILED),
        # a refusing greeting or EHLO
        (S.CONNECT, 554, "5.7.1 Your IP is blocklisted", O.CONNECTION_FAILED),
        (S.CONNECT, 501, "5.5.4 Invalid EHLO", O.CONNECTION_FAILED),
    ],
)
def test_classify_reply(stage: Stage, code: int, message: str, outcome: Outcome) -> None:
    assert classify_reply(stage, code, message) is outcome


@pytest.mark.parametrize(("stage", "code"), [(S.RCPT, 250), (S.MAIL, 250), (S.DATA, 354), (S.AUTH, 235)])
def test_a_success_before_the_end_is_not_a_result(stage: Stage, code: int) -> None:
    with pytest.raises(ValueError, match="not a result"):
        classify_reply(stage, code)


@pytest.mark.parametrize(
    ("message", "enhanced"),
    [
        ("4.7.1 Try later", "4.7.1"),
        ("5.1.1 <x@y> User unknown", "5.1.1"),
        ("  2.0.0 Ok", "2.0.0"),
        ("451-4.7.500 Server busy", "4.7.500"),
        ("Try later", None),
        ("4.7 missing part", None),
        ("", None),
    ],
)
def test_enhanced_status(message: str, enhanced: str | None) -> None:
    assert enhanced_status(message) == enhanced


@pytest.mark.parametrize(
    ("exc", "stage", "outcome", "code"),
    [
        (aiosmtplib.SMTPRecipientRefused(550, "5.1.1 unknown", "x@y.z"), S.RCPT, O.HARD_BOUNCE, 550),
        (
            aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(451, "4.7.1 later", "x")]),
            S.RCPT,
            O.RATE_LIMITED,
            451,
        ),
        (aiosmtplib.SMTPSenderRefused(553, "5.7.1 not yours", "me@x"), S.MAIL, O.REJECTED, 553),
        (aiosmtplib.SMTPDataError(554, "5.7.1 spam"), S.DATA, O.REJECTED, 554),
        (aiosmtplib.SMTPDataError(451, "4.3.0 try later"), S.DATA, O.RATE_LIMITED, 451),
        (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 bad credentials"), S.AUTH, O.AUTH_FAILED, 535),
        (aiosmtplib.SMTPConnectResponseError(421, "4.7.0 too many connections"), S.CONNECT, O.RATE_LIMITED, 421),
        # a refused greeting is a connect-stage reply even when raised while doing something else
        (aiosmtplib.SMTPConnectResponseError(554, "no service"), S.MAIL, O.CONNECTION_FAILED, 554),
        (aiosmtplib.SMTPHeloError(501, "bad helo"), S.CONNECT, O.CONNECTION_FAILED, 501),
        # lost connections: retryable before DATA, ambiguous from DATA on
        (aiosmtplib.SMTPServerDisconnected("Connection lost"), S.MAIL, O.CONNECTION_FAILED, None),
        (aiosmtplib.SMTPServerDisconnected("Connection lost"), S.RCPT, O.CONNECTION_FAILED, None),
        (aiosmtplib.SMTPServerDisconnected("Connection lost"), S.DATA, O.UNKNOWN, None),
        (aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"), S.DATA, O.UNKNOWN, None),
        (ConnectionResetError(104, "reset by peer"), S.DATA, O.UNKNOWN, None),
        (aiosmtplib.SMTPConnectError("Error connecting to 10.0.0.1 on port 587"), S.CONNECT, O.CONNECTION_FAILED, None),
        (aiosmtplib.SMTPConnectTimeoutError("Timed out connecting"), S.CONNECT, O.CONNECTION_FAILED, None),
        (ConnectionRefusedError(111, "refused"), S.CONNECT, O.CONNECTION_FAILED, None),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), S.CONNECT, O.CONNECTION_FAILED, None),
        (TimeoutError(), S.AUTH, O.CONNECTION_FAILED, None),
    ],
)
def test_classify_exception(exc: BaseException, stage: Stage, outcome: Outcome, code: int | None) -> None:
    classified = classify_exception(exc, stage)
    assert classified.outcome is outcome
    assert classified.code == code
    assert classified.detail


@pytest.mark.parametrize(
    ("outcome", "retryable"),
    [
        (O.SENT, False),
        (O.HARD_BOUNCE, False),
        (O.REJECTED, False),
        (O.UNKNOWN, False),  # never resent: it may have been delivered
        (O.SOFT_RETRY, True),
        (O.RATE_LIMITED, True),
        (O.CONNECTION_FAILED, True),
        (O.AUTH_FAILED, True),
    ],
)
def test_what_may_be_sent_again(outcome: Outcome, retryable: bool) -> None:
    assert outcome.retryable is retryable


def test_the_enhanced_code_and_detail_travel_with_the_outcome() -> None:
    classified = classify_exception(aiosmtplib.SMTPRecipientRefused(550, "5.1.1 no such user", "x@y.z"), S.RCPT)
    assert classified.enhanced == "5.1.1"
    assert classified.stage is S.RCPT
    assert classified.detail == "550 5.1.1 no such user"
