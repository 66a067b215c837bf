"""Mailbox deletion (help center §10) through the sending engine's listener: in-flight prospects keep their history
and step, lose the deleted mailbox, and their next send moves out by 1 hour; a campaign left with no usable mailbox
pauses with `mailbox_disconnected`; the other pool mailbox sends the next step."""

from __future__ import annotations

import importlib
from datetime import timedelta

from kindling.campaigns.repository import CampaignRepository
from kindling.mailboxes import service as mailbox_service
from kindling.mailboxes.service import MailboxService
from tests.integration.sending.world import World

STEPS = [
    {"subject": "Hi", "body_html": "<p>One</p>"},
    {"subject": "Two", "delay_days": 1},
    {"subject": "Three", "delay_days": 1},
]


def test_the_api_registers_the_listener() -> None:
    importlib.import_module("kindling.api.routes.mailboxes")
    names = {getattr(listener, "__module__", "") for listener in mailbox_service._deleted_listeners}
    assert "kindling.sending.mailbox_release" in names


def test_deleting_a_mailbox_releases_its_prospects_an_hour_later(world: World) -> None:
    importlib.import_module("kindling.sending.mailbox_release")
    first = world.mailbox("first@lab.test")
    second = world.mailbox("second@lab.test")
    campaign = world.campaign([first, second], STEPS, minutes_between_sends=0)
    leads = world.prospects(["a@one.test", "b@two.test"])
    world.enroll(campaign, leads)
    world.run()
    on_first = [p for p in leads if world.enrollment(campaign, p).mailbox_id == first.id]
    on_second = [p for p in leads if world.enrollment(campaign, p).mailbox_id == second.id]
    assert len(on_first) == len(on_second) == 1  # rotation gave each mailbox one prospect
    (moved,) = on_first
    (kept,) = on_second
    before = world.enrollment(campaign, moved)
    kept_before = world.enrollment(campaign, kept)
    assert before.next_send_at is not None

    world.clock.advance(timedelta(hours=2))
    deleted_at = world.clock.now()
    MailboxService().delete(world.workspace_id, first.id)
    after = world.enrollment(campaign, moved)
    assert after.mailbox_id is None
    assert (after.status, after.current_step, after.last_sent_at) == ("active", 1, before.last_sent_at)
    assert after.next_send_at == before.next_send_at + timedelta(hours=1)
    assert world.enrollment(campaign, kept).next_send_at == kept_before.next_send_at  # not the deleted mailbox's
    assert CampaignRepository().get(world.workspace_id, campaign.campaign_id).status == "running"  # second is usable

    # Again (a repeated DELETE): nothing moves twice.
    MailboxService().delete(world.workspace_id, first.id)
    assert world.enrollment(campaign, moved).next_send_at == before.next_send_at + timedelta(hours=1)
    # The next step goes out from the remaining mailbox, an hour later than planned: not at the planned time + 30 min,
    # but by the planned time + 70 min.
    assert before.next_send_at > deleted_at
    world.run(before.next_send_at - world.clock.now() + timedelta(minutes=30))
    assert world.enrollment(campaign, moved).current_step == 1
    world.run(timedelta(minutes=40))
    assert world.enrollment(campaign, moved).current_step == 2
    assert world.enrollment(campaign, moved).mailbox_id == second.id


def test_a_campaign_left_without_a_usable_mailbox_pauses(world: World) -> None:
    importlib.import_module("kindling.sending.mailbox_release")
    only = world.mailbox()
    campaign = world.campaign([only], STEPS, minutes_between_sends=0)
    (lead,) = world.prospects(["c@three.test"])
    world.enroll(campaign, [lead])
    world.run()
    MailboxService().delete(world.workspace_id, only.id)
    record = CampaignRepository().get(world.workspace_id, campaign.campaign_id)
    assert (record.status, record.paused_reason) == ("paused", "mailbox_disconnected")
    assert world.enrollment(campaign, lead).mailbox_id is None
