"""Steps, variants, preflight and preview over HTTP (in-process API, moto)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from kindling.campaigns.models import assign_variant
from kindling.enrollments.service import campaign_service
from kindling.platform.clock import ManualClock, isoformat
from tests.integration.campaigns.conftest import MailboxFactory, set_mailbox
from tests.integration.campaigns.test_campaigns_api import STEP0, create, error_of, prospect
from tests.integration.prospects.conftest import Api


def steps_of(api: Api, campaign_id: str) -> list[dict[str, Any]]:
    response = api.call("GET", f"/api/v1/campaigns/{campaign_id}/steps")
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


# --- steps -----------------------------------------------------------------------------------------------------
def test_step_crud_keeps_the_sequence_contiguous(api: Api, mailbox_factory: MailboxFactory) -> None:
    campaign = create(api, [mailbox_factory().id])
    cid = campaign["id"]
    base = f"/api/v1/campaigns/{cid}/steps"
    appended = api.call("POST", base, json={"subject": "Follow up", "bodyHtml": "<p>bump</p>", "name": "Bump"})
    assert appended.status_code == 201, appended.text
    step = appended.json()["data"]
    assert (step["stepIndex"], step["delayDays"], step["name"]) == (1, 1, "Bump")  # later steps default to 1 day

    first = api.call(
        "POST", base, json={"stepIndex": 0, "subject": "Opener", "bodyHtml": "<p>new first</p>", "delayDays": 5}
    )
    assert first.status_code == 201
    assert (first.json()["data"]["stepIndex"], first.json()["data"]["delayDays"]) == (0, 0)
    listed = steps_of(api, cid)
    assert [(s["subject"], s["stepIndex"], s["delayDays"]) for s in listed] == [
        ("Opener", 0, 0),
        (STEP0["subject"], 1, 1),  # the former first step now waits the default day
        ("Follow up", 2, 1),
    ]

    patched = api.call(
        "PATCH",
        f"{base}/{listed[2]['id']}",
        json={"subject": "Re: bump", "sendAsReply": True, "delayDays": 2, "delayHours": 4},
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["data"]["subject"], patched.json()["data"]["delayHours"]) == ("Re: bump", 4)
    assert api.call("PATCH", f"{base}/{listed[0]['id']}", json={"delayDays": 2}).status_code == 400
    assert api.call("PATCH", f"{base}/{listed[0]['id']}", json={"sendAsReply": True}).status_code == 400
    assert api.call("PATCH", f"{base}/{listed[0]['id']}", json={"isActive": None}).status_code == 400
    bad = api.call("PATCH", f"{base}/{listed[1]['id']}", json={"subject": "{% if %}"})
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["code"] == "template_syntax"
    got = api.call("GET", f"{base}/{listed[1]['id']}").json()["data"]
    assert got["subject"] == STEP0["subject"]  # the refused change left no trace

    assert api.call("DELETE", f"{base}/{listed[0]['id']}").status_code == 204
    remaining = steps_of(api, cid)
    assert [(s["id"], s["stepIndex"], s["delayDays"]) for s in remaining] == [
        (listed[1]["id"], 0, 0),  # the new first step sends immediately
        (listed[2]["id"], 1, 2),
    ]
    assert api.call("GET", f"{base}/{listed[0]['id']}").status_code == 404
    assert api.call("DELETE", f"{base}/{remaining[1]['id']}").status_code == 204
    last = api.call("DELETE", f"{base}/{remaining[0]['id']}")
    assert last.status_code == 422 and error_of(last)["code"] == "cannot_delete_last_step"
    detail = api.call("GET", f"/api/v1/campaigns/{cid}").json()["data"]
    assert [s["id"] for s in detail["steps"]] == [remaining[0]["id"]]


def test_step_with_variants_and_the_fifty_step_limit(api: Api, mailbox_factory: MailboxFactory) -> None:
    steps = [{"stepIndex": i, "subject": f"s{i}", "bodyHtml": "b"} for i in range(50)]
    steps[0] = {
        "stepIndex": 0,
        "subject": "Shared subject",
        "bodyHtml": "<p>default body</p>",
        "variants": [{"weight": 70}, {"subject": "Other subject", "bodyHtml": "<p>B body</p>", "weight": 30}],
    }
    campaign = create(api, [mailbox_factory().id], steps=steps)
    variants = campaign["steps"][0]["variants"]
    assert [(v["letter"], v["subject"], v["bodyHtml"], v["weight"]) for v in variants] == [
        ("A", "Shared subject", "<p>default body</p>", 70),
        ("B", "Other subject", "<p>B body</p>", 30),
    ]
    full = api.call("POST", f"/api/v1/campaigns/{campaign['id']}/steps", json={"subject": "x", "bodyHtml": "y"})
    assert full.status_code == 400


# --- variants --------------------------------------------------------------------------------------------------
def test_variants_letters_weights_and_the_last_enabled_rule(api: Api, mailbox_factory: MailboxFactory) -> None:
    campaign = create(api, [mailbox_factory().id])
    step_id = campaign["steps"][0]["id"]
    base = f"/api/v1/campaigns/{campaign['id']}/steps/{step_id}/variants"
    b = api.call("POST", base, json={"subject": "Idea for {{company}}", "weight": 50})
    assert b.status_code == 201, b.text
    b_data = b.json()["data"]
    assert (b_data["letter"], b_data["bodyHtml"], b_data["weight"], b_data["enabled"]) == (
        "B",
        STEP0["bodyHtml"],
        50,
        True,
    )
    c = api.call("POST", base, json={"bodyHtml": "<p>C</p>", "weight": 0}).json()["data"]
    assert c["letter"] == "C" and c["subject"] == STEP0["subject"]
    assert api.call("POST", base, json={"weight": 1001}).status_code == 400
    assert api.call("POST", base, json={"bodyHtml": "{{ oops"}).status_code == 400

    letters = [v["letter"] for v in api.call("GET", base).json()["data"]]
    assert letters == ["A", "B", "C"]
    assert api.call("DELETE", f"{base}/{c['id']}").status_code == 204
    d = api.call("POST", base, json={}).json()["data"]
    assert d["letter"] == "D"  # letters are never reused: sticky assignments keep their content

    a_id = api.call("GET", base).json()["data"][0]["id"]
    for variant_id in (a_id, d["id"]):
        assert api.call("PATCH", f"{base}/{variant_id}", json={"enabled": False}).status_code == 200
    refused = api.call("PATCH", f"{base}/{b_data['id']}", json={"enabled": False})
    assert refused.status_code == 422 and error_of(refused)["code"] == "cannot_delete_last_variant"
    refused = api.call("DELETE", f"{base}/{b_data['id']}")
    assert refused.status_code == 422 and error_of(refused)["code"] == "cannot_delete_last_variant"
    assert api.call("DELETE", f"{base}/{a_id}").status_code == 204  # disabled ones can go
    assert api.call("PATCH", f"{base}/B", json={"weight": 10}).json()["data"]["weight"] == 10  # by letter too
    assert api.call("PATCH", f"{base}/nope", json={"weight": 10}).status_code == 404

    step = api.call("GET", f"/api/v1/campaigns/{campaign['id']}/steps/{step_id}").json()["data"]
    assert step["subject"] == "Idea for {{company}}"  # the step shows its first remaining variant


def test_assignment_over_stored_variants_is_weighted(api: Api, mailbox_factory: MailboxFactory) -> None:
    campaign = create(api, [mailbox_factory().id])
    step_id = campaign["steps"][0]["id"]
    base = f"/api/v1/campaigns/{campaign['id']}/steps/{step_id}/variants"
    api.call("PATCH", f"{base}/A", json={"weight": 25})
    api.call("POST", base, json={"weight": 75})
    step = campaign_service().get(api.tenant.workspace_id, campaign["id"]).steps[0]
    counts = Counter(assign_variant(step.variants, f"enr_{n}") for n in range(4000))
    assert abs(counts["B"] / 4000 - 0.75) < 0.03


# --- preflight -------------------------------------------------------------------------------------------------
def test_preflight(api: Api, mailbox_factory: MailboxFactory, clock: ManualClock) -> None:
    mailbox = mailbox_factory()
    steps = [{**STEP0, "bodyHtml": "<p>{{custom.plan}}</p>"}]
    campaign = create(api, [mailbox.id], steps=steps, endDate=isoformat(clock.now() + timedelta(hours=1)))
    path = f"/api/v1/campaigns/{campaign['id']}/preflight"

    report = api.call("GET", path).json()["data"]
    checks = {c["name"]: c for c in report["checks"]}
    assert list(checks) == [
        "has_steps",
        "has_prospects",
        "has_mailboxes",
        "mailbox_connected",
        "templates_valid",
        "schedule_set",
        "end_date_ok",
    ]
    assert checks["has_steps"]["passed"] and checks["has_mailboxes"]["passed"] and checks["mailbox_connected"]["passed"]
    assert not checks["has_prospects"]["passed"] and not checks["has_prospects"]["blocking"]
    assert not checks["templates_valid"]["passed"] and "custom.plan" in checks["templates_valid"]["message"]
    assert not checks["schedule_set"]["passed"] and not checks["schedule_set"]["blocking"]
    assert report["blockingFailures"] == ["templates_valid"]
    assert report["summary"].startswith("1 blocking issue")

    pid = prospect(api, "kim@acme.test", customFields={"plan": "pro"})
    api.call("POST", f"/api/v1/campaigns/{campaign['id']}/enrollments", json={"prospectIds": [pid]})
    api.call(
        "PATCH",
        f"/api/v1/campaigns/{campaign['id']}",
        json={"sendingWindowStart": "09:00", "sendingWindowEnd": "17:00"},
    )
    report = api.call("GET", path).json()["data"]
    assert report["blockingFailures"] == [] and report["warnings"] == []
    assert report["summary"] == "All checks passed. Ready to launch."

    set_mailbox(mailbox, sending_enabled=False)
    clock.advance(timedelta(hours=2))
    report = api.call("GET", path).json()["data"]
    assert report["blockingFailures"] == ["mailbox_connected", "end_date_ok"]
    checks = {c["name"]: c for c in report["checks"]}
    assert "sending is disabled" in checks["mailbox_connected"]["message"]


# --- preview ---------------------------------------------------------------------------------------------------
def test_preview_ad_hoc_step_and_contact(api: Api) -> None:
    body = {
        "step": {
            "subject": "Quick question about {{company}}",
            "bodyHtml": "<p>Hi {{firstName | default: 'there'}},</p><p>I noticed {{company}} is growing fast...</p>",
        },
        "contact": {"firstName": "Sarah", "lastName": "Chen", "company": "Acme Corp", "email": "sarah@acme.test"},
    }
    response = api.call("POST", "/api/v1/campaigns/steps/preview", json=body)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["subject"] == "Quick question about Acme Corp"
    assert "<p>Hi Sarah,</p>" in data["bodyHtml"] and "Acme Corp is growing fast" in data["bodyHtml"]
    assert "Hi Sarah," in data["bodyText"] and "<p>" not in data["bodyText"]
    fallback = api.call("POST", "/api/v1/campaigns/steps/preview", json={"step": body["step"]}).json()["data"]
    assert "Hi there," in fallback["bodyHtml"]


def test_preview_stored_step_prospect_and_sender(api: Api, mailbox_factory: MailboxFactory) -> None:
    mailbox = mailbox_factory(display_name="Jordan Lee", signature="<p>-- Jordan at Kindling</p>")
    steps = [{**STEP0, "bodyHtml": "<p>Hi {{firstName}} on {{custom.plan}}</p>{{signature}}"}]
    campaign = create(api, [mailbox.id], steps=steps)
    step_id = campaign["steps"][0]["id"]
    variant = api.call(
        "POST",
        f"/api/v1/campaigns/{campaign['id']}/steps/{step_id}/variants",
        json={"subject": "B for {{firstName}}", "bodyHtml": "<p>B</p>"},
    ).json()["data"]
    pid = prospect(api, "ana@acme.test", firstName="Ana", customFields={"plan": "Pro"})
    body: dict[str, Any] = {"campaignId": campaign["id"], "stepId": step_id, "prospectId": pid, "mailboxId": mailbox.id}
    data = api.call("POST", "/api/v1/campaigns/steps/preview", json=body).json()["data"]
    assert data["subject"] == "Quick question, Ana"
    assert "Hi Ana on Pro" in data["bodyHtml"] and "-- Jordan at Kindling" in data["bodyHtml"]
    b = api.call("POST", "/api/v1/campaigns/steps/preview", json={**body, "variant": variant["letter"]}).json()["data"]
    assert b["subject"] == "B for Ana"
    overridden = api.call(
        "POST", "/api/v1/campaigns/steps/preview", json={**body, "contact": {"firstName": "Annie"}}
    ).json()["data"]
    assert overridden["subject"] == "Quick question, Annie"


def test_preview_errors(api: Api, mailbox_factory: MailboxFactory) -> None:
    url = "/api/v1/campaigns/steps/preview"
    bad = api.call("POST", url, json={"step": {"subject": "Hi", "bodyHtml": "<p>\n{{company</p>"}})
    assert bad.status_code == 400
    detail = bad.json()["error"]["details"][0]
    assert detail["code"] == "template_syntax" and detail["line"] == 2
    assert api.call("POST", url, json={}).status_code == 400
    assert api.call("POST", url, json={"campaignId": "nope", "stepId": "nope"}).status_code == 404
    campaign = create(api, [mailbox_factory().id])
    step_id = campaign["steps"][0]["id"]
    missing = {"campaignId": campaign["id"], "stepId": step_id, "prospectId": "nope"}
    assert api.call("POST", url, json=missing).status_code == 404
    assert api.call("POST", url, json={**missing, "prospectId": None, "mailboxId": "nope"}).status_code == 404
    assert api.call("POST", url, json={**missing, "prospectId": None, "variant": "Z"}).status_code == 404
