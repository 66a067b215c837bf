"""The sending engine's out-of-office rule (`continue_after_out_of_office`) through the real send path (scheduler ->
sender -> the scripted SMTP server on 127.0.0.1, moto): an enrollment a misread reply stopped goes back to where it
was and its next step goes out on the step's own schedule, not at once; a reply mark from another reply keeps it
stopped; an enrollment still in the sequence keeps its schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kindling.prospects.repository import ProspectRepository
from kindling.sending.service import continue_after_out_of_office, stop_enrollment
from tests.integration.sending.world import World

STEPS = [
    {"subject": "Quick question", "body_html": "<p>One</p>"},
    {"subject": "Following up", "body_html": "<p>Two</p>", "delay_days": 3},
]
START = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)  # the clock fixture's start


def test_a_stopped_active_enrollment_resumes_on_its_steps_schedule(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    pat, quiet = world.prospects(["pat@acme.test", "quiet@acme.test"])
    world.enroll(campaign, [pat, quiet])
    result = world.run()[1]
    assert result.sent == 2
    sent_at = world.enrollment(campaign, pat).last_sent_at
    assert sent_at is not None and world.enrollment(campaign, pat).status == "active"

    # Pat's auto-reply is read as a reply an hour later (as the inbox sync does it: mark, then stop at one instant).
    world.clock.advance(timedelta(hours=1))
    replied_at = world.clock.now()
    ProspectRepository().mark_replied(world.workspace_id, pat.email, replied_at)
    assert stop_enrollment(world.workspace_id, campaign.campaign_id, pat.id, "replied", replied_at)

    world.clock.advance(timedelta(hours=1))
    assert continue_after_out_of_office(world.workspace_id, campaign.campaign_id, pat.id, world.clock.now())
    item = world.enrollment(campaign, pat)
    assert (item.status, item.stopped_reason, item.current_step) == ("active", None, 1)
    assert item.next_send_at == sent_at + timedelta(days=3)  # step 2's delay after the last send, not now
    record = ProspectRepository().email_record(world.workspace_id, pat.email)
    assert record is not None and record.replied_at is None
    # Once: a second call finds it in the sequence and changes nothing.
    assert not continue_after_out_of_office(world.workspace_id, campaign.campaign_id, pat.id, world.clock.now())
    assert world.enrollment(campaign, pat).updated_at == item.updated_at

    assert world.run(timedelta(days=1))[1].sent == 0  # not at once
    result = world.run(timedelta(days=2, hours=1))[1]
    assert result.sent == 2 and len(world.delivered_to(pat.email)) == 2  # step 2 goes out on schedule
    assert world.enrollment(campaign, pat).status == "completed"


def test_a_reply_mark_from_another_reply_keeps_the_enrollment_stopped(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    pat, quiet = world.prospects(["pat@acme.test", "quiet@acme.test"])
    world.enroll(campaign, [pat, quiet])
    world.run()
    # Pat answered another campaign yesterday (a real reply); here a later message stopped the sequence.
    ProspectRepository().mark_replied(world.workspace_id, pat.email, START - timedelta(days=1))
    world.clock.advance(timedelta(hours=1))
    assert stop_enrollment(world.workspace_id, campaign.campaign_id, pat.id, "replied", world.clock.now())
    assert not continue_after_out_of_office(world.workspace_id, campaign.campaign_id, pat.id, world.clock.now())
    assert world.enrollment(campaign, pat).status == "replied"
    record = ProspectRepository().email_record(world.workspace_id, pat.email)
    assert record is not None and record.replied_at == START - timedelta(days=1)


def test_other_stops_and_enrollments_in_the_sequence_are_left_alone(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    pat, sam, quiet = world.prospects(["pat@acme.test", "sam@acme.test", "quiet@acme.test"])
    world.enroll(campaign, [pat, sam, quiet])
    world.run()
    due = world.enrollment(campaign, pat).next_send_at
    assert not continue_after_out_of_office(world.workspace_id, campaign.campaign_id, pat.id, world.clock.now())
    assert (world.enrollment(campaign, pat).status, world.enrollment(campaign, pat).next_send_at) == ("active", due)
    assert stop_enrollment(world.workspace_id, campaign.campaign_id, sam.id, "unsubscribed", world.clock.now())
    assert not continue_after_out_of_office(world.workspace_id, campaign.campaign_id, sam.id, world.clock.now())
    assert world.enrollment(campaign, sam).status == "unsubscribed"
