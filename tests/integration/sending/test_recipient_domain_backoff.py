"""Recipient-domain adaptive backoff through the real send path (scheduler -> sender -> the scripted SMTP server on
127.0.0.1, moto): a `slow*` recipient gets 451 4.7.1 at RCPT, and its domain then waits for every mailbox of the
workspace (5 minutes, doubling), independent of the deferred mailbox's own backoff; an accepted message resets it."""

from __future__ import annotations

from datetime import timedelta

from kindling.enrollments.service import campaign_service
from kindling.sending.recipient_backoff import DomainBackoff
from kindling.sending.recipient_backoff_repository import RecipientBackoffRepository
from kindling.sending.repository import SendingRepository
from tests.integration.sending.world import World

STEPS = [{"subject": "Hi", "body_html": "<p>One</p>"}, {"subject": "Two", "delay_days": 1}]


def test_a_deferring_domain_holds_every_mailbox_until_its_backoff_ends(world: World) -> None:
    first = world.mailbox("first@lab.test")
    second = world.mailbox("second@lab.test")
    deferred = world.campaign([first], STEPS, minutes_between_sends=0)
    world.enroll(deferred, world.prospects(["slow1@busy.test"]))
    _, result = world.run()
    assert result.retrying == 1
    domains = RecipientBackoffRepository()
    deferred_at = world.clock.now()
    assert domains.get(world.workspace_id, "busy.test") == DomainBackoff(1, deferred_at + timedelta(minutes=5))
    assert SendingRepository().mailbox_state(world.workspace_id, second.id).backoff.level == 0
    campaign_service().pause(world.workspace_id, deferred.campaign_id)  # its own retry stays out of the way

    other = world.campaign([second], STEPS, minutes_between_sends=0)
    busy, elsewhere = world.prospects(["ada@busy.test", "bo@calm.test"])
    world.enroll(other, [busy, elsewhere])
    _, result = world.run(timedelta(minutes=1))
    # The second mailbox has no backoff of its own: calm.test goes out, busy.test waits for its domain.
    assert len(world.delivered_to("bo@calm.test")) == 1
    assert world.delivered_to("ada@busy.test") == []
    held = world.send_record(other, busy, 0)
    assert result.outcomes[held.send_id] == "recipient_domain_backoff"
    assert world.enrollment(other, busy).next_send_at == deferred_at + timedelta(minutes=5)

    world.run(timedelta(minutes=3))  # 4 minutes after the deferral: still held
    assert world.delivered_to("ada@busy.test") == []
    world.run(timedelta(minutes=2))  # 6 minutes: released, accepted, and the domain's backoff resets
    assert len(world.delivered_to("ada@busy.test")) == 1
    assert domains.get(world.workspace_id, "busy.test") == DomainBackoff()


def test_deferrals_in_a_row_double_the_wait_up_to_the_cap(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    world.enroll(campaign, world.prospects(["slow1@busy.test"]))
    waits = []
    world.run()
    for _ in range(3):
        state = RecipientBackoffRepository().get(world.workspace_id, "busy.test")
        assert state.until is not None
        waits.append((state.level, state.until - world.clock.now()))
        world.clock.advance(state.until - world.clock.now() + timedelta(seconds=30))
        # the retry is due once both the mailbox's and the domain's waits are over
        world.run()
    assert waits == [(1, timedelta(minutes=5)), (2, timedelta(minutes=10)), (3, timedelta(minutes=20))]
