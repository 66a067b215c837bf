"""Every campaign and enrollment route over HTTP on the local stack, checked against the served OpenAPI document.

The walk records each (method, route template) it calls; the last assertion compares that set with every
operation under /api/v1/campaigns in the stack's /openapi.json, so a route added later without an e2e call fails
here.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from devstack.runtime import LocalStack
from tests.e2e.support import connected_mailbox, own_workspace

pytestmark = pytest.mark.mail

ID_SEGMENTS = {
    "campaigns": "{campaign_id}",
    "steps": "{step_id}",
    "variants": "{variant_id}",
    "mailboxes": "{mailbox_id}",
}


class Recorder:
    """An httpx client that remembers the route template of every call it makes."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.called: set[tuple[str, str]] = set()

    def __call__(self, method: str, path: str, expect: int, **kwargs: Any) -> dict[str, Any]:
        response = self.client.request(method, path, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        self.called.add((method, template_of(path)))
        return response.json() if response.content else {}


def template_of(path: str) -> str:
    parts = path.split("?")[0].removeprefix("/api/v1/").split("/")
    out = []
    for i, part in enumerate(parts):
        previous = parts[i - 1] if i else ""
        is_id = previous in ID_SEGMENTS and part not in ("steps", "preview", "changes") and i % 2 == 1
        out.append(ID_SEGMENTS[previous] if is_id else part)
    return "/api/v1/" + "/".join(out)


def served_campaign_operations(client: httpx.Client) -> set[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    operations = set()
    for path, methods in spec["paths"].items():
        if not path.startswith("/api/v1/campaigns"):
            continue
        normalised = re.sub(r"\{[^}]+\}", lambda m: "{" + m.group(0)[1:-1] + "}", path)
        for method in methods:
            if method.upper() in ("GET", "POST", "PATCH", "DELETE", "PUT"):
                operations.add((method.upper(), normalised))
    return operations


def test_every_campaign_route_over_http(local_stack: LocalStack) -> None:
    headers = own_workspace(local_stack, "Route walk")
    with httpx.Client(base_url=local_stack.api_url, headers=headers, timeout=60) as client:
        call = Recorder(client)
        first = connected_mailbox(client, local_stack, -1)["id"]
        second = connected_mailbox(client, local_stack, 2)["id"]
        prospects = [
            call("POST", "/api/v1/prospects", 201, json={"email": f"route{i}@e2e-routes.test", "firstName": f"P{i}"})
            for i in range(3)
        ]
        pids = [p["data"]["id"] for p in prospects]

        created = call(
            "POST",
            "/api/v1/campaigns",
            201,
            json={
                "name": "Route walk",
                "mailboxIds": [first],
                "prospectIds": pids[:1],
                "steps": [{"stepIndex": 0, "subject": "Hi {{firstName}}", "bodyHtml": "<p>Hello {{company}}</p>"}],
            },
        )["data"]
        cid = created["id"]
        base = f"/api/v1/campaigns/{cid}"
        assert call("GET", base, 200)["data"]["id"] == cid
        assert any(c["id"] == cid for c in call("GET", "/api/v1/campaigns?limit=100", 200)["data"])
        call("PATCH", base, 200, json={"timezone": "Europe/Amsterdam", "minutesBetweenSends": 7})

        # Steps: add, read, list, edit, delete; the last step cannot go.
        step0 = call("GET", f"{base}/steps", 200)["data"][0]["id"]
        step1 = call("POST", f"{base}/steps", 201, json={"subject": "Following up", "bodyHtml": "<p>Bump</p>"})
        step1_id = step1["data"]["id"]
        assert call("GET", f"{base}/steps/{step1_id}", 200)["data"]["stepIndex"] == 1
        patched = call("PATCH", f"{base}/steps/{step1_id}", 200, json={"delayDays": 3, "sendAsReply": True})
        assert patched["data"]["delayDays"] == 3
        bad = client.patch(f"{base}/steps/{step1_id}", json={"bodyHtml": "<p>{{firstName}</p>"})
        assert bad.status_code == 400 and bad.json()["error"]["details"][0]["code"] == "template_syntax", bad.text

        # Variants on step 0: add B, list, reweight, and the last enabled variant is protected.
        variant_b = call("POST", f"{base}/steps/{step0}/variants", 201, json={"subject": "Hey {{firstName}}"})["data"]
        letters = [v["letter"] for v in call("GET", f"{base}/steps/{step0}/variants", 200)["data"]]
        assert letters == ["A", "B"]
        call("PATCH", f"{base}/steps/{step0}/variants/{variant_b['id']}", 200, json={"weight": 300})
        call("DELETE", f"{base}/steps/{step0}/variants/{variant_b['id']}", 204)
        only = call("GET", f"{base}/steps/{step0}/variants", 200)["data"][0]["id"]
        refused = client.delete(f"{base}/steps/{step0}/variants/{only}")
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "cannot_delete_last_variant"
        call("DELETE", f"{base}/steps/{step1_id}", 204)

        # The mailbox pool.
        call("POST", f"{base}/mailboxes", 201, json={"mailboxId": second, "weight": 5})
        pool = {m["mailboxId"] for m in call("GET", f"{base}/mailboxes", 200)["data"]}
        assert pool == {first, second}
        call("PATCH", f"{base}/mailboxes/{second}", 200, json={"active": False})
        call("DELETE", f"{base}/mailboxes/{second}", 204)

        # Enrollments: enroll, list (both names), the change feed, unenroll.
        enrolled = call("POST", f"{base}/enrollments", 200, json={"prospectIds": pids})["data"]
        assert (enrolled["enrolledCount"], enrolled["alreadyEnrolledCount"]) == (2, 1), enrolled
        assert len(call("GET", f"{base}/enrollments", 200)["data"]) == 3
        assert len(call("GET", f"{base}/contacts", 200)["data"]) == 3
        since = "2000-01-01T00:00:00Z"
        assert len(call("GET", f"{base}/enrollments/changes?updatedSince={since}", 200)["data"]) == 3
        assert len(call("GET", f"{base}/contacts/changes?updatedSince={since}", 200)["data"]) == 3
        removed = call("DELETE", f"{base}/enrollments", 200, json={"prospectIds": pids[2:]})["data"]
        assert removed["unenrolledCount"] == 1, removed

        # Preview, preflight, stats, then the status machine over HTTP.
        preview = call(
            "POST",
            "/api/v1/campaigns/steps/preview",
            200,
            json={"campaignId": cid, "stepId": step0, "prospectId": pids[0], "mailboxId": first},
        )
        assert preview["data"]["subject"] == "Hi P0"
        assert call("GET", f"{base}/preflight", 200)["data"]["blockingFailures"] == []
        stats = call("GET", f"{base}/stats", 200)["data"]
        assert stats["sends"]["sent"] == 0 and sum(stats["contacts"].values()) >= 2, stats
        assert call("POST", f"{base}/start", 200)["data"]["status"] == "running"
        assert call("POST", f"{base}/pause", 200)["data"]["pausedReason"] == "api"

        missing = served_campaign_operations(client) - call.called
        assert not missing, f"campaign routes with no e2e call: {sorted(missing)}"
