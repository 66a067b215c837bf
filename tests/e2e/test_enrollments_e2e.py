"""Enrollments over HTTP on the local stack: enroll by list, email and id (suppressed and unknown counted apart),
re-send, list (also as /contacts), unenroll, and the change feed."""

from __future__ import annotations

import httpx
import pytest

from devstack.runtime import LocalStack
from tests.e2e.support import connected_mailbox, own_workspace

pytestmark = pytest.mark.mail


def test_enrollment_flow_over_http(local_stack: LocalStack) -> None:
    headers = own_workspace(local_stack, "Enrollments e2e")
    with httpx.Client(base_url=local_stack.api_url, headers=headers, timeout=60) as client:
        mailbox_id = str(connected_mailbox(client, local_stack)["id"])
        blocked = client.post(
            "/api/v1/suppressions", json={"type": "domain", "value": "e2e-enroll-rival.test", "reason": "competitor"}
        )
        assert blocked.status_code in (200, 201), blocked.text
        ids = []
        for email in ("ann@e2e-enroll.test", "bob@e2e-enroll.test", "cy@e2e-enroll.test", "boss@e2e-enroll-rival.test"):
            created = client.post("/api/v1/prospects", json={"email": email, "customFields": {"tier": "gold"}})
            assert created.status_code in (200, 201), created.text
            ids.append(created.json()["data"]["id"])
        ann, bob, cy, boss = ids
        listed = client.post("/api/v1/lists", json={"name": "E2E enroll"}).json()["data"]["id"]
        added = client.post(f"/api/v1/lists/{listed}/prospects", json={"prospectIds": [ann, bob]})
        assert added.status_code == 200, added.text

        campaign = client.post(
            "/api/v1/campaigns",
            json={
                "name": "E2E enrollments",
                "mailboxIds": [mailbox_id],
                "steps": [{"stepIndex": 0, "subject": "Hi", "bodyHtml": "<p>Hello {{custom.tier}}</p>"}],
            },
        )
        assert campaign.status_code == 201, campaign.text
        path = f"/api/v1/campaigns/{campaign.json()['data']['id']}/enrollments"

        body = {
            "listIds": [listed],
            "emails": ["CY@e2e-enroll.test", "boss@e2e-enroll-rival.test", "nobody@e2e-enroll.test"],
            "prospectIds": [ann],
        }
        enrolled = client.post(path, json=body)
        assert enrolled.status_code == 200, enrolled.text
        assert enrolled.json()["data"] == {
            "enrolledCount": 3,
            "suppressedCount": 1,
            "invalidCount": 1,
            "alreadyEnrolledCount": 0,
            "totalProcessed": 5,
        }
        again = client.post(path, json=body).json()["data"]
        assert (again["enrolledCount"], again["alreadyEnrolledCount"], again["suppressedCount"]) == (0, 3, 1)

        items = client.get(path).json()["data"]
        assert {i["prospectId"]: i["status"] for i in items} == {
            ann: "pending",
            bob: "pending",
            cy: "pending",
            boss: "suppressed",
        }
        # Pending enrollments are due from enrollment (the scheduler sends once the campaign runs).
        assert all(i["currentStep"] == 0 for i in items)
        assert all(i["nextSendAt"] == (i["createdAt"] if i["status"] == "pending" else None) for i in items)
        assert client.get(path.replace("/enrollments", "/contacts")).json()["data"] == items

        since = max(i["updatedAt"] for i in items)
        stopped = client.request("DELETE", path, json={"prospectIds": [bob], "emails": ["boss@e2e-enroll-rival.test"]})
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["data"] == {"unenrolledCount": 1, "totalProcessed": 2}

        feed = client.get(f"{path}/changes", params={"updatedSince": since}).json()
        changed = [c for c in feed["data"] if c["status"] == "stopped"]
        assert [(c["prospectId"], c["previousStatus"]) for c in changed] == [(bob, "pending")]
