"""Signature (verified with the help center's own Python snippet) and the retry schedule."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from kindling.webhooks import signing
from kindling.webhooks.retry import MAX_ATTEMPTS, RETRY_DELAYS, next_retry_delay, parse_retry_after

# The help center's "Webhook Signature Verification" article, copied verbatim into the repository (tests read
# nothing outside it); its source is named in tests/fixtures/reference/README.md.
HELP_CENTER = Path(__file__).resolve().parents[2] / "fixtures" / "reference" / "help-center-webhook-signature.txt"

# Verbatim from the help center's "Webhook Signature Verification" article (Python Example).
REFERENCE_SNIPPET = """import hmac, hashlib

def verify(secret, signature_header, body):
parts = dict(p.split('=', 1) for p in signature_header.split(','))
payload = parts['t'] + '.' + body
expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
return hmac.compare_digest(parts['v1'], expected)"""


def reference_verify(secret: str, signature_header: str, body: str) -> bool:
    # The snippet above, indented as Python needs (the scraped page lost its indentation).
    parts = dict(p.split("=", 1) for p in signature_header.split(","))
    payload = parts["t"] + "." + body
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(parts["v1"], expected)


def test_the_snippet_is_the_reference_text() -> None:
    assert REFERENCE_SNIPPET in HELP_CENTER.read_text()


NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
BODY = b'{"type":"webhook.test","data":{"message":"h\xc3\xa9"},"timestamp":"2026-06-10T09:00:00.000Z"}'


def test_header_format_and_reference_verification() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(secret) > 30
    header = signing.signature_header([secret], 1781082000000, BODY)
    t, v1 = header.split(",")
    assert t == "t=1781082000000"
    assert v1.startswith("v1=") and len(v1) == 3 + 64 and v1[3:] == v1[3:].lower()
    assert reference_verify(secret, header, BODY.decode())
    assert not reference_verify(secret, header, BODY.decode().replace("test", "tesT"))
    assert not reference_verify("whsec_other", header, BODY.decode())
    assert signing.verify(secret, header, BODY, now_ms=1781082000000 + 299_000)
    assert not signing.verify(secret, header, BODY, now_ms=1781082000000 + 301_000)


@pytest.mark.parametrize(
    ("offset_ms", "accepted"),
    [
        (0, True),
        (299_999, True),
        (300_000, True),  # exactly 300 s old: the help center's guard rejects only `> 5 * 60 * 1000`
        (300_001, False),
        (-300_000, True),  # a clock 300 s ahead of the receiver's, the same guard (Math.abs)
        (-300_001, False),
    ],
)
def test_the_replay_tolerance_is_300_seconds_either_way(offset_ms: int, accepted: bool) -> None:
    secret = signing.new_secret()
    header = signing.signature_header([secret], 1781082000000, BODY)
    assert signing.verify(secret, header, BODY, now_ms=1781082000000 + offset_ms) is accepted


def test_rotation_header_old_secret_last_for_the_reference_snippet() -> None:
    new, old = signing.new_secret(), signing.new_secret()
    header = signing.signature_header([new, old], 1781082000000, BODY)
    assert header.count("v1=") == 2
    # A receiver still on the old secret keeps verifying with the reference snippet (last v1 wins) ...
    assert reference_verify(old, header, BODY.decode())
    # ... and one on the new secret verifies when it accepts any v1.
    assert signing.verify(new, header, BODY)
    assert signing.verify(old, header, BODY)
    assert not signing.verify(signing.new_secret(), header, BODY)


def test_schedule_is_ten_retries_after_the_first_attempt() -> None:
    assert MAX_ATTEMPTS == 11
    waits = [next_retry_delay(n, 500, None, NOW) for n in range(1, 12)]
    assert waits == [*RETRY_DELAYS, None]
    assert [int(w.total_seconds()) for w in RETRY_DELAYS] == [
        60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 48 * 3600, 72 * 3600,
    ]  # fmt: skip
    assert next_retry_delay(3, None, None, NOW) == timedelta(minutes=15)  # timeout: no status code


def test_retry_after_on_429_seconds_and_http_date_capped() -> None:
    assert next_retry_delay(1, 429, "120", NOW) == timedelta(seconds=120)
    date = format_datetime(NOW + timedelta(hours=2), usegmt=True)
    assert next_retry_delay(1, 429, date, NOW) == timedelta(hours=2)
    assert next_retry_delay(1, 429, str(10 * 86400), NOW) == timedelta(hours=72)
    far = format_datetime(NOW + timedelta(days=30), usegmt=True)
    assert parse_retry_after(far, NOW) == timedelta(hours=72)
    past = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(past, NOW) == timedelta(0)
    # Retry-After only counts on 429; garbage falls back to the schedule.
    assert next_retry_delay(1, 503, "120", NOW) == timedelta(minutes=1)
    assert next_retry_delay(2, 429, "soon", NOW) == timedelta(minutes=5)
    assert next_retry_delay(11, 429, "1", NOW) is None


@pytest.mark.parametrize("value", [None, "", "  ", "-5", "1.5", "Tue, 99 Foo 2026"])
def test_unparsable_retry_after(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None
