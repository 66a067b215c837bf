"""What a classified incoming message does: `decide`, one row per case, and the conversation label rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kindling.inbox.service import NOTHING, Actions, conversation_label, decide
from kindling.mail.classify import classify_raw

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "inbox"

REPLY = Actions(conversation=True, record_reply=True, stop="replied")
UNSUBSCRIBE = Actions(
    conversation=True,
    record_reply=True,
    stop="unsubscribed",
    suppress="unsubscribe",
    emit_unsubscribed=True,
)
HARD_BOUNCE = Actions(bounce="hard", domain_bounce=True, suppress="bounce", stop="bounced", emit_bounced=True)

CASES: list[tuple[str, dict[str, Any], Actions]] = [
    ("reply to a campaign email", {"kind": "reply", "matched": True}, REPLY),
    ("reply nobody sent a campaign email for", {"kind": "reply", "matched": False}, Actions(conversation=True)),
    ("unsubscribe by reply to a campaign email", {"kind": "reply", "matched": True, "unsubscribe": True}, UNSUBSCRIBE),
    (
        "unsubscribe by reply, no campaign send",
        {"kind": "reply", "matched": False, "unsubscribe": True},
        Actions(conversation=True, suppress="unsubscribe"),
    ),
    ("out of office to a campaign email", {"kind": "out_of_office", "matched": True}, Actions(conversation=True)),
    ("out of office, no campaign send", {"kind": "out_of_office", "matched": False}, Actions(conversation=True)),
    ("hard bounce of a campaign email", {"kind": "bounce", "matched": True, "bounce_type": "hard"}, HARD_BOUNCE),
    (
        "hard bounce of something else",
        {"kind": "bounce", "matched": False, "bounce_type": "hard"},
        Actions(bounce="hard", domain_bounce=True),
    ),
    (
        "soft bounce of a campaign email",
        {"kind": "bounce", "matched": True, "bounce_type": "soft"},
        Actions(bounce="soft"),
    ),
    (
        "soft bounce of something else",
        {"kind": "bounce", "matched": False, "bounce_type": "soft"},
        Actions(bounce="soft"),
    ),
    (
        "hard bounce of a warmup email",
        {"kind": "bounce", "matched": False, "bounce_type": "hard", "about_warmup": True},
        Actions(warmup=True, bounce="hard", domain_bounce=True),
    ),
    (
        "soft bounce of a warmup email",
        {"kind": "bounce", "matched": False, "bounce_type": "soft", "about_warmup": True},
        Actions(warmup=True, bounce="soft"),
    ),
    (
        "spam complaint about a campaign email",
        {"kind": "complaint", "matched": True},
        Actions(complaint=True, suppress="complaint", stop="unsubscribed"),
    ),
    (
        "spam complaint, no campaign send",
        {"kind": "complaint", "matched": False},
        Actions(suppress="complaint"),
    ),
    (
        "spam complaint about warmup",
        {"kind": "complaint", "matched": False, "about_warmup": True},
        Actions(warmup=True),
    ),
    ("warmup message", {"kind": "warmup", "matched": False}, Actions(warmup=True)),
    ("warmup message, whatever else", {"kind": "warmup", "matched": True, "unsubscribe": True}, Actions(warmup=True)),
    ("delivery success report", {"kind": "other", "matched": False}, NOTHING),
]


@pytest.mark.parametrize(("case", "kwargs", "expected"), CASES, ids=[c[0] for c in CASES])
def test_decide(case: str, kwargs: dict[str, Any], expected: Actions) -> None:
    assert decide(**kwargs) == expected


@pytest.mark.parametrize("matched", [True, False])
@pytest.mark.parametrize("kind", ["out_of_office", "warmup", "other", "bounce", "complaint"])
def test_only_replies_ever_count_as_replies(kind: Any, matched: bool) -> None:
    for bounce_type in ("hard", "soft"):
        actions = decide(kind, matched=matched, bounce_type=bounce_type)
        assert not actions.record_reply
        assert actions.stop != "replied"


@pytest.mark.parametrize("kind", ["reply", "out_of_office", "bounce", "complaint", "warmup", "other"])
def test_nothing_touches_a_campaign_without_a_match(kind: Any) -> None:
    for bounce_type in ("hard", "soft"):
        actions = decide(kind, matched=False, bounce_type=bounce_type, unsubscribe=True)
        assert actions.stop is None
        assert not (actions.record_reply or actions.emit_bounced or actions.emit_unsubscribed or actions.complaint)


FIXTURE_CASES = [
    ("reply_gmail_interested.eml", True, REPLY),
    ("reply_outlook_meeting.eml", True, REPLY),
    ("unsubscribe_de.eml", True, UNSUBSCRIBE),
    ("unsubscribe_es.eml", False, Actions(conversation=True, suppress="unsubscribe")),
    ("ooo_de.eml", True, Actions(conversation=True)),
    ("ooo_en_outlook.eml", True, Actions(conversation=True)),
    ("bounce_postfix_dsn.eml", True, HARD_BOUNCE),
    ("bounce_soft_delayed.eml", True, Actions(bounce="soft")),
    ("warmup_reply.eml", True, Actions(warmup=True)),
    ("dsn_success_relayed.eml", True, NOTHING),
]


@pytest.mark.parametrize(("name", "matched", "expected"), FIXTURE_CASES, ids=[c[0] for c in FIXTURE_CASES])
def test_real_messages_end_in_the_expected_row(name: str, matched: bool, expected: Actions) -> None:
    """The classifier's output feeds `decide` as the service does (real messages from the fixtures)."""
    _, found = classify_raw((FIXTURES / name).read_bytes())
    about_warmup = bool(
        (found.bounce and found.bounce.original_is_warmup) or (found.complaint and found.complaint.original_is_warmup)
    )
    actions = decide(
        found.kind,
        matched=matched,
        unsubscribe=found.unsubscribe,
        bounce_type=found.bounce.bounce_type if found.bounce else None,
        about_warmup=about_warmup,
    )
    assert actions == expected


LABEL_CASES = [
    (None, "interested", "interested"),
    ("interested", "out_of_office", "interested"),  # an auto-reply after a real reply does not hide it
    ("out_of_office", "interested", "interested"),
    (None, "out_of_office", "out_of_office"),
    ("out_of_office", "out_of_office", "out_of_office"),
    ("interested", "not_interested", "not_interested"),  # the latest real reply wins
    ("question", None, "question"),  # our own messages carry no label
]


@pytest.mark.parametrize(("current", "incoming", "expected"), LABEL_CASES)
def test_conversation_label(current: str | None, incoming: str | None, expected: str | None) -> None:
    assert conversation_label(current, incoming) == expected
