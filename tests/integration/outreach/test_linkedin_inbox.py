"""LinkedIn conversations in the unified inbox, and replying from the inbox through the provider (issue 18:
"LinkedIn conversations appear in the unified inbox (`channel: linkedin`), and a reply from the inbox goes out
through the provider under the account's caps"), over HTTP against moto and the provider emulator."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pytest
from pynamodb.transactions import TransactWrite

from bench.support import count_aws_requests
from kindling.assistants import tools
from kindling.assistants.context import reset_principal, set_principal
from kindling.auth.models import Principal
from kindling.events.repository import EventItem
from kindling.inbox.linkedin import LinkedInInbox
from kindling.inbox.models import Conversation, InboxMessage
from kindling.inbox.repository import InboxRepository
from kindling.linkedin.provider import SentMessage
from kindling.linkedin.repository import LinkedInAccountRepository
from kindling.linkedin.service import default_provider
from kindling.outreach.engine import ActionWorker, handle_batch, message_of
from kindling.outreach.outbound import SentLinkedInMessage
from kindling.platform.keys import workspace_key
from tests.integration.outreach.conftest import Engine
from tests.integration.webhooks.conftest import load_function
from tests.support.linkedin_steps import INVITE, MESSAGE, WAIT

INBOX = "/api/v1/inbox/conversations"


def _conversations(engine: Engine, **params: str) -> list[dict[str, Any]]:
    return list(engine.world.ok("GET", INBOX, params=params))


def _messages_used(engine: Engine, account: dict[str, Any]) -> int:
    got = engine.world.ok("GET", f"/api/v1/linkedin/accounts/{account['id']}")
    return int(got["limits"]["messages_day"]["used"])


def _messages_tallied(engine: Engine, account: dict[str, Any]) -> int:
    got = engine.world.ok("GET", f"/api/v1/linkedin/accounts/{account['id']}")
    return int(got["activity"]["today"]["messages"])


def _sent_into(engine: Engine, chat_id: str) -> list[str]:
    return [m.text for m in engine.emulator.chats[chat_id].messages if m.is_sender]


def _replied(engine: Engine, slug: str) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """A prospect invited (no message step) who wrote to the account: (campaign, prospect, account, conversation)."""
    cid, pid, account = engine.invited(slug, steps=[INVITE, WAIT])
    engine.emulator.inbound_message(engine.provider_account(account), slug, "Happy to talk!")
    (conversation,) = _conversations(engine, channel="linkedin")
    engine.world.advance(60)  # the invitation took one of the account's two actions this minute
    return cid, pid, account, conversation


def _email_conversation(engine: Engine) -> str:
    """An email conversation, stored as the mailbox sync stores one."""
    now = engine.world.clock.now()
    base = Conversation(
        id="conv_email_1",
        workspace_id=engine.world.tenant.workspace_id,
        mailbox_id="mbx_1",
        contact_email="grace@example.com",
        subject="Hello",
        last_message_at=now,
        created_at=now,
        updated_at=now,
    )
    message = InboxMessage(
        id="msg_email_1",
        conversation_id=base.id,
        direction="incoming",
        kind="reply",
        mailbox_id="mbx_1",
        message_id="<hello@example.com>",
        subject="Hello",
        from_email="grace@example.com",
        text_body="Hi",
        email_date=now,
        recorded_at=now,
        seq=1,
        is_read=False,
    )
    assert InboxRepository().add_message(base, message, expected_version=None)
    return base.id


def test_a_linkedin_reply_by_webhook_is_a_linkedin_conversation_once(engine: Engine) -> None:
    email_id = _email_conversation(engine)
    cid, pid, account = engine.invited("hedy-lamarr", steps=[INVITE, WAIT])
    engine.emulator.inbound_message(engine.provider_account(account), "hedy-lamarr", "Happy to talk!")
    assert engine.sweeps.poll_inbox().replies == 0  # the poll meets the same message: no second copy

    (listed,) = _conversations(engine, channel="linkedin")
    assert listed["channel"] == "linkedin"
    assert listed["mailbox_id"] == account["id"]
    assert (listed["campaign_id"], listed["lead_id"]) == (cid, pid)
    assert listed["contact_email"] == "hedy-lamarr@example.com"
    assert (listed["snippet"], listed["message_count"], listed["unread_count"]) == ("Happy to talk!", 1, 1)
    assert [c["id"] for c in _conversations(engine, channel="email")] == [email_id]
    assert {c["channel"] for c in _conversations(engine)} == {"email", "linkedin"}

    engine.world.advance(120)
    engine.emulator.inbound_message(engine.provider_account(account), "hedy-lamarr", "Tuesday?")
    detail = engine.world.ok("GET", f"{INBOX}/{listed['id']}")
    assert [(m["direction"], m["text_body"]) for m in detail["messages"]] == [
        ("incoming", "Happy to talk!"),
        ("incoming", "Tuesday?"),
    ]
    assert (detail["snippet"], detail["unread_count"]) == ("Tuesday?", 2)
    assert len(_conversations(engine, channel="linkedin")) == 1


def test_the_assistant_tool_lists_linkedin_conversations_by_channel(engine: Engine) -> None:
    email_id = _email_conversation(engine)
    _, pid, account = engine.invited("dorothy-vaughan", steps=[INVITE, WAIT])
    engine.emulator.inbound_message(engine.provider_account(account), "dorothy-vaughan", "Sounds good")
    principal = Principal(
        workspace_id=engine.world.tenant.workspace_id, key_id="key_1", key_name="assistant", scopes=["inbox:read"]
    )
    token = set_principal(principal)
    try:
        linkedin = tools.list_conversations(channel="linkedin")["items"]
        email = tools.list_conversations(channel="email")["items"]
    finally:
        reset_principal(token)
    assert [(c["channel"], c["prospect_id"], c["mailbox_id"]) for c in linkedin] == [("linkedin", pid, account["id"])]
    assert [(c["channel"], c["id"]) for c in email] == [("email", email_id)]


def test_a_linkedin_message_missed_by_the_webhook_reaches_the_inbox_through_the_poll(engine: Engine) -> None:
    _, pid, account = engine.invited("ida-rhodes", steps=[INVITE, WAIT])
    engine.mute("messaging")
    engine.emulator.inbound_message(engine.provider_account(account), "ida-rhodes", "Who is this?")
    assert _conversations(engine, channel="linkedin") == []
    assert engine.sweeps.poll_inbox().replies == 1
    (listed,) = _conversations(engine, channel="linkedin")
    assert (listed["lead_id"], listed["snippet"]) == (pid, "Who is this?")
    assert engine.sweeps.poll_inbox().replies == 0
    assert engine.world.ok("GET", f"{INBOX}/{listed['id']}")["message_count"] == 1


def test_the_engine_functions_poll_files_the_missed_message_in_the_inbox(engine: Engine) -> None:
    _, pid, account = engine.invited("mary-jackson", steps=[INVITE, WAIT])
    engine.mute("messaging")
    engine.emulator.inbound_message(engine.provider_account(account), "mary-jackson", "Call me")
    report = load_function("linkedin_engine").handler({"task": "poll_inbox"}, None)  # as the schedule runs it
    assert report["replies"] == 1
    (listed,) = _conversations(engine, channel="linkedin")
    assert (listed["lead_id"], listed["snippet"]) == (pid, "Call me")


def test_a_reply_from_the_inbox_goes_into_the_chat_and_counts_on_messages_day(engine: Engine) -> None:
    _, _, account, conversation = _replied(engine, "ada-byron")
    chat_id = next(iter(engine.emulator.chats))
    used, tallied = _messages_used(engine, account), _messages_tallied(engine, account)
    empty = engine.world.call("POST", f"{INBOX}/{conversation['id']}/reply", json={"content": "<p><br></p>"})
    assert empty.status_code == 400, empty.text
    assert empty.json()["error"]["code"] == "validation_error"
    assert (_messages_used(engine, account), _messages_tallied(engine, account)) == (used, tallied)

    sent = engine.world.ok(
        "POST", f"{INBOX}/{conversation['id']}/reply", 201, json={"content": "<p>Tuesday works.</p>"}
    )
    assert (sent["direction"], sent["kind"], sent["text_body"]) == ("outgoing", "sent", "Tuesday works.")
    assert sent["mailbox_id"] == account["id"]
    assert _sent_into(engine, chat_id) == ["Tuesday works."]
    assert _messages_used(engine, account) == used + 1
    assert _messages_tallied(engine, account) == tallied + 1  # the account's tile counts the reply too
    detail = engine.world.ok("GET", f"{INBOX}/{conversation['id']}")
    assert [m["direction"] for m in detail["messages"]] == ["incoming", "outgoing"]
    assert detail["snippet"] == "Tuesday works."
    # the provider's echo of our own message (sent by the account) is not an inbound reply
    assert engine.sweeps.poll_inbox().replies == 0
    assert engine.world.ok("GET", f"{INBOX}/{conversation['id']}")["message_count"] == 2


def test_at_the_messages_day_cap_the_reply_is_429_and_nothing_is_sent(engine: Engine) -> None:
    _, _, account, conversation = _replied(engine, "grace-hopper")
    chat_id = next(iter(engine.emulator.chats))
    engine.world.ok(
        "PATCH",
        f"/api/v1/linkedin/accounts/{account['id']}",
        json={"overrides": {"messages_day": 1}, "risk_acknowledged": True},
    )
    path = f"{INBOX}/{conversation['id']}/reply"
    engine.world.ok("POST", path, 201, json={"content": "First"})
    engine.world.advance(60)
    refused = engine.world.call("POST", path, json={"content": "Second"})
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "linkedin_limit_reached"
    (detail,) = error["details"]
    assert (detail["field"], detail["limit"], detail["used"], detail["remaining"]) == ("messages_day", 1, 1, 0)
    assert int(refused.headers["Retry-After"]) > 0
    assert _sent_into(engine, chat_id) == ["First"]
    assert engine.world.ok("GET", f"{INBOX}/{conversation['id']}")["message_count"] == 2


def test_the_reply_respects_the_two_per_minute_pace(engine: Engine) -> None:
    _, _, _, conversation = _replied(engine, "margaret-hamilton")
    chat_id = next(iter(engine.emulator.chats))
    path = f"{INBOX}/{conversation['id']}/reply"
    engine.world.ok("POST", path, 201, json={"content": "One"})
    engine.world.ok("POST", path, 201, json={"content": "Two"})
    third = engine.world.call("POST", path, json={"content": "Three"})
    assert third.status_code == 429, third.text
    assert third.json()["error"]["code"] == "linkedin_pace_limited"
    assert _sent_into(engine, chat_id) == ["One", "Two"]
    engine.world.advance(60)
    engine.world.ok("POST", path, 201, json={"content": "Three"})
    assert _sent_into(engine, chat_id) == ["One", "Two", "Three"]


def test_a_provider_refusal_gives_the_reservation_back(engine: Engine) -> None:
    _, _, account, conversation = _replied(engine, "katherine-johnson")
    chat_id = next(iter(engine.emulator.chats))
    used = _messages_used(engine, account)
    engine.emulator.server_error(1)  # a message is never retried once sent: one refusal is the whole call
    failed = engine.world.call("POST", f"{INBOX}/{conversation['id']}/reply", json={"content": "Hello?"})
    assert failed.status_code == 502, failed.text
    assert failed.json()["error"]["code"] == "provider_error"
    assert _messages_used(engine, account) == used
    assert _sent_into(engine, chat_id) == []
    assert engine.world.ok("GET", f"{INBOX}/{conversation['id']}")["message_count"] == 1


def test_a_disconnected_account_cannot_reply_and_counts_nothing(engine: Engine) -> None:
    _, _, account, conversation = _replied(engine, "annie-easley")
    chat_id = next(iter(engine.emulator.chats))
    used = _messages_used(engine, account)
    engine.emulator.set_account_status(engine.provider_account(account), "CREDENTIALS")  # the status webhook
    refused = engine.world.call("POST", f"{INBOX}/{conversation['id']}/reply", json={"content": "Hello?"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "mailbox_unavailable"
    assert _messages_used(engine, account) == used
    assert _sent_into(engine, chat_id) == []


def test_an_account_the_provider_finds_disconnected_at_reply_time_is_flipped_and_counts_nothing(
    engine: Engine,
) -> None:
    _, _, account, conversation = _replied(engine, "evelyn-boyd")
    chat_id = next(iter(engine.emulator.chats))
    used = _messages_used(engine, account)
    engine.mute("account_status")  # the provider's status webhook is lost: the reply finds out
    engine.emulator.set_account_status(engine.provider_account(account), "CREDENTIALS")
    refused = engine.world.call("POST", f"{INBOX}/{conversation['id']}/reply", json={"content": "Hello?"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "mailbox_unavailable"
    assert engine.world.ok("GET", f"/api/v1/linkedin/accounts/{account['id']}")["status"] == "disconnected"
    assert _messages_used(engine, account) == used
    assert _sent_into(engine, chat_id) == []


# --- the campaign's own messages -----------------------------------------------------------------------------------


def _accepted(engine: Engine, slug: str, **settings: Any) -> tuple[str, str, dict[str, Any]]:
    """A prospect invited (invite, wait for acceptance, message) who accepted, a day later: the message is due."""
    cid, pid, account = engine.invited(slug, **settings)
    (invitation,) = engine.invitations_to(slug)
    engine.emulator.accept_invitation(invitation.id)  # the new-relation webhook moves the prospect to the message
    engine.world.advance(60 * 60 * 25)
    return cid, pid, account


def _claimed_message(engine: Engine) -> list[dict[str, str]]:
    engine.tick()
    records = engine.receive()
    assert len(records) == 1
    return records


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_the_campaigns_message_and_the_prospects_reply_are_one_conversation_in_that_order(engine: Engine) -> None:
    cid, pid, account = _accepted(engine, "rosalind-franklin")
    engine.run(minutes=2)
    (chat,) = engine.emulator.chats.values()
    (sent,) = chat.messages
    assert (sent.text, sent.is_sender) == ("Thanks for connecting, Rosalind!", True)

    (listed,) = _conversations(engine, channel="linkedin")
    assert (listed["channel"], listed["mailbox_id"]) == ("linkedin", account["id"])
    assert (listed["campaign_id"], listed["lead_id"]) == (cid, pid)
    assert (listed["contact_email"], listed["contact_name"]) == ("rosalind-franklin@example.com", "Rosalind")
    assert (listed["message_count"], listed["unread_count"]) == (1, 0)
    assert listed["snippet"] == "Thanks for connecting, Rosalind!"

    engine.world.advance(300)
    engine.emulator.inbound_message(engine.provider_account(account), "rosalind-franklin", "Glad you wrote")
    assert engine.sweeps.poll_inbox().replies == 0  # the webhook filed it; the poll adds nothing
    (again,) = _conversations(engine, channel="linkedin")
    assert again["id"] == listed["id"]  # the reply's chat is the chat the engine wrote in: the same conversation
    detail = engine.world.ok("GET", f"{INBOX}/{listed['id']}")
    assert [(m["direction"], m["kind"], m["text_body"]) for m in detail["messages"]] == [
        ("outgoing", "sent", "Thanks for connecting, Rosalind!"),
        ("incoming", "reply", "Glad you wrote"),
    ]
    ours, theirs = detail["messages"]
    enrollment = engine.enrollment(cid, pid)
    assert ours["mailbox_id"] == account["id"]
    assert (ours["linkedin_chat_id"], ours["linkedin_message_id"]) == (chat.id, sent.id)
    assert (ours["campaign_id"], ours["lead_id"], ours["enrollment_id"]) == (cid, pid, enrollment.enrollment_id)
    assert _when(ours["recorded_at"]) == sent.timestamp
    assert ours["is_read"] is True
    assert (theirs["linkedin_chat_id"], theirs["linkedin_message_id"]) == (chat.id, chat.messages[1].id)
    assert _when(theirs["recorded_at"]) > _when(ours["recorded_at"])
    assert (detail["message_count"], detail["unread_count"], detail["snippet"]) == (2, 1, "Glad you wrote")


def test_the_campaigns_message_joins_the_conversation_the_prospect_opened_first(engine: Engine) -> None:
    """The prospect wrote on accepting, before the campaign's message step (a campaign that goes on after a reply):
    the message goes into that chat at the provider and into that conversation in the inbox (created by the reply;
    the message finds it there)."""
    cid, pid, account = _accepted(engine, "mae-jemison", stopOnReply=False)
    engine.emulator.inbound_message(engine.provider_account(account), "mae-jemison", "Thanks for the invite!")
    (opened,) = _conversations(engine, channel="linkedin")
    engine.run(minutes=2)
    (chat,) = engine.emulator.chats.values()
    assert [(m.text, m.is_sender) for m in chat.messages] == [
        ("Thanks for the invite!", False),
        ("Thanks for connecting, Mae!", True),
    ]
    (listed,) = _conversations(engine, channel="linkedin")
    assert listed["id"] == opened["id"]
    detail = engine.world.ok("GET", f"{INBOX}/{listed['id']}")
    assert [(m["direction"], m["text_body"], m["linkedin_message_id"]) for m in detail["messages"]] == [
        ("incoming", "Thanks for the invite!", chat.messages[0].id),
        ("outgoing", "Thanks for connecting, Mae!", chat.messages[1].id),
    ]
    assert detail["messages"][1]["lead_id"] == pid and detail["messages"][1]["campaign_id"] == cid
    assert (detail["message_count"], detail["unread_count"]) == (2, 1)
    assert detail["snippet"] == "Thanks for connecting, Mae!"


def test_the_worker_function_files_the_message_it_sends(engine: Engine) -> None:
    """The deployed worker (functions/linkedin_worker, which the local stack runs too) has the inbox wired in."""
    cid, pid, _ = _accepted(engine, "katherine-goble")
    records = _claimed_message(engine)
    result = load_function("linkedin_worker").handler({"Records": records}, None)  # as SQS invokes it
    assert result == {"batchItemFailures": []}
    (chat,) = engine.emulator.chats.values()
    (listed,) = _conversations(engine, channel="linkedin")
    assert (listed["lead_id"], listed["snippet"]) == (pid, "Thanks for connecting, Katherine!")
    detail = engine.world.ok("GET", f"{INBOX}/{listed['id']}")
    assert [(m["linkedin_message_id"], m["campaign_id"]) for m in detail["messages"]] == [(chat.messages[0].id, cid)]


def test_a_message_step_skipped_for_a_member_not_connected_files_nothing(engine: Engine) -> None:
    account = engine.world.connect()
    cid = engine.campaign([MESSAGE], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("hypatia-alexandria", "Hypatia")
    engine.enroll(cid, [pid])
    engine.run(minutes=1)
    assert engine.enrollment(cid, pid).status == "completed"
    assert engine.emulator.chats == {}
    assert _conversations(engine, channel="linkedin") == []


def test_a_duplicate_delivery_of_the_message_files_it_once(engine: Engine) -> None:
    _accepted(engine, "lise-meitner")
    records = _claimed_message(engine)
    assert handle_batch(engine.worker, records + records)["batchItemFailures"] == []
    assert handle_batch(engine.worker, records)["batchItemFailures"] == []
    (chat,) = engine.emulator.chats.values()
    assert [m.text for m in chat.messages] == ["Thanks for connecting, Lise!"]
    (listed,) = _conversations(engine, channel="linkedin")
    detail = engine.world.ok("GET", f"{INBOX}/{listed['id']}")
    assert [(m["text_body"], m["linkedin_message_id"]) for m in detail["messages"]] == [
        ("Thanks for connecting, Lise!", chat.messages[0].id)
    ]
    assert detail["message_count"] == 1


class _Crash(BaseException):
    """The process dies (not an exception the worker handles)."""


class _CrashAfterMessage:
    """The real provider client; the process dies right after the message reached the provider."""

    def __init__(self) -> None:
        self._inner = default_provider()

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def start_chat(
        self, account_id: str, attendee_provider_id: str, text: str, *, inmail: bool = False, subject: str | None = None
    ) -> SentMessage:
        sent = self._inner.start_chat(account_id, attendee_provider_id, text, inmail=inmail, subject=subject)
        raise _Crash(sent)


def test_a_message_resumed_after_a_crash_is_filed_once_with_the_providers_ids(engine: Engine) -> None:
    cid, pid, _ = _accepted(engine, "barbara-mcclintock")
    records = _claimed_message(engine)
    crashing = ActionWorker(
        _CrashAfterMessage(),  # type: ignore[arg-type]
        repository=engine.repo,
        outbound=LinkedInInbox(),
    )
    with pytest.raises(_Crash):
        handle_batch(crashing, records)
    (chat,) = engine.emulator.chats.values()
    assert len(chat.messages) == 1
    assert _conversations(engine, channel="linkedin") == []  # the final write (and the copy after it) never ran

    # SQS delivers the message again at once: the action is in flight (the dead worker's `sending` mark is recent),
    # so nothing is done; the 10-minute lease brings it back, and the worker finds the message at the provider,
    # records it and files it
    assert engine.worker.handle(message_of(records[0]["body"])).outcome == "in_flight"
    engine.world.advance(60 * 11)
    engine.run(minutes=1)
    assert handle_batch(engine.worker, records)["batchItemFailures"] == []  # a stale duplicate: nothing more
    assert engine.world.provider_calls("POST", "/chats") == 1
    assert [m.text for m in chat.messages] == ["Thanks for connecting, Barbara!"]
    (listed,) = _conversations(engine, channel="linkedin")
    detail = engine.world.ok("GET", f"{INBOX}/{listed['id']}")
    assert [(m["direction"], m["linkedin_chat_id"], m["linkedin_message_id"]) for m in detail["messages"]] == [
        ("outgoing", chat.id, chat.messages[0].id)
    ]
    assert (detail["campaign_id"], detail["lead_id"]) == (cid, pid)
    assert engine.enrollment(cid, pid).status == "completed"


class _BrokenInbox(LinkedInInbox):
    """The inbox's table refuses the write."""

    def linkedin_outbound(
        self, sent: SentLinkedInMessage, also: Sequence[Callable[[TransactWrite], None]] = ()
    ) -> None:
        raise RuntimeError("the inbox table refused the write")


