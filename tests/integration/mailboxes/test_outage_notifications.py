"""The outage notification (issue 15 part 1): 24 hours after a mailbox went `disconnected`, one email to the
workspace's `notificationEmail`, through another of its connected mailboxes (real SMTP) or through SES when the stack
sets a sender (moto SES); never twice for the same outage."""

from __future__ import annotations

import email
import os
from datetime import timedelta
from email import policy

import boto3
import pytest

from kindling.mailboxes.repository import MailboxRepository
from kindling.notifications.service import Notifier
from kindling.platform.clock import ManualClock
from kindling.platform.settings import reset_settings
from kindling.sending import reconnect
from tests.conftest import Tenant
from tests.integration.mailboxes.conftest import MailServers, Stack
from tests.integration.mailboxes.servers import Pem
from tests.integration.mailboxes.test_mailboxes_api import create, get
from tests.integration.sending.conftest import sink_server

pytestmark = pytest.mark.mail


def test_one_email_24_hours_into_an_outage_through_another_connected_mailbox(
    stack: Stack, tenant: Tenant, mail_servers: MailServers, good_pem: Pem, clock: ManualClock
) -> None:
    with sink_server("starttls", good_pem, str(mail_servers.ca_bundle)) as sink:
        # The workspace's healthy mailbox sends through `sink` (which records what it receives).
        healthy = create(stack.client, tenant, mail_servers.body(smtp_port=sink.port, smtp_username="sender@lab.test"))
        broken = create(stack.client, tenant, mail_servers.body(email="other@lab.test"))
        assert healthy.status_code == broken.status_code == 201, (healthy.text, broken.text)
        broken_id = broken.json()["data"]["id"]
        stack.drain()
        assert get(stack.client, tenant, broken_id)["status"] == "connected"
        healthy_view = get(stack.client, tenant, healthy.json()["data"]["id"])
        assert healthy_view["status"] == "connected", healthy_view["last_test_error"]
        settings = stack.client.patch(
            "/api/v1/notification-settings", json={"notificationEmail": "ops@lab.test"}, headers=tenant.headers
        )
        assert settings.status_code == 200 and settings.json()["data"]["notificationEmail"] == "ops@lab.test"

        url = f"/api/v1/mailboxes/{broken_id}"
        assert stack.client.patch(url, json={"smtp_password": "revoked"}, headers=tenant.headers).status_code == 200
        stack.drain()
        assert get(stack.client, tenant, broken_id)["status"] == "disconnected"
        down_at = clock.now()

        clock.advance(timedelta(hours=23, minutes=59))
        first = reconnect.run_sweep()
        assert first["outcomes"] == {"still_down": 1} and first["notified"] == 0  # 23:59 down: not yet
        assert sink.handler.delivered == []

        clock.set(down_at + timedelta(hours=24))
        second = reconnect.run_sweep()  # due for the notification (its next re-test is later)
        assert (second["listed"], second["notified"]) == (1, 1)
        [sent] = sink.handler.delivered
        assert (sent.mail_from, sent.rcpt_tos) == ("jordan@lab.test", ["ops@lab.test"])
        message = email.message_from_bytes(sent.content, policy=policy.default)
        assert message["Subject"] == "Mailbox other@lab.test has been disconnected for 24 hours"
        assert "auth_failed" in message.get_content()
        stored = MailboxRepository().get(tenant.workspace_id, broken_id)
        assert stored.outage_notified_at == down_at + timedelta(hours=24)

        for hours in (1, 13, 25, 49):  # the sweeps that follow, in the same outage: no second email
            clock.set(down_at + timedelta(hours=24 + hours))
            assert reconnect.run_sweep()["notified"] == 0
        assert len(sink.handler.delivered) == 1


def test_ses_when_the_stack_configures_a_sender(stack: Stack, tenant: Tenant, clock: ManualClock) -> None:
    ses = boto3.client("ses", region_name="us-east-1")
    ses.verify_email_identity(EmailAddress="alerts@kindling.test")
    os.environ["KINDLING_NOTIFICATION_SES_SENDER"] = "alerts@kindling.test"
    reset_settings()
    try:
        notifier = Notifier()
        assert notifier.send(tenant.workspace_id, "Subject", "Body", clock.now()) is None  # no address yet
        patched = stack.client.patch(
            "/api/v1/notification-settings", json={"notificationEmail": "ops@lab.test"}, headers=tenant.headers
        )
        assert patched.status_code == 200
        assert notifier.send(tenant.workspace_id, "Subject", "Body", clock.now()) == "ses"
        assert ses.get_send_quota()["SentLast24Hours"] == 1
    finally:
        os.environ.pop("KINDLING_NOTIFICATION_SES_SENDER", None)
        reset_settings()


def test_a_bad_notification_address_is_a_validation_error(stack: Stack, tenant: Tenant) -> None:
    response = stack.client.patch(
        "/api/v1/notification-settings", json={"notificationEmail": "not an address"}, headers=tenant.headers
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert stack.client.get("/api/v1/notification-settings", headers=tenant.headers).json()["data"] == {
        "notificationEmail": None,
        "updatedAt": None,
    }
