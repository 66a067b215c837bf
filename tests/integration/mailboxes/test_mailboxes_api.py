"""The Mailboxes API in-process (moto KMS/SQS/DynamoDB, real SMTP + Dovecot), checker fed from the queue."""

from __future__ import annotations

import base64
import json
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from kindling.mailboxes.service import on_mailbox_deleted, remove_mailbox_deleted_listener
from tests.conftest import Tenant, make_tenant
from tests.integration.mailboxes.conftest import PASSWORD, MailServers, Stack

pytestmark = pytest.mark.mail

REFERENCE_EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "reference" / "mailboxes-examples.json"
EXTENSIONS = {"provider", "tls", "outage"}  # documented additions (Reachkit's inbox field; TLS pins; outages)


def reference_examples() -> dict[str, Any]:
    """The JSON examples of the API reference's Mailboxes section, by endpoint (extracted verbatim into a fixture
    so the test needs nothing outside the repository)."""
    loaded: dict[str, Any] = json.loads(REFERENCE_EXAMPLES.read_text())
    return loaded


def kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", str: "string", list: "array", dict: "object"}[type(value)]


def assert_same_shape(actual: Any, expected: Any, path: str = "") -> None:
    """Same keys (plus documented extensions) and same JSON types; null in either is compatible."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        extra = set(actual) - set(expected)
        assert set(expected) <= set(actual), f"{path}: missing {set(expected) - set(actual)}"
        assert extra <= EXTENSIONS | {"idempotency_key"}, f"{path}: unexpected {extra}"
        for key, value in expected.items():
            assert_same_shape(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list) and expected and actual:
        assert isinstance(actual, list), path
        for item in actual:
            assert_same_shape(item, expected[0], path + "[]")
    elif expected is not None and actual is not None:
        assert kind(actual) == kind(expected), f"{path}: {kind(actual)} != {kind(expected)}"
        if kind(expected) == "string" and path.endswith("_at"):
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", actual), path


def create(api: TestClient, tenant: Tenant, body: dict[str, Any], **headers: str) -> Any:
    return api.post("/api/v1/mailboxes", json=body, headers={**tenant.headers, **headers})


def get(api: TestClient, tenant: Tenant, mailbox_id: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/mailboxes/{mailbox_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


# --- the async flow ---------------------------------------------------------------------------------------------
def test_create_then_checker_connects_and_shapes_match_reference(
    stack: Stack, tenant: Tenant, mail_servers: MailServers
) -> None:
    examples = reference_examples()
    response = create(
        stack.client,
        tenant,
        mail_servers.body(external_id="crm-1", auto_enable_warmup=True),
        **{"Idempotency-Key": "k-1"},
    )
    assert response.status_code == 201, response.text
    assert_same_shape(response.json(), examples["POST /api/v1/mailboxes"])
    created = response.json()["data"]
    assert created["status"] == "testing"
    assert created["last_tested_at"] is None and created["warmup_enabled"] is False
    assert response.json()["meta"]["idempotency_key"] == "k-1"
    assert stack.pending() == [{"workspace_id": tenant.workspace_id, "mailbox_id": created["id"], "generation": 1}]

    assert stack.drain() == 1
    mailbox = get(stack.client, tenant, created["id"])
    assert mailbox["status"] == "connected", mailbox["last_test_error"]
    assert mailbox["last_tested_at"] is not None and mailbox["last_test_error"] is None
    assert mailbox["warmup_enabled"] is True  # auto_enable_warmup, applied once connected
    assert mailbox["provider"] == "other"
    assert_same_shape(
        stack.client.get(f"/api/v1/mailboxes/{created['id']}", headers=tenant.headers).json(),
        examples["GET /api/v1/mailboxes/{id}"],
    )
    listing = stack.client.get("/api/v1/mailboxes", headers=tenant.headers).json()
    assert_same_shape(listing, examples["GET /api/v1/mailboxes"])
    assert [m["id"] for m in listing["data"]] == [created["id"]]

    replay = create(
        stack.client,
        tenant,
        mail_servers.body(external_id="crm-1", auto_enable_warmup=True),
        **{"Idempotency-Key": "k-1"},
    )
    assert replay.status_code == 201 and replay.json()["data"]["id"] == created["id"]
    assert replay.headers.get("Idempotent-Replayed") == "true"


def test_wrong_password_ends_in_error_with_classified_message(
    stack: Stack, tenant: Tenant, mail_servers: MailServers
) -> None:
    response = create(
        stack.client,
        tenant,
        mail_servers.body(email="second@lab.test", smtp_password="bad-one", imap_password=PASSWORD),
    )
    assert response.status_code == 201, response.text
    stack.drain()
    mailbox = get(stack.client, tenant, response.json()["data"]["id"])
    assert mailbox["status"] == "error"
    assert mailbox["last_test_error"].startswith("auth_failed (SMTP):")
    assert mailbox["health_reasons"] == ["auth_failed"]
    assert "bad-one" not in json.dumps(mailbox)


def test_stale_check_after_credential_change_is_ignored(
    stack: Stack, tenant: Tenant, mail_servers: MailServers
) -> None:
    created = create(stack.client, tenant, mail_servers.body(smtp_password="bad-one")).json()["data"]
    patched = stack.client.patch(
        f"/api/v1/mailboxes/{created['id']}", json={"smtp_password": PASSWORD}, headers=tenant.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["status"] == "testing"
    assert [m["generation"] for m in stack.pending()] == [1, 2]
    stack.drain()
    assert get(stack.client, tenant, created["id"])["status"] == "connected"


# --- sync tests ---------------------------------------------------------------------------------------------------
def test_test_endpoint_reports_both_protocols_without_saving(
    stack: Stack, tenant: Tenant, mail_servers: MailServers
) -> None:
    examples = reference_examples()
    ok = stack.client.post("/api/v1/mailboxes/test", json=mail_servers.body(), headers=tenant.headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"] == {"smtp_ok": True, "imap_ok": True}
    assert_same_shape(ok.json(), examples["POST /api/v1/mailboxes/test"])

    bad = stack.client.post(
        "/api/v1/mailboxes/test",
        json=mail_servers.body(smtp_port=mail_servers.ssl_port, smtp_security="ssl", smtp_password="nope"),
        headers=tenant.headers,
    )
    data = bad.json()["data"]
    assert (data["smtp_ok"], data["imap_ok"]) == (False, True)
    assert data["smtp_error"]["code"] == "auth_failed" and data["smtp_error"]["message"]
    assert stack.client.get("/api/v1/mailboxes", headers=tenant.headers).json()["data"] == []


def test_test_endpoints_have_their_own_rate_limit(stack: Stack, tenant: Tenant, mail_servers: MailServers) -> None:
    body = mail_servers.body(smtp_host="smtp.kindling.invalid", imap_host="imap.kindling.invalid")
    statuses = [
        stack.client.post("/api/v1/mailboxes/test", json=body, headers=tenant.headers).status_code for _ in range(11)
    ]
    assert statuses == [200] * 10 + [429]
    assert stack.client.get("/api/v1/mailboxes", headers=tenant.headers).status_code == 200


def test_retest_updates_status_and_shape(stack: Stack, tenant: Tenant, mail_servers: MailServers) -> None:
    created = create(stack.client, tenant, mail_servers.body()).json()["data"]
    response = stack.client.post(f"/api/v1/mailboxes/{created['id']}/test", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert_same_shape(response.json(), reference_examples()["POST /api/v1/mailboxes/{id}/test"])
    assert response.json()["data"]["mailbox"]["status"] == "connected"
    assert response.json()["data"]["test_result"] == {"smtp_ok": True, "imap_ok": True}
    stack.drain()  # the create's queued check is now stale and changes nothing
    assert get(stack.client, tenant, created["id"])["status"] == "connected"


# --- delete / restore ---------------------------------------------------------------------------------------------
def test_delete_restore_and_recreate(stack: Stack, tenant: Tenant, mail_servers: MailServers) -> None:
    examples = reference_examples()
    released: list[tuple[str, str, datetime]] = []

    def listener(workspace_id: str, mailbox_id: str, deleted_at: datetime) -> None:
        released.append((workspace_id, mailbox_id, deleted_at))

    on_mailbox_deleted(listener)
    try:
        created = create(stack.client, tenant, mail_servers.body(auto_enable_warmup=True)).json()["data"]
        stack.drain()
        deleted = stack.client.delete(f"/api/v1/mailboxes/{created['id']}", headers=tenant.headers)
    finally:
        remove_mailbox_deleted_listener(listener)
    assert deleted.status_code == 200
    assert_same_shape(deleted.json(), examples["DELETE /api/v1/mailboxes/{id}"])
    assert deleted.json()["data"]["status"] == "deleted" and deleted.json()["data"]["warmup_enabled"] is False
    assert [(w, m) for w, m, _ in released] == [(tenant.workspace_id, created["id"])]
    assert stack.client.get("/api/v1/mailboxes", headers=tenant.headers).json()["data"] == []
    only_deleted = stack.client.get("/api/v1/mailboxes?status=deleted", headers=tenant.headers).json()["data"]
    assert [m["id"] for m in only_deleted] == [created["id"]]

    # A new mailbox with the same email restores the deleted one (200, same id, history kept).
    again = create(stack.client, tenant, mail_servers.body(display_name="Jordan"))
    assert again.status_code == 200, again.text
    assert again.json()["data"]["id"] == created["id"]
    assert again.json()["data"]["created_at"] == created["created_at"]
    assert create(stack.client, tenant, mail_servers.body()).status_code == 409
    stack.drain()
    restored_mailbox = get(stack.client, tenant, created["id"])
    assert restored_mailbox["status"] == "connected" and restored_mailbox["warmup_enabled"] is False

    # Restore endpoint: blocked while another active mailbox holds the email.
    stack.client.delete(f"/api/v1/mailboxes/{created['id']}", headers=tenant.headers)
    stack.client.post(
        "/api/v1/mailboxes", json=mail_servers.body(), headers=tenant.headers
    )  # restores it again via create
    stack.client.delete(f"/api/v1/mailboxes/{created['id']}", headers=tenant.headers)
    restore = stack.client.post(f"/api/v1/mailboxes/{created['id']}/restore", headers=tenant.headers)
    assert restore.status_code == 200, restore.text
    assert_same_shape(restore.json(), examples["POST /api/v1/mailboxes/{id}/restore"])
    assert restore.json()["data"]["status"] == "created"
    assert restore.json()["data"]["warmup_enabled"] is False
    assert stack.client.post(f"/api/v1/mailboxes/{created['id']}/restore", headers=tenant.headers).status_code == 400


def test_restore_blocked_when_an_active_mailbox_uses_the_email(
    stack: Stack, tenant: Tenant, mail_servers: MailServers
) -> None:
    from kindling.mailboxes.models import Mailbox
    from kindling.mailboxes.repository import MailboxRepository

    first = create(stack.client, tenant, mail_servers.body()).json()["data"]
    stack.client.delete(f"/api/v1/mailboxes/{first['id']}", headers=tenant.headers)
    # A second record for the same email (as a concurrent create would leave), active.
    repo = MailboxRepository()
    old = repo.get(tenant.workspace_id, first["id"])
    clone: Mailbox = old.model_copy(
        update={"id": "0b7c1f5e-8f1d-4f55-9c1e-1b2a3c4d5e6f", "status": "connected", "deleted_at": None, "version": 0}
    )
    repo.insert(clone)
    blocked = stack.client.post(f"/api/v1/mailboxes/{first['id']}/restore", headers=tenant.headers)
    assert blocked.status_code == 409 and blocked.json()["error"]["code"] == "conflict"


# --- update -------------------------------------------------------------------------------------------------------
def test_patch_partial_update_and_clearing(stack: Stack, tenant: Tenant, mail_servers: MailServers) -> None:
    created = create(stack.client, tenant, mail_servers.body(external_id="crm-9", signature="-- J")).json()["data"]
    stack.drain()
    url = f"/api/v1/mailboxes/{created['id']}"
    response = stack.client.patch(
        url,
        json={"display_name": "Jordan Lee", "daily_send_limit": 80, "external_id": None, "signature": None},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    assert_same_shape(response.json(), reference_examples()["PATCH /api/v1/mailboxes/{id}"])
    data = response.json()["data"]
    assert (data["display_name"], data["daily_send_limit"], data["external_id"], data["signature"]) == (
        "Jordan Lee",
        80,
        None,
        None,
    )
    assert data["status"] == "connected"  # no credential change, no re-test
    assert stack.pending() == []
    off = stack.client.patch(url, json={"sending_enabled": False}, headers=tenant.headers).json()["data"]
    assert off["sending_enabled"] is False and off["daily_send_limit"] == 80


# --- bad input ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"email_address": "not-an-email"}, {"email_address"}),
        ({"smtp_port": 70000, "imap_port": 0}, {"smtp_port", "imap_port"}),
        ({"smtp_port": "587"}, {"smtp_port"}),
        ({"nickname": "x"}, {"nickname"}),
        ({"daily_send_limit": 501}, {"daily_send_limit"}),
        ({"smtp_security": "tls13"}, {"smtp_security"}),
    ],
)
def test_bad_create_bodies_name_each_field(
    stack: Stack, tenant: Tenant, mail_servers: MailServers, change: dict[str, Any], fields: set[str]
) -> None:
    response = create(stack.client, tenant, mail_servers.body(**change))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert {d["field"] for d in response.json()["error"]["details"]} == fields


def test_missing_host_without_known_provider(stack: Stack, tenant: Tenant) -> None:
    response = create(stack.client, tenant, {"email_address": "a@corp.test", "smtp_password": "x"})
    assert response.status_code == 400
    assert {d["field"] for d in response.json()["error"]["details"]} == {"smtp_host", "imap_host"}


def test_bad_patches(stack: Stack, tenant: Tenant, mail_servers: MailServers) -> None:
    created = create(stack.client, tenant, mail_servers.body()).json()["data"]
    url = f"/api/v1/mailboxes/{created['id']}"
    for body, field in (
        ({"daily_send_limit": 0}, "daily_send_limit"),
        ({"email_address": "x@y.test"}, "email_address"),
        ({"sending_enabled": "yes"}, "sending_enabled"),
    ):
        response = stack.client.patch(url, json=body, headers=tenant.headers)
        assert response.status_code == 400, body
        assert [d["field"] for d in response.json()["error"]["details"]] == [field]
    null = stack.client.patch(url, json={"daily_send_limit": None}, headers=tenant.headers)
    assert null.status_code == 400 and null.json()["error"]["code"] == "validation_error"


def test_another_workspaces_mailbox_is_not_found(stack: Stack, tenant: Tenant, mail_servers: MailServers) -> None:
    created = create(stack.client, tenant, mail_servers.body()).json()["data"]
    other = make_tenant(name="Other")
    for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/restore"), ("POST", "/test")):
        response = stack.client.request(
            method,
            f"/api/v1/mailboxes/{created['id']}{suffix}",
            headers=other.headers,
            json={"display_name": "x"} if method == "PATCH" else None,
        )
        assert response.status_code == 404, (method, suffix)
        assert response.json()["error"]["code"] == "not_found"
    assert stack.client.get("/api/v1/mailboxes", headers=other.headers).json()["data"] == []


def test_scopes_are_enforced(stack: Stack, mail_servers: MailServers) -> None:
    reader = make_tenant(scopes=("mailboxes:read",))
    assert stack.client.get("/api/v1/mailboxes", headers=reader.headers).status_code == 200
    response = stack.client.post("/api/v1/mailboxes", json=mail_servers.body(), headers=reader.headers)
    assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"


def test_pagination_newest_first(stack: Stack, tenant: Tenant, mail_servers: MailServers, clock: Any) -> None:
    from datetime import timedelta

    ids = []
    for n in range(3):
        clock.advance(timedelta(seconds=1))
        ids.append(create(stack.client, tenant, mail_servers.body(email=f"p{n}@lab.test")).json()["data"]["id"])
    first = stack.client.get("/api/v1/mailboxes?limit=2", headers=tenant.headers).json()
    assert [m["id"] for m in first["data"]] == ids[::-1][:2] and first["pagination"]["has_more"] is True
    second = stack.client.get(
        f"/api/v1/mailboxes?limit=2&cursor={first['pagination']['next_cursor']}", headers=tenant.headers
    ).json()
    assert [m["id"] for m in second["data"]] == [ids[0]] and second["pagination"] == {
        "has_more": False,
        "next_cursor": None,
    }


# --- secrets ------------------------------------------------------------------------------------------------------
def test_password_never_leaves_and_is_kms_encrypted(
    stack: Stack, tenant: Tenant, mail_servers: MailServers, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    secret = "Unique-Pa55-" + tenant.workspace_id
    caplog.set_level(logging.DEBUG)
    mail_servers.accounts.passwords["leak@lab.test"] = secret
    mail_servers.dovecot.add_user("leak@lab.test", secret)
    texts = []
    body = mail_servers.body(email="leak@lab.test", password=secret)
    texts.append(create(stack.client, tenant, body).text)
    mailbox_id = json.loads(texts[0])["data"]["id"]
    stack.drain()
    texts.append(stack.client.get(f"/api/v1/mailboxes/{mailbox_id}", headers=tenant.headers).text)
    texts.append(stack.client.get("/api/v1/mailboxes", headers=tenant.headers).text)
    texts.append(stack.client.post(f"/api/v1/mailboxes/{mailbox_id}/test", headers=tenant.headers).text)
    texts.append(
        stack.client.patch(
            f"/api/v1/mailboxes/{mailbox_id}", json={"smtp_password": secret + "x"}, headers=tenant.headers
        ).text
    )
    texts.append(
        stack.client.post(
            "/api/v1/mailboxes/test", json={**body, "smtp_password": secret[::-1]}, headers=tenant.headers
        ).text
    )
    texts.append(create(stack.client, tenant, body).text)  # 409
    stack.drain()
    captured = capsys.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    # The wrong password really was used: the mailbox had worked, so it is `disconnected` (not `error`).
    assert get(stack.client, tenant, mailbox_id)["status"] == "disconnected"
    for text in texts:
        assert secret not in text

    # At rest: only KMS ciphertext, bound to (workspace, mailbox) by the encryption context.
    client = boto3.client("dynamodb", region_name="us-east-1")
    items = client.scan(TableName="kindling-test")["Items"]
    dump = json.dumps(items)
    assert secret not in dump
    row = next(i for i in items if i["pk"]["S"].endswith(f"MAILBOX#{mailbox_id}"))
    stored = json.loads(row["body"]["S"])["smtp_password_enc"]
    kms = boto3.client("kms", region_name="us-east-1")
    plain = kms.decrypt(
        CiphertextBlob=base64.b64decode(stored),
        EncryptionContext={"workspace_id": tenant.workspace_id, "mailbox_id": mailbox_id},
    )
    assert plain["Plaintext"].decode() == secret + "x"
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(
            CiphertextBlob=base64.b64decode(stored),
            EncryptionContext={"workspace_id": tenant.workspace_id, "mailbox_id": "another"},
        )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"display_name": "Jordan\r\nBcc: victim@example.com"}, "display_name"),
        ({"display_name": "Jordan\nLee"}, "display_name"),
        ({"display_name": "Jordan\x00"}, "display_name"),
        ({"external_id": "crm-1\r\nforged log line"}, "external_id"),
        ({"smtp_username": "jordan@lab.test\r\nRSET"}, "smtp_username"),
        ({"imap_username": "jordan@lab.test\r\na1 LOGOUT"}, "imap_username"),
        ({"signature": "Jordan\x1b[2J"}, "signature"),
        ({"signature": "Jordan\x0c"}, "signature"),
        ({"signature": "Jordan\rLee"}, "signature"),
    ],
)
def test_control_characters_in_header_bound_fields_are_refused(
    stack: Stack, tenant: Tenant, mail_servers: MailServers, change: dict[str, Any], field: str
) -> None:
    response = create(stack.client, tenant, mail_servers.body(**change))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]
    listed = stack.client.get("/api/v1/mailboxes", headers=tenant.headers).json()["data"]
    assert listed == []


def test_signature_may_span_lines_and_patch_refuses_a_display_name_with_a_line_break(
    stack: Stack, tenant: Tenant, mail_servers: MailServers
) -> None:
    signature = "Jordan Lee\r\nKindling\n\tSales"
    created = create(stack.client, tenant, mail_servers.body(display_name="Jordan", signature=signature))
    assert created.status_code == 201, created.text
    mailbox_id = created.json()["data"]["id"]
    assert get(stack.client, tenant, mailbox_id)["signature"] == signature
    url = f"/api/v1/mailboxes/{mailbox_id}"
    refused = stack.client.patch(url, json={"display_name": "Jordan\r\nReply-To: x@evil.test"}, headers=tenant.headers)
    assert refused.status_code == 400
    assert [d["field"] for d in refused.json()["error"]["details"]] == ["display_name"]
    assert get(stack.client, tenant, mailbox_id)["display_name"] == "Jordan"
