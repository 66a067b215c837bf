"""Pause reasons (issue 15 part 2): a paused campaign always carries its reason and instant, written with the status
in one conditional put; the engine pauses a campaign whose pool has no usable mailbox left
(`mailbox_disconnected`) and resumes it, and only it, once a pool mailbox is back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kindling.campaigns.repository import CampaignRepository, UnexplainedPause
from kindling.enrollments.service import campaign_service
from kindling.platform.clock import ManualClock, isoformat
from tests.integration.campaigns.conftest import MailboxFactory, set_mailbox
from tests.integration.prospects.conftest import Api

STEP0 = {"stepIndex": 0, "subject": "Quick question", "bodyHtml": "<p>Hi {{firstName}}</p>"}


def started(api: Api, mailbox_ids: list[str], name: str = "Q3 Outbound") -> str:
    body = {"name": name, "mailboxIds": mailbox_ids, "steps": [STEP0]}
    created = api.call("POST", "/api/v1/campaigns", json=body)
    assert created.status_code == 201, created.text
    campaign_id: str = created.json()["data"]["id"]
    assert api.call("POST", f"/api/v1/campaigns/{campaign_id}/start").status_code == 200
    return campaign_id


def shown(api: Api, campaign_id: str) -> dict[str, Any]:
    response = api.call("GET", f"/api/v1/campaigns/{campaign_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "paused"},  # no reason, no instant
        {"status": "paused", "paused_reason": "api"},  # no instant
        {"status": "paused", "paused_reason": "because", "paused_at": "now"},  # not a known reason
        {"status": "running", "paused_reason": "api", "paused_at": "now"},  # a reason on a running campaign
    ],
)
def test_the_repository_refuses_a_pause_without_its_reason(
    api: Api, mailbox_factory: MailboxFactory, clock: ManualClock, changes: dict[str, Any]
) -> None:
    workspace_id = api.tenant.workspace_id
    campaign_id = started(api, [mailbox_factory().id])
    repo = CampaignRepository()
    before = repo.get(workspace_id, campaign_id)
    update = {k: (clock.now() if v == "now" else v) for k, v in changes.items()}
    broken = before.model_copy(update=update)  # model_copy skips the model's validator: the repository must not
    with pytest.raises(UnexplainedPause):
        repo.save(broken, before.version)
    after = repo.get(workspace_id, campaign_id)
    assert (after.status, after.paused_reason, after.paused_at, after.version) == (
        "running",
        None,
        None,
        before.version,
    )


def test_a_user_pause_over_http_stores_api_with_the_instant(
    api: Api, mailbox_factory: MailboxFactory, clock: ManualClock
) -> None:
    campaign_id = started(api, [mailbox_factory().id])
    clock.advance(timedelta(minutes=7))
    assert api.call("POST", f"/api/v1/campaigns/{campaign_id}/pause").status_code == 200
    stored = CampaignRepository().get(api.tenant.workspace_id, campaign_id)
    assert (stored.status, stored.paused_reason, stored.paused_at) == ("paused", "api", clock.now())
    data = shown(api, campaign_id)
    assert (data["status"], data["pausedReason"], data["pausedAt"]) == ("paused", "api", isoformat(clock.now()))


def test_a_pool_with_no_usable_mailbox_pauses_and_resumes_when_one_is_back(
    api: Api, mailbox_factory: MailboxFactory, clock: ManualClock
) -> None:
    workspace_id = api.tenant.workspace_id
    first, second = mailbox_factory(), mailbox_factory()
    campaign_id = started(api, [first.id, second.id])
    service = campaign_service()
    set_mailbox(first, status="disconnected")
    assert service.pause_campaigns_for_mailbox(workspace_id, first.id) == []  # the second still sends
    assert shown(api, campaign_id)["status"] == "running"
    set_mailbox(second, status="disconnected")
    clock.advance(timedelta(minutes=1))
    assert service.pause_campaigns_for_mailbox(workspace_id, second.id) == [campaign_id]
    data = shown(api, campaign_id)
    assert (data["status"], data["pausedReason"], data["pausedAt"]) == (
        "paused",
        "mailbox_disconnected",
        isoformat(clock.now()),
    )
    # Still nothing usable: the sweep leaves it paused.
    assert service.resume_campaigns_paused_for(workspace_id, "mailbox_disconnected", mailbox_id=second.id) == []
    set_mailbox(second, status="connected")
    assert service.resume_campaigns_paused_for(workspace_id, "mailbox_disconnected", mailbox_id=second.id) == [
        campaign_id
    ]
    data = shown(api, campaign_id)
    assert (data["status"], data["pausedReason"], data["pausedAt"]) == ("running", None, None)


def test_only_campaigns_paused_for_the_mailbox_are_resumed(api: Api, mailbox_factory: MailboxFactory) -> None:
    workspace_id = api.tenant.workspace_id
    mailbox, other = mailbox_factory(), mailbox_factory()
    by_user = started(api, [mailbox.id], "paused by the user")
    by_safety = started(api, [mailbox.id], "paused by safety")
    by_shield = started(api, [mailbox.id], "paused by Bounce Shield")
    disconnected = started(api, [mailbox.id], "paused for its mailbox")
    elsewhere = started(api, [other.id], "paused for another mailbox")
    service = campaign_service()
    assert api.call("POST", f"/api/v1/campaigns/{by_user}/pause").status_code == 200
    service.auto_pause(workspace_id, by_safety, "safety_cooldown")
    service.auto_pause(workspace_id, by_shield, "bounce_shield")
    service.auto_pause(workspace_id, disconnected, "mailbox_disconnected")
    service.auto_pause(workspace_id, elsewhere, "mailbox_disconnected")

    assert service.resume_campaigns_paused_for(workspace_id, "mailbox_disconnected", mailbox_id=mailbox.id) == [
        disconnected
    ]
    reasons = {cid: (shown(api, cid)["status"], shown(api, cid)["pausedReason"]) for cid in (by_user, by_safety)}
    assert reasons == {by_user: ("paused", "api"), by_safety: ("paused", "safety_cooldown")}
    assert (shown(api, by_shield)["status"], shown(api, by_shield)["pausedReason"]) == ("paused", "bounce_shield")
    assert (shown(api, elsewhere)["status"], shown(api, elsewhere)["pausedReason"]) == (
        "paused",
        "mailbox_disconnected",
    )
    for reason in ("api", "safety_cooldown", "bounce_shield", "high_failure_rate"):
        with pytest.raises(ValueError, match="never resumed by the engine"):
            service.resume_campaigns_paused_for(workspace_id, reason)
    with pytest.raises(ValueError, match="not an engine pause reason"):
        service.auto_pause(workspace_id, elsewhere, "api")  # the engine never claims to be the user


def test_a_campaign_with_no_active_step_left_errs_instead_of_resuming(
    api: Api, mailbox_factory: MailboxFactory
) -> None:
    workspace_id = api.tenant.workspace_id
    mailbox = mailbox_factory()
    campaign_id = started(api, [mailbox.id])
    service = campaign_service()
    service.auto_pause(workspace_id, campaign_id, "mailbox_disconnected")
    (step,) = api.call("GET", f"/api/v1/campaigns/{campaign_id}/steps").json()["data"]
    patched = api.call("PATCH", f"/api/v1/campaigns/{campaign_id}/steps/{step['id']}", json={"isActive": False})
    assert patched.status_code == 200, patched.text
    assert service.resume_campaigns_paused_for(workspace_id, "mailbox_disconnected", mailbox_id=mailbox.id) == []
    stored = CampaignRepository().get(workspace_id, campaign_id)
    assert (stored.status, stored.status_reason, stored.paused_reason) == ("errored", "no_active_steps", None)
    assert shown(api, campaign_id)["status"] == "errored"


def test_an_engine_resume_and_its_failure_window_reset_are_one_conditional_write(
    api: Api, mailbox_factory: MailboxFactory, clock: ManualClock
) -> None:
    """Issue 18: the auto-resume "resets their failure-rate window". Both go in one transaction: a resume that
    loses its version race resets nothing; the one that lands resets the window with it."""
    from kindling.bounceshield.repository import BounceShieldRepository
    from kindling.campaigns.repository import Stale

    workspace_id = api.tenant.workspace_id
    campaign_id = started(api, [mailbox_factory().id])
    service = campaign_service()
    service.auto_pause(workspace_id, campaign_id, "linkedin_account_disconnected")
    shield = BounceShieldRepository()
    shield.record_attempts(workspace_id, campaign_id, clock.now(), 20, 20)
    window_start = clock.now() - timedelta(hours=24)
    assert shield.attempts_since(workspace_id, campaign_id, window_start) == (20, 20)

    repo = CampaignRepository()
    paused = repo.get(workspace_id, campaign_id)
    running = paused.model_copy(update={"status": "running", "paused_reason": None, "paused_at": None})
    with pytest.raises(Stale):
        repo.save(running, paused.version - 1, failure_window_since=clock.now())
    assert shield.attempts_since(workspace_id, campaign_id, window_start) == (20, 20)
    assert repo.get(workspace_id, campaign_id).status == "paused"

    clock.advance(timedelta(minutes=5))
    resumed = service.auto_resume(workspace_id, campaign_id, "linkedin_account_disconnected", reset_failure_window=True)
    assert resumed.status == "running"
    assert shield.attempts_since(workspace_id, campaign_id, window_start) == (0, 0)
