"""What each SMTP outcome does to the ledger, the enrollment, the counters, the mailbox and the campaign: hard
bounces suppress and stop, rate limits back the mailbox off, soft refusals retry then give up, failed logins
disable the mailbox after 10, an unreachable host opens its circuit, and campaign safety cools a campaign down."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kindling.campaigns.repository import CampaignRepository
from kindling.mailboxes.repository import MailboxRepository
from kindling.prospects.repository import ProspectRepository
from kindling.sending.repository import SendingRepository
from kindling.sending.safety import CampaignSafety
from kindling.sending.service import record_complaint
from tests.integration.mailboxes.servers import CertFactory, free_port
from tests.integration.sending.conftest import sink_server
from tests.integration.sending.world import World

STEPS = [{"subject": "Hi", "body_html": "<p>One</p>"}, {"subject": "Two", "delay_days": 1}]


def test_hard_bounce_suppresses_stops_counts_and_announces(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    bounce, fine = world.prospects(["bounce1@gone.test", "fine@here.test"])
    world.enroll(campaign, [bounce, fine])
    _, result = world.run()
    assert (result.sent, result.bounced) == (1, 1)
    assert world.send_record(campaign, bounce, 0).status == "bounced"
    assert world.enrollment(campaign, bounce).status == "bounced"
    assert ProspectRepository().get(world.workspace_id, bounce.id).global_status == "bounced"
    stats = CampaignRepository().get(world.workspace_id, campaign.campaign_id).stats
    assert (stats.sent, stats.bounced) == (2, 1)
    (event,) = world.published.of("email.bounced")
    assert event.data["prospectEmail"] == "bounce1@gone.test" and event.data["bounceType"] == "hard"
    day = world.clock.now().date().isoformat()
    assert SendingRepository().mailbox_stats(world.workspace_id, mailbox.id, day) == {"sent": 2, "bounced": 1}
    # The bounced prospect is never sent to again, by this campaign or another that stops on bounces.
    other = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    world.enroll(other, [bounce])
    assert world.run(timedelta(days=1, minutes=10))[1].sent == 1  # only `fine`'s second step
    assert len(world.delivered_to("bounce1@gone.test")) == 0


def test_a_bounce_keeps_going_when_the_campaign_does_not_stop_on_bounces(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0, stop_on_bounce=False)
    (lead,) = world.prospects(["bounce2@gone.test"])
    world.enroll(campaign, [lead])
    world.run()
    enrollment = world.enrollment(campaign, lead)
    assert enrollment.status == "active" and enrollment.current_step == 1


def test_rate_limit_backs_the_mailbox_off_and_the_step_retries(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    (lead,) = world.prospects(["slow1@busy.test"])
    world.enroll(campaign, [lead])
    _, result = world.run()
    assert result.retrying == 1
    record = world.send_record(campaign, lead, 0)
    assert (record.status, record.attempts) == ("failed", 1)
    state = SendingRepository().mailbox_state(world.workspace_id, mailbox.id)
    assert state.backoff.level == 1 and state.backoff.until == world.clock.now() + timedelta(minutes=1)
    assert world.enrollment(campaign, lead).next_send_at == state.backoff.until
    assert world.tick(timedelta(seconds=30)).claimed == 0  # backing off
    report, result = world.run(timedelta(seconds=45))
    # The retry claims the same step again, but busy.test deferred it: its domain waits 5 minutes for every
    # mailbox (recipient-domain backoff), so the sender holds it without an SMTP attempt.
    assert report.claimed == 1 and result.retrying == 1
    assert result.outcomes[record.send_id] == "recipient_domain_backoff"
    assert SendingRepository().mailbox_state(world.workspace_id, mailbox.id).backoff.level == 1
    report, result = world.run(timedelta(minutes=4))  # 5 min 15 s after the first deferral
    assert report.claimed == 1 and result.retrying == 1 and result.outcomes[record.send_id] == "rate_limited"
    assert SendingRepository().mailbox_state(world.workspace_id, mailbox.id).backoff.level == 2
    assert world.send_record(campaign, lead, 0).attempts == 2


def test_soft_refusals_give_up_after_five_attempts(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    (lead,) = world.prospects(["flakyx@busy.test"])
    world.enroll(campaign, [lead])
    world.server.handler.flaky_seen.clear()
    # Every connection drops at RCPT: a connection failure before DATA (retryable, never ambiguous).
    monkeypatch.setattr(world.server.handler, "flaky_seen", _Never())
    # docs/decisions.md (Sending rules): a soft refusal is retried after 5 m, 15 m, 1 h, 3 h; the fifth attempt
    # gives the step up.
    for attempt in range(1, 5):
        world.run(timedelta(hours=4))
        record = world.send_record(campaign, lead, 0)
        assert record.attempts == attempt
        assert world.enrollment(campaign, lead).current_step == 0  # still on the first step: it will be retried
    world.run(timedelta(hours=4))
    record = world.send_record(campaign, lead, 0)
    assert (record.status, record.attempts) == ("failed", 5)
    enrollment = world.enrollment(campaign, lead)
    assert enrollment.current_step == 1  # given up: the sequence moves on
    assert world.delivered_to("flakyx@busy.test") == []
    world.run(timedelta(hours=4))
    assert world.send_record(campaign, lead, 0).attempts == 5  # nothing tries the given-up step again


class _Never(set[str]):
    """A `flaky_seen` that never remembers: the lab server drops the connection every time."""

    def __contains__(self, item: object) -> bool:
        return False


def test_ten_failed_logins_disconnect_the_mailbox_and_pause_its_campaign(world: World) -> None:
    mailbox = world.mailbox()
    world.server.accounts.passwords[mailbox.smtp_username] = "changed-elsewhere"
    campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    (lead,) = world.prospects(["x@x.test"])
    world.enroll(campaign, [lead])
    for _ in range(10):
        world.run(timedelta(hours=1, minutes=5))
    stored = MailboxRepository().get(world.workspace_id, mailbox.id)
    assert (stored.status, stored.last_test_code) == ("disconnected", "auth_failed")
    # Reported through the health helper: the campaign, left with no usable mailbox, pauses for the outage.
    record = CampaignRepository().get(world.workspace_id, campaign.campaign_id)
    assert (record.status, record.paused_reason) == ("paused", "mailbox_disconnected")
    assert SendingRepository().mailbox_state(world.workspace_id, mailbox.id).auth_failures == 10
    assert world.delivered_to("x@x.test") == []


def test_a_changed_certificate_disables_the_mailbox_before_any_login(world: World, sending_certs: CertFactory) -> None:
    pinned = sending_certs.leaf("flow-pinned", self_signed=True)
    impostor = sending_certs.leaf("flow-impostor", self_signed=True)
    with sink_server("starttls", impostor, str(sending_certs.ca_file)) as server:
        mailbox = world.mailbox()
        repo = MailboxRepository()
        current = repo.get(world.workspace_id, mailbox.id)
        repo.replace(
            current.model_copy(
                update={"smtp_port": server.port, "smtp_security": "starttls", "smtp_tls_pin": pinned.fingerprint}
            ),
            current.version,
        )
        campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0)
        (lead,) = world.prospects(["z@z.test"])
        world.enroll(campaign, [lead])
        world.run(timedelta(hours=1))
        assert server.logins == 0 and server.handler.delivered == []  # nothing after the handshake
    stored = repo.get(world.workspace_id, mailbox.id)
    assert (stored.status, stored.last_test_code) == ("disconnected", "tls_certificate_changed")
    assert stored.last_test_error == (
        "tls_certificate_changed (SMTP): The server's certificate changed since you tested this mailbox; re-test it "
        "to accept the new certificate if you trust it."
    )
    assert stored.smtp_tls_pin == pinned.fingerprint
    assert world.send_record(campaign, lead, 0).status != "sent"


def test_five_connection_failures_open_the_host_circuit(world: World) -> None:
    dead = world.mailbox("dead@lab.test")
    repo = MailboxRepository()
    current = repo.get(world.workspace_id, dead.id)
    repo.replace(current.model_copy(update={"smtp_port": free_port()}), current.version)
    campaign = world.campaign([dead], STEPS, minutes_between_sends=0)
    world.enroll(campaign, world.prospects(["y@y.test"]))
    for _ in range(5):
        world.run(timedelta(hours=1))
    circuits = SendingRepository().host_circuits(["127.0.0.1"])
    circuit = circuits["127.0.0.1"]
    assert circuit.consecutive_failures == 5 and circuit.is_open(world.clock.now())


def test_campaign_safety_cooldown_and_recheck(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    campaigns = CampaignRepository()
    campaigns.increment_stats(world.workspace_id, campaign.campaign_id, sent=60, bounced=3)
    safety = CampaignSafety()
    assert safety.check(world.workspace_id, campaign.campaign_id, world.clock.now()) is None  # 5% is not > 5%
    campaigns.increment_stats(world.workspace_id, campaign.campaign_id, bounced=1)
    assert safety.check(world.workspace_id, campaign.campaign_id, world.clock.now()) == "cooldown"
    assert campaigns.get(world.workspace_id, campaign.campaign_id).status == "cooldown"
    world.enroll(campaign, world.prospects(["c@c.test"]))
    assert world.tick().claimed == 0  # a campaign in cooldown sends nothing
    # A late bounce during the cooldown: the re-check extends it.
    campaigns.increment_stats(world.workspace_id, campaign.campaign_id, bounced=1)
    world.tick(timedelta(hours=24, minutes=1))
    assert campaigns.get(world.workspace_id, campaign.campaign_id).status == "cooldown"
    # A clean 24 hours: it resumes, and the parked enrollment goes out.
    report = world.tick(timedelta(hours=24, minutes=1))
    assert campaigns.get(world.workspace_id, campaign.campaign_id).status == "running"
    assert report.claimed == 0
    report = world.tick(timedelta(minutes=1))
    assert report.unparked == 1 and report.claimed == 1


def test_a_cooldown_that_never_clears_pauses_with_safety_cooldown(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    campaigns = CampaignRepository()
    campaigns.increment_stats(world.workspace_id, campaign.campaign_id, sent=50, bounced=3)
    assert CampaignSafety().check(world.workspace_id, campaign.campaign_id, world.clock.now()) == "cooldown"
    # A new bounce before each of the three re-checks: extended at 24 h and 48 h, paused at 72 h.
    for expected in ("cooldown", "cooldown", "paused"):
        campaigns.increment_stats(world.workspace_id, campaign.campaign_id, bounced=1)
        world.tick(timedelta(hours=24, minutes=1))
        assert campaigns.get(world.workspace_id, campaign.campaign_id).status == expected
    paused = campaigns.get(world.workspace_id, campaign.campaign_id)
    assert (paused.paused_reason, paused.paused_at) == ("safety_cooldown", world.clock.now())
    # The engine never resumes a safety pause: a clean day later it is still paused and sends nothing.
    world.enroll(campaign, world.prospects(["p@p.test"]))
    world.tick(timedelta(hours=24, minutes=1))
    assert world.tick(timedelta(minutes=1)).claimed == 0
    assert campaigns.get(world.workspace_id, campaign.campaign_id).status == "paused"


def test_three_spam_complaints_cool_the_campaign_down(world: World) -> None:
    mailbox = world.mailbox()
    campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    for expected in (1, 2):
        assert record_complaint(world.workspace_id, campaign.campaign_id, world.clock.now()) == expected
        assert CampaignRepository().get(world.workspace_id, campaign.campaign_id).status == "running"
    record_complaint(world.workspace_id, campaign.campaign_id, world.clock.now())
    assert CampaignRepository().get(world.workspace_id, campaign.campaign_id).status == "cooldown"
