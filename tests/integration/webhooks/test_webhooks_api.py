"""The Webhooks API in-process (moto KMS/SQS/DynamoDB) with a real receiver on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from kindling.auth.scopes import ALL_SCOPES
from tests.conftest import make_tenant
from tests.integration.webhooks.conftest import Pipeline
from tests.unit.webhooks.test_signing_and_retry import reference_verify

REFERENCE_EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "reference" / "webhooks-examples.json"


def reference_examples() -> dict[str, Any]:
    """The response JSON examples of the API reference's Webhooks section, by heading (extracted verbatim into a
    fixture so the test needs nothing outside the repository)."""
    loaded: dict[str, Any] = json.loads(REFERENCE_EXAMPLES.read_text())
    return loaded


def test_create_list_patch_delete_match_the_reference(pipeline: Pipeline) -> None:
    examples = reference_examples()
    client, headers = pipeline.client, pipeline.tenant.headers
    body = {"url": pipeline.receiver.url(), "events": ["reply.received", "email.bounced", "linkedin.reply_received"]}
    created = client.post("/api/v1/webhooks", json=body, headers=headers)
    assert created.status_code == 201, created.text
    payload = created.json()
    expected = examples["Create a webhook"]
    assert set(payload) - {"meta"} == set(expected)
    assert payload["message"] == expected["message"]
    assert set(payload["data"]) - {"campaignIds"} == set(expected["data"])
    data = payload["data"]
    assert data["id"].startswith("wh_") and data["secret"].startswith("whsec_") and data["isActive"] is True
    assert data["createdAt"].endswith("Z")

    listed = client.get("/api/v1/webhooks", headers=headers).json()
    assert set(listed["data"][0]) - {"campaignIds"} == set(examples["List webhooks"]["data"][0])
    assert data["secret"] not in json.dumps(listed)
    got = client.get(f"/api/v1/webhooks/{data['id']}", headers=headers).json()["data"]
    assert "secret" not in got and got["failureCount"] == 0 and got["lastTriggeredAt"] is None

    pipeline.clock.advance(timedelta(minutes=5))
    patched = client.patch(f"/api/v1/webhooks/{data['id']}", json={"isActive": False}, headers=headers)
    assert patched.status_code == 200, patched.text
    assert set(patched.json()["data"]) - {"campaignIds"} == set(examples["Update a webhook"]["data"])
    assert patched.json()["data"]["isActive"] is False
    assert patched.json()["data"]["updatedAt"] > patched.json()["data"]["createdAt"]
    events = client.patch(f"/api/v1/webhooks/{data['id']}", json={"events": ["reply.received"]}, headers=headers)
    assert events.json()["data"]["events"] == ["reply.received"] and events.json()["data"]["isActive"] is False

    deleted = client.delete(f"/api/v1/webhooks/{data['id']}", headers=headers)
    assert deleted.status_code == 204 and deleted.content == b""
    assert client.get(f"/api/v1/webhooks/{data['id']}", headers=headers).status_code == 404
    assert client.delete(f"/api/v1/webhooks/{data['id']}", headers=headers).status_code == 404


def test_validation_scopes_and_workspace_isolation(pipeline: Pipeline) -> None:
    client, headers = pipeline.client, pipeline.tenant.headers
    bad = client.post(
        "/api/v1/webhooks", json={"url": pipeline.receiver.url(), "events": ["email.nope"]}, headers=headers
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    empty = client.post("/api/v1/webhooks", json={"url": pipeline.receiver.url(), "events": []}, headers=headers)
    assert empty.status_code == 400
    ftp = client.post("/api/v1/webhooks", json={"url": "ftp://x.test/h", "events": ["*"]}, headers=headers)
    assert ftp.status_code == 400 and ftp.json()["error"]["details"][0]["field"] == "url"
    created = pipeline.create()
    other = make_tenant(name="Other")
    assert client.get(f"/api/v1/webhooks/{created['id']}", headers=other.headers).status_code == 404
    assert client.post(f"/api/v1/webhooks/{created['id']}/test", headers=other.headers).status_code == 404
    reader = make_tenant(scopes=tuple(s for s in ALL_SCOPES if s != "webhooks:write"), name="Reader")
    denied = client.post("/api/v1/webhooks", json={"url": pipeline.receiver.url(), "events": ["*"]},
                         headers=reader.headers)  # fmt: skip
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "insufficient_scope"
    assert client.get("/api/v1/webhooks", headers=reader.headers).status_code == 200


@pytest.mark.usefixtures("strict_targets")
@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:{port}/hook", "http://10.0.0.7/hook", "http://169.254.169.254/latest/meta-data/",
     "http://[::1]:{port}/hook", "http://localhost:{port}/hook"],
)  # fmt: skip
def test_private_targets_refused_at_create_without_a_request(pipeline: Pipeline, url: str) -> None:
    target = url.format(port=pipeline.receiver.port)
    response = pipeline.client.post(
        "/api/v1/webhooks", json={"url": target, "events": ["*"]}, headers=pipeline.tenant.headers
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"][0]["code"] == "private_address"
    assert pipeline.receiver.received() == []


def test_test_event_goes_through_the_real_path_signed(pipeline: Pipeline) -> None:
    created = pipeline.create(events=["reply.received"])  # test events reach the webhook whatever it subscribes to
    other = pipeline.create(url=pipeline.receiver.url("/other"))
    response = pipeline.client.post(f"/api/v1/webhooks/{created['id']}/test", headers=pipeline.tenant.headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["status"] == "queued" and data["message"] == "Test webhook event has been queued for delivery"
    assert data["eventId"].startswith("evt_")
    pipeline.pump()
    [request] = pipeline.receiver.received()
    assert request.path == "/hook"
    assert request.header("Content-Type") == "application/json"
    assert request.header("User-Agent").startswith("Kindling-Webhooks/")
    assert request.header("X-Warmy-Event-Id") == data["eventId"]
    assert request.header("X-Warmy-Event-Type") == "webhook.test"
    signature = request.header("X-Warmy-Signature")
    assert signature.startswith(f"t={request.header('X-Warmy-Timestamp')},v1=")
    assert int(request.header("X-Warmy-Timestamp")) == int(pipeline.clock.now().timestamp() * 1000)
    assert reference_verify(created["secret"], signature, request.body.decode())
    assert not reference_verify(other["secret"], signature, request.body.decode())
    envelope = json.loads(request.body)
    assert envelope == {
        "type": "webhook.test",
        "data": {"webhookId": created["id"], "timestamp": "2026-06-10T09:00:00.000Z",
                 "message": "This is a test event from WarmySender"},
        "timestamp": "2026-06-10T09:00:00.000Z",
    }  # fmt: skip
    got = pipeline.client.get(f"/api/v1/webhooks/{created['id']}", headers=pipeline.tenant.headers).json()["data"]
    assert got["lastTriggeredAt"] == "2026-06-10T09:00:00.000Z"
    [delivery] = pipeline.deliveries(created["id"])
    assert delivery["status"] == "delivered" and delivery["attemptCount"] == 1
    assert delivery["attempts"][0]["statusCode"] == 200 and delivery["attempts"][0]["responseBody"] == '{"ok":true}'
    assert delivery["nextRetryAt"] is None
    assert pipeline.deliveries(other["id"]) == []


def test_rotation_overlap_signs_with_both_secrets_for_24h(pipeline: Pipeline) -> None:
    created = pipeline.create()
    old = created["secret"]
    rotated = pipeline.client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret", headers=pipeline.tenant.headers)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["data"]["secret"]
    assert new.startswith("whsec_") and new != old
    assert rotated.json()["data"]["previousSecretExpiresAt"] == "2026-06-11T09:00:00.000Z"
    assert new not in json.dumps(pipeline.client.get("/api/v1/webhooks", headers=pipeline.tenant.headers).json())

    pipeline.client.post(f"/api/v1/webhooks/{created['id']}/test", headers=pipeline.tenant.headers)
    pipeline.pump()
    [during] = pipeline.receiver.received()
    header = during.header("X-Warmy-Signature")
    assert header.count("v1=") == 2
    assert reference_verify(old, header, during.body.decode())  # old secret: the last v1
    values = [p[3:] for p in header.split(",") if p.startswith("v1=")]
    assert any(reference_verify(new, f"{header.split(',')[0]},v1={v}", during.body.decode()) for v in values)

    pipeline.receiver.reset()
    pipeline.clock.advance(timedelta(hours=24, seconds=1))
    pipeline.client.post(f"/api/v1/webhooks/{created['id']}/test", headers=pipeline.tenant.headers)
    pipeline.pump()
    [after] = pipeline.receiver.received()
    assert after.header("X-Warmy-Signature").count("v1=") == 1
    assert reference_verify(new, after.header("X-Warmy-Signature"), after.body.decode())
    assert not reference_verify(old, after.header("X-Warmy-Signature"), after.body.decode())


def test_pause_and_resume(pipeline: Pipeline) -> None:
    created = pipeline.create()
    paused = pipeline.client.post(f"/api/v1/webhooks/{created['id']}/pause", headers=pipeline.tenant.headers)
    assert paused.status_code == 200 and paused.json()["data"]["isActive"] is False
    resumed = pipeline.client.post(f"/api/v1/webhooks/{created['id']}/resume", headers=pipeline.tenant.headers)
    assert resumed.json()["data"]["isActive"] is True


def _raw_table_text() -> str:
    """Every item of the table as DynamoDB stores it (a boto3 scan, not the repositories)."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=client.list_tables()["TableNames"][0]):
        items += page["Items"]
    return json.dumps(items)


