"""A LinkedIn message in the unified inbox: the provider's ids and the campaign links survive storage and show over
the API (`lead_id`, as conversations name a prospect); email messages, and rows stored before the fields, read
them as null."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from kindling.api.routes.inbox import message_view
from kindling.inbox.linkedin import linkedin_conversation_id
from kindling.inbox.models import InboxMessage
from kindling.inbox.repository import _message_item, _message_of

WS = "ws_unit000001"
AT = datetime(2026, 6, 17, 9, 30, tzinfo=UTC)
LINKS = ("linkedin_message_id", "linkedin_chat_id", "campaign_id", "prospect_id", "enrollment_id")


def _message(**fields: Any) -> InboxMessage:
    base: dict[str, Any] = {
        "id": "msg_1",
        "conversation_id": "conv_1",
        "direction": "outgoing",
        "kind": "sent",
        "mailbox_id": "li_1",
        "message_id": None,
        "subject": "LinkedIn conversation",
        "from_email": None,
        "text_body": "Thanks for connecting, Ada!",
        "email_date": AT,
        "recorded_at": AT,
        "seq": 1,
        "is_read": True,
    }
    return InboxMessage(**{**base, **fields})


CAMPAIGN_MESSAGE = {
    "linkedin_message_id": "m_42",
    "linkedin_chat_id": "chat_7",
    "campaign_id": "cmp_1",
    "prospect_id": "p_1",
    "enrollment_id": "enr_1",
}
CASES = [
    ("the engine's campaign message", CAMPAIGN_MESSAGE),
    ("an inbound LinkedIn reply", {"linkedin_message_id": "m_43", "linkedin_chat_id": "chat_7"}),
    ("an email message", {}),
]


@pytest.mark.parametrize(("case", "links"), CASES, ids=[c[0] for c in CASES])
def test_the_links_survive_storage_and_show_over_the_api(case: str, links: dict[str, str]) -> None:
    message = _message(**links)
    stored = _message_of(_message_item(WS, message))
    assert stored == message
    view = message_view(stored).model_dump()
    expected = {name: links.get(name) for name in LINKS}
    expected["lead_id"] = expected.pop("prospect_id")
    assert {name: view[name] for name in expected} == expected


def test_a_row_stored_before_the_links_reads_them_as_null() -> None:
    item = _message_item(WS, _message())
    body = json.loads(item.body)
    for name in LINKS:
        del body[name]
    item.body = json.dumps(body)
    stored = _message_of(item)
    assert [getattr(stored, name) for name in LINKS] == [None] * 5
    assert stored.text_body == "Thanks for connecting, Ada!"


def test_one_conversation_per_account_and_chat() -> None:
    """The engine's message and the member's reply name the same (account, chat): one conversation id."""
    assert linkedin_conversation_id("li_1", "chat_7") == linkedin_conversation_id("li_1", "chat_7")
    assert linkedin_conversation_id("li_1", "chat_7") != linkedin_conversation_id("li_1", "chat_8")
    assert linkedin_conversation_id("li_1", "chat_7") != linkedin_conversation_id("li_2", "chat_7")
    assert linkedin_conversation_id("li_1", "chat_7").startswith("conv_")
