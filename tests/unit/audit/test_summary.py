"""The audit log's argument summaries: domains, short hashes and counts; never a whole address, name, phone number,
URL or free text."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from kindling.audit.summary import summarise_arguments


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "an email becomes its domain and a hash",
        {"email": "Jane@Example.com"},
        {"email": {"domain": "example.com", "sha256": h("jane@example.com")}},
    ),
    (
        "a list of emails becomes a count and its domains",
        {"emails": ["a@x.test", "b@y.test", "c@x.test"]},
        {"emails": {"count": 3, "domains": ["x.test", "y.test"]}},
    ),
    (
        "ids pass",
        {"campaign_id": "cmp_4b9d10af3c1e", "mailbox_id": "0f8fad5b-d9cb-469f-a165-70867728950e"},
        {"campaign_id": "cmp_4b9d10af3c1e", "mailbox_id": "0f8fad5b-d9cb-469f-a165-70867728950e"},
    ),
    (
        "a list of ids is counted and kept",
        {"prospect_ids": ["prs_a1b2c3d4e5f6", "prs_b1b2c3d4e5f6"]},
        {"prospect_ids": {"count": 2, "ids": ["prs_a1b2c3d4e5f6", "prs_b1b2c3d4e5f6"]}},
    ),
    (
        "numbers, booleans and null pass",
        {"limit": 50, "unread": True, "cursor": None},
        {"limit": 50, "unread": True, "cursor": None},
    ),
    (
        "an enum field's token passes",
        {"status": "paused", "label": "interested"},
        {"status": "paused", "label": "interested"},
    ),
    (
        "a lowercase word elsewhere is text (it may be a name)",
        {"search": "jane"},
        {"search": {"chars": 4, "sha256": h("jane")}},
    ),
    (
        "a name in a nested object is text",
        {"changes": {"firstName": "Jane", "lastName": "Doe"}},
        {"changes": {"firstName": {"chars": 4, "sha256": h("Jane")}, "lastName": {"chars": 3, "sha256": h("Doe")}}},
    ),
    ("a phone number is text", {"phone": "+1 555 0100"}, {"phone": {"chars": 11, "sha256": h("+1 555 0100")}}),
    (
        "a URL becomes its host, never its path or credentials",
        {"linkedin_url": "https://u:p@www.linkedin.com/in/jane"},
        {"linkedin_url": {"url_host": "www.linkedin.com"}},
    ),
    (
        "the idempotency key becomes its hash",
        {"idempotency_key": "retry-1"},
        {"idempotency_key": {"sha256": h("retry-1")}},
    ),
    (
        "a list of objects is counted and its first summarised",
        {"prospects": [{"email": "a@x.test", "firstName": "Ann"}, {"email": "b@x.test"}]},
        {
            "prospects": {
                "count": 2,
                "first": {
                    "email": {"domain": "x.test", "sha256": h("a@x.test")},
                    "firstName": {"chars": 3, "sha256": h("Ann")},
                },
            }
        },
    ),
    ("a date passes", {"updated_since": "2026-06-10T09:00:00Z"}, {"updated_since": "2026-06-10T09:00:00Z"}),
    ("deep nesting stops at three levels", {"a": {"b": {"c": {"d": 1}}}}, {"a": {"b": {"c": {"type": "dict"}}}}),
]


@pytest.mark.parametrize(("arguments", "expected"), [(a, e) for _, a, e in CASES], ids=[n for n, _, _ in CASES])
def test_summary(arguments: dict[str, Any], expected: dict[str, Any]) -> None:
    assert summarise_arguments(arguments) == expected


def test_no_personal_value_survives_in_the_summary_text() -> None:
    arguments = {
        "prospects": [
            {
                "email": "jane.doe@acme.test",
                "firstName": "Jane",
                "lastName": "Doe",
                "phone": "+44 20 7946 0958",
                "website": "https://acme.test/team/jane",
            }
        ],
        "changes": {"company": "Acme Rockets", "linkedinUrl": "https://www.linkedin.com/in/janedoe"},
        "search": "Jane Doe",
    }
    text = json.dumps(summarise_arguments(arguments))
    for secret in ("jane.doe@acme.test", "Jane", "Doe", "7946", "/team/jane", "Acme Rockets", "janedoe"):
        assert secret not in text, secret