def test_idempotent_create_shows_the_secret_once_and_never_stores_it_in_plaintext(pipeline: Pipeline) -> None:
    body = {"url": pipeline.receiver.url(), "events": ["*"]}
    headers = {**pipeline.tenant.headers, "Idempotency-Key": "create-wh-1"}
    first = pipeline.client.post("/api/v1/webhooks", json=body, headers=headers)
    assert first.status_code == 201, first.text
    secret = first.json()["data"]["secret"]
    assert secret.startswith("whsec_")
    assert secret not in _raw_table_text()

    second = pipeline.client.post("/api/v1/webhooks", json=body, headers=headers)
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    replay = second.json()
    assert replay["data"]["id"] == first.json()["data"]["id"]
    assert replay["data"]["url"] == body["url"]
    assert replay["data"]["secret"] is None
    assert replay["meta"]["secret_omitted"] is True
    assert "secret_omitted" not in first.json()["meta"]
    assert len(pipeline.client.get("/api/v1/webhooks", headers=pipeline.tenant.headers).json()["data"]) == 1


def test_idempotent_rotation_never_stores_the_new_secret_in_plaintext(pipeline: Pipeline) -> None:
    created = pipeline.create()
    url = f"/api/v1/webhooks/{created['id']}/rotate-secret"
    headers = {**pipeline.tenant.headers, "Idempotency-Key": "rotate-wh-1"}
    rotated = pipeline.client.post(url, headers=headers)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["data"]["secret"]
    assert new.startswith("whsec_") and new != created["secret"]
    raw = _raw_table_text()
    assert new not in raw and created["secret"] not in raw

    again = pipeline.client.post(url, headers=headers)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["data"]["secret"] is None and again.json()["meta"]["secret_omitted"] is True
    assert again.json()["data"]["previousSecretExpiresAt"] == rotated.json()["data"]["previousSecretExpiresAt"]
