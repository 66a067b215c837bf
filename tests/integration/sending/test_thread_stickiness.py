"""`sendAsReply` thread stickiness through the real send path (scheduler -> sender -> the scripted SMTP server on
127.0.0.1, moto): a follow-up goes from the mailbox that sent the thread, threaded under it; when that mailbox is
gone (sending disabled here), rotation picks another and the follow-up starts a new thread."""

from __future__ import annotations

import email
from datetime import timedelta
from email.message import Message

from kindling.mailboxes.repository import MailboxRepository
from tests.integration.sending.world import World

STEPS = [
    {"subject": "Quick question", "body_html": "<p>One</p>"},
    {"subject": "", "body_html": "<p>Bumping this</p>", "send_as_reply": True, "delay_days": 1},
    {"subject": "Last one", "body_html": "<p>Three</p>", "delay_days": 5},
]


def received(world: World, address: str) -> list[Message]:
    return [email.message_from_bytes(d.content) for d in world.delivered_to(address)]


def test_follow_ups_stay_with_the_thread_mailbox_until_it_is_gone(world: World) -> None:
    first = world.mailbox("first@lab.test")
    second = world.mailbox("second@lab.test")
    campaign = world.campaign([first, second], STEPS, minutes_between_sends=0, rotation_mode="round_robin")
    leads = world.prospects(["ann@one.test", "ben@two.test", "cy@three.test", "dee@four.test"])
    world.enroll(campaign, leads)
    world.run()
    opener = {p.email: received(world, p.email)[0] for p in leads}
    by_sender = {address: str(m["From"]) for address, m in opener.items()}
    assert {"first@lab.test" in f for f in by_sender.values()} == {True, False}  # rotation used both

    # The first mailbox stops sending before the follow-ups (it is switched off, as if gone).
    repo = MailboxRepository()
    current = repo.get(world.workspace_id, first.id)
    repo.replace(current.model_copy(update={"sending_enabled": False}), current.version)
    for _ in range(3):
        world.run(timedelta(days=1, hours=1))
    for prospect in leads:
        messages = received(world, prospect.email)
        assert len(messages) == 2, prospect.email
        opening, follow_up = messages
        if "second@lab.test" in str(opening["From"]):
            # The thread's mailbox is still usable: the follow-up comes from it, under the opener.
            assert "second@lab.test" in str(follow_up["From"])
            assert follow_up["In-Reply-To"] == opening["Message-ID"]
            assert follow_up["Subject"] == "Re: Quick question"
        else:
            # Its mailbox is gone: rotation picked the other one, which starts a new thread.
            assert "second@lab.test" in str(follow_up["From"])
            assert follow_up["In-Reply-To"] is None and follow_up["References"] is None
            assert follow_up["Subject"] == "Quick question"


def test_with_both_mailboxes_usable_every_follow_up_comes_from_its_thread_mailbox(world: World) -> None:
    first = world.mailbox("first@lab.test")
    second = world.mailbox("second@lab.test")
    # Weighted rotation draws per prospect and per day: without stickiness the follow-ups would scatter.
    campaign = world.campaign([first, second], STEPS, minutes_between_sends=0, rotation_mode="weighted")
    leads = world.prospects([f"p{i}@lead{i}.test" for i in range(8)])
    world.enroll(campaign, leads)
    world.run()
    for _ in range(3):
        world.run(timedelta(days=1, hours=1))
    for prospect in leads:
        opening, follow_up = received(world, prospect.email)
        assert follow_up["From"] == opening["From"], prospect.email
        assert follow_up["In-Reply-To"] == opening["Message-ID"]
