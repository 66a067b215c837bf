"""Bounce Shield and the failure-rate guard through the real send path (scheduler -> sender -> the scripted SMTP
server on 127.0.0.1, moto): `bounce*` recipients get 550 5.1.1 at RCPT, `spam*` recipients 554 5.7.1 to the
content (a failure that is not a bounce)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest

from kindling.bounceshield.models import BounceShieldUpdate
from kindling.bounceshield.service import BounceShieldService
from kindling.campaigns.repository import CampaignRepository
from kindling.enrollments.service import campaign_service
from kindling.notifications.models import NotificationSettingsUpdate
from kindling.notifications.service import NotificationService
from kindling.platform.settings import reset_settings
from kindling.suppressions.repository import SuppressionRepository
from tests.integration.sending.world import World

STEPS = [{"subject": "Hi", "body_html": "<p>One</p>"}, {"subject": "Two", "delay_days": 1}]  # not done after one


def shield(world: World, **settings: object) -> None:
    BounceShieldService().update(world.workspace_id, BounceShieldUpdate.model_validate(settings))


def status_of(world: World, campaign_id: str) -> tuple[str, str | None]:
    record = CampaignRepository().get(world.workspace_id, campaign_id)
    return record.status, record.paused_reason


def notification_emails_through_ses(world: World, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The workspace's notification address set, and the stack sending notification emails through (moto) SES."""
    ses = boto3.client("ses", region_name="us-east-1")
    ses.verify_email_identity(EmailAddress="alerts@kindling.test")
    monkeypatch.setenv("KINDLING_NOTIFICATION_SES_SENDER", "alerts@kindling.test")
    reset_settings()
    NotificationService().update(
        world.workspace_id, NotificationSettingsUpdate.model_validate({"notificationEmail": "ops@lab.test"})
    )
    return ses


def test_bounces_above_the_threshold_pause_the_bouncing_campaign_blocklist_and_notify(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    shield(world, thresholdPercent=10, windowType="sends", windowSends=20)
    ses = notification_emails_through_ses(world, monkeypatch)
    mailbox = world.mailbox(daily_limit=100)
    bouncing = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    clean = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    good = [f"ok{i}@fine.test" for i in range(17)]
    bad = ["bounce1@gone.test", "bounce2@gone.test", "bounce3@gone.test"]
    world.enroll(bouncing, world.prospects(good + bad))
    world.enroll(clean, world.prospects(["c1@clean.test", "c2@clean.test"]))
    for _ in range(4):
        world.run(timedelta(minutes=5))
    assert status_of(world, bouncing.campaign_id) == ("paused", "bounce_shield")
    assert status_of(world, clean.campaign_id) == ("running", None)  # no bounce in the window: not affected
    # The window is whole hours holding at least 20 sends: this hour's 22 (both campaigns), 3 bounced = 13.64%.
    (event,) = world.published.of("bounce_shield.activated")
    assert (event.data["sent"], event.data["bounced"], event.data["thresholdPercent"]) == (22, 3, 10)
    assert event.data["bounceRate"] == 13.64
    assert event.data["pausedCampaignIds"] == [bouncing.campaign_id]
    records, _ = SuppressionRepository().lookup(world.workspace_id, bad)
    assert all(records[address].supp_id is not None for address in bad)
    state = BounceShieldService().get(world.workspace_id)
    assert state.activations == 1 and state.last_activated_at is not None
    assert ses.get_send_quota()["SentLast24Hours"] == 1  # one notification email for the activation
    # Started again by the user, the same old bounces do not pause it straight back.
    campaign_service().start(world.workspace_id, bouncing.campaign_id)
    world.enroll(bouncing, world.prospects(["late@fine.test", "bounce9@gone.test"]))
    for _ in range(3):
        world.run(timedelta(minutes=5))
    assert status_of(world, bouncing.campaign_id) == ("running", None)
    assert len(world.published.of("bounce_shield.activated")) == 1
    assert ses.get_send_quota()["SentLast24Hours"] == 1
    reset_settings()


def test_a_rate_at_the_threshold_does_not_activate(world: World) -> None:
    shield(world, thresholdPercent=10, windowType="sends", windowSends=20)
    mailbox = world.mailbox(daily_limit=100)
    campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    emails = [f"ok{i}@fine.test" for i in range(18)] + ["bounce1@gone.test", "bounce2@gone.test"]
    world.enroll(campaign, world.prospects(emails))  # 2 of 20 = 10%: not above 10%
    for _ in range(4):
        world.run(timedelta(minutes=5))
    assert status_of(world, campaign.campaign_id) == ("running", None)
    assert world.published.of("bounce_shield.activated") == []
    assert BounceShieldService().get(world.workspace_id).activations == 0


def test_without_auto_pause_and_notify_the_shield_only_records_the_activation(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    shield(world, thresholdPercent=10, windowType="sends", windowSends=20, autoPause=False, notify=False)
    ses = notification_emails_through_ses(world, monkeypatch)
    mailbox = world.mailbox(daily_limit=100)
    campaign = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    emails = [f"ok{i}@fine.test" for i in range(16)] + [f"bounce{i}@gone.test" for i in range(4)]
    world.enroll(campaign, world.prospects(emails))
    for _ in range(4):
        world.run(timedelta(minutes=5))
    assert status_of(world, campaign.campaign_id) == ("running", None)
    assert world.published.of("bounce_shield.activated") == []
    assert BounceShieldService().get(world.workspace_id).activations == 1
    assert ses.get_send_quota()["SentLast24Hours"] == 0  # notify off: no email either
    reset_settings()


def test_failures_other_than_bounces_above_25_percent_pause_with_high_failure_rate(world: World) -> None:
    shield(world, enabled=False)  # the failure guard is per campaign and independent of the shield
    mailbox = world.mailbox(daily_limit=100)
    failing = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    healthy = world.campaign([mailbox], STEPS, minutes_between_sends=0)
    # 6 of 20 refused to the content (554): 30% > 25%.
    failing_emails = [f"ok{i}@fine.test" for i in range(14)] + [f"spam{i}@x.test" for i in range(6)]
    world.enroll(failing, world.prospects(failing_emails))
    # 5 of 20: exactly 25%, not above.
    healthy_emails = [f"h{i}@fine.test" for i in range(15)] + [f"spam{i}@y.test" for i in range(5)]
    world.enroll(healthy, world.prospects(healthy_emails))
    for _ in range(5):
        world.run(timedelta(minutes=5))
    assert status_of(world, failing.campaign_id) == ("paused", "high_failure_rate")
    assert status_of(world, healthy.campaign_id) == ("running", None)
