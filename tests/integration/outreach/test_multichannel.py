"""A multichannel campaign (an email step, then an invite, the wait for acceptance, then a message) through a real SMTP
server (aiosmtpd on 127.0.0.1) and the LinkedIn provider emulator over HTTP (issue 18, "Done when")."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from kindling.platform.settings import reset_settings
from tests.integration.outreach.conftest import Engine
from tests.integration.sending.conftest import SinkServer, sink_server
from tests.integration.sending.world import TRACKING_SECRET, World
from tests.support.linkedin_steps import INVITE, MESSAGE, WAIT

EMAIL = {"type": "email", "subject": "Hello {{firstName}}", "bodyHtml": "<p>Hi {{firstName}}</p>", "delayDays": 0}


@pytest.fixture
def smtp() -> Iterator[SinkServer]:
    os.environ["KINDLING_TRACKING_SECRET"] = TRACKING_SECRET
    reset_settings()
    try:
        with sink_server("plain", None, "") as server:
            yield server
    finally:
        os.environ.pop("KINDLING_TRACKING_SECRET", None)
        reset_settings()


def test_an_email_then_an_invite_then_after_acceptance_a_message(engine: Engine, smtp: SinkServer) -> None:
    world, emulator = engine.world, engine.emulator
    mail = World(world.tenant.workspace_id, world.clock, smtp)  # the email engine in-process, sending over SMTP
    mailbox = mail.mailbox()
    account = world.connect()
    body = {
        "name": "Email then LinkedIn",
        "channel": "multichannel",
        "mailboxIds": [mailbox.id],
        "linkedinAccountIds": [account["id"]],
        "steps": [{**s, "stepIndex": i} for i, s in enumerate([EMAIL, INVITE, WAIT, MESSAGE])],
        "scheduleDays": [1, 2, 3, 4, 5, 6, 7],
        "sendingWindows": [{"start": "00:00", "end": "24:00"}],
    }
    cid = str(world.ok("POST", "/api/v1/campaigns", 201, json=body)["id"])
    engine.start(cid)
    pid = engine.prospect("ada-king", "Ada")
    engine.enroll(cid, [pid])

    def minutes(n: int) -> None:
        for _ in range(n):
            mail.run()  # the email scheduler (it hands a LinkedIn step over) and the sender
            engine.scheduler.tick()
            engine.drain()
            world.advance(60)

    minutes(1)
    delivered = mail.delivered_to("ada-king@example.com")
    assert len(delivered) == 1 and b"Hello Ada" in delivered[0].content
    assert engine.invitations_to("ada-king") == []  # the invite waits for the email

    minutes(10)  # the invite step's jitter is a few minutes
    invitations = engine.invitations_to("ada-king")
    assert [i.message for i in invitations] == ["Hi Ada, glad to connect."]
    assert len(mail.delivered_to("ada-king@example.com")) == 1

    minutes(30)  # waiting for the acceptance: no message yet
    assert not [m for c in emulator.chats.values() for m in c.messages if m.is_sender]

    emulator.accept_invitation(invitations[0].id)
    accepted_at = world.clock.now()
    minutes(10)
    chats = [c for c in emulator.chats.values() if c.attendee_provider_id == invitations[0].provider_id]
    assert len(chats) == 1
    assert [m.text for m in chats[0].messages] == ["Thanks for connecting, Ada!"]
    assert chats[0].messages[0].timestamp >= accepted_at
    item = engine.enrollment(cid, pid)
    assert item.status == "completed"

    minutes(5)  # nothing goes out twice
    assert len(mail.delivered_to("ada-king@example.com")) == 1
    assert world.provider_calls("POST", "/users/invite") == 1
    assert world.provider_calls("POST", "/chats") == 1
