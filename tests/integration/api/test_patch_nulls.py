"""Every PATCH route refuses null for a field that cannot be cleared, with the same 400 through one rule
(kindling.platform.models.PatchModel), before it reads or writes anything.

The table names every PATCH route and every field it refuses to clear. Most routes answer before the handler
runs, so their ids need not exist; the webhook route is exercised on a real webhook, and the list and webhook
rows are checked to leave the stored record as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from kindling.api.app import create_app
from kindling.platform import aws as platform_aws
from kindling.platform.settings import reset_settings
from kindling.webhooks import secrets as webhook_secrets
from tests.conftest import Tenant

CAMPAIGN = "/api/v1/campaigns/cmp_1"
STEP = "/api/v1/campaigns/cmp_1/steps/stp_1"
VARIANT = "/api/v1/campaigns/cmp_1/steps/stp_1/variants/var_1"
POOL_MAILBOX = "/api/v1/campaigns/cmp_1/mailboxes/mbx_1"
CONVERSATION = "/api/v1/inbox/conversations/cnv_1"
MAILBOX = "/api/v1/mailboxes/mbx_1"
PROSPECT = "/api/v1/prospects/prs_1"
LIST = "/api/v1/lists/lst_1"
WARMUP = "/api/v1/warmup/settings/mbx_1"
WEBHOOK = "{webhook}"

# (route, body, the names the message lists)
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    (CAMPAIGN, {"name": None}, "name"),
    (CAMPAIGN, {"mailboxIds": None}, "mailboxIds"),
    (CAMPAIGN, {"timezone": None}, "timezone"),
    (CAMPAIGN, {"dailySendLimit": None}, "dailySendLimit"),
    (CAMPAIGN, {"minutesBetweenSends": None}, "minutesBetweenSends"),
    (CAMPAIGN, {"stopOnReply": None}, "stopOnReply"),
    (CAMPAIGN, {"stopOnBounce": None}, "stopOnBounce"),
    (CAMPAIGN, {"stopOnUnsubscribe": None}, "stopOnUnsubscribe"),
    (CAMPAIGN, {"trackOpens": None}, "trackOpens"),
    (CAMPAIGN, {"trackClicks": None}, "trackClicks"),
    (CAMPAIGN, {"recipientDomainDailyLimit": None}, "recipientDomainDailyLimit"),
    (CAMPAIGN, {"rotationMode": None}, "rotationMode"),
    (CAMPAIGN, {"name": None, "timezone": None, "trackOpens": None}, "timezone, trackOpens, name"),
    (STEP, {"delayDays": None}, "delay_days"),
    (STEP, {"isActive": None}, "is_active"),
    (STEP, {"delay_days": None, "is_active": None}, "delay_days, is_active"),
    (VARIANT, {"weight": None}, "weight"),
    (VARIANT, {"enabled": None}, "enabled"),
    (VARIANT, {"enabled": None, "weight": None}, "weight, enabled"),
    (POOL_MAILBOX, {"active": None}, "active"),
    (POOL_MAILBOX, {"weight": None}, "weight"),
    (CONVERSATION, {"is_read": None}, "is_read"),
    (MAILBOX, {"smtp_host": None}, "smtp_host"),
    (MAILBOX, {"smtp_port": None}, "smtp_port"),
    (MAILBOX, {"smtp_username": None}, "smtp_username"),
    (MAILBOX, {"smtp_security": None}, "smtp_security"),
    (MAILBOX, {"smtp_password": None}, "smtp_password"),
    (MAILBOX, {"imap_host": None}, "imap_host"),
    (MAILBOX, {"imap_port": None}, "imap_port"),
    (MAILBOX, {"imap_username": None}, "imap_username"),
    (MAILBOX, {"imap_security": None}, "imap_security"),
    (MAILBOX, {"imap_password": None}, "imap_password"),
    (MAILBOX, {"daily_send_limit": None}, "daily_send_limit"),
    (MAILBOX, {"sending_enabled": None}, "sending_enabled"),
    (PROSPECT, {"globalStatus": None}, "globalStatus"),
    (LIST, {"name": None}, "name"),
    (WARMUP, {"warmup_enabled": None}, "warmup_enabled"),
    (WARMUP, {"warmup_type": None}, "warmup_type"),
    (WARMUP, {"warmup_target_daily_volume": None}, "warmup_target_daily_volume"),
    (WARMUP, {"warmup_strategy": None}, "warmup_strategy"),
    (WARMUP, {"warmup_window_start_hour": None}, "warmup_window_start_hour"),
    (WARMUP, {"warmup_window_end_hour": None}, "warmup_window_end_hour"),
    (WARMUP, {"warmup_timezone": None}, "warmup_timezone"),
    (WARMUP, {"warmup_reply_rate": None}, "warmup_reply_rate"),
    (WEBHOOK, {"url": None}, "url"),
    (WEBHOOK, {"events": None}, "events"),
    (WEBHOOK, {"isActive": None}, "isActive"),
    (WEBHOOK, {"url": None, "events": None, "isActive": None}, "url, events, isActive"),
]

# Optional fields on the same routes still clear with null (the rule refuses only the listed ones).
CLEARABLE: list[tuple[str, dict[str, Any]]] = [
    (CAMPAIGN, {"endDate": None, "description": None}),
    (STEP, {"subject": None}),
    (VARIANT, {"subject": None}),
    (POOL_MAILBOX, {"maxSendsPerMailboxPerDay": None}),
    (CONVERSATION, {"label_override": None}),
    (MAILBOX, {"signature": None, "external_id": None}),
    (PROSPECT, {"linkedinUrl": None}),
    (LIST, {"color": None}),
]


@pytest.fixture
def client(tenant: Tenant) -> Iterator[TestClient]:
    key_id = boto3.client("kms", region_name="us-east-1").create_key(Description="secrets")["KeyMetadata"]["KeyId"]
    queue_url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="webhook")["QueueUrl"]
    env = {"KINDLING_KMS_KEY_ID": key_id, "KINDLING_WEBHOOK_QUEUE_URL": queue_url}
    os.environ.update(env)
    reset_settings()
    platform_aws.reset_clients()
    webhook_secrets.clear_cache()
    with TestClient(create_app(), raise_server_exceptions=False, headers=tenant.headers) as test_client:
        yield test_client
    for name in env:
        os.environ.pop(name, None)
    reset_settings()


def new_webhook(client: TestClient) -> dict[str, Any]:
    created = client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]})
    assert created.status_code == 201, created.text
    webhook: dict[str, Any] = created.json()["data"]
    return webhook


def refusal(names: str) -> dict[str, Any]:
    return {
        "code": "validation_error",
        "message": "The request is invalid.",
        "details": [
            {
                "field": "body",
                "location": "body",
                "message": f"Value error, cannot be null: {names}",
                "code": "value_error",
            }
        ],
    }


def test_every_patch_route_refuses_null_for_fields_that_cannot_be_cleared(client: TestClient) -> None:
    """One app and tenant for the whole table (a fresh moto table per row would cost ~0.7 s each)."""
    webhook_path = f"/api/v1/webhooks/{new_webhook(client)['id']}"
    answers = []
    for route, body, _names in REFUSED:
        response = client.patch(webhook_path if route == WEBHOOK else route, json=body)
        answers.append((route, body, response.status_code, response.json()["error"]))
    assert answers == [(route, body, 400, refusal(names)) for route, body, names in REFUSED]


def test_patch_lets_optional_fields_through_as_null(client: TestClient) -> None:
    """Past body validation the made-up ids are not found (404), which shows null was not refused (400)."""
    answers = [(route, body, client.patch(route, json=body).status_code) for route, body in CLEARABLE]
    assert answers == [(route, body, 404) for route, body in CLEARABLE]


def test_a_refused_patch_leaves_the_webhook_and_the_list_as_they_were(client: TestClient) -> None:
    webhook = new_webhook(client)
    path = f"/api/v1/webhooks/{webhook['id']}"
    assert client.patch(path, json={"isActive": False, "events": None}).status_code == 400
    after = client.get(path).json()["data"]
    assert (after["isActive"], after["events"]) == (True, ["*"])

    created = client.post("/api/v1/lists", json={"name": "Founders", "color": "#112233"})
    assert created.status_code == 201, created.text
    list_path = f"/api/v1/lists/{created.json()['data']['id']}"
    assert client.patch(list_path, json={"name": None, "color": "#445566"}).status_code == 400
    assert client.get(list_path).json()["data"]["name"] == "Founders"
    assert client.get(list_path).json()["data"]["color"] == "#112233"
