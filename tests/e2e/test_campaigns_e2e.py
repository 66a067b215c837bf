"""Campaigns over HTTP on the local stack: a connected lab mailbox, a prospect, then create -> steps/variants ->
preflight -> preview -> start -> pause -> resume, and the list with its summary stats."""

from __future__ import annotations

import httpx
import pytest

from devstack.runtime import LocalStack
from tests.e2e.support import connected_mailbox, own_workspace

pytestmark = pytest.mark.mail


def test_campaign_lifecycle_over_http(local_stack: LocalStack) -> None:
    assert local_stack.mail_accounts, "the local stack runs the mail lab"
    headers = own_workspace(local_stack, "Campaigns e2e")
    with httpx.Client(base_url=local_stack.api_url, headers=headers, timeout=30) as client:
        mailbox = connected_mailbox(client, local_stack, display_name="E2E Sender", signature="<p>-- E2E Sender</p>")
        prospect = client.post(
            "/api/v1/prospects",
            json={"email": "e2e-campaign@e2e-acme.test", "firstName": "Robin", "customFields": {"plan": "pro"}},
        )
        assert prospect.status_code in (200, 201), prospect.text
        pid = prospect.json()["data"]["id"]

        body = {
            "name": "E2E campaign",
            "mailboxIds": [mailbox["id"]],
            "prospectIds": [pid],
            "timezone": "Europe/Amsterdam",
            "sendingWindowStart": "08:00",
            "sendingWindowEnd": "18:00",
            "steps": [
                {"stepIndex": 0, "subject": "Hi {{firstName}}", "bodyHtml": "<p>On {{custom.plan}}?</p>{{signature}}"},
                {"stepIndex": 1, "subject": "", "bodyHtml": "<p>Bump</p>", "sendAsReply": True, "delayDays": 2},
            ],
        }
        created = client.post("/api/v1/campaigns", json=body, headers={"Idempotency-Key": "e2e-campaign-1"})
        assert created.status_code == 201, created.text
        campaign = created.json()["data"]
        meta = created.json()["meta"]
        assert (meta["prospects_enrolled"], meta["mailboxes_assigned"]) == (1, 1)
        assert campaign["status"] == "draft" and [s["stepIndex"] for s in campaign["steps"]] == [0, 1]
        base = f"/api/v1/campaigns/{campaign['id']}"
        step_id = campaign["steps"][0]["id"]

        variant = client.post(f"{base}/steps/{step_id}/variants", json={"subject": "Quick one, {{firstName}}"})
        assert variant.status_code == 201 and variant.json()["data"]["letter"] == "B"
        patched = client.patch(base, json={"dailySendLimit": 80, "scheduleDays": [1, 2, 3, 4, 5]})
        assert patched.status_code == 200 and patched.json()["data"]["dailySendLimit"] == 80

        preflight = client.get(f"{base}/preflight").json()["data"]
        assert preflight["blockingFailures"] == [], preflight
        preview = client.post(
            "/api/v1/campaigns/steps/preview",
            json={"campaignId": campaign["id"], "stepId": step_id, "prospectId": pid, "mailboxId": mailbox["id"]},
        )
        assert preview.status_code == 200, preview.text
        assert preview.json()["data"]["subject"] == "Hi Robin"
        assert "On pro?" in preview.json()["data"]["bodyHtml"] and "E2E Sender" in preview.json()["data"]["bodyHtml"]

        started = client.post(f"{base}/start")
        assert started.status_code == 200, started.text
        assert started.json()["data"]["status"] == "running"
        refused = client.patch(base, json={"name": "nope"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_status"
        paused = client.post(f"{base}/pause").json()["data"]
        assert (paused["status"], paused["pausedReason"]) == ("paused", "api")
        resumed = client.post(f"{base}/start").json()["data"]
        assert (resumed["status"], resumed["pausedReason"]) == ("running", None)

        listed = client.get("/api/v1/campaigns", params={"status": "running"}).json()["data"]
        mine = next(c for c in listed if c["id"] == campaign["id"])
        assert mine["totalProspects"] == 1 and "sent" in mine and "steps" not in mine
