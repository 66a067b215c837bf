"""Campaigns over HTTP (in-process API, moto): reference shapes, validation, the start checks in order, pause and
resume, the mailbox pool, stats counters and isolation."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kindling.auth.scopes import ALL_SCOPES
from kindling.campaigns.repository import CampaignRepository
from kindling.enrollments.service import campaign_service
from kindling.platform.clock import ManualClock, isoformat
from tests.conftest import make_tenant
from tests.integration.campaigns.conftest import MailboxFactory, set_mailbox
from tests.integration.prospects.conftest import Api

REFERENCE_EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "reference" / "campaigns-examples.json"
# Documented additions to the reference's objects (see kindling/api/routes/campaigns.py).
EXTENSIONS = {
    "pausedReason",
    "pausedAt",
    "pausedHint",
    "sendingWindows",
    "minutesBetweenSends",
    "recipientDomainDailyLimit",
    "rotationMode",
    "mailboxes",
    "linkedinAccountIds",
    "variants",
    "linkedinOnTimeout",  # the waits' timeout branch (decisions.md "Waits."); the reference names no field
    "linkedinOnReply",  # wait_reply's replied branch (decisions.md "Waits."); the reference names no field
    "request_id",
    "idempotency_key",
}


def reference_examples() -> dict[str, Any]:
    """The JSON examples of the API reference's Campaigns section, by endpoint (extracted verbatim)."""
    loaded: dict[str, Any] = json.loads(REFERENCE_EXAMPLES.read_text())
    return loaded


def kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}[type(value)]


