"""Pure enrollment rules: what enrolling one prospect does, the result buckets, request validation, chunking."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kindling.enrollments.models import EnrollRequest, EnrollResult, UnenrollRequest
from kindling.enrollments.service import Outcome, chunks, classify, count_of
from kindling.suppressions.models import SuppressionCheck

OPEN = SuppressionCheck(email="a@acme.com", blocked=False)
BLOCKED_EMAIL = SuppressionCheck(email="a@acme.com", blocked=True, reason="email")
BLOCKED_DOMAIN = SuppressionCheck(email="a@acme.com", blocked=True, reason="domain")
BLOCKED_STATUS = SuppressionCheck(email="a@acme.com", blocked=True, reason="prospect_status")


@pytest.mark.parametrize(
    ("global_status", "check", "existing", "expected"),
    [
        # first enrollment
        ("active", OPEN, None, "new"),
        ("active", BLOCKED_EMAIL, None, "new_suppressed"),
        ("active", BLOCKED_DOMAIN, None, "new_suppressed"),
        ("unsubscribed", BLOCKED_STATUS, None, "new_suppressed"),
        ("bounced", BLOCKED_STATUS, None, "new_suppressed"),
        ("suppressed", BLOCKED_STATUS, None, "new_suppressed"),
        # the email record lagging behind the prospect's own status still blocks
        ("bounced", OPEN, None, "new_suppressed"),
        ("invalid", BLOCKED_STATUS, None, "invalid"),
        # enrolled before: never twice
        ("active", OPEN, "pending", "already"),
        ("active", OPEN, "active", "already"),
        ("active", OPEN, "stopped", "already"),
        ("active", OPEN, "completed", "already"),
        ("unsubscribed", BLOCKED_STATUS, "replied", "already"),
        ("invalid", BLOCKED_STATUS, "pending", "already"),
        # recorded as suppressed before
        ("active", BLOCKED_EMAIL, "suppressed", "suppressed"),
        ("active", OPEN, "suppressed", "reactivate"),
        ("invalid", BLOCKED_STATUS, "suppressed", "invalid"),
    ],
)
def test_classify(global_status: str, check: SuppressionCheck, existing: str | None, expected: Outcome) -> None:
    assert classify(global_status, check, existing) == expected


@pytest.mark.parametrize(
    ("outcome", "bucket"),
    [
        ("new", "enrolled"),
        ("reactivate", "enrolled"),
        ("new_suppressed", "suppressed"),
        ("suppressed", "suppressed"),
        ("invalid", "invalid"),
        ("already", "already_enrolled"),
    ],
)
def test_each_outcome_is_reported_in_one_bucket(outcome: Outcome, bucket: str) -> None:
    assert count_of(outcome) == bucket


def test_total_processed_is_the_sum_of_the_buckets() -> None:
    result = EnrollResult(enrolled=12, suppressed=1, invalid=0, already_enrolled=2)
    assert result.total_processed == 15
    assert EnrollResult().total_processed == 0


def test_enroll_request_needs_at_least_one_source_and_accepts_10000_ids() -> None:
    with pytest.raises(ValidationError):
        EnrollRequest.model_validate({})
    with pytest.raises(ValidationError):
        EnrollRequest.model_validate({"prospectIds": [], "listIds": [], "emails": []})
    with pytest.raises(ValidationError):
        EnrollRequest.model_validate({"prospectIds": ["x"] * 10_001})  # 10,000 per request, a CSV import's size
    with pytest.raises(ValidationError):
        EnrollRequest.model_validate({"prospectIds": ["x"], "unknown": 1})
    with pytest.raises(ValidationError):
        EnrollRequest.model_validate({"prospectIds": [""]})
    big = EnrollRequest.model_validate({"prospectIds": [f"p{n}" for n in range(10_000)], "listIds": ["lst_1"]})
    assert len(big.prospect_ids) == 10_000 and big.list_ids == ["lst_1"] and big.emails == []


def test_unenroll_request_takes_ids_or_emails_only() -> None:
    assert UnenrollRequest.model_validate({"emails": ["a@acme.com"]}).emails == ["a@acme.com"]
    bodies: list[dict[str, list[str]]] = [{}, {"listIds": ["lst_1"]}, {"prospectIds": []}]
    for body in bodies:
        with pytest.raises(ValidationError):
            UnenrollRequest.model_validate(body)


@pytest.mark.parametrize(
    ("count", "size", "sizes"),
    [(0, 3, []), (1, 3, [1]), (3, 3, [3]), (7, 3, [3, 3, 1])],
)
def test_chunks(count: int, size: int, sizes: list[int]) -> None:
    got = list(chunks((str(n) for n in range(count)), size))
    assert [len(c) for c in got] == sizes
    assert [v for c in got for v in c] == [str(n) for n in range(count)]