def test_a_failing_inbox_write_is_logged_and_never_undoes_the_message(
    engine: Engine, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    cid, pid, account = _accepted(engine, "dorothy-hodgkin")
    (record,) = _claimed_message(engine)
    worker = ActionWorker(default_provider(), repository=engine.repo, outbound=_BrokenInbox())
    assert worker.handle(message_of(record["body"])).outcome == "done"
    captured = capsys.readouterr()
    assert "linkedin message not copied to the inbox" in caplog.text + captured.out + captured.err

    (chat,) = engine.emulator.chats.values()
    assert [m.text for m in chat.messages] == ["Thanks for connecting, Dorothy!"]
    assert engine.enrollment(cid, pid).status == "completed"
    assert engine.stats(cid)[2]["messages"] == 1
    assert _conversations(engine, channel="linkedin") == []
    (event,) = _message_events(engine)
    assert event.due_pk is None  # published, and marked on its own since the inbox write it rides failed
    # the prospect's answer still opens its conversation
    engine.emulator.inbound_message(engine.provider_account(account), "dorothy-hodgkin", "Thank you")
    (listed,) = _conversations(engine, channel="linkedin")
    assert (listed["snippet"], listed["message_count"]) == ("Thank you", 1)


def _message_events(engine: Engine) -> list[EventItem]:
    items = EventItem.gsi1.query(workspace_key(engine.world.tenant.workspace_id, "EVENT"))
    return [i for i in items if isinstance(i, EventItem) and i.event_type == "linkedin.message_sent"]


def test_the_message_events_publish_mark_rides_the_inbox_copys_write(engine: Engine) -> None:
    """A message costs the worker three writes: the `sending` mark, the success (with the event row and the
    account's tallies) and the inbox copy, which also takes the event out of the unpublished index once it is on
    the webhook queue (help center L5143: the event row is written with the success)."""
    cid, pid, _ = _accepted(engine, "rosalind-franklin")
    (record,) = _claimed_message(engine)
    worker = ActionWorker(default_provider(), repository=engine.repo, outbound=LinkedInInbox())
    with count_aws_requests() as counts:
        assert worker.handle(message_of(record["body"])).outcome == "done"
    dynamodb = {k.split(".", 1)[1]: n for k, n in counts.items() if k.startswith("dynamodb.")}
    # a cold worker's reads of the campaign (GetItem + Query) and the account (GetItem), then three writes
    assert dynamodb == {"GetItem": 2, "Query": 1, "TransactWriteItems": 3}
    assert counts["sqs.SendMessage"] == 1  # the event, on the webhook queue
    (event,) = _message_events(engine)
    assert event.due_pk is None and event.due_sk is None
    (listed,) = _conversations(engine, channel="linkedin")
    assert listed["snippet"] == "Thanks for connecting, Rosalind!"
    assert engine.enrollment(cid, pid).status == "completed"


def test_filing_a_message_costs_one_write_when_it_opens_the_conversation_and_files_it_once(engine: Engine) -> None:
    account = engine.world.connect()
    row = LinkedInAccountRepository().get(engine.world.tenant.workspace_id, account["id"])
    inbox = LinkedInInbox()

    def file(message_id: str, opens_chat: bool = True) -> dict[str, int]:
        sent = SentLinkedInMessage(
            account=row,
            chat_id="chat_1",
            provider_message_id=message_id,
            member_id="ACoAAMember1",
            text=f"Message {message_id}",
            subject=None,
            sent_at=engine.world.clock.now(),
            action_id=f"act_{message_id}",
            campaign_id="cmp_1",
            prospect_id="p_1",
            enrollment_id="enr_1",
            contact_email="member@example.com",
            contact_name="Member",
            opens_chat=opens_chat,
        )
        with count_aws_requests() as counts:
            inbox.linkedin_outbound(sent)
        return {k.split(".", 1)[1]: n for k, n in counts.items() if k.startswith("dynamodb.")}

    assert file("m_1") == {"TransactWriteItems": 1}  # opens the conversation: no read first
    engine.world.advance(60)
    assert file("m_2") == {"TransactWriteItems": 2, "GetItem": 1}  # it exists: the create fails, read, write
    assert file("m_2") == {"TransactWriteItems": 1}  # filed before: nothing written
    engine.world.advance(60)
    assert file("m_3", opens_chat=False) == {"GetItem": 1, "TransactWriteItems": 1}  # a later message: read, write
    (listed,) = _conversations(engine, channel="linkedin")
    detail = engine.world.ok("GET", f"{INBOX}/{listed['id']}")
    assert [(m["text_body"], m["linkedin_message_id"]) for m in detail["messages"]] == [
        ("Message m_1", "m_1"),
        ("Message m_2", "m_2"),
        ("Message m_3", "m_3"),
    ]
    assert (detail["message_count"], detail["snippet"], detail["contact_name"]) == (3, "Message m_3", "Member")


def test_a_message_whose_answer_was_lost_is_not_sent_again_on_the_retry(engine: Engine) -> None:
    """The provider took the message but its answer never came (504): the step is retried later, and the retry finds
    the message in the chat instead of sending it a second time (no duplicate sends)."""
    cid, pid, _ = _accepted(engine, "grace-hopper")
    engine.emulator.fail_next_message(504, posted=True)
    engine.run(minutes=1)
    item = engine.enrollment(cid, pid)
    assert item.current_step == 2  # not advanced: retried later
    (chat,) = engine.emulator.chats.values()
    assert [m.text for m in chat.messages] == ["Thanks for connecting, Grace!"]
    engine.world.clock.set(item.next_send_at)
    engine.run(minutes=1)
    assert [m.text for m in chat.messages] == ["Thanks for connecting, Grace!"]
    assert engine.world.provider_calls("POST", "/chats") == 1
    done = engine.enrollment(cid, pid)
    assert done.current_step == 3
    assert done.status == "completed"
    (listed,) = _conversations(engine, channel="linkedin")
    detail = engine.world.ok("GET", f"{INBOX}/{listed['id']}")
    assert [m["text_body"] for m in detail["messages"]] == ["Thanks for connecting, Grace!"]


def test_a_message_that_went_out_while_a_reply_stopped_the_sequence_is_still_on_record(engine: Engine) -> None:
    """The prospect's reply lands (and stops the sequence) while the campaign's message to them is in flight: the
    success write loses its race with the reply, but the message did go out, so the ledger, the step's and the
    account's counters, the event and the inbox copy all still say so; the enrollment stays `replied`."""
    cid, pid, account = _accepted(engine, "barbara-mcclintock")
    (record,) = _claimed_message(engine)
    provider_account = engine.provider_account(account)

    class _ReplyMeanwhile:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def start_chat(self, *args: Any, **kwargs: Any) -> Any:
            answer = self._inner.start_chat(*args, **kwargs)
            engine.emulator.inbound_message(provider_account, "barbara-mcclintock", "Already on it!")
            return answer

    worker = ActionWorker(_ReplyMeanwhile(default_provider()), repository=engine.repo, outbound=LinkedInInbox())
    message = message_of(record["body"])
    assert worker.handle(message).outcome == "done_after_move"
    item = engine.enrollment(cid, pid)
    assert item.status == "replied" and item.current_step == 2  # the reply's write stands
    assert item.li_chat_id is not None
    assert engine.repo.action(engine.world.tenant.workspace_id, message.action_id).status == "done"
    assert engine.stats(cid)[2]["messages"] == 1
    assert _messages_tallied(engine, account) == 1
    (event,) = _message_events(engine)
    assert event.due_pk is None
    (listed,) = _conversations(engine, channel="linkedin")
    detail = engine.world.ok("GET", f"{INBOX}/{listed['id']}")
    assert sorted(m["direction"] for m in detail["messages"]) == ["incoming", "outgoing"]
    # a second delivery of the same action finds it done: nothing goes out again
    assert worker.handle(message).outcome == "duplicate"
    (chat,) = engine.emulator.chats.values()
    assert [m.text for m in chat.messages if m.is_sender] == ["Thanks for connecting, Barbara!"]
