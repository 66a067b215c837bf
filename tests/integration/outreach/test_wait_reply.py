"""wait_reply is the condition "replied" (issue 18; decisions.md "Waits."; the reference engine's `wait_reply` /
`condition_linkedin_replied`, help center L5075: a reply "wakes any parked wait_reply"): in a campaign that does
not stop on reply, a reply moves a prospect waiting at wait_reply on at once by `linkedinOnReply` (continue, the
default, or stop); a reply that came before the wait began takes that branch without waiting the wait out; no
reply by the deadline takes `linkedinOnTimeout` (continue, the default, or stop). Replies are injected through the
provider emulator and reach the ingress by its webhook over HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.integration.outreach.conftest import Engine
from tests.support.linkedin_steps import FOLLOW_UP, INVITE, MESSAGE, WAIT, WAIT_REPLY


def sent_texts(engine: Engine, slug: str) -> list[str]:
    """The messages the account sent the prospect, in order."""
    member = engine.emulator._profile_for(slug).provider_id
    return [
        m.text
        for c in engine.emulator.chats.values()
        if c.attendee_provider_id == member
        for m in c.messages
        if m.is_sender
    ]


def at_wait_reply(engine: Engine, slug: str, wait_reply: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """Invite, acceptance, the first message sent; the prospect now waits at wait_reply (step 3), due at its
    deadline. The campaign does not stop on reply."""
    steps = [INVITE, WAIT, MESSAGE, wait_reply, FOLLOW_UP]
    cid, pid, account = engine.invited(slug, steps=steps, stopOnReply=False)
    engine.emulator.accept_invitation(engine.invitations_to(slug)[0].id)
    engine.run(minutes=6)  # the message goes out (its step's jitter is 1-5 minutes)
    item = engine.enrollment(cid, pid)
    assert (item.status, item.current_step) == ("active", 3)
    days = wait_reply.get("linkedinMaxWaitDays", 14)
    assert item.next_send_at == item.li_wait_until
    assert item.li_wait_until - engine.world.clock.now() > timedelta(days=days) - timedelta(minutes=10)
    assert len(sent_texts(engine, slug)) == 1
    return cid, pid, account


def test_a_reply_during_the_wait_moves_the_prospect_on_at_once(engine: Engine) -> None:
    cid, pid, account = at_wait_reply(engine, "hedy-lamarr", {**WAIT_REPLY, "linkedinOnReply": "continue"})
    deadline = engine.enrollment(cid, pid).li_wait_until
    engine.world.advance(3600)
    engine.emulator.inbound_message(engine.provider_account(account), "hedy-lamarr", "Sounds interesting")
    item = engine.enrollment(cid, pid)
    assert (item.status, item.current_step) == ("active", 4)  # woken by the reply, not by the deadline
    assert item.li_replied_at is not None
    assert item.next_send_at <= engine.world.clock.now() + timedelta(minutes=5)  # the follow-up's jitter
    engine.run(minutes=6)
    assert sent_texts(engine, "hedy-lamarr") == ["Thanks for connecting, Hedy!", "Following up, Hedy."]
    assert engine.world.clock.now() < deadline - timedelta(days=13)
    item = engine.enrollment(cid, pid)
    assert (item.status, item.current_step) == ("completed", 5)
    assert engine.stats(cid)[2]["replies"] == 1  # counted once, on the message the prospect answered
    assert engine.stats(cid)[4]["messages"] == 1


def test_a_reply_during_a_wait_that_stops_on_reply_ends_the_sequence(engine: Engine) -> None:
    cid, pid, account = at_wait_reply(engine, "grace-hopper", {**WAIT_REPLY, "linkedinOnReply": "stop"})
    engine.world.advance(3600)
    engine.emulator.inbound_message(engine.provider_account(account), "grace-hopper", "Not now, thanks")
    item = engine.enrollment(cid, pid)
    assert (item.status, item.stopped_reason) == ("replied", "Replied — sequence stopped at wait for reply")
    assert item.current_step == 3
    engine.run(minutes=6)
    engine.world.advance(14 * 86400)
    engine.run(minutes=2)  # past the wait's deadline: nothing left to time out
    assert sent_texts(engine, "grace-hopper") == ["Thanks for connecting, Grace!"]
    assert engine.enrollment(cid, pid).status == "replied"
    assert engine.stats(cid)[2]["replies"] == 1


@pytest.mark.parametrize(
    ("on_timeout", "status", "reason", "texts"),
    [
        ("continue", "completed", None, ["Thanks for connecting, Ada!", "Following up, Ada."]),
        ("stop", "stopped", "No reply within 3 days", ["Thanks for connecting, Ada!"]),
    ],
)
def test_no_reply_by_the_deadline_takes_the_timeout_branch(
    engine: Engine, on_timeout: str, status: str, reason: str | None, texts: list[str]
) -> None:
    wait_reply = {**WAIT_REPLY, "linkedinMaxWaitDays": 3, "linkedinOnTimeout": on_timeout}
    cid, pid, _ = at_wait_reply(engine, "ada-lovelace", wait_reply)
    deadline = engine.enrollment(cid, pid).li_wait_until
    engine.world.clock.set(deadline - timedelta(hours=1))
    engine.run(minutes=2)
    assert engine.enrollment(cid, pid).current_step == 3  # an hour before the deadline: still waiting
    engine.world.clock.set(deadline + timedelta(seconds=30))
    engine.run(minutes=7)
    item = engine.enrollment(cid, pid)
    assert (item.status, item.stopped_reason) == (status, reason)
    assert sent_texts(engine, "ada-lovelace") == texts


@pytest.mark.parametrize(
    ("on_reply", "status", "texts"),
    [
        ("continue", "completed", ["Thanks for connecting, Joan!", "Following up, Joan."]),
        ("stop", "replied", ["Thanks for connecting, Joan!"]),
    ],
)
def test_a_reply_before_the_wait_began_takes_the_replied_branch_without_waiting(
    engine: Engine, on_reply: str, status: str, texts: list[str]
) -> None:
    """The prospect answers the invitation's note while the invitation waits for acceptance: the reply is stamped
    (the campaign goes on); once the message step is done, the wait_reply step takes the replied branch at the
    next tick instead of waiting its 14 days."""
    steps = [INVITE, WAIT, MESSAGE, {**WAIT_REPLY, "linkedinOnReply": on_reply}, FOLLOW_UP]
    cid, pid, account = engine.invited("joan-clarke", steps=steps, stopOnReply=False)
    engine.emulator.inbound_message(engine.provider_account(account), "joan-clarke", "Got your note")
    item = engine.enrollment(cid, pid)
    assert item.li_replied_at is not None and (item.status, item.current_step) == ("active", 1)  # still waiting
    started = engine.world.clock.now()
    engine.emulator.accept_invitation(engine.invitations_to("joan-clarke")[0].id)
    engine.run(minutes=13)  # the message (1-5 min), the wait's replied branch (the next tick), the follow-up
    item = engine.enrollment(cid, pid)
    assert item.status == status
    assert sent_texts(engine, "joan-clarke") == texts
    assert engine.world.clock.now() - started < timedelta(minutes=15)
    if on_reply == "stop":
        assert item.stopped_reason == "Replied — sequence stopped at wait for reply"
