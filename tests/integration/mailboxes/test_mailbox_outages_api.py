"""Outages over HTTP with the real lab servers (aiosmtpd + Dovecot): a mailbox that worked and now fails is
`disconnected` (not `error`); the reconnect sweep's failed re-test advances the backoff (15 min -> 1 h); a credential
PATCH re-tests at once and restarts the backoff, and the right credentials end the outage at once (`connected`,
`mailbox.reconnected`) without waiting for the sweep."""

from __future__ import annotations

import importlib.util
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from kindling.events.repository import EventRepository
from kindling.mailboxes.repository import MailboxRepository
from kindling.platform.clock import ManualClock, isoformat
from kindling.sending import reconnect
from tests.conftest import Tenant
from tests.integration.mailboxes.conftest import PASSWORD, MailServers, Stack
from tests.integration.mailboxes.test_mailboxes_api import create, get

pytestmark = pytest.mark.mail

REPO = Path(__file__).resolve().parents[3]


def outage_events(tenant: Tenant) -> list[tuple[str, dict[str, Any]]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName="webhooks")["QueueUrl"]
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            body = json.loads(message["Body"])
            event = EventRepository().get(body["workspace_id"], body["event_id"])
            found.append((event.type, event.data))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [(t, d) for t, d in found if t.startswith("mailbox.")]


def test_a_credential_change_retests_at_once_and_restarts_the_backoff(
    stack: Stack, tenant: Tenant, mail_servers: MailServers, clock: ManualClock
) -> None:
    created = create(stack.client, tenant, mail_servers.body(email="other@lab.test"))
    assert created.status_code == 201, created.text
    mailbox_id = created.json()["data"]["id"]
    stack.drain()
    assert get(stack.client, tenant, mailbox_id)["status"] == "connected"
    repo = MailboxRepository()

    # The provider revoked the password the mailbox uses (here: the user typed a wrong one): it worked before.
    url = f"/api/v1/mailboxes/{mailbox_id}"
    assert stack.client.patch(url, json={"smtp_password": "revoked"}, headers=tenant.headers).status_code == 200
    stack.drain()
    down_at = clock.now()
    data = get(stack.client, tenant, mailbox_id)
    assert (data["status"], data["health_reasons"]) == ("disconnected", ["auth_failed"])
    assert data["outage"] == {
        "disconnected_since": isoformat(down_at),
        "next_retest_at": isoformat(down_at + timedelta(minutes=15)),
        "failed_retests": 0,
    }
    stored = repo.get(tenant.workspace_id, mailbox_id)
    assert (stored.retest_attempts, stored.next_retest_at) == (0, down_at + timedelta(minutes=15))
    [(kind, payload)] = outage_events(tenant)
    assert (kind, payload["code"], payload["status"]) == ("mailbox.disconnected", "auth_failed", "disconnected")

    # The sweep's first re-test (15 min later) fails too: the next one waits 1 hour.
    clock.advance(timedelta(minutes=15))
    assert reconnect.sweep_one(tenant.workspace_id, mailbox_id)["outcome"] == "still_down"
    stored = repo.get(tenant.workspace_id, mailbox_id)
    assert (stored.retest_attempts, stored.next_retest_at) == (1, clock.now() + timedelta(hours=1))
    outage = get(stack.client, tenant, mailbox_id)["outage"]
    assert (outage["failed_retests"], outage["next_retest_at"]) == (1, isoformat(clock.now() + timedelta(hours=1)))
    assert stored.disconnected_since == down_at  # the same outage

    # Another wrong password: re-tested at once (the checker), and the backoff starts over at 15 minutes.
    clock.advance(timedelta(minutes=3))
    assert stack.client.patch(url, json={"smtp_password": "still-wrong"}, headers=tenant.headers).status_code == 200
    stack.drain()
    stored = repo.get(tenant.workspace_id, mailbox_id)
    assert (stored.status, stored.retest_attempts) == ("disconnected", 0)
    assert stored.next_retest_at == clock.now() + timedelta(minutes=15)
    assert outage_events(tenant) == []  # still the same outage: nothing announced again

    # The right password: connected at once, without waiting for the sweep; the outage is over.
    clock.advance(timedelta(minutes=1))
    assert stack.client.patch(url, json={"smtp_password": PASSWORD}, headers=tenant.headers).status_code == 200
    stack.drain()
    back = get(stack.client, tenant, mailbox_id)
    assert (back["status"], back["outage"]) == ("connected", None)
    stored = repo.get(tenant.workspace_id, mailbox_id)
    assert (stored.disconnected_since, stored.next_retest_at, stored.last_connected_at) == (None, None, clock.now())
    [(kind, payload)] = outage_events(tenant)
    assert (kind, payload["reconnectedAt"][:16]) == ("mailbox.reconnected", clock.now().isoformat()[:16])
    assert reconnect.list_due(clock.now() + timedelta(days=2)) == []


def load_reconnect() -> Any:
    spec = importlib.util.spec_from_file_location("kindling_reconnect_app", REPO / "functions" / "reconnect" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_backfill_brings_outages_from_before_the_sweep_into_it(
    stack: Stack, tenant: Tenant, mail_servers: MailServers, clock: ManualClock
) -> None:
    """Mailboxes left `disconnected`/`error` by the code before the sweep carry no re-test time, so the sweep never
    saw them. The reconnect function's one-off `backfill` action (per workspace) makes their re-test due now; the
    next sweep re-tests them with the real servers. A connected mailbox is left alone; running it again does
    nothing."""
    repo = MailboxRepository()
    ids = []
    for email in ("jordan@lab.test", "other@lab.test", "second@lab.test"):
        created = create(stack.client, tenant, mail_servers.body(email=email))
        assert created.status_code == 201, created.text
        ids.append(created.json()["data"]["id"])
    stack.drain()
    assert [get(stack.client, tenant, i)["status"] for i in ids] == ["connected"] * 3
    down_id, error_id, _ = ids
    changed_at = clock.now()
    # How the old code left them: an outage status and code, no outage start, no re-test time.
    for mailbox_id, status in ((down_id, "disconnected"), (error_id, "error")):
        old = repo.get(tenant.workspace_id, mailbox_id)
        legacy = {"status": status, "last_test_code": "auth_failed", "next_retest_at": None, "disconnected_since": None}
        repo.replace(old.model_copy(update=legacy), old.version)
    clock.advance(timedelta(days=3))
    assert reconnect.list_due(clock.now() + timedelta(days=30)) == []  # unreachable for the sweep

    app = load_reconnect()
    result = app.handler({"action": "backfill", "workspace_id": tenant.workspace_id}, None)
    assert (sorted(result["scheduled"]), result["next_cursor"]) == (sorted([down_id, error_id]), None)
    due = reconnect.list_due(clock.now())
    assert sorted(d["mailbox_id"] for d in due) == sorted([down_id, error_id])
    down = repo.get(tenant.workspace_id, down_id)
    assert (down.next_retest_at, down.disconnected_since) == (clock.now(), changed_at)  # dated from its last change
    assert app.handler({"action": "backfill", "workspace_id": tenant.workspace_id}, None)["scheduled"] == []

    # The next sweep re-tests both against the lab servers (the credentials work again): connected.
    summary = reconnect.run_sweep(clock.now())
    assert (summary["listed"], summary["outcomes"]) == (2, {"reconnected": 2})
    for mailbox_id in ids:
        assert get(stack.client, tenant, mailbox_id)["status"] == "connected"
    assert reconnect.list_due(clock.now() + timedelta(days=30)) == []
