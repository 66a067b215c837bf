"""Acceptances (path A: the provider's new-relation webhook through the ingress; path B: the 6-hour relations poll
with the relation's real time) and inbound messages (webhook and 30-minute poll through one attribution
function) against the emulator over HTTP (issue 18, "Acceptance, replies, counters")."""

from __future__ import annotations

import json

from tests.integration.outreach.conftest import Engine
from tests.support.linkedin_steps import INVITE, VIEW, WAIT


def test_an_acceptance_by_webhook_is_stamped_counted_and_advanced_once(engine: Engine) -> None:
    cid, pid, _ = engine.invited("ada-byron")
    invitation = engine.invitations_to("ada-byron")[0]
    engine.world.advance(3600)
    engine.emulator.accept_invitation(invitation.id)
    item = engine.enrollment(cid, pid)
    assert item.li_accepted_at == engine.world.clock.now()
    assert item.current_step == 2
    engine.sweeps.poll_relations()  # the poll sees the same relation: nothing more
    assert engine.stats(cid)[0]["acceptances"] == 1
    assert engine.enrollment(cid, pid).current_step == 2


def test_an_acceptance_missed_by_the_webhook_is_found_by_the_poll_with_its_real_time(engine: Engine) -> None:
    cid, pid, _ = engine.invited("mary-somerville")
    engine.mute("users")  # the provider's new-relation webhook is lost
    engine.world.advance(3600)
    accepted_at = engine.world.clock.now()
    engine.emulator.accept_invitation(engine.invitations_to("mary-somerville")[0].id)
    assert engine.enrollment(cid, pid).li_accepted_at is None
    engine.world.advance(5 * 3600)
    report = engine.sweeps.poll_relations()
    assert report.acceptances == 1
    item = engine.enrollment(cid, pid)
    assert item.li_accepted_at == accepted_at  # the relation's own time, not the poll's
    assert item.current_step == 2
    assert engine.stats(cid)[0]["acceptances"] == 1
    assert engine.sweeps.poll_relations().acceptances == 0


def test_a_late_acceptance_after_the_wait_timed_out_is_stamped_but_not_counted(engine: Engine) -> None:
    cid, pid, _ = engine.invited("emmy-noether")
    engine.run(minutes=1)  # the wait starts: due at its 14-day deadline
    engine.world.advance(14 * 86400 + 60)
    engine.run(minutes=1)
    item = engine.enrollment(cid, pid)
    assert (item.status, item.stopped_reason) == ("stopped", "Invitation not accepted within 14 days")
    engine.emulator.accept_invitation(engine.invitations_to("emmy-noether")[0].id)
    item = engine.enrollment(cid, pid)
    assert item.li_accepted_at is not None and item.status == "stopped"
    assert engine.stats(cid)[0]["acceptances"] == 0


def test_a_wait_accept_with_continue_moves_a_timed_out_prospect_to_the_next_step(engine: Engine) -> None:
    """Help center L4297: after the "Wait Accept" timeout the campaign moves to the conditional branch if
    configured (`linkedinOnTimeout: continue`); the late acceptance is still stamped, never counted or advanced."""
    waiting = {**WAIT, "linkedinMaxWaitDays": 7, "linkedinOnTimeout": "continue"}
    cid, pid, _ = engine.invited("sophie-germain", steps=[INVITE, waiting, VIEW])
    engine.run(minutes=1)  # the wait starts: due at its 7-day deadline
    views = engine.world.provider_calls("GET", "/users/sophie-germain")
    engine.world.advance(7 * 86400 + 60)
    engine.run(minutes=1)
    item = engine.enrollment(cid, pid)
    assert (item.status, item.current_step, item.li_wait_timed_out) == ("active", 2, 1)  # on to the view step
    engine.world.clock.set(item.next_send_at)
    engine.run(minutes=1)
    item = engine.enrollment(cid, pid)
    assert (item.status, item.current_step, item.li_wait_timed_out) == ("completed", 3, 1)
    assert engine.world.provider_calls("GET", "/users/sophie-germain") == views + 1  # the view step ran, once
    assert engine.stats(cid)[2]["views"] == 1
    engine.emulator.accept_invitation(engine.invitations_to("sophie-germain")[0].id)
    item = engine.enrollment(cid, pid)
    assert item.li_accepted_at is not None and (item.status, item.current_step) == ("completed", 3)
    assert engine.stats(cid)[0]["acceptances"] == 0