def assert_same_shape(actual: Any, expected: Any, path: str = "") -> None:
    """Exactly the reference's keys (plus the documented extensions) and the same JSON types; null matches any."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert set(expected) <= set(actual), f"{path}: missing {set(expected) - set(actual)}"
        extra = set(actual) - set(expected)
        assert extra <= EXTENSIONS, f"{path}: unexpected {extra}"
        for key, value in expected.items():
            assert_same_shape(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list) and expected and actual:
        assert isinstance(actual, list), path
        for item in actual:
            assert_same_shape(item, expected[0], path + "[]")
    elif expected is not None and actual is not None:
        assert kind(actual) == kind(expected), f"{path}: {kind(actual)} != {kind(expected)}"
        if kind(expected) == "string" and path.endswith("At"):
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", actual), path


STEP0 = {"stepIndex": 0, "subject": "Quick question, {{firstName}}", "bodyHtml": "<p>Hi {{firstName}}, ...</p>"}


def campaign_body(mailbox_ids: list[str], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "Q3 Outbound", "mailboxIds": mailbox_ids, "steps": [STEP0]}
    body.update(overrides)
    return body


def create(api: Api, mailbox_ids: list[str], **overrides: Any) -> dict[str, Any]:
    response = api.call("POST", "/api/v1/campaigns", json=campaign_body(mailbox_ids, **overrides))
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def prospect(api: Api, email: str, **fields: Any) -> str:
    response = api.call("POST", "/api/v1/prospects", json={"email": email, **fields})
    assert response.status_code in (200, 201), response.text
    return str(response.json()["data"]["id"])


def error_of(response: Any) -> dict[str, Any]:
    return dict(response.json()["error"])


# --- shapes, create, list ------------------------------------------------------------------------------------
def test_reference_flow_and_shapes(api: Api, mailbox_factory: MailboxFactory) -> None:
    examples = reference_examples()
    mailbox = mailbox_factory()
    pid = prospect(api, "sarah@acme.test", firstName="Sarah")
    body = dict(examples["POST /api/v1/campaigns (request)"])
    body.update(mailboxIds=[mailbox.id], prospectIds=[pid])
    created = api.call("POST", "/api/v1/campaigns", json=body, headers={"Idempotency-Key": "camp-1"})
    assert created.status_code == 201, created.text
    assert_same_shape(created.json(), examples["POST /api/v1/campaigns"])
    meta = created.json()["meta"]
    assert (meta["prospects_enrolled"], meta["prospects_suppressed"], meta["mailboxes_assigned"]) == (1, 0, 1)
    data = created.json()["data"]
    assert data["status"] == "draft" and data["totalProspects"] == 1
    assert data["scheduleDays"] is None and data["timezone"] == "UTC" and data["dailySendLimit"] == 50
    first, second = data["steps"]
    assert (first["stepIndex"], first["delayDays"], first["sendAsReply"]) == (0, 0, None)
    assert (second["stepIndex"], second["delayDays"], second["sendAsReply"]) == (1, 3, True)
    assert first["bodyText"] == "Hi {{firstName}}, ..."  # derived from the HTML when not given
    assert [v["letter"] for v in first["variants"]] == ["A"]
    assert data["recipientDomainDailyLimit"] == 50 and data["rotationMode"] == "round_robin"

    replay = api.call("POST", "/api/v1/campaigns", json=body, headers={"Idempotency-Key": "camp-1"})
    assert replay.status_code == 201 and replay.json()["data"]["id"] == data["id"]
    assert replay.headers.get("Idempotent-Replayed") == "true"

    got = api.call("GET", f"/api/v1/campaigns/{data['id']}")
    assert_same_shape(got.json(), examples["GET /api/v1/campaigns/{id}"])
    listed = api.call("GET", "/api/v1/campaigns")
    assert_same_shape(listed.json(), examples["GET /api/v1/campaigns"])
    assert [c["id"] for c in listed.json()["data"]] == [data["id"]]
    assert "steps" not in listed.json()["data"][0]


def test_list_is_newest_first_paginated_and_filtered(
    api: Api, mailbox_factory: MailboxFactory, clock: ManualClock
) -> None:
    mailbox = mailbox_factory()
    ids = []
    for n in range(3):
        ids.append(create(api, [mailbox.id], name=f"C{n}")["id"])
        clock.advance(timedelta(seconds=1))
    api.call("POST", f"/api/v1/campaigns/{ids[1]}/start")
    first = api.call("GET", "/api/v1/campaigns", params={"limit": 2}).json()
    assert [c["id"] for c in first["data"]] == [ids[2], ids[1]]
    assert first["pagination"]["has_more"] is True
    rest = api.call("GET", "/api/v1/campaigns", params={"limit": 2, "cursor": first["pagination"]["next_cursor"]})
    assert [c["id"] for c in rest.json()["data"]] == [ids[0]]
    running = api.call("GET", "/api/v1/campaigns", params={"status": "running"}).json()["data"]
    assert [c["id"] for c in running] == [ids[1]]
    assert api.call("GET", "/api/v1/campaigns", params={"status": "bogus"}).status_code == 400
    assert api.call("GET", "/api/v1/campaigns", params={"cursor": "garbage"}).status_code == 400


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"steps": []}, "steps"),
        ({"steps": [STEP0] * 51}, "steps"),
        ({"steps": [STEP0, {**STEP0, "subject": "again"}]}, "steps"),  # duplicate stepIndex
        ({"mailboxIds": []}, "mailboxIds"),
        ({"dailySendLimit": 0}, "dailySendLimit"),
        ({"dailySendLimit": 10_001}, "dailySendLimit"),
        ({"endDate": "2020-01-01T00:00:00Z"}, "endDate"),
        ({"startDate": "2026-07-02T00:00:00Z", "endDate": "2026-07-01T00:00:00Z"}, "endDate"),
        ({"timezone": "Nowhere/Land"}, "timezone"),
        ({"scheduleDays": [0, 8]}, "scheduleDays"),
        ({"sendingWindowStart": "17:00", "sendingWindowEnd": "09:00"}, "body"),
        ({"steps": [{**STEP0, "sendAsReply": True}]}, "steps.0.sendAsReply"),
        ({"steps": [{"stepIndex": 0, "bodyHtml": "<p>no subject</p>"}]}, "steps.0.subject"),
        ({"steps": [{"stepIndex": 0, "subject": "s"}]}, "steps.0.bodyHtml"),
    ],
)
def test_create_validation(api: Api, mailbox_factory: MailboxFactory, overrides: dict[str, Any], field: str) -> None:
    mailbox = mailbox_factory()
    response = api.call("POST", "/api/v1/campaigns", json=campaign_body([mailbox.id], **overrides))
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert any(d["field"].startswith(field) for d in error["details"]), error["details"]


def test_template_syntax_error_is_400_with_position(api: Api, mailbox_factory: MailboxFactory) -> None:
    mailbox = mailbox_factory()
    steps = [STEP0, {"stepIndex": 1, "subject": "Follow up", "bodyHtml": "<p>Hi</p>\n<p>{{company}</p>"}]
    response = api.call("POST", "/api/v1/campaigns", json=campaign_body([mailbox.id], steps=steps))
    assert response.status_code == 400, response.text
    detail = next(d for d in error_of(response)["details"] if d["field"] == "steps.1.bodyHtml")
    assert detail["code"] == "template_syntax"
    assert detail["line"] == 2 and detail["column"] >= 1


def test_steps_are_ordered_and_delays_normalised(api: Api, mailbox_factory: MailboxFactory) -> None:
    mailbox = mailbox_factory()
    steps = [
        {"stepIndex": 7, "subject": "third", "bodyHtml": "c", "delayHours": 6, "delayDays": 0},
        {"stepIndex": 2, "subject": "", "bodyHtml": "b", "sendAsReply": True},
        {"stepIndex": 0, "subject": "first", "bodyHtml": "a", "delayDays": 4},
    ]
    data = create(api, [mailbox.id], steps=steps)
    got = [(s["stepIndex"], s["subject"], s["delayDays"], s["delayHours"], s["sendAsReply"]) for s in data["steps"]]
    assert got == [(0, "first", 0, None, None), (1, "", 1, None, True), (2, "third", 0, 6, None)]


def test_unusable_mailboxes_are_refused_at_create(api: Api, mailbox_factory: MailboxFactory) -> None:
    good = mailbox_factory()
    off = mailbox_factory(sending_enabled=False)
    down = mailbox_factory(status="error")
    foreign = make_tenant()
    response = api.call("POST", "/api/v1/campaigns", json=campaign_body([good.id, off.id, down.id, "nope"]))
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "unusable_mailboxes"
    assert {(d["mailboxId"], d["code"]) for d in error["details"]} == {
        (off.id, "sending_disabled"),
        (down.id, "not_connected"),
        ("nope", "not_found"),
    }
    assert foreign.workspace_id != api.tenant.workspace_id
    assert api.call("GET", "/api/v1/campaigns").json()["data"] == []


# --- PATCH -----------------------------------------------------------------------------------------------------
def test_patch_matches_reference_and_is_refused_while_running(
    api: Api, mailbox_factory: MailboxFactory, clock: ManualClock
) -> None:
    examples = reference_examples()
    mailbox = mailbox_factory()
    campaign = create(api, [mailbox.id])
    path = f"/api/v1/campaigns/{campaign['id']}"
    patched = api.call("PATCH", path, json=examples["PATCH /api/v1/campaigns/{id} (request)"])
    assert patched.status_code == 200, patched.text
    assert_same_shape(patched.json(), examples["PATCH /api/v1/campaigns/{id}"])
    data = patched.json()["data"]
    assert data["dailySendLimit"] == 80 and data["scheduleDays"] == [1, 2, 3, 4, 5]

    end = isoformat(clock.now() + timedelta(days=30))
    settings = {
        "timezone": "America/New_York",
        "sendingWindows": [{"start": "09:00", "end": "12:00"}, {"start": "14:00", "end": "17:00", "days": [1, 3]}],
        "minutesBetweenSends": 12,
        "stopOnUnsubscribe": False,
        "trackClicks": False,
        "recipientDomainDailyLimit": 20,
        "rotationMode": "weighted",
        "endDate": end,
        "description": "founders",
    }
    data = api.call("PATCH", path, json=settings).json()["data"]
    assert data["timezone"] == "America/New_York" and data["endDate"] == end
    assert data["sendingWindows"][1] == {"start": "14:00", "end": "17:00", "days": [1, 3]}
    assert (data["minutesBetweenSends"], data["recipientDomainDailyLimit"], data["rotationMode"]) == (
        12,
        20,
        "weighted",
    )
    assert data["stopOnUnsubscribe"] is False and data["trackClicks"] is False and data["description"] == "founders"
    cleared = api.call("PATCH", path, json={"endDate": None, "scheduleDays": None, "description": None}).json()["data"]
    assert cleared["endDate"] is None and cleared["scheduleDays"] is None and cleared["description"] is None
    overlap = api.call(
        "PATCH", path, json={"sendingWindows": [{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]}
    )
    assert overlap.status_code == 400
    assert api.call("PATCH", path, json={"name": None}).status_code == 400

    assert api.call("POST", f"{path}/start").status_code == 200
    refused = api.call("PATCH", path, json={"name": "renamed"})
    assert refused.status_code == 400 and error_of(refused)["code"] == "invalid_status"
    assert api.call("POST", f"{path}/pause").status_code == 200
    renamed = api.call("PATCH", path, json={"name": "renamed"})
    assert renamed.status_code == 200 and renamed.json()["data"]["name"] == "renamed"
    assert renamed.json()["data"]["status"] == "paused"


def test_patch_mailbox_ids_replaces_the_pool_and_keeps_settings(api: Api, mailbox_factory: MailboxFactory) -> None:
    first, second, off = mailbox_factory(), mailbox_factory(), mailbox_factory(sending_enabled=False)
    campaign = create(api, [first.id])
    path = f"/api/v1/campaigns/{campaign['id']}"
    assert api.call("PATCH", f"{path}/mailboxes/{first.id}", json={"weight": 300}).status_code == 200
    data = api.call("PATCH", path, json={"mailboxIds": [first.id, second.id]}).json()["data"]
    assert [(m["mailboxId"], m["weight"]) for m in data["mailboxes"]] == [(first.id, 300), (second.id, 100)]
    refused = api.call("PATCH", path, json={"mailboxIds": [off.id]})
    assert refused.status_code == 400 and error_of(refused)["code"] == "unusable_mailboxes"


# --- start / pause ---------------------------------------------------------------------------------------------
def test_start_checks_run_in_the_reference_order(api: Api, mailbox_factory: MailboxFactory, clock: ManualClock) -> None:
    mailbox = mailbox_factory()
    pid = prospect(api, "lee@acme.test", customFields={"plan": "pro", "seats": 4})
    steps = [{**STEP0, "bodyHtml": "<p>{{custom.plan}} for {{custom.team_size}} and {{custom.region}}</p>"}]
    end = clock.now() + timedelta(days=1)
    campaign = create(api, [mailbox.id], steps=steps, prospectIds=[pid], endDate=isoformat(end))
    path = f"/api/v1/campaigns/{campaign['id']}"
    clock.advance(timedelta(days=2))
    set_mailbox(mailbox, status="disconnected")

    first = api.call("POST", f"{path}/start")
    assert first.status_code == 400 and error_of(first)["code"] == "unusable_mailboxes"
    set_mailbox(mailbox, status="connected")
    second = api.call("POST", f"{path}/start")
    assert second.status_code == 400 and error_of(second)["code"] == "end_date_expired"
    assert api.call("PATCH", path, json={"endDate": None}).status_code == 200
    third = api.call("POST", f"{path}/start")
    assert third.status_code == 400
    error = error_of(third)
    assert error["code"] == "unresolved_custom_fields"
    assert {d["field"] for d in error["details"]} == {"custom.team_size", "custom.region"}
    assert error["details"][0]["available"] == ["plan", "seats"]
    assert "custom.team_size" in error["message"] and "plan, seats" in error["message"]
    assert api.call("GET", path).json()["data"]["status"] == "draft"

    step_id = campaign["steps"][0]["id"]
    fixed = api.call(
        "PATCH", f"{path}/steps/{step_id}", json={"bodyHtml": "<p>{{custom.plan}} for {{custom.seats}}</p>"}
    )
    assert fixed.status_code == 200, fixed.text
    started = api.call("POST", f"{path}/start")
    assert started.status_code == 200, started.text
    assert started.json()["data"]["status"] == "running"
    again = api.call("POST", f"{path}/start")
    assert again.status_code == 400 and error_of(again)["code"] == "invalid_status"


def test_start_refuses_a_pool_without_active_mailboxes(api: Api, mailbox_factory: MailboxFactory) -> None:
    mailbox = mailbox_factory()
    campaign = create(api, [mailbox.id])
    path = f"/api/v1/campaigns/{campaign['id']}"
    assert api.call("PATCH", f"{path}/mailboxes/{mailbox.id}", json={"active": False}).status_code == 200
    refused = api.call("POST", f"{path}/start")
    assert refused.status_code == 400 and error_of(refused)["code"] == "unusable_mailboxes"


def test_pause_records_the_reason_and_start_resumes(
    api: Api, mailbox_factory: MailboxFactory, clock: ManualClock
) -> None:
    examples = reference_examples()
    campaign = create(api, [mailbox_factory().id])
    path = f"/api/v1/campaigns/{campaign['id']}"
    refused = api.call("POST", f"{path}/pause")
    assert refused.status_code == 400 and error_of(refused)["code"] == "invalid_status"
    started = api.call("POST", f"{path}/start")
    assert_same_shape(started.json(), examples["POST /api/v1/campaigns/{id}/start"])
    clock.advance(timedelta(minutes=3))
    paused = api.call("POST", f"{path}/pause")
    assert paused.status_code == 200
    assert_same_shape(paused.json(), examples["POST /api/v1/campaigns/{id}/pause"])
    data = paused.json()["data"]
    assert (data["status"], data["pausedReason"], data["pausedAt"]) == ("paused", "api", isoformat(clock.now()))
    assert error_of(api.call("POST", f"{path}/pause"))["code"] == "invalid_status"
    resumed = api.call("POST", f"{path}/start").json()["data"]
    assert (resumed["status"], resumed["pausedReason"], resumed["pausedAt"]) == ("running", None, None)


def test_future_start_date_schedules_then_the_engine_runs_it(
    api: Api, mailbox_factory: MailboxFactory, clock: ManualClock
) -> None:
    start = clock.now() + timedelta(days=2)
    campaign = create(api, [mailbox_factory().id], startDate=isoformat(start))
    path = f"/api/v1/campaigns/{campaign['id']}"
    assert api.call("POST", f"{path}/start").json()["data"]["status"] == "scheduled"
    assert api.call("POST", f"{path}/pause").json()["data"]["status"] == "paused"
    assert api.call("POST", f"{path}/start").json()["data"]["status"] == "scheduled"
    service = campaign_service()
    assert service.advance_due(clock.now()) == 0
    clock.set(start)
    assert service.advance_due(clock.now()) == 1
    assert api.call("GET", path).json()["data"]["status"] == "running"


def test_end_date_completes_a_running_campaign(api: Api, mailbox_factory: MailboxFactory, clock: ManualClock) -> None:
    campaign = create(api, [mailbox_factory().id], endDate=isoformat(clock.now() + timedelta(days=1)))
    path = f"/api/v1/campaigns/{campaign['id']}"
    api.call("POST", f"{path}/start")
    clock.advance(timedelta(days=1, seconds=1))
    assert campaign_service().advance_due(clock.now()) == 1
    assert api.call("GET", path).json()["data"]["status"] == "completed"
    assert error_of(api.call("POST", f"{path}/start"))["code"] == "invalid_status"


# --- the status machine over HTTP ------------------------------------------------------------------------------
def drive(api: Api, mailbox_id: str, status: str, clock: ManualClock) -> str:
    """A new campaign in `status`, through the API and (for the engine's statuses) the service."""
    extra: dict[str, Any] = {}
    if status == "scheduled":
        extra["startDate"] = isoformat(clock.now() + timedelta(days=3))
    campaign_id = str(create(api, [mailbox_id], **extra)["id"])
    ws = api.tenant.workspace_id
    service = campaign_service()
    if status != "draft":
        assert api.call("POST", f"/api/v1/campaigns/{campaign_id}/start").status_code == 200
    if status == "paused":
        service.pause(ws, campaign_id)
    elif status in ("completed", "cooldown", "errored"):
        action = {"completed": "complete", "cooldown": "cooldown", "errored": "fail"}[status]
        service.transition(ws, campaign_id, action, reason="test")  # type: ignore[arg-type]
    assert service.get(ws, campaign_id).status == status
    return campaign_id


# API action -> (method, path suffix, body) ; path placeholders filled per campaign.
API_ACTIONS: dict[str, tuple[str, str, Any]] = {
    "start": ("POST", "/start", None),
    "pause": ("POST", "/pause", None),
    "patch": ("PATCH", "", {"dailySendLimit": 70}),
    "add_step": ("POST", "/steps", {"subject": "Another", "bodyHtml": "<p>more</p>"}),
    "patch_step": ("PATCH", "/steps/{step}", {"subject": "Changed"}),
    "delete_step": ("DELETE", "/steps/{second}", None),
    "add_variant": ("POST", "/steps/{step}/variants", {"subject": "B side"}),
    "patch_variant": ("PATCH", "/steps/{step}/variants/A", {"weight": 40}),
    "mailbox_settings": ("PATCH", "/mailboxes/{mailbox}", {"weight": 5}),
}
ALLOWED_BY_STATUS: dict[str, set[str]] = {
    "draft": {
        "start",
        "patch",
        "add_step",
        "patch_step",
        "delete_step",
        "add_variant",
        "patch_variant",
        "mailbox_settings",
    },
    "scheduled": {"pause", "mailbox_settings"},
    "running": {"pause", "mailbox_settings"},
    "paused": {
        "start",
        "patch",
        "add_step",
        "patch_step",
        "delete_step",
        "add_variant",
        "patch_variant",
        "mailbox_settings",
    },
    "completed": set(),
    "cooldown": {"mailbox_settings"},
    "errored": set(),
}


@pytest.mark.parametrize("status", list(ALLOWED_BY_STATUS))
def test_status_machine_over_http(api: Api, mailbox_factory: MailboxFactory, clock: ManualClock, status: str) -> None:
    mailbox = mailbox_factory()
    for action, (method, suffix, body) in API_ACTIONS.items():
        campaign_id = drive(api, mailbox.id, status, clock)
        steps = campaign_service().get(api.tenant.workspace_id, campaign_id).steps
        if action == "delete_step":
            # The step to delete must not be the only one; added straight through the repository's record.
            record = campaign_service().get(api.tenant.workspace_id, campaign_id)
            extra = steps[0].model_copy(update={"id": "second-step", "step_index": 1, "delay_days": 1})
            CampaignRepository().save(
                record.model_copy(update={"steps": [*steps, extra]}), record.version, step_puts=[extra]
            )
        path = f"/api/v1/campaigns/{campaign_id}" + suffix.format(
            step=steps[0].id, second="second-step", mailbox=mailbox.id
        )
        before = api.call("GET", f"/api/v1/campaigns/{campaign_id}").json()["data"]
        response = api.call(method, path, json=body) if body is not None else api.call(method, path)
        if action in ALLOWED_BY_STATUS[status]:
            assert response.status_code in (200, 201, 204), (status, action, response.text)
        else:
            assert response.status_code == 400, (status, action, response.text)
            assert error_of(response)["code"] == "invalid_status", (status, action)
            after = api.call("GET", f"/api/v1/campaigns/{campaign_id}").json()["data"]
            assert after == before, (status, action)  # a refused action changes nothing


# --- the mailbox pool ------------------------------------------------------------------------------------------
def test_mailbox_pool(api: Api, mailbox_factory: MailboxFactory) -> None:
    first, second, off = mailbox_factory(), mailbox_factory(), mailbox_factory(sending_enabled=False)
    campaign = create(api, [first.id])
    base = f"/api/v1/campaigns/{campaign['id']}/mailboxes"
    attached = api.call("POST", base, json={"mailboxId": second.id, "weight": 250, "maxSendsPerMailboxPerDay": 30})
    assert attached.status_code == 201, attached.text
    view = attached.json()["data"]
    assert (view["weight"], view["maxSendsPerMailboxPerDay"], view["active"], view["usable"]) == (250, 30, True, True)
    assert view["emailAddress"] == second.email_address
    assert api.call("POST", base, json={"mailboxId": second.id}).status_code == 409
    refused = api.call("POST", base, json={"mailboxId": off.id})
    assert refused.status_code == 400 and error_of(refused)["code"] == "unusable_mailboxes"
    for bad in ({"weight": 0}, {"weight": 1001}, {"maxSendsPerMailboxPerDay": 0}, {"active": None}):
        assert api.call("PATCH", f"{base}/{second.id}", json=bad).status_code == 400, bad
    api.call("POST", f"/api/v1/campaigns/{campaign['id']}/start")
    changed = api.call("PATCH", f"{base}/{second.id}", json={"active": False, "maxSendsPerMailboxPerDay": None})
    assert changed.status_code == 200  # the pool may change while running
    assert (changed.json()["data"]["active"], changed.json()["data"]["maxSendsPerMailboxPerDay"]) == (False, None)
    set_mailbox(first, status="error")
    listed = api.call("GET", base).json()["data"]
    assert [(m["mailboxId"], m["usable"], m["problem"]) for m in listed] == [
        (first.id, False, "not_connected"),
        (second.id, True, None),
    ]
    assert api.call("DELETE", f"{base}/{first.id}").status_code == 204
    assert api.call("DELETE", f"{base}/{first.id}").status_code == 404
    assert [m["mailboxId"] for m in api.call("GET", base).json()["data"]] == [second.id]


# --- stats -----------------------------------------------------------------------------------------------------
def test_stats_counters_show_in_campaign_step_and_variant(api: Api, mailbox_factory: MailboxFactory) -> None:
    campaign = create(api, [mailbox_factory().id])
    ws, cid = api.tenant.workspace_id, campaign["id"]
    step_id = campaign["steps"][0]["id"]
    api.call("POST", f"/api/v1/campaigns/{cid}/steps/{step_id}/variants", json={"subject": "B"})
    repo = CampaignRepository()
    repo.increment_stats(ws, cid, step_id=step_id, letter="A", sent=3, opened=2)
    repo.increment_stats(ws, cid, step_id=step_id, letter="B", sent=1, replied=1)
    repo.increment_stats(ws, cid, unsubscribed=1)
    with pytest.raises(ValueError, match="counters"):
        repo.increment_stats(ws, cid, delivered=1)
    data = api.call("GET", f"/api/v1/campaigns/{cid}").json()["data"]
    assert (data["sent"], data["opened"], data["replied"], data["unsubscribed"]) == (4, 2, 1, 1)
    step = data["steps"][0]
    assert (step["sentCount"], step["openCount"], step["replyCount"]) == (4, 2, 1)
    assert [(v["letter"], v["sentCount"]) for v in step["variants"]] == [("A", 3), ("B", 1)]
    listed = api.call("GET", "/api/v1/campaigns").json()["data"][0]
    assert (listed["sent"], listed["unsubscribed"]) == (4, 1)
    stats = api.call("GET", f"/api/v1/campaigns/{cid}/stats").json()["data"]
    assert stats["sends"]["sent"] == 4 and stats["contacts"]["total"] == 0
    assert [(v["letter"], v["replied"]) for v in stats["steps"][0]["variants"]] == [("A", 0), ("B", 1)]


# --- isolation and scopes --------------------------------------------------------------------------------------
def test_other_workspaces_campaigns_are_not_found(api: Api, mailbox_factory: MailboxFactory) -> None:
    campaign = create(api, [mailbox_factory().id])
    other = make_tenant(name="Other")
    step_id = campaign["steps"][0]["id"]
    base = f"/api/v1/campaigns/{campaign['id']}"
    for method, path in [
        ("GET", base),
        ("PATCH", base),
        ("POST", f"{base}/start"),
        ("POST", f"{base}/pause"),
        ("GET", f"{base}/preflight"),
        ("GET", f"{base}/stats"),
        ("GET", f"{base}/steps"),
        ("PATCH", f"{base}/steps/{step_id}"),
        ("DELETE", f"{base}/steps/{step_id}"),
        ("GET", f"{base}/steps/{step_id}/variants"),
        ("GET", f"{base}/mailboxes"),
    ]:
        kwargs: dict[str, Any] = {"json": {}} if method == "PATCH" else {}
        response = api.client.request(method, path, headers=other.headers, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
        assert error_of(response)["code"] == "not_found"
    assert api.client.get("/api/v1/campaigns", headers=other.headers).json()["data"] == []


def test_scopes(api: Api, mailbox_factory: MailboxFactory) -> None:
    campaign = create(api, [mailbox_factory().id])
    reader = make_tenant(scopes=("campaigns:read",))
    # Same workspace is not needed to see the scope check: it runs before the lookup.
    assert api.client.get("/api/v1/campaigns", headers=reader.headers).status_code == 200
    for method, path in [("POST", "/api/v1/campaigns"), ("POST", f"/api/v1/campaigns/{campaign['id']}/start")]:
        response = api.client.request(method, path, headers=reader.headers, json={})
        assert response.status_code == 403 and error_of(response)["code"] == "insufficient_scope"
    nobody = make_tenant(scopes=tuple(s for s in ALL_SCOPES if not s.startswith("campaigns")))
    assert api.client.get("/api/v1/campaigns", headers=nobody.headers).status_code == 403
