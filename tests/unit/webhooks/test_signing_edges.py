"""Webhook signing and Retry-After at their edges: the 300 s replay tolerance exactly, headers missing a part,
the shape of a new secret, and an HTTP-date without a zone. Expected values are the spec's, written out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from kindling.webhooks.retry import parse_retry_after
from kindling.webhooks.signing import new_secret, signature, signature_header, verify

SECRET = "whsec_" + "ab" * 24
BODY = b'{"event":"email.sent"}'
T = 1_781_000_000_000  # ms


def test_a_new_secret_is_the_prefix_and_48_hex_characters() -> None:
    secret = new_secret()
    assert re.fullmatch(r"whsec_[0-9a-f]{48}", secret)
    assert new_secret() != secret


@pytest.mark.parametrize(
    ("age_ms", "ok"),
    [(0, True), (299_999, True), (300_000, True), (300_001, False), (-300_000, True), (-300_001, False)],
)
def test_the_replay_tolerance_is_300_seconds_inclusive(age_ms: int, ok: bool) -> None:
    header = signature_header([SECRET], T, BODY)
    assert verify(SECRET, header, BODY, now_ms=T + age_ms) is ok


@pytest.mark.parametrize(
    "header",
    [
        f"v1={signature(SECRET, T, BODY)}",  # no timestamp
        f"t={T}",  # no signature
        f"t=abc,v1={signature(SECRET, T, BODY)}",  # a timestamp that is not a number
        f"t=-{T},v1={signature(SECRET, T, BODY)}",
        "",
    ],
)
def test_a_header_missing_a_part_does_not_verify(header: str) -> None:
    assert verify(SECRET, header, BODY) is False
    assert verify(SECRET, header, BODY, now_ms=T) is False


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError, match=r"^at least one signing secret is required$"):
        signature_header([], T, BODY)


@pytest.mark.parametrize(
    ("value", "wait"),
    [
        # RFC 5322 "-0000": a date with no zone information, read as UTC.
        ("Wed, 10 Jun 2026 09:01:00 -0000", timedelta(seconds=60)),
        ("Wed, 10 Jun 2026 09:01:00 +0000", timedelta(seconds=60)),
        ("Wed, 10 Jun 2026 11:01:00 +0200", timedelta(seconds=60)),
        ("Wed, 10 Jun 2026 08:59:00 -0000", timedelta(0)),  # in the past: retry now
    ],
)
def test_retry_after_as_an_http_date(value: str, wait: timedelta) -> None:
    assert parse_retry_after(value, datetime(2026, 6, 10, 9, 0, tzinfo=UTC)) == wait