def test_a_wait_accept_with_stop_stops_the_timed_out_prospect(engine: Engine) -> None:
    waiting = {**WAIT, "linkedinMaxWaitDays": 7, "linkedinOnTimeout": "stop"}
    cid, pid, _ = engine.invited("ada-lovelace", steps=[INVITE, waiting, VIEW])
    engine.run(minutes=1)
    views = engine.world.provider_calls("GET", "/users/ada-lovelace")
    engine.world.advance(7 * 86400 + 60)
    engine.run(minutes=2)
    item = engine.enrollment(cid, pid)
    assert (item.status, item.stopped_reason) == ("stopped", "Invitation not accepted within 7 days")
    assert engine.world.provider_calls("GET", "/users/ada-lovelace") == views


def test_a_reply_by_webhook_stops_the_sequence_once_and_the_poll_does_not_count_it_again(engine: Engine) -> None:
    hook = {"url": engine.world.receiver.url("/li"), "events": ["reply.received", "linkedin.reply_received"]}
    engine.world.ok("POST", "/api/v1/webhooks", 201, json=hook)
    cid, pid, account = engine.invited("hedy-lamarr")
    engine.emulator.accept_invitation(engine.invitations_to("hedy-lamarr")[0].id)
    engine.run(minutes=6)  # the message goes out (its step's jitter is 1-5 minutes)
    assert engine.enrollment(cid, pid).status == "completed"
    engine.emulator.inbound_message(engine.provider_account(account), "hedy-lamarr", "Happy to talk!")
    item = engine.enrollment(cid, pid)
    assert item.status == "replied" and item.li_replied_at is not None
    assert engine.sweeps.poll_inbox().replies == 0  # the poll meets the same message: already attributed
    assert engine.stats(cid)[2]["replies"] == 1
    engine.world.pump_webhooks()
    bodies = [json.loads(r.body) for r in engine.world.receiver.received("/li")]
    kinds = sorted(b["type"] for b in bodies)
    assert kinds == ["linkedin.reply_received", "reply.received"]
    reply = next(b for b in bodies if b["type"] == "reply.received")
    assert reply["data"]["channel"] == "linkedin" and reply["data"]["campaignId"] == cid


def test_an_inbound_message_missed_by_the_webhook_is_found_by_the_poll(engine: Engine) -> None:
    cid, pid, account = engine.invited("ida-rhodes", steps=[INVITE, WAIT])
    engine.mute("messaging")
    engine.world.advance(600)
    engine.emulator.inbound_message(engine.provider_account(account), "ida-rhodes", "Who is this?")
    assert engine.enrollment(cid, pid).li_replied_at is None
    assert engine.sweeps.poll_inbox().replies == 1
    item = engine.enrollment(cid, pid)
    assert item.status == "replied"
    assert engine.sweeps.poll_inbox().replies == 0


def test_a_reply_before_the_acceptance_still_stamps_the_acceptance_and_stays_replied(engine: Engine) -> None:
    cid, pid, account = engine.invited("joan-clarke")
    engine.emulator.inbound_message(engine.provider_account(account), "joan-clarke", "Got your note")
    assert engine.enrollment(cid, pid).status == "replied"
    engine.emulator.accept_invitation(engine.invitations_to("joan-clarke")[0].id)
    item = engine.enrollment(cid, pid)
    assert item.li_accepted_at is not None
    assert item.status == "replied"  # never back to the sequence
    assert engine.stats(cid)[0]["acceptances"] == 1
    engine.run(minutes=2)
    assert not [c for c in engine.emulator.chats.values() if any(m.is_sender for m in c.messages)]


def test_the_campaign_that_does_not_stop_on_reply_goes_on(engine: Engine) -> None:
    cid, pid, account = engine.invited("rosalind-franklin", stopOnReply=False)
    engine.emulator.inbound_message(engine.provider_account(account), "rosalind-franklin", "Hello")
    item = engine.enrollment(cid, pid)
    assert item.li_replied_at is not None and item.status == "active"
    assert engine.stats(cid)[0]["replies"] == 1
