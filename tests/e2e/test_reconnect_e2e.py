"""A mailbox outage healed without a person, on the local stack: a lab mailbox's password changes at its provider,
the inbox sync's refused logins mark it `disconnected` and its campaign pauses with `mailbox_disconnected`; the
password comes back, the reconnect sweep (the real state machine) re-tests it, it is `connected` again, the
`mailbox.reconnected` webhook goes out and the campaign resumes."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.runtime import LocalStack
from kindling.inbox.repository import InboxRepository, SyncSummary
from kindling.inbox.sync import sync_message
from kindling.platform.clock import ManualClock, set_clock
from tests.e2e.support import connect_account, lab_of, own_workspace
from tests.integration.webhooks.receiver import Receiver, running_receiver

pytestmark = pytest.mark.mail


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    """Handlers read this clock: the test moves time to the sweep's first re-test instead of waiting 15 minutes."""
    manual = ManualClock(datetime.now(UTC).replace(microsecond=0))
    previous = set_clock(manual)
    yield manual
    set_clock(previous)


def sync_event(workspace_id: str, mailbox_id: str) -> dict[str, Any]:
    """One sync-queue message, as the inbox sync function receives it from SQS."""
    return {
        "Records": [
            {
                "messageId": uuid.uuid4().hex,
                "receiptHandle": "e2e",
                "body": sync_message(workspace_id, mailbox_id),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sync",
                "awsRegion": "us-east-1",
            }
        ]
    }


def webhook_types(receiver: Receiver, stack: LocalStack, wanted: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        stack.drain()
        events = [json.loads(r.body) for r in receiver.received()]
        if any(e["type"] == wanted for e in events):
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"no {wanted} webhook; got {[e['type'] for e in events]}")
        time.sleep(0.05)


def test_a_disconnected_mailbox_reconnects_and_its_campaign_resumes_without_a_person(
    local_stack: LocalStack, clock: ManualClock
) -> None:
    lab = lab_of(local_stack, needs_dovecot=True)
    tag = uuid.uuid4().hex[:8]
    address = f"reconnect-{tag}@lab-mail.test"
    account = lab.add_account(address, "sender-pass-1", "lab-mail")
    headers = own_workspace(local_stack, "E2E reconnect")
    with (
        running_receiver() as receiver,
        httpx.Client(base_url=local_stack.api_url, headers=headers, timeout=60) as client,
    ):
        workspace_id = client.get("/api/v1/me").json()["workspace"]["id"]
        hook = client.post(
            "/api/v1/webhooks",
            json={"url": receiver.url("/hook"), "events": ["mailbox.disconnected", "mailbox.reconnected"]},
        )
        assert hook.status_code == 201, hook.text
        mailbox = connect_account(client, local_stack, account, "Reconnect Sender")
        prospect = client.post("/api/v1/prospects", json={"email": f"lead-{tag}@elsewhere.test", "firstName": "Al"})
        assert prospect.status_code == 201, prospect.text
        created = client.post(
            "/api/v1/campaigns",
            json={
                "name": "E2E reconnect",
                "mailboxIds": [mailbox["id"]],
                "prospectIds": [prospect.json()["data"]["id"]],
                "timezone": "UTC",
                "steps": [{"stepIndex": 0, "subject": "Hello {{firstName}}", "bodyHtml": "<p>Hi</p>"}],
            },
        )
        assert created.status_code == 201, created.text
        campaign_id = created.json()["data"]["id"]
        assert client.post(f"/api/v1/campaigns/{campaign_id}/start").status_code == 200

        # The password changes at the provider (an App Password revoked): IMAP and SMTP refuse the stored one.
        lab.add_account(address, "changed-at-the-provider-2", "lab-mail")
        # Nine refused logins already counted (the count lives in the sync state); the tenth is a real one.
        inbox = InboxRepository()
        assert inbox.acquire_sync(workspace_id, mailbox["id"], "seed", clock.now(), timedelta(minutes=3))
        inbox.release_sync(
            workspace_id,
            mailbox["id"],
            "seed",
            auth_failures=9,
            generation=mailbox_generation(workspace_id, mailbox["id"]),
            folders=None,
            error_code="auth_failed",
            summary=SyncSummary("auth_failed"),
            now=clock.now(),
        )
        response = local_stack.invoke("InboxSyncFunction", sync_event(workspace_id, mailbox["id"]))
        assert response == {"batchItemFailures": []}

        down = client.get(f"/api/v1/mailboxes/{mailbox['id']}").json()["data"]
        assert (down["status"], down["last_test_error"].split(" ")[0]) == ("disconnected", "auth_failed")
        paused = client.get(f"/api/v1/campaigns/{campaign_id}").json()["data"]
        assert (paused["status"], paused["pausedReason"]) == ("paused", "mailbox_disconnected")
        events = webhook_types(receiver, local_stack, "mailbox.disconnected")
        disconnected = next(e["data"] for e in events if e["type"] == "mailbox.disconnected")
        assert (disconnected["mailboxId"], disconnected["status"], disconnected["code"]) == (
            mailbox["id"],
            "disconnected",
            "auth_failed",
        )
        assert disconnected["pausedCampaignIds"] == [campaign_id]

        # Nobody touches Kindling: the password is simply valid again, and 15 minutes later the sweep runs.
        lab.add_account(address, "sender-pass-1", "lab-mail")
        clock.advance(timedelta(minutes=15))
        execution = local_stack.start_execution("ReconnectSweepStateMachine", {})
        result = local_stack.wait_execution(execution, timeout=90)
        assert result["status"] == "SUCCEEDED", result
        assert result["output_json"]["outcomes"].get("reconnected") == 1

        back = client.get(f"/api/v1/mailboxes/{mailbox['id']}").json()["data"]
        assert (back["status"], back["last_test_error"]) == ("connected", None)
        resumed = client.get(f"/api/v1/campaigns/{campaign_id}").json()["data"]
        assert (resumed["status"], resumed["pausedReason"]) == ("running", None)
        events = webhook_types(receiver, local_stack, "mailbox.reconnected")
        reconnected = next(e["data"] for e in events if e["type"] == "mailbox.reconnected")
        assert reconnected["mailboxId"] == mailbox["id"]
        assert reconnected["disconnectedAt"] == disconnected["disconnectedAt"]
        assert reconnected["resumedCampaignIds"] == [campaign_id]
        assert [e["type"] for e in events].count("mailbox.disconnected") == 1  # once per outage


def mailbox_generation(workspace_id: str, mailbox_id: str) -> int:
    from kindling.mailboxes.repository import MailboxRepository

    return MailboxRepository().get(workspace_id, mailbox_id).generation
