"""Mailboxes over HTTP on the local stack: create -> check queue -> checker -> poll until connected/error.

Needs template.yaml's CheckerFunction (consuming CheckQueue) and KINDLING_MAIL_CA_FILE pointing at the mail
lab's CA when the lab account uses TLS.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from devstack.runtime import LocalStack

pytestmark = pytest.mark.mail


def _poll(client: httpx.Client, stack: LocalStack, mailbox_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stack.drain()
        data: dict[str, Any] = client.get(f"/api/v1/mailboxes/{mailbox_id}").json()["data"]
        if data["status"] in ("connected", "error") or time.monotonic() > deadline:
            return data
        time.sleep(0.2)


def _body(account: dict[str, Any], password: str | None = None) -> dict[str, Any]:
    return {
        "email_address": account["email"],
        "smtp_host": account["smtp_host"],
        "smtp_port": account["smtp_port"],
        "smtp_security": account["smtp_security"],
        "smtp_password": password or account["password"],
        "imap_host": account["imap_host"],
        "imap_port": account["imap_port"],
        "imap_security": account["imap_security"],
        "imap_password": password or account["password"],
    }


def test_create_poll_connected_then_error_then_delete(local_stack: LocalStack) -> None:
    assert local_stack.mail_accounts, "the local stack runs the mail lab"
    good, other = local_stack.mail_accounts[0], local_stack.mail_accounts[1]
    headers = {"Authorization": f"Bearer {local_stack.api_key}"}
    with httpx.Client(base_url=local_stack.api_url, headers=headers, timeout=30) as client:
        created = client.post("/api/v1/mailboxes", json=_body(good))
        assert created.status_code == 201, created.text
        assert created.json()["data"]["status"] == "testing"
        connected = _poll(client, local_stack, created.json()["data"]["id"])
        assert connected["status"] == "connected", connected["last_test_error"]
        assert connected["last_tested_at"] is not None

        wrong = client.post("/api/v1/mailboxes", json=_body(other, password="definitely-wrong"))
        assert wrong.status_code == 201, wrong.text
        failed = _poll(client, local_stack, wrong.json()["data"]["id"])
        assert failed["status"] == "error"
        assert failed["last_test_error"].startswith("auth_failed")
        assert "definitely-wrong" not in wrong.text + str(failed)

        deleted = client.delete(f"/api/v1/mailboxes/{connected['id']}")
        assert deleted.status_code == 200 and deleted.json()["data"]["status"] == "deleted"
        assert client.post("/api/v1/mailboxes", json=_body(good)).status_code == 200  # restored, not duplicated
